"""Read-only outputs of the schedule: the schedule export (DOMAIN.md identifying columns + slot), panel rows."""
from __future__ import annotations

from certify.models import Round
from certify.tabular import Sheet, write_file

from ..scoring.reports import ID_COLUMNS, id_cells
from . import operations as ops

SCHEDULE_COLUMNS = ID_COLUMNS + ["答辩组", "组长", "专家", "地点", "线上会议链接", "开始时间", "结束时间", "安排状态"]


def schedule_sheets(rnd: Round, *, full_id: bool = False) -> list[Sheet]:
    """One row per defense candidate (unscheduled ones too, marked); times in local time."""
    panels = {p.id: p for p in ops.round_panels(rnd)}
    assignments = {a.candidate_id: a for a in ops.round_assignments(rnd)}
    published = ops.is_published(rnd)
    rows = []
    for c in ops.defense_candidates(rnd):
        ident = id_cells(c, full_id)
        a = assignments.get(c.id)
        if a is None:
            rows.append(ident + ["", "", "", "", "", "", "", "未安排"])
            continue
        p = panels[a.panel_id]
        chair = p.chair
        state = ("已发布（发布后有调整）" if a.changed_after_publication else "已发布") if published else "草稿"
        rows.append(ident + [p.name, chair.name if chair else "",
                             "、".join(m.panelist.name
                                      for m in sorted(p.members, key=lambda m: (not m.is_chair, m.id))),
                             p.room, p.meeting_link, ops.local(a.start_at).strftime("%Y-%m-%d %H:%M"),
                             ops.local(a.end_at).strftime("%Y-%m-%d %H:%M"), state])
    rows.sort(key=lambda r: (r[5] == "", r[5], r[10]))
    return [Sheet("答辩安排", SCHEDULE_COLUMNS, rows)]


def write_schedule_export(rnd: Round, path: str) -> None:
    """``certify export schedule --round CODE FILE``: ID numbers masked."""
    write_file(path, schedule_sheets(rnd))


def panelist_list_sheets(rnd: Round, *, only: list | None = None) -> list[Sheet]:
    rows = []
    for p in ops.round_panelists(rnd) if only is None else only:
        panels = "、".join(m.panel.name + ("（组长）" if m.is_chair else "") for m in p.memberships)
        rows.append([p.name, p.work_unit, p.expertise, p.phone, panels, p.user.username if p.user else "",
                     p.initial_password or ("（已修改）" if p.user and not p.user.must_change_password else "")])
    return [Sheet("评审专家账号", ["姓名", "工作单位", "专业领域", "手机", "答辩组", "账号", "初始密码"], rows)]
