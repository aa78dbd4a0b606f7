"""The audit trail as a hash chain (pure: plain values in, results out; no Flask, no database).

Each entry stores ``entry_hash`` = SHA-256 of its canonical content (id, time, actor, round, action, object,
reason, details) together with ``prev_hash``, the ``entry_hash`` of the entry before it (``GENESIS`` for the
first). Editing an entry changes its hash; deleting one breaks the link of the next; moving one to another id
makes its hash wrong for the id it now holds. ``verify_chain`` walks the entries in id order and names the first
entry that is not what was written.

What a chain cannot see on its own: the newest entries removed from the end (nothing links to them). Keep the
head (``VerifyResult.head_id``/``head_hash``) somewhere else and pass it back as an anchor to catch that.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

GENESIS = "0" * 64
FORMAT_VERSION = 1

# PostgreSQL: the table refuses UPDATE and DELETE of a row (TRUNCATE, a statement on the whole table, stays
# possible for the owner: tests empty tables with it, and restoring a backup needs it).
PG_APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_entries is append-only: % of entry % refused', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
PG_APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()
"""
PG_DROP_TRIGGER = "DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries"
PG_DROP_FUNCTION = "DROP FUNCTION IF EXISTS audit_entries_append_only()"
# One constant key for pg_advisory_xact_lock: every transaction that appends to the trail takes it before it
# reads the last hash, so two writers can never chain to the same predecessor.
PG_LOCK_KEY = 0x4155444954  # "AUDIT"


def jsonable(value):
    """Details as plain JSON values: what the database gives back is exactly what was hashed."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _time(at: datetime | str) -> str:
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.replace(tzinfo=None).isoformat(timespec="microseconds")


def canonical(row: dict) -> str:
    """The canonical text of an entry: keys sorted, no whitespace, UTF-8, time to the microsecond."""
    content = {
        "v": FORMAT_VERSION,
        "id": int(row["id"]),
        "at": _time(row["at"]),
        "actor": {"id": row.get("actor_id"), "name": row.get("actor_name") or ""},
        "round_id": row.get("round_id"),
        "action": row["action"],
        "object": {"type": row.get("target_type") or "", "id": str(row.get("target_id") or "")},
        "reason": row.get("reason") or "",
        "details": row.get("detail") or {},
        "prev": row["prev_hash"],
    }
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def entry_hash(row: dict) -> str:
    return hashlib.sha256(canonical(row).encode("utf-8")).hexdigest()


def seal(rows: list[dict], last_id: int | None, last_hash: str | None) -> list[dict]:
    """Give new entries (in order) their ids, ``prev_hash`` and ``entry_hash`` after the chain's last entry."""
    next_id = (last_id or 0) + 1
    prev = last_hash or GENESIS
    for row in rows:
        row["id"] = next_id
        row["prev_hash"] = prev
        row["entry_hash"] = prev = entry_hash(row)
        next_id += 1
    return rows


@dataclass(frozen=True)
class Break:
    """The first entry that is not what was written. ``kind``: edited, deleted, reordered or unlinked."""
    entry_id: int
    kind: str
    detail: str = ""

    @property
    def message(self) -> str:
        what = {
            "edited": f"第 {self.entry_id} 条记录的内容已被修改",
            "deleted": f"第 {self.entry_id} 条记录已被删除",
            "reordered": f"第 {self.entry_id} 条记录的位置已被调换",
            "unlinked": f"第 {self.entry_id} 条记录与前一条的链接不符",
            "truncated": f"第 {self.entry_id} 条之后的记录已被删除",
        }[self.kind]
        return f"{what}{'：' + self.detail if self.detail else ''}"


@dataclass(frozen=True)
class VerifyResult:
    count: int
    head_id: int | None
    head_hash: str | None
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    @property
    def message(self) -> str:
        if self.broken:
            return f"审计链已断开：{self.broken.message}"
        if not self.count:
            return "审计链完整（尚无记录）"
        return f"审计链完整（至第 {self.head_id} 条）"


Locate = Callable[[str, str], "int | None"]


def verify_chain(rows: Iterable[dict], *, locate: Locate | None = None, anchor: tuple[int, str] | None = None,
                 start: VerifyResult | None = None) -> VerifyResult:
    """Walk entries in id order; the first one whose content, link or position is wrong ends the walk.

    ``locate(column, h)`` (optional) gives the id of the entry whose ``column`` ("entry_hash" or "prev_hash")
    holds ``h``; with it an entry moved to another id is told apart from one edited in place. ``anchor`` =
    (id, entry_hash) recorded earlier: that entry must still be there, unchanged, or the trail lost entries
    (the newest ones too, which nothing else links to). ``start``: an earlier intact result to continue from
    (``rows`` are then the entries after its head)."""
    prev_id: int | None = start.head_id if start else None
    prev_hash = (start.head_hash or GENESIS) if start else GENESIS
    count = start.count if start else 0
    anchor_seen = False

    def result(broken: Break | None) -> VerifyResult:
        return VerifyResult(count, prev_id, prev_hash if prev_id else None, broken)

    for row in rows:
        rid = int(row["id"])
        stored = row.get("entry_hash") or ""
        link_ok = row.get("prev_hash") == prev_hash
        content_ok = bool(row.get("prev_hash")) and entry_hash(row) == stored
        if not (link_ok and content_ok):
            return result(_diagnose(row, rid, prev_id, link_ok, content_ok, locate))
        if anchor and rid == anchor[0]:
            anchor_seen = True
            if stored != anchor[1]:
                return result(Break(rid, "edited", "与此前记下的哈希不符"))
        prev_id, prev_hash = rid, stored
        count += 1
    if anchor and not anchor_seen:
        return result(Break(prev_id or 0, "truncated", f"此前记下的第 {anchor[0]} 条已不存在"))
    return result(None)


def _diagnose(row: dict, rid: int, prev_id: int | None, link_ok: bool, content_ok: bool, locate) -> Break:
    expected_id = (prev_id or 0) + 1
    if not content_ok:
        origin = _origin(row, locate)
        if origin is not None and origin != rid:
            return Break(rid, "reordered", f"此处的内容原为第 {origin} 条")
        if link_ok or rid == expected_id:
            return Break(rid, "edited")
    if rid > expected_id:
        return Break(expected_id, "deleted", f"第 {expected_id}–{rid - 1} 条均缺失" if rid - expected_id > 1 else "")
    if prev_id is not None:
        # This entry is intact but no longer links to the one before: that one was rewritten with a new hash.
        return Break(prev_id, "edited", f"其哈希与第 {rid} 条记下的不符")
    return Break(rid, "unlinked")


def _origin(row: dict, locate) -> int | None:
    """The id this content was sealed under, if its stored hash fits another position: found from the entry
    that links to it (its successor) or from the entry it links to (its predecessor)."""
    stored, prev = row.get("entry_hash"), row.get("prev_hash")
    candidates = []
    if locate and stored:
        after = locate("prev_hash", stored)
        if after is not None:
            candidates.append(after - 1)
    if prev == GENESIS:
        candidates.append(1)
    elif locate and prev:
        before = locate("entry_hash", prev)
        if before is not None:
            candidates.append(before + 1)
    for candidate in candidates:
        if candidate > 0 and entry_hash({**row, "id": candidate}) == stored:
            return candidate
    return None
