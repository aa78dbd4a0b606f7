"""The audit trail in words people read (pure: no Flask, no database).

Action codes get Chinese names; an entry's details become "标签：值" lines, with a change shown as
"旧值 → 新值"; ids that name something (a candidate, a session, a panelist…) are shown by name through a
lookup the caller fills in bulk (``refs_of`` lists what to look up, ``describe`` uses the answers).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime

ACTION_LABELS = {
    # core: rounds, schemes, roster, component scores
    "account.create": "新建账号", "account.disable": "停用账号", "account.enable": "启用账号",
    "account.password_change": "修改密码", "account.password_reset": "重置密码",
    "roster.slip_passwords": "生成初始密码（打印准考证）", "job.enqueue": "提交后台任务",
    "export.download": "下载导出文件",
    "round.create": "新建轮次", "round.update": "修改轮次", "scheme.update": "修改认证方案",
    "roster.import": "导入考生名单", "roster.import.undo": "撤回未完成的名单导入", "score.component": "成分成绩变更",
    # results
    "results.import_records": "导入业绩成果得分", "results.import_records.undo": "撤回未完成的业绩成果得分导入",
    "results.confirm": "确认认定结果", "results.reopen": "重新开放认定",
    "results.publish": "发布公示", "results.unpublish": "撤回公示", "results.complaint": "登记投诉",
    "results.complaint_decided": "处理投诉", "results.revoke": "撤销认定", "results.mark_absent": "标记缺考",
    # question bank
    "bank.import": "导入题库", "bank.import.undo": "撤回未完成的题库导入", "bank.item.edit": "修改试题",
    "bank.item.retire": "停用试题", "bank.item.reactivate": "恢复试题",
    # exam
    "exam.blueprint.create": "新建组卷方案", "exam.blueprint.update": "修改组卷方案",
    "exam.blueprint.check": "校验组卷方案", "exam.papers.generate": "生成试卷", "exam.papers.enqueue": "排队生成试卷",
    "exam.session.create": "新建笔试场次", "exam.session.update": "修改笔试场次",
    "exam.session.extra_time": "调整考生延长时间", "exam.session.release_scores": "发布笔试成绩",
    "exam.session.absentees": "登记笔试缺考", "exam.attempt.start": "开始作答", "exam.attempt.submitted": "交卷",
    "exam.attempt.auto_submitted": "到时自动交卷", "exam.attempt.force_submitted": "强制交卷",
    "exam.attempt.reopen": "重新开放作答", "exam.attempt.regrade": "重新评分", "exam.add_time": "延长考试时间",
    "exam.erratum": "试题勘误", "exam.item_facility_stored": "保存试题难度",
    "exam.session.makeup": "安排补考", "exam.practice.items": "设置模拟练习题", "exam.device_check": "设备检测",
    # notices
    "notices.contact": "修改通知联系方式", "notices.retry": "重新发送通知",
    # defense: setup and schedule
    "defense.panelist_create": "新增评审专家", "defense.panelist_update": "修改评审专家",
    "defense.panelist_delete": "删除评审专家", "defense.import_panelists": "导入评审专家",
    "defense.import_panelists.undo": "撤回未完成的评审专家导入", "defense.panelist_passwords": "生成专家初始密码",
    "defense.panel_create": "新建答辩组", "defense.panel_update": "修改答辩组", "defense.panel_delete": "删除答辩组",
    "defense.conflict_add": "登记回避关系", "defense.conflict_delete": "删除回避关系",
    "defense.day_save": "保存答辩日", "defense.day_delete": "删除答辩日", "defense.schedule_run": "自动排程",
    "defense.schedule_save": "保存答辩安排", "defense.schedule_move": "调整答辩安排",
    "defense.schedule_change": "变更已发布的答辩安排", "defense.schedule_publish": "发布答辩安排",
    "defense.export_full": "导出答辩完整数据",
    # defense: the live room and scoring
    "defense.check_in": "答辩签到", "defense.absent": "答辩缺考", "defense.carry_over": "顺延答辩",
    "defense.call": "叫号", "defense.timer_start": "开始计时", "defense.timer_stop": "停止计时",
    "defense.end": "结束答辩", "defense.sheet_submit": "提交评分表", "defense.recuse": "专家回避",
    "defense.sheet_reopen": "重新开放评分表", "defense.flags_confirm": "确认分差提示",
    "defense.finalise": "确定答辩成绩", "defense.reopen": "重新开放答辩成绩",
    "demo.reset.round": "演示轮次改为今年", "demo.reset.defense_days": "演示答辩日移到今后",
    "demo.reset.absence_withdrawn": "撤回演示场次缺考",
}

# Keys of details (and of before/after snapshots) in Chinese.
FIELD_LABELS = {
    "file": "文件", "added": "新增", "updated": "更新", "unchanged": "未变", "created": "新建", "removed": "移除",
    "added_tickets": "新增考生", "updates": "更新明细", "changes": "变化", "rows": "行数", "warnings": "警告",
    "added_codes": "新增试题", "updated_codes": "更新试题",
    "code": "编号", "region": "地区", "year": "年度", "name": "名称", "level": "级别", "ticket": "准考证号",
    "exam": "笔试权重", "defense": "答辩权重", "record": "业绩成果权重", "ratio": "认定比例", "min_total": "最低总分",
    "mc_policy": "多选题计分", "publicity_working_days": "公示工作日",
    "eligible": "参评人数", "quota": "认定名额", "cut_line": "分数线", "certified": "认定人数",
    "candidates": "考生数", "end": "结束", "working_days": "工作日数",
    "candidate": "考生", "candidate_id": "考生", "complainant": "投诉人", "content": "内容", "status": "状态",
    "complaint": "投诉", "total": "总分", "rank": "排名", "component": "成分", "source": "来源", "score": "成绩",
    "state": "状态", "mode": "组卷方式", "ok": "校验通过", "errors": "问题", "papers": "试卷数", "seed": "随机种子",
    "blueprint_id": "组卷方案", "facility_min": "最低通过率", "facility_max": "最高通过率",
    "opens_at": "开考时间", "closes_at": "结束时间", "duration_minutes": "考试时长（分钟）",
    "late_entry_minutes": "迟到限制（分钟）", "instructions": "考试须知", "assign_all": "全部考生",
    "event_warning_threshold": "异常提醒阈值", "changed": "修改", "deadlines_clamped": "截止时间被提前的考生",
    "session_id": "场次", "minutes": "分钟数", "deadline": "截止时间", "deadline_at": "截止时间",
    "extra": "延长时间（分钟）", "absent": "缺考人数", "item_version_id": "试题版本", "kind": "类型",
    "accepted": "认可答案", "original_key": "原答案", "erratum_id": "勘误", "items": "题数", "facility": "通过率",
    "version": "版本", "panelist_id": "专家", "panelist": "专家", "revision": "修订次数", "scores": "各项评分",
    "flags": "提示", "counted": "计入的总分", "dropped_high": "去掉的最高分", "dropped_low": "去掉的最低分",
    "withdrawn_component": "撤回的答辩成绩", "work_unit": "工作单位", "expertise": "专业领域", "phone": "手机",
    "room": "考场", "meeting_link": "会议链接", "members": "成员", "chair": "组长", "panels_created": "新建答辩组",
    "panels_changed": "变动答辩组", "conflicts_added": "新增回避关系", "day": "日期",
    "slot_minutes": "每人时长（分钟）", "breaks": "休息时段", "slots": "时段数", "loads": "各组人数",
    "solver": "排程结果", "panel": "答辩组", "panel_id": "答辩组", "to_panel_id": "答辩组", "start_at": "开始时间",
    "start": "开始", "published": "已发布", "fmt": "格式", "phase": "阶段", "after": "新值", "before": "原值",
    "n": "n", "id_number": "证件号", "district": "区县",
}

# Keys whose values are ids of something with a name (looked up in bulk by the caller).
REF_KEYS = {
    "candidate_id": "Candidate", "session_id": "ExamSession", "panelist_id": "Panelist", "panel_id": "Panel",
    "to_panel_id": "Panel", "blueprint_id": "Blueprint", "members": "Panelist", "chair": "Panelist",
    "deadlines_clamped": "Candidate",
}
_SESSION_CANDIDATE_LISTS = {"added", "removed"}  # candidate ids under exam.session.*, counts or codes elsewhere
# What a plain before/after number is, per action.
SCALAR_CHANGE_LABELS = {"exam.attempt.regrade": "成绩", "defense.carry_over": "排队顺序",
                        "exam.session.extra_time": "延长时间（分钟）"}

VALUE_LABELS = {
    "status": {"upheld": "属实（撤销认定）", "dismissed": "不属实", "open": "待处理", "scored": "已评分",
               "absent": "缺考"},
    "state": {"in_progress": "作答中", "submitted": "已交卷", "auto_submitted": "到时自动交卷",
              "force_submitted": "强制交卷"},
    "component": {"exam": "笔试成绩", "defense": "答辩成绩", "record": "业绩成果得分"},
    "mc_policy": {"partial_half": "少选得一半，错选不得分", "all_or_nothing": "完全正确才得分"},
    "mode": {"fixed": "统一试卷", "per_candidate": "每人随机抽题"},
}

MAX_LIST = 20  # longer lists are cut, with the number left out
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")

Names = dict  # {(type, id as str): label}
Localise = Callable[[datetime], str]


AREA_LABELS = {"round": "轮次与方案", "scheme": "轮次与方案", "roster": "考生名单", "score": "成绩",
               "results": "成绩", "bank": "题库", "exam": "笔试", "defense": "答辩"}


def grouped_actions(codes: Iterable[str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Action codes for a picker: grouped by area, in the order of ACTION_LABELS, unknown codes last."""
    order = {code: i for i, code in enumerate(ACTION_LABELS)}
    groups: dict[str, list[tuple[str, str]]] = {}
    for code in sorted(set(codes), key=lambda c: (order.get(c, len(order)), c)):
        area = AREA_LABELS.get(code.split(".", 1)[0], "其他")
        groups.setdefault(area, []).append((code, action_label(code)))
    return list(groups.items())


def action_label(code: str) -> str:
    return ACTION_LABELS.get(code, code)


def field_label(key: str) -> str:
    return FIELD_LABELS.get(key, key)


def _before_after_pairs(detail: dict) -> dict[str, tuple]:
    """``X_before``/``X_after`` and ``from_X``/``to_X`` pairs of a detail, by X."""
    pairs = {}
    for key in detail:
        if key.endswith("_before") and f"{key[:-7]}_after" in detail:
            pairs[key[:-7]] = (key, f"{key[:-7]}_after")
        elif key.startswith("from_") and f"to_{key[5:]}" in detail:
            pairs[key[5:]] = (key, f"to_{key[5:]}")
    return pairs


def refs_of(action: str, detail) -> set[tuple[str, str]]:
    """(type, id) pairs the details name by id: look them up in bulk, then pass the names to ``describe``."""
    refs: set[tuple[str, str]] = set()
    if not isinstance(detail, dict):
        return refs

    def walk(d: dict):
        for key, value in d.items():
            kind = _ref_kind(action, key)
            if kind:
                for v in value if isinstance(value, list) else [value]:
                    if isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, str) and v.isdigit()):
                        refs.add((kind, str(v)))
            elif isinstance(value, dict):
                walk(value)

    walk(detail)
    return refs


def _ref_kind(action: str, key: str) -> str | None:
    if key in _SESSION_CANDIDATE_LISTS:
        return "Candidate" if action.startswith("exam.session.") else None
    if key in REF_KEYS:
        return REF_KEYS[key]
    for prefix in ("from_", "to_"):
        if key.startswith(prefix):
            return REF_KEYS.get(key[len(prefix):])
    return None


def describe(action: str, detail, names: Names | None = None, localise: Localise | None = None) -> list[str]:
    """The details of an entry as readable lines: "标签：值", changes as "标签：旧 → 新"."""
    if not detail:
        return []
    if not isinstance(detail, dict):
        return [str(detail)]
    names = names or {}
    fmt = _Formatter(action, names, localise)
    lines: list[str] = []
    done: set[str] = set()
    before, after = detail.get("before"), detail.get("after")
    if "before" in detail or "after" in detail:
        done |= {"before", "after"}
        lines += fmt.change_lines(before, after)
    for x, (b, a) in _before_after_pairs(detail).items():
        done |= {b, a}
        lines.append(f"{field_label(x)}：{fmt.value(b, detail[b])} → {fmt.value(a, detail[a])}")
    if isinstance(detail.get("changed"), dict):
        done.add("changed")
        for key, change in detail["changed"].items():
            if isinstance(change, dict) and {"before", "after"} <= set(change):
                lines.append(f"{field_label(key)}：{fmt.value(key, change['before'])} → "
                             f"{fmt.value(key, change['after'])}")
            else:
                lines.append(f"{field_label(key)}：{fmt.value(key, change)}")
    if isinstance(detail.get("updates"), list):  # roster import: per candidate {"ticket", "changes": {k: [old, new]}}
        done.add("updates")
        lines += fmt.roster_updates(detail["updates"])
    for key, value in detail.items():
        if key in done:
            continue
        lines.append(f"{field_label(key)}：{fmt.value(key, value)}")
    return lines


class _Formatter:
    def __init__(self, action: str, names: Names, localise: Localise | None):
        self.action, self.names, self.localise = action, names, localise

    def value(self, key: str, value) -> str:
        if value is None or value == "":
            return "—"
        if isinstance(value, bool):
            return "是" if value else "否"
        kind = _ref_kind(self.action, key)
        if isinstance(value, list):
            shown = [self.value(key, v) for v in value[:MAX_LIST]]
            more = f" 等 {len(value)} 项" if len(value) > MAX_LIST else ""
            return ("、".join(shown) + more) if shown else "（无）"
        if isinstance(value, dict):
            return "；".join(f"{field_label(k)} {self.value(k, v)}" for k, v in value.items()) or "（无）"
        if kind and (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            return self.names.get((kind, str(value))) or f"#{value}"
        if key in VALUE_LABELS and isinstance(value, str):
            return VALUE_LABELS[key].get(value, value)
        if isinstance(value, str) and self.localise and _ISO_TIME.match(value):
            try:
                return self.localise(datetime.fromisoformat(value))
            except ValueError:
                return value
        return str(value)

    def change_lines(self, before, after) -> list[str]:
        if isinstance(before, dict) or isinstance(after, dict):
            b = before if isinstance(before, dict) else {}
            a = after if isinstance(after, dict) else {}
            lines = []
            for key in list(b) + [k for k in a if k not in b]:
                old, new = b.get(key), a.get(key)
                if before is None:
                    lines.append(f"{field_label(key)}：{self.value(key, new)}")
                elif after is None:
                    lines.append(f"{field_label(key)}：{self.value(key, old)}（原值）")
                elif old != new:
                    lines.append(f"{field_label(key)}：{self.value(key, old)} → {self.value(key, new)}")
            return lines
        label = SCALAR_CHANGE_LABELS.get(self.action, "变更")
        return [f"{label}：{self.value('before', before)} → {self.value('after', after)}"]

    def roster_updates(self, updates: list) -> list[str]:
        lines = []
        for u in updates[:MAX_LIST]:
            if not isinstance(u, dict):
                continue
            changes = u.get("changes") or {}
            parts = [f"{field_label(k)} {self.value(k, c[0])} → {self.value(k, c[1])}"
                     for k, c in changes.items() if isinstance(c, list) and len(c) == 2]
            lines.append(f"考生 {u.get('ticket', '')}：{'；'.join(parts)}")
        if len(updates) > MAX_LIST:
            lines.append(f"……另有 {len(updates) - MAX_LIST} 名考生的信息更新")
        return lines


def codes_in_source(texts: Iterable[str]) -> set[str]:
    """Action codes written as string literals in ``audit("…")`` calls and in state-machine transition tables
    (``Transition(…, "label", "code")``): a test keeps ACTION_LABELS complete."""
    codes = set()
    for text in texts:
        for call in re.finditer(r"\baudit\(\s*(f?\"[^\"]+\"(?:\s+if\s+[^\"]+\s+else\s+\"[^\"]+\")?)", text):
            codes.update(re.findall(r"\"([a-z_]+(?:\.[a-z_{}]+)+)\"", call.group(1)))
        for row in re.finditer(r"\bTransition\(([^\n]*)\)", text):
            codes.update(re.findall(r"\"([a-z_]+(?:\.[a-z_]+)+)\"", row.group(1)))
    return codes
