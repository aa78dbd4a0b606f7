"""Demo step of the core: staff accounts and a Chongqing round (both levels) plus a Jilin round."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from .accounts import create_staff, user_by_username
from .audit import audit
from .clock import to_local, utcnow
from .domain import SECRETARIAT, SUPERVISOR
from .extensions import db
from .models import Round
from .rounds import create_round

# Demo only: a known, short password, set below the rules on purpose so the printed demo logins stay easy to
# type. Real accounts are made with ``certify users create`` (or the secretariat's page), where the rules hold.
DEMO_PASSWORD = "demo12345"
# The demo rounds, by code: ``certify demo --reset`` touches these and nothing else.
DEMO_ROUNDS = {
    "demo-cq": ("重庆", "{year}年重庆市青少年科技辅导员专业水平认证（演示）"),
    "demo-jl": ("吉林", "{year}年吉林省初级青少年科技辅导员专业水平认证（演示）"),
}
DEMO_DEFENSE_DAYS = 2
# An exam window: open from the start of the current hour for 25 hours, entry allowed for the first 24, so a
# newcomer can start (and finish) a full paper at any time in the next day.
EXAM_WINDOW_HOURS = 25
EXAM_ENTRY_HOURS = 24


class DemoError(RuntimeError):
    """A demo step cannot do its part (e.g. the bank cannot fill a blueprint): ``certify demo`` says why, exits 1."""


# ------------------------------------------------------------------ dates relative to now (pure)


def local_today(now: datetime | None = None) -> date:
    """Today in the display time zone (the day the people using the demo live in)."""
    return to_local(now or utcnow()).date()


def is_working_day(day: date) -> bool:
    """China's official calendar (statutory holidays off, make-up weekends on); Monday–Friday for a year the
    installed calendar does not know yet."""
    import chinese_calendar

    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


def demo_defense_days(today: date, count: int = DEMO_DEFENSE_DAYS) -> list[date]:
    """The next ``count`` working days after ``today``: the defenses come after today's exam."""
    days: list[date] = []
    day = today
    while len(days) < count:
        day += timedelta(days=1)
        if is_working_day(day):
            days.append(day)
    return days


def demo_exam_window(now: datetime) -> tuple[datetime, datetime, int]:
    """(opens_at, closes_at, late_entry_minutes) of a demo exam session renewed at ``now`` (naive UTC). The same
    within one hour, so running ``certify demo --reset`` twice in a row changes nothing the second time."""
    opens = now.replace(minute=0, second=0, microsecond=0)
    return opens, opens + timedelta(hours=EXAM_WINDOW_HOURS), EXAM_ENTRY_HOURS * 60


def demo_year(now: datetime | None = None) -> int:
    return local_today(now).year


def note_change(context: dict, line: str) -> None:
    """A step reports what it created or moved; ``certify demo`` ends with whether anything changed."""
    context.setdefault("changes", []).append(line)
    context["print"](line)


# ------------------------------------------------------------------ steps


def _demo_round(code: str, year: int, context: dict) -> Round:
    region, name_pattern = DEMO_ROUNDS[code]
    name = name_pattern.format(year=year)
    rnd = db.session.execute(db.select(Round).filter_by(code=code)).scalar_one_or_none()
    if rnd is None:
        rnd = create_round(code, region, year, name)
        note_change(context, f"演示轮次：{code}（{name}）")
    elif rnd.year != year and context.get("reset"):
        before = (rnd.year, rnd.name)
        rnd.year, rnd.name = year, name
        audit("demo.reset.round", target=rnd, before={"year": before[0], "name": before[1]},
              after={"year": year, "name": name})
        note_change(context, f"演示轮次 {code}：年度 {before[0]} → {year}")
    elif rnd.year != year:
        context["print"](f"演示轮次 {code} 已存在（{rnd.year} 年）")
        context.setdefault("stale", []).append(f"演示轮次 {code} 仍是 {rnd.year} 年")
    return rnd


def demo_accounts(context: dict) -> None:
    for username, role, name, label in (("mishu", SECRETARIAT, "秘书处演示账号", "秘书处"),
                                        ("jiandu", SUPERVISOR, "监督委员会演示账号", "监督委员会")):
        if user_by_username(username) is None:
            user, _one_time = create_staff(username, role, display_name=name)  # same operation as `users create`
            user.set_password(DEMO_PASSWORD)
            user.must_change_password = False
        context["logins"].append((label, username, DEMO_PASSWORD, ""))
    year = demo_year(context.get("now"))
    context["existing"] = db.session.execute(db.select(Round.id).filter_by(code="demo-cq")).first() is not None
    context["round"] = _demo_round("demo-cq", year, context)
    _demo_round("demo-jl", year, context)


# (name, work unit, district, area code of the ID number, birth date, female)
_CQ_JUNIOR = (
    ("王晓燕", "重庆市渝中区人和街小学", "渝中区", "500103", (1988, 4, 12), True),
    ("李建国", "重庆市渝中区人和街小学", "渝中区", "500103", (1979, 9, 3), False),
    ("张思远", "重庆市第八中学校", "沙坪坝区", "500106", (1992, 1, 25), False),
    ("刘芳", "重庆市第八中学校", "沙坪坝区", "500106", (1990, 7, 8), True),
    ("陈志强", "重庆科技馆", "江北区", "500105", (1985, 11, 30), False),
    ("杨雪梅", "重庆市南岸区青少年活动中心", "南岸区", "500108", (1994, 3, 16), True),
    ("赵宇航", "重庆市九龙坡区谢家湾小学", "九龙坡区", "500107", (1996, 6, 21), False),
    ("黄丽娟", "重庆市渝北区青少年科技教育中心", "渝北区", "500112", (1987, 12, 2), True),
)
_CQ_INTERMEDIATE = (
    ("周文斌", "重庆科技馆", "江北区", "500105", (1978, 2, 14), False),
    ("吴静", "重庆市第八中学校", "沙坪坝区", "500106", (1983, 8, 19), True),
    ("郑海涛", "重庆市南岸区青少年活动中心", "南岸区", "500108", (1980, 5, 7), False),
    ("孙玉兰", "重庆市渝中区人和街小学", "渝中区", "500103", (1982, 10, 28), True),
    ("马骏", "重庆市渝北区青少年科技教育中心", "渝北区", "500112", (1986, 4, 3), False),
    ("胡晓红", "西南大学附属中学校", "北碚区", "500109", (1984, 1, 9), True),
)
_JL_JUNIOR = (
    ("高明", "长春市第二实验中学", "南关区", "220102", (1989, 3, 22), False),
    ("林晓梅", "吉林省科技馆", "朝阳区", "220104", (1991, 9, 14), True),
    ("徐浩然", "长春市朝阳区青少年宫", "朝阳区", "220104", (1993, 5, 30), False),
    ("何秀英", "吉林市昌邑区实验小学", "昌邑区", "220202", (1986, 11, 11), True),
    ("罗志刚", "长春市第二实验中学", "南关区", "220102", (1981, 7, 17), False),
)


def _demo_rows(people, level: str, serial_base: int) -> list[tuple[int, dict]]:
    from .services.roster_rules import make_id_number

    rows = []
    for i, (name, unit, district, area, birth, female) in enumerate(people):
        id_number = make_id_number(area, date(*birth), serial_base + 7 * i, female=female)
        phone = f"139{(serial_base * 100 + i * 7919) % 100_000_000:08d}"
        rows.append((len(rows) + 2, {"id_number": id_number, "name": name, "work_unit": unit, "district": district,
                                     "level": level, "phone": phone, "ticket": ""}))
    return rows


def demo_candidates(context: dict) -> None:
    """Candidates of both demo rounds (password demo12345, no forced change); re-running changes nothing."""
    from .domain import INTERMEDIATE, JUNIOR
    from .models import Candidate
    from .roster import import_rows

    cq = db.session.execute(db.select(Round).filter_by(code="demo-cq")).scalar_one()
    jl = db.session.execute(db.select(Round).filter_by(code="demo-jl")).scalar_one()
    for rnd, rows in ((cq, _demo_rows(_CQ_JUNIOR, JUNIOR, 101) + _demo_rows(_CQ_INTERMEDIATE, INTERMEDIATE, 301)),
                      (jl, _demo_rows(_JL_JUNIOR, JUNIOR, 501))):
        for i, (_n, values) in enumerate(rows):
            rows[i] = (i + 2, values)
        result = import_rows(rnd, rows, file="演示名单", password=DEMO_PASSWORD)
        if result.added or result.updated:
            note_change(context, f"演示考生（{rnd.code}）：{result.summary}")
    db.session.flush()
    people = db.session.execute(
        db.select(Candidate).join(Round).where(Round.code.in_(("demo-cq", "demo-jl")))
        .order_by(Round.code, Candidate.ticket)).scalars().all()
    context["candidates"] = people
    for level in (JUNIOR, INTERMEDIATE):
        first = next((c for c in people if c.round_id == cq.id and c.level == level), None)
        if first is not None:
            context["logins"].append((f"考生（{level}）", first.ticket, DEMO_PASSWORD, f"{first.name} · {cq.code}"))
