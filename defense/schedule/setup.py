"""Defense organisation's contributions to the app declared in ``defense.area()``: the candidate's defense-slot
panel and the demo step that builds panels and publishes a schedule."""
from __future__ import annotations

from certify.extensions import db


def candidate_slot_panel(candidate) -> str | None:
    """The candidate's defense slot (once published), with a notice when it changed after publication."""
    from flask import render_template

    from . import operations as ops

    scheme = candidate.scheme
    if scheme is None or not scheme.has_defense:
        return None
    rnd = candidate.round
    a = ops.candidate_assignment(candidate) if ops.is_published(rnd) else None
    return render_template("defense/_candidate_slot.html", a=a, candidate=candidate)


DEMO_PANELISTS = (
    # name, work unit, expertise, panel, chair
    ("王建国", "重庆市科学技术协会", "科技教育管理", "第一答辩组", True),
    ("李秀英", "重庆师范大学", "科学教育", "第一答辩组", False),
    ("张伟", "重庆科技馆", "科普场馆教育", "第一答辩组", False),
    ("刘芳", "重庆市教育科学研究院", "教育评价", "第一答辩组", False),
    ("陈志强", "西南大学", "物理教育", "第二答辩组", True),
    ("杨丽", "重庆市青少年宫", "青少年活动策划", "第二答辩组", False),
    ("赵磊", "重庆大学", "机器人与编程", "第二答辩组", False),
    ("黄敏", "重庆市第八中学校", "生物教学", "第三答辩组", True),
    ("周杰", "重庆邮电大学", "信息技术教育", "第三答辩组", False),
    ("吴静", "重庆市南开中学校", "化学教学", "第三答辩组", False),
)


def _move_days(rnd, days, wanted, context) -> None:
    """``certify demo --reset``: move the demo round's defense days (in order) to ``wanted`` and every slot with
    its day at the same local time, so the published schedule keeps its shape. The demo is moved in time as a
    whole, not rescheduled: candidates are not told of a change, and the move is audited once."""
    from datetime import datetime, timedelta

    from certify.audit import audit
    from certify.clock import display_timezone, from_local, to_local
    from certify.demo_core import note_change

    from . import operations as ops

    tz = display_timezone()
    moves = dict(zip((row.day for row in days), wanted, strict=True))
    finals = {}
    for a in ops.round_assignments(rnd):
        local = to_local(a.start_at, tz).replace(tzinfo=None)
        length = a.end_at - a.start_at
        new_day = moves.get(local.date())
        if new_day is not None:
            start = from_local(datetime.combine(new_day, local.time()), tz)
            finals[a] = (start, start + length)
    # Two steps through placeholders, so no row ever collides with one not moved yet (day and slot are unique).
    for i, row in enumerate(days):
        row.day = datetime(1900, 1, 1).date() + timedelta(days=i)
    for i, a in enumerate(finals):
        a.start_at = a.end_at = datetime(1900, 1, 1) + timedelta(minutes=i)
    db.session.flush()
    for row, new_day in zip(days, wanted, strict=True):
        row.day = new_day
    for a, (start, end) in finals.items():
        a.start_at, a.end_at = start, end
    db.session.flush()
    before = sorted(d.isoformat() for d in moves)
    after = [d.isoformat() for d in wanted]
    audit("demo.reset.defense_days", target=rnd, before=before, after=after, slots=len(finals))
    note_change(context, f"答辩日已移到：{'、'.join(after)}（{len(finals)} 个已排答辩随之移动）")


def demo_panels(context: dict) -> None:
    """demo-cq: 10 panelists in 3 panels (password demo12345), one declared conflict, two defense days, the
    schedule computed and published. The defense days are the next working days after today; on an existing demo
they are left as they are (and reported when past) unless ``context["reset"]``, which moves them and their slots
to the next working days. Idempotent: a published schedule is left as it is."""
    from certify.demo_core import demo_defense_days, local_today, note_change
    from certify.models import Round

    from ..models import Panel
    from . import operations as ops

    rnd = context.get("round") or db.session.execute(db.select(Round).filter_by(code="demo-cq")).scalar_one_or_none()
    if rnd is None:
        return
    out = context.get("print", print)
    by_name = {p.name: p for p in ops.round_panelists(rnd)}
    for name, unit, expertise, _panel, _chair in DEMO_PANELISTS:
        if name not in by_name:
            by_name[name] = ops.create_panelist(rnd, name=name, work_unit=unit, expertise=expertise,
                                                password="demo12345")
    rooms = {"第一答辩组": ("科技馆 301 会议室", ""), "第二答辩组": ("科技馆 302 会议室", ""),
             "第三答辩组": ("", "https://meeting.example.org/cq-defense-3")}
    new_panels = 0
    for pname in dict.fromkeys(row[3] for row in DEMO_PANELISTS):
        panel = db.session.execute(db.select(Panel).filter_by(round_id=rnd.id, name=pname)).scalar_one_or_none()
        if panel is None:
            new_panels += 1
            members = [by_name[r[0]] for r in DEMO_PANELISTS if r[3] == pname]
            chair = next(by_name[r[0]] for r in DEMO_PANELISTS if r[3] == pname and r[4])
            ops.save_panel(rnd, None, name=pname, room=rooms[pname][0], meeting_link=rooms[pname][1],
                           member_ids=[m.id for m in members], chair_id=chair.id)
    if new_panels:
        note_change(context, f"答辩组：新建 {new_panels} 个，专家 {len(DEMO_PANELISTS)} 名")
    candidates = ops.defense_candidates(rnd)
    if not ops.round_conflicts(rnd) and candidates:
        ops.add_conflict(by_name["李秀英"], candidates[0].id_number)
    days = ops.round_days(rnd)
    if not days:
        for d in demo_defense_days(local_today(context.get("now"))):
            ops.save_day(rnd, day=d, start="08:30", end="17:30", slot_minutes=20, breaks="12:00-13:30")
        note_change(context, "答辩日：" + "、".join(d.day.isoformat() for d in ops.round_days(rnd)))
    else:
        wanted = demo_defense_days(local_today(context.get("now")), len(days))
        if [d.day for d in days] == wanted:
            out("答辩日已是最新：" + "、".join(d.isoformat() for d in wanted))
        elif context.get("reset"):
            _move_days(rnd, days, wanted, context)
        else:
            shown = "、".join(d.day.isoformat() for d in days)
            out(f"答辩日已存在：{shown}")
            if days[0].day <= local_today(context.get("now")):
                context.setdefault("stale", []).append(f"答辩日 {shown} 不在今天之后")
    if not ops.is_published(rnd) and candidates:
        result = ops.run_schedule(rnd, time_limit=5)
        if result.ok:
            ops.publish_schedule(rnd)
            note_change(context, f"答辩安排：{len(result.placements)} 名中级考生已排入 3 个答辩组并发布")
        else:
            out("答辩安排未能生成：" + "；".join(result.reasons))
    chair = by_name["王建国"]
    member = by_name["李秀英"]
    context["logins"].append(("答辩组长", chair.user.username, "demo12345", "第一答辩组组长"))
    context["logins"].append(("评审专家", member.user.username, "demo12345", "第一答辩组专家"))
    context["panelists"] = [by_name[r[0]] for r in DEMO_PANELISTS]
