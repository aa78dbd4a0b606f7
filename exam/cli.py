"""Exam commands for a scripted round: ``certify blueprint create|check`` and ``certify session create|release``.

Each command parses its options, calls the same operation as the web page (``authoring.papers.save_blueprint`` and
``check_against_bank``, ``authoring.sessions.create_session`` and ``release_scores``) and commits. Every refusal exits
non-zero with a Chinese message naming the option it concerns; nothing is written then. Options are checked here
(not by click's types) so that a missing or malformed option is reported in Chinese too.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import click
from flask.cli import with_appcontext

from certify.cli import fail, fail_import, round_or_fail
from certify.tabular import Column, ImportFailed, RowError

TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S")
BLUEPRINT_COLUMNS = [
    Column("type", "题型"),
    Column("count", "题数"),
    Column("points", "每题分值", ("分值",)),
    Column("category", "分类", required=False),
    Column("difficulty_min", "难度下限", required=False),
    Column("difficulty_max", "难度上限", required=False),
]
# an operation's refusal → the option it concerns (its messages name the field in words, the CLI adds the option)
OPTION_OF_MESSAGE = (("没有笔试", "--level"), ("第 ", "--row/--from"), ("至少需要一行", "--row/--from"),
                     ("合计", "--row/--from"), ("场次名称", "--name"), ("方案名称", "--name"), ("组卷方式", "--mode"),
                     ("组卷方案", "--blueprint"), ("开考时间", "--opens"), ("结束时间", "--closes"),
                     ("时间窗口", "--closes"), ("考试时长", "--minutes"), ("迟到入场", "--late-entry"),
                     ("随机种子", "--seed"), ("考生", "--candidates"))


def _need(value, option: str, what: str) -> str:
    if value is None or not str(value).strip():
        fail(f"缺少选项 {option}（{what}）")
    return str(value).strip()


def _int(value, option: str, what: str, *, minimum: int = 0) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        fail(f"选项 {option} 的值「{value}」无效：{what}须为整数")
    if number < minimum:
        fail(f"选项 {option} 的值「{value}」无效：{what}须不小于 {minimum}")
    return number


def _local_time(value: str | None, option: str) -> datetime:
    from certify.clock import display_timezone, from_local

    if value is None or not value.strip():
        fail(f"缺少选项 {option}（YYYY-MM-DD HH:MM，{display_timezone()} 时间）")
    for fmt in TIME_FORMATS:
        try:
            return from_local(datetime.strptime(value.strip(), fmt), display_timezone())
        except ValueError:
            continue
    fail(f"选项 {option} 的值「{value}」无效：时间格式应为 YYYY-MM-DD HH:MM（{display_timezone()} 时间）")


def _scheme(round_code, level):
    from certify.domain import LEVELS

    rnd = round_or_fail(_need(round_code, "--round", "轮次代码"))
    level = _need(level, "--level", "认证级别：" + " / ".join(LEVELS))
    if level not in LEVELS:
        fail(f"选项 --level 的值「{level}」无效，可选：{' / '.join(LEVELS)}")
    scheme = rnd.scheme_for(level)
    if scheme is None:
        fail(f"选项 --level：轮次 {rnd.code} 没有{level}方案")
    return rnd, scheme


def _blueprint(scheme, ref: str):
    from certify.extensions import db

    from .models import Blueprint

    found = list(db.session.scalars(db.select(Blueprint).filter_by(scheme_id=scheme.id).order_by(Blueprint.id)))
    hits = [b for b in found if str(b.id) == ref] or [b for b in found if b.name == ref]
    if not hits:
        known = "、".join(f"{b.id}「{b.name}」" for b in found) or "（无）"
        fail(f"选项 --blueprint：{scheme.level}方案没有组卷方案「{ref}」（现有：{known}）")
    if len(hits) > 1:
        fail(f"选项 --blueprint：有 {len(hits)} 个名为「{ref}」的组卷方案，请用编号（"
             + "、".join(str(b.id) for b in hits) + "）")
    return hits[0]


def _refused(heading: str, messages) -> None:
    lines = []
    for m in messages:
        option = next((opt for word, opt in OPTION_OF_MESSAGE if word in m), None)
        lines.append(f"{m}（{option}）" if option else m)
    fail(heading + "\n  " + "\n  ".join(lines))


# ---------------------------------------------------------------- blueprints

def _type_key(text: str) -> str | None:
    from .services.assembly import TYPE_LABELS

    text = (text or "").strip()
    if text in TYPE_LABELS:
        return text
    return next((k for k, label in TYPE_LABELS.items() if label == text or label + "题" == text), None)


def _rows_from_options(specs) -> list[dict]:
    """``--row 题型:题数:每题分值[:分类[:难度下限-难度上限]]``, e.g. ``单选:30:2:科学素养:1-3``."""
    rows = []
    for n, spec in enumerate(specs, start=1):
        parts = [p.strip() for p in spec.replace("：", ":").split(":")]
        if len(parts) < 3 or len(parts) > 5:
            fail(f"选项 --row 第 {n} 个值「{spec}」无效：格式为 题型:题数:每题分值[:分类[:难度下限-难度上限]]")
        typ = _type_key(parts[0])
        if typ is None:
            fail(f"选项 --row 第 {n} 个值「{spec}」无效：题型应为 单选 / 多选 / 判断")
        dmin, dmax = 1, 5
        if len(parts) == 5 and parts[4]:
            low, _, high = parts[4].partition("-")
            dmin, dmax = low, high or low
        rows.append({"type": typ, "count": parts[1], "points": parts[2],
                     "category": parts[3] if len(parts) > 3 else "", "difficulty_min": dmin, "difficulty_max": dmax})
    return rows


def _rows_from_file(path: str) -> list[dict]:
    from certify.tabular import read_table

    try:
        data = Path(path).read_bytes()
    except OSError as err:
        fail(f"选项 --from：无法读取文件 {path}：{err.strerror}")
    try:
        table = read_table(data, Path(path).name, BLUEPRINT_COLUMNS)
    except ImportFailed as err:
        fail_import(err)
    rows, errors = [], []
    for row in table.rows:
        typ = _type_key(row.get("type"))
        if typ is None:
            errors.append(RowError(row.number, "题型", f"题型「{row.get('type')}」无效，应为 单选 / 多选 / 判断",
                                   table.file, table.sheet))
        rows.append({"type": typ, "count": row.get("count"), "points": row.get("points"),
                     "category": row.get("category"), "difficulty_min": row.get("difficulty_min") or 1,
                     "difficulty_max": row.get("difficulty_max") or 5})
    if errors:
        fail_import(ImportFailed(errors))
    return rows


def _mode(value: str) -> str:
    from .models import PAPER_MODES

    value = (value or "").strip()
    for key, label in PAPER_MODES.items():
        if value in (key, label):
            return key
    fail(f"选项 --mode 的值「{value}」无效，可选：" + " / ".join(f"{k}（{v}）" for k, v in PAPER_MODES.items()))


@click.group("blueprint", help="组卷方案：create 新建（行来自 --from 表格或 --row 选项）· check 按当前题库检查。")
def blueprint_group():
    pass


@blueprint_group.command("create", help="新建组卷方案并按当前题库检查（与网页「新建组卷方案」同一操作）。")
@click.option("--round", "round_code", help="轮次代码，如 2024-cq")
@click.option("--level", help="认证级别（初级 / 中级）")
@click.option("--name", default=None, help="方案名称（默认「级别笔试组卷方案」）")
@click.option("--mode", default="per_candidate", show_default=True,
              help="组卷方式：fixed（统一试卷）或 per_candidate（每人随机抽题）")
@click.option("--from", "from_path", default=None,
              help="方案表格（.xlsx 或 .csv）：题型 · 题数 · 每题分值 · 分类（可选）· 难度下限、难度上限（可选）")
@click.option("--row", "row_specs", multiple=True,
              help="一行（可重复）：题型:题数:每题分值[:分类[:难度下限-难度上限]]，如 单选:30:2:科学素养:1-3")
@with_appcontext
def blueprint_create_command(round_code, level, name, mode, from_path, row_specs):
    from certify import uow
    from certify.extensions import db

    from .authoring.papers import ExamAdminError, check_against_bank, save_blueprint
    from .models import PAPER_MODES

    rnd, scheme = _scheme(round_code, level)
    mode = _mode(mode)
    if bool(from_path) == bool(row_specs):
        fail("请用 --from 文件 或 --row 选项（二选一）给出组卷方案的各行")
    rows = _rows_from_file(from_path) if from_path else _rows_from_options(row_specs)
    try:
        blueprint = save_blueprint(scheme, name=name or f"{scheme.level}笔试组卷方案", mode=mode, rows=rows)
        problems = check_against_bank(blueprint)
    except ExamAdminError as err:
        db.session.rollback()
        _refused("组卷方案未保存：", err.errors)
    uow.commit()
    click.echo(f"已保存组卷方案 {blueprint.id}「{blueprint.name}」（{rnd.code} {scheme.level}，"
               f"{PAPER_MODES[blueprint.mode]}，{len(blueprint.rows)} 行）")
    if problems:
        click.echo("注意：题库目前无法按此方案组卷，调整题库或方案后再用于场次：", err=True)
        for p in problems:
            click.echo(f"  {p}", err=True)
    else:
        click.echo("检查通过：题库可以同时满足每一行")


@blueprint_group.command("check", help="按当前题库检查组卷方案；有不能满足的行则以非零状态退出。")
@click.option("--round", "round_code", help="轮次代码")
@click.option("--level", help="认证级别（初级 / 中级）")
@click.option("--blueprint", "blueprint_ref", default=None, help="方案编号或名称（不填则检查本级别全部方案）")
@with_appcontext
def blueprint_check_command(round_code, level, blueprint_ref):
    from certify import uow
    from certify.extensions import db

    from .authoring.papers import check_against_bank
    from .models import Blueprint

    _rnd, scheme = _scheme(round_code, level)
    if blueprint_ref:
        blueprints = [_blueprint(scheme, blueprint_ref.strip())]
    else:
        blueprints = list(db.session.scalars(db.select(Blueprint).filter_by(scheme_id=scheme.id)
                                             .order_by(Blueprint.id)))
        if not blueprints:
            fail(f"{scheme.level}方案还没有组卷方案（先用 certify blueprint create 新建）")
    failed = 0
    for blueprint in blueprints:
        problems = check_against_bank(blueprint)
        if problems:
            failed += 1
            click.echo(f"组卷方案 {blueprint.id}「{blueprint.name}」：题库无法满足", err=True)
            for p in problems:
                click.echo(f"  {p}", err=True)
        else:
            click.echo(f"组卷方案 {blueprint.id}「{blueprint.name}」：检查通过，题库可以同时满足每一行")
    uow.commit()  # the check records validated_at and its audit entry, as the web page's check does
    if failed:
        fail(f"{failed} 个组卷方案未通过检查")


# ---------------------------------------------------------------- sessions

def _candidate_ids(rnd, scheme, tickets: str) -> list[int]:
    from certify.extensions import db
    from certify.models import Candidate

    wanted = [t.strip() for t in tickets.replace("，", ",").split(",") if t.strip()]
    found = dict(db.session.execute(db.select(Candidate.ticket, Candidate.id)
                                    .filter(Candidate.round_id == rnd.id, Candidate.ticket.in_(wanted))).all())
    missing = [t for t in wanted if t not in found]
    if missing:
        fail(f"选项 --candidates：轮次 {rnd.code} 没有准考证号 " + "、".join(missing[:10])
             + (f" 等 {len(missing)} 个" if len(missing) > 10 else ""))
    return [found[t] for t in wanted]


@click.group("session", help="笔试场次：create 新建（为考生生成试卷）· release 发布成绩 · makeup 安排补考。")
def session_group():
    pass


@session_group.command("create", help="新建笔试场次并为考生生成试卷（与网页「新建场次」同一操作）。")
@click.option("--round", "round_code", help="轮次代码")
@click.option("--level", help="认证级别（初级 / 中级）")
@click.option("--blueprint", "blueprint_ref", help="组卷方案编号或名称")
@click.option("--opens", help="开考时间 YYYY-MM-DD HH:MM（北京时间）")
@click.option("--minutes", help="考试时长（分钟）")
@click.option("--closes", default=None,
              help="结束时间 YYYY-MM-DD HH:MM（默认开考时间 + 迟到入场时限 + 考试时长）")
@click.option("--late-entry", "late_entry", default="30", show_default=True, help="开考后允许入场（分钟）")
@click.option("--name", default=None, help="场次名称（默认「年度级别笔试」）")
@click.option("--candidates", default=None, help="指定考生的准考证号，逗号分隔（默认本级别全部考生）")
@click.option("--seed", default=None, help="随机种子（默认自动生成）")
@click.option("--instructions", default="", help="考试须知")
@with_appcontext
def session_create_command(round_code, level, blueprint_ref, opens, minutes, closes, late_entry, name, candidates,
                           seed, instructions):
    from certify import uow
    from certify.clock import to_local
    from certify.extensions import db

    from .authoring.papers import ExamAdminError
    from .authoring.sessions import create_session

    rnd, scheme = _scheme(round_code, level)
    blueprint = _blueprint(scheme, _need(blueprint_ref, "--blueprint", "组卷方案编号或名称"))
    opens_at = _local_time(_need(opens, "--opens", "开考时间 YYYY-MM-DD HH:MM"), "--opens")
    duration = _int(_need(minutes, "--minutes", "考试时长（分钟）"), "--minutes", "考试时长", minimum=1)
    late = _int(late_entry, "--late-entry", "迟到入场时限")
    closes_at = (_local_time(closes, "--closes") if closes
                 else opens_at + timedelta(minutes=late + duration))
    ids = _candidate_ids(rnd, scheme, candidates) if candidates else []
    try:
        session = create_session(
            rnd, scheme, candidate_ids=ids, name=name or f"{rnd.year}年{scheme.level}笔试", blueprint_id=blueprint.id,
            opens_at=opens_at, closes_at=closes_at, duration_minutes=duration, late_entry_minutes=late,
            instructions=instructions, assign_all=not candidates, event_warning_threshold=None,
            seed=_int(seed, "--seed", "随机种子") if seed else None)
    except ExamAdminError as err:
        db.session.rollback()
        _refused("场次未创建：", err.errors)
    uow.commit()
    click.echo(f"已创建场次 {session.id}「{session.name}」：{to_local(session.opens_at):%Y-%m-%d %H:%M} 至 "
               f"{to_local(session.closes_at):%Y-%m-%d %H:%M}，时长 {session.duration_minutes} 分钟，"
               f"已为 {len(session.assignments)} 名考生生成试卷")


@session_group.command("release", help="发布场次成绩（考试时间窗口结束后；与网页「发布成绩」同一操作）。")
@click.option("--round", "round_code", help="轮次代码")
@click.option("--session", "session_ref", help="场次编号或名称")
@with_appcontext
def session_release_command(round_code, session_ref):
    from certify import uow
    from certify.extensions import db

    from .authoring.papers import ExamAdminError
    from .authoring.sessions import release_scores, sessions_of_round
    from .models import ExamSession

    rnd = round_or_fail(_need(round_code, "--round", "轮次代码"))
    ref = _need(session_ref, "--session", "场次编号或名称")
    found = sessions_of_round(rnd)
    hits = [s for s in found if str(s.id) == ref] or [s for s in found if s.name == ref]
    if not hits:
        known = "、".join(f"{s.id}「{s.name}」" for s in found) or "（无）"
        fail(f"选项 --session：轮次 {rnd.code} 没有场次「{ref}」（现有：{known}）")
    if len(hits) > 1:
        fail(f"选项 --session：有 {len(hits)} 个名为「{ref}」的场次，请用编号（"
             + "、".join(str(s.id) for s in hits) + "）")
    session: ExamSession = hits[0]
    try:
        release_scores(session)
    except ExamAdminError as err:
        db.session.rollback()
        fail(f"场次 {session.id}「{session.name}」的成绩未发布：" + "；".join(err.errors))
    uow.commit()
    click.echo(f"已发布场次 {session.id}「{session.name}」的成绩，考生现在可以查看")


@session_group.command("makeup", help="为已结束场次中缺考或作答中断的考生安排补考：certify session makeup --session ID "
                              "--candidates 准考证号,… --opens 'YYYY-MM-DD HH:MM' --closes … --reason 理由 --yes"
                              "（不加 --yes 只列出将补考的考生）。")
@click.option("--session", "session_id", type=int, required=True, help="原场次编号")
@click.option("--candidates", default="", help="补考考生的准考证号，逗号分隔")
@click.option("--opens", default=None, help="补考开考时间（北京时间）")
@click.option("--closes", default=None, help="补考结束时间（北京时间）")
@click.option("--minutes", type=int, default=None, help="考试时长（分钟；默认同原场次）")
@click.option("--name", default="", help="补考场次名称（默认：原场次名称加「（补考）」）")
@click.option("--reason", default="", help="补考理由（记入审计日志）")
@click.option("--yes", is_flag=True, help="确认建立补考场次")
@with_appcontext
def makeup_command(session_id, candidates, opens, closes, minutes, name, reason, yes):
    from certify import uow
    from certify.extensions import db

    from .authoring.makeup import create_makeup, makeup_rows
    from .authoring.papers import ExamAdminError
    from .models import ExamSession

    original = db.session.get(ExamSession, session_id)
    if original is None:
        fail(f"选项 --session：场次 {session_id} 不存在")
    rows = {r["candidate"].ticket: r for r in makeup_rows(original)}
    tickets = [t.strip() for t in candidates.replace("，", ",").split(",") if t.strip()]
    if not tickets:
        fail("缺少选项 --candidates（补考考生的准考证号，逗号分隔）")
    unknown = [t for t in tickets if t not in rows]
    if unknown:
        fail(f"选项 --candidates：{'、'.join(unknown)} 不在场次「{original.name}」中")
    opens_at, closes_at = _local_time(opens, "--opens"), _local_time(closes, "--closes")
    for t in tickets:
        r = rows[t]
        click.echo(f"{t} {r['candidate'].name}：{r['status']}" + ("" if r["eligible"] else f"（{r['why']}）"))
    if not yes:
        click.echo("未写入任何数据；确认无误后加 --yes 与 --reason 再次执行")
        return
    try:
        session = create_makeup(original, candidate_ids=[rows[t]["candidate"].id for t in tickets], name=name,
                                opens_at=opens_at, closes_at=closes_at, duration_minutes=minutes, reason=reason)
    except ExamAdminError as err:
        db.session.rollback()
        fail("未建立补考场次：" + "；".join(err.errors))
    uow.commit()
    click.echo(f"已建立补考场次「{session.name}」（编号 {session.id}），已为 {len(tickets)} 名考生重新组卷")


COMMANDS = (blueprint_group, session_group)
