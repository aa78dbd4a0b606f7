"""The roster (考生名单): reading a file, importing it into a round, the template and the candidate search.

``import_roster`` is the one state change: it validates every row (``services.roster_rules.plan_roster``),
writes nothing when any row is wrong (``ImportFailed`` with every error), and otherwise adds candidates with
their login accounts (no password until the slips are printed) and updates changed contact fields. It flushes and
audits; the caller commits.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import insert, or_
from sqlalchemy.orm import selectinload

from .accounts import UNUSABLE_HASH, create_user
from .audit import audit
from .clock import to_local, utcnow
from .domain import CANDIDATE, LEVELS
from .extensions import db
from .models import Candidate, Round, User
from .services.roster_rules import (
    HEADERS,
    REGION_CODES,
    ExistingCandidate,
    assign_tickets,
    check_id_number,
    make_id_number,
    plan_roster,
    ticket_prefix,
)
from .tabular import Column, ImportFailed, RowError, Sheet, chunks, read_table

ROSTER_COLUMNS = (
    Column("id_number", HEADERS["id_number"], ("身份证号", "身份证号码", "证件号码")),
    Column("name", HEADERS["name"]),
    Column("work_unit", HEADERS["work_unit"]),
    Column("district", HEADERS["district"], ("区县（市）", "所在区县")),
    Column("level", HEADERS["level"], ("级别", "申报级别")),
    Column("phone", HEADERS["phone"], ("手机号", "手机号码", "联系电话"), required=False),
    Column("ticket", HEADERS["ticket"], ("准考证",), required=False),
)


@dataclass
class RosterResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    new_candidates: list[Candidate] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return f"新增 {self.added} 人，更新 {self.updated} 人，未变 {self.unchanged} 人"


def import_roster(rnd: Round, data: bytes, filename: str) -> RosterResult:
    """Import a roster file into a round (all or nothing). Raises ImportFailed with every row-level error."""
    table = read_roster(data, filename)
    return import_rows(rnd, [(r.number, r.values) for r in table.rows], file=table.file, sheet=table.sheet)


def read_roster(data: bytes, filename: str):
    """Read a roster file (bounded, before any query); ImportFailed when it cannot be read or holds no rows."""
    table = read_table(data, filename, ROSTER_COLUMNS)
    if not table.rows:
        raise ImportFailed([RowError(None, None, "文件中没有考生数据", table.file, table.sheet)])
    return table


def import_rows(rnd: Round, rows: list[tuple[int, dict]], *, file: str, sheet: str = "",
                password: str | None = None) -> RosterResult:
    """Validate and apply roster rows (row number, values by column key). New accounts get ``password`` (the
    demo), or none until their one-time password is issued with the admission slips."""
    return _apply(rnd, plan_import(rnd, rows, file=file, sheet=sheet), file, password)


def plan_import(rnd: Round, rows: list[tuple[int, dict]], *, file: str, sheet: str = ""):
    """Check every row against the round as it is now and give the new candidates their tickets; writes nothing.
    Raises ImportFailed with every row-level error."""
    existing, holders = _what_exists(rnd, rows)
    plan = plan_roster(rows, file=file, sheet=sheet, offered_levels=rnd.levels, region=rnd.region,
                       existing=existing, ticket_holders=holders, today=to_local(utcnow()).date())
    if plan.errors:
        raise ImportFailed(plan.errors)
    prefixes = {ticket_prefix(rnd.year, rnd.region, lv) for lv in rnd.levels}
    used: set[str] = set()
    for prefix in prefixes:
        used.update(db.session.execute(db.select(Candidate.ticket).where(Candidate.ticket.like(f"{prefix}%"))).scalars())
        used.update(db.session.execute(db.select(User.username).where(User.username.like(f"{prefix}%"))).scalars())
    assign_tickets(plan, year=rnd.year, region=rnd.region, used=used)
    return plan


def _what_exists(rnd: Round, rows: list[tuple[int, dict]]) -> tuple[dict[str, ExistingCandidate],
                                                                   dict[str, str | None]]:
    """This round's candidates by the file's ID numbers, and who holds the file's tickets."""
    ids = sorted({check_id_number(v.get("id_number") or "")[0] for _, v in rows} - {""})
    existing: dict[str, ExistingCandidate] = {}
    for batch in chunks(ids):  # a 100,000-row file must not become one query with 100,000 parameters
        for c in db.session.execute(
                db.select(Candidate).where(Candidate.round_id == rnd.id, Candidate.id_number.in_(batch))).scalars():
            existing[c.id_number] = ExistingCandidate(c.id_number, c.ticket, c.level, c.name, c.work_unit,
                                                      c.district, c.phone or "")
    file_tickets = sorted({(v.get("ticket") or "").strip() for _, v in rows} - {""})
    holders: dict[str, str | None] = {}
    for batch in chunks(file_tickets):
        for ticket, round_id, id_number in db.session.execute(
                db.select(Candidate.ticket, Candidate.round_id, Candidate.id_number)
                .where(Candidate.ticket.in_(batch))):
            holders[ticket] = id_number if round_id == rnd.id else None
    for batch in chunks(file_tickets):
        for (username,) in db.session.execute(db.select(User.username).where(User.username.in_(batch))):
            holders.setdefault(username, None)
    return existing, holders


def _apply(rnd: Round, plan, file: str, password: str | None) -> RosterResult:
    result = RosterResult()
    added = [row.values for row in plan.rows if row.action == "add"]
    if password is None:  # the real imports: accounts without a password yet, written in bulk
        result.new_candidates = _insert_candidates(rnd, added)
    else:  # the demo: each account's password hashed with the strong KDF
        result.new_candidates = [add_candidate(rnd, v, password=password) for v in added]
    result.added = len(added)
    updates = update_candidates(rnd, [row for row in plan.rows if row.action == "update"])
    result.updated = len(updates)
    result.unchanged = len(plan.rows) - result.added - result.updated
    db.session.flush()
    audit_import(rnd, file, result, [c.ticket for c in result.new_candidates], updates)
    return result


def update_candidates(rnd: Round, rows) -> list[dict]:
    """Apply the planned changes of existing candidates (rows whose action is "update"); returns what changed for
    the audit trail ({"ticket", "changes": {field: [old, new]}} per candidate)."""
    by_id = {}
    for batch in chunks([r.values["id_number"] for r in rows]):
        by_id.update((c.id_number, c) for c in db.session.execute(
            db.select(Candidate).where(Candidate.round_id == rnd.id, Candidate.id_number.in_(batch))
            .options(selectinload(Candidate.user))).scalars())
    updates = []
    for row in rows:
        cand = by_id[row.values["id_number"]]
        for key, (_before, after) in row.changes.items():
            setattr(cand, key, after)
        if "name" in row.changes and cand.user is not None:
            cand.user.display_name = row.values["name"]
        updates.append({"ticket": cand.ticket, "changes": {k: list(c) for k, c in row.changes.items()}})
    return updates


def audit_import(rnd: Round, file: str, result: RosterResult, added_tickets: list[str], updates: list[dict]) -> None:
    if result.added or result.updated:
        audit("roster.import", target=rnd, round_id=rnd.id, file=file, added=result.added,
              updated=result.updated, unchanged=result.unchanged, added_tickets=added_tickets, updates=updates)


INSERT_CHUNK = 1000  # rows per multi-row INSERT


def _insert_candidates(rnd: Round, added: list[dict], *, load: bool = True) -> list[Candidate]:
    """New candidates and their accounts (no usable password until the slips are printed, as ``add_candidate``
    makes them) with two multi-row INSERTs per ``INSERT_CHUNK`` rows instead of two ORM objects per row, then
    loaded back as objects (one query per chunk) for the caller."""
    made: list[Candidate] = []
    for start in range(0, len(added), INSERT_CHUNK):
        chunk = added[start:start + INSERT_CHUNK]
        now = utcnow()
        user_ids = db.session.scalars(insert(User).returning(User.id, sort_by_parameter_order=True), [
            {"username": v["ticket"], "role": CANDIDATE, "display_name": v["name"] or v["ticket"],
             "password_hash": UNUSABLE_HASH, "must_change_password": True, "created_at": now} for v in chunk]).all()
        ids = db.session.scalars(insert(Candidate).returning(Candidate.id, sort_by_parameter_order=True), [
            {"round_id": rnd.id, "user_id": uid, "ticket": v["ticket"], "id_number": v["id_number"],
             "name": v["name"], "work_unit": v["work_unit"], "district": v.get("district", ""),
             "level": v["level"], "phone": v.get("phone", ""), "created_at": now}
            for uid, v in zip(user_ids, chunk)]).all()
        if not load:  # the background import: 50,000 objects are not needed, only the rows
            continue
        by_id = {c.id: c for c in db.session.scalars(
            db.select(Candidate).where(Candidate.id.in_(ids)).options(selectinload(Candidate.user)))}
        made += [by_id[i] for i in ids]
    return made


def add_candidate(rnd: Round, values: dict, *, password: str | None = None) -> Candidate:
    """A candidate and their login account (username = ticket). Without a password the account has none yet:
    its one-time password is generated when the admission slips are printed (``accounts.issue_slip_passwords``)
    and is never stored in plain text."""
    user, _ = create_user(values["ticket"], CANDIDATE, password=password, display_name=values["name"],
                          issue=False)
    cand = Candidate(round=rnd, user=user, ticket=values["ticket"], id_number=values["id_number"],
                     name=values["name"], work_unit=values["work_unit"], district=values.get("district", ""),
                     level=values["level"], phone=values.get("phone", ""))
    db.session.add(cand)
    return cand


def template_sheet(rnd: Round | None = None) -> Sheet:
    """The roster template: the headers and one example row (a valid, made-up ID number)."""
    from datetime import date

    region = rnd.region if rnd else "重庆"
    level = rnd.levels[0] if rnd and rnd.levels else LEVELS[0]
    area = {"重庆": "500103", "吉林": "220102"}.get(region, "110101")
    example = [make_id_number(area, date(1990, 3, 15), 123), "张三", "示例市第一中学", "渝中区" if region == "重庆"
               else "南关区", level, "13800000000", ""]
    # Text format for the long-number columns, so Excel keeps all 18 digits of the example.
    return Sheet("考生名单", [HEADERS[c.key] for c in ROSTER_COLUMNS], [example],
                 number_formats={0: "@", 5: "@", 6: "@"})


def search_candidates(rnd: Round, *, q: str = "", level: str = ""):
    """The select for a round's candidates, filtered by a search text (name/ticket/ID/work unit) and level."""
    stmt = db.select(Candidate).where(Candidate.round_id == rnd.id)
    q = (q or "").strip()
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(or_(Candidate.name.ilike(like), Candidate.ticket.ilike(like),
                              Candidate.id_number.ilike(like), Candidate.work_unit.ilike(like)))
    if level in LEVELS:
        stmt = stmt.where(Candidate.level == level)
    # The list and the slips show each account's password state: load the accounts with them, not one by one.
    return stmt.order_by(Candidate.ticket).options(selectinload(Candidate.user))


SLIPS_PER_PAGE = 200


def slip_batch(rnd: Round, *, level: str = "", page: int = 1):
    """One batch of a round's admission slips (``SLIPS_PER_PAGE`` candidates in ticket order, a pagination): the
    slips are printed, and their one-time passwords issued, one batch at a time (a whole round's thousands of slips
    in one page took seconds to build and to print)."""
    stmt = search_candidates(rnd, level=level if level in LEVELS else "").order_by(None).order_by(
        Candidate.ticket, Candidate.id)
    return db.paginate(stmt, page=page, per_page=SLIPS_PER_PAGE, max_per_page=SLIPS_PER_PAGE, error_out=False)


def candidate_for_user(user) -> Candidate | None:
    if user is None or not getattr(user, "id", None):
        return None
    return db.session.execute(db.select(Candidate).filter_by(user_id=user.id)).scalar_one_or_none()


__all__ = ["ROSTER_COLUMNS", "REGION_CODES", "RosterResult", "import_roster", "import_rows", "read_roster",
           "plan_import", "update_candidates", "audit_import", "add_candidate",
           "template_sheet", "search_candidates", "slip_batch", "SLIPS_PER_PAGE", "candidate_for_user"]
