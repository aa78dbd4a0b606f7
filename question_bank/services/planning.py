"""Deciding what an import does to the bank: added / updated (new version) / unchanged / rejected. Pure.

Matching: a row with 编号 is the item with that code (a new item when no item has it). A row without 编号
is the item whose normalised stem is the same (a new item when none is; an error when several are, since
nothing says which one is meant). Content equal to the current version is unchanged and makes no version.

A new item whose stem is a near duplicate of an existing item's, or of an earlier new row's (``similarity``:
normalised similarity at or above the threshold, not equal), gets a warning naming the closest one.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from certify.tabular import RowError

from .parsing import ItemData, ParsedFile, diff
from .similarity import MAX_SCORED_PAIRS, NEAR_DUPLICATE_THRESHOLD, SearchTruncated, near_duplicates


@dataclass(frozen=True)
class Existing:
    id: int
    code: str
    status: str
    data: ItemData


@dataclass
class Planned:
    row: int
    item: ItemData
    code: str = ""  # the existing item's code, or the code given for a new item ("" = to be generated)
    existing_id: int | None = None
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    retired: bool = False


@dataclass
class ImportPlan:
    file: str = ""
    added: list[Planned] = field(default_factory=list)
    updated: list[Planned] = field(default_factory=list)
    unchanged: list[Planned] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def rejected_rows(self) -> list[int]:
        return sorted({e.row for e in self.errors if e.row})

    def fingerprint(self) -> str:
        """What the plan would do, as a short hash: the preview sends it back so that a confirm applies exactly
        what was shown (the bank may have changed in between)."""
        parts = [(kind, p.row, p.code, p.existing_id, tuple(p.changes))
                 for kind, rows in (("a", self.added), ("u", self.updated), ("n", self.unchanged)) for p in rows]
        return hashlib.sha256(repr((parts, [str(e) for e in self.errors])).encode("utf-8")).hexdigest()[:32]

    def summary(self) -> dict:
        return {"added": len(self.added), "updated": len(self.updated), "unchanged": len(self.unchanged),
                "rejected": len(self.rejected_rows), "errors": len(self.errors), "warnings": len(self.warnings)}


def _short(stem: str, limit: int = 40) -> str:
    stem = " ".join(stem.split())
    return stem if len(stem) <= limit else stem[:limit] + "…"


def _near_duplicate_warnings(plan: ImportPlan, existing: list[Existing], threshold, file: str,
                             sheet: str) -> None:
    """A warning on each new row whose stem is close to an existing item's or an earlier new row's."""
    added = plan.added
    if not added:
        return
    stems = [p.item.stem for p in added]
    best: dict[int, list] = {}
    stopped = False
    for kind, corpus, same in (("bank", [e.data.stem for e in existing], False), ("file", stems, True)):
        try:
            found = near_duplicates(stems, corpus, threshold, same_list=same)
        except SearchTruncated as err:  # bounded: a file of nearly identical stems
            found, stopped = err.matches, True
        for m in found:
            best.setdefault(m.query, []).append((kind, m))
    if stopped:
        message = (f"相似题干过多（比较超过 {MAX_SCORED_PAIRS:,} 对），相似题干检查未全部完成，"
                   "下列提示只是其中一部分；请检查文件中的题干是否大量雷同")
        plan.warnings.append(RowError(None, "题干", message, file, sheet))
    for i, found in best.items():
        found.sort(key=lambda km: (-km[1].similarity, km[0], km[1].other))
        kind, m = found[0]
        if kind == "bank":
            other = existing[m.other]
            text = f"题干与题库中已有题目 {other.code} 相似（相似度 {m.percent}%）：「{_short(other.data.stem)}」"
        else:
            earlier = added[m.other]
            text = f"题干与第 {earlier.row} 行相似（相似度 {m.percent}%）：「{_short(earlier.item.stem)}」"
        more = f"，另有 {len(found) - 1} 道相似题目" if len(found) > 1 else ""
        plan.warnings.append(RowError(added[i].row, "题干", f"{text}{more}；如为重复题目请勿导入", file, sheet))


def plan_import(parsed: ParsedFile, existing: list[Existing], file: str = "", sheet: str = "", *,
                near_threshold=NEAR_DUPLICATE_THRESHOLD) -> ImportPlan:
    plan = ImportPlan(file=file, errors=list(parsed.errors), warnings=list(parsed.warnings))
    by_code = {e.code: e for e in existing}
    by_stem: dict[str, list[Existing]] = {}
    for e in existing:
        by_stem.setdefault(e.data.stem_key, []).append(e)
    claimed: dict[int, int] = {}  # existing item id -> the row that updates it

    for parsed_row in parsed.rows:
        item, row = parsed_row.item, parsed_row.row
        same_stem = by_stem.get(item.stem_key, [])
        if item.code:
            match = by_code.get(item.code)
        elif len(same_stem) > 1:
            codes = "、".join(e.code for e in same_stem)
            plan.errors.append(RowError(row, "编号", f"题库中有 {len(same_stem)} 道题干相同的题目（编号 {codes}），"
                                                   "请填写编号以指明要更新哪一道", file, sheet))
            continue
        else:
            match = same_stem[0] if same_stem else None

        for other in same_stem:
            if match is None or other.id != match.id:
                plan.warnings.append(RowError(row, "题干", f"题干与题库中已有题目 {other.code} 重复", file, sheet))

        if match is None:
            plan.added.append(Planned(row, item, code=item.code))
            continue
        if match.id in claimed:
            plan.errors.append(RowError(row, "编号", f"与第 {claimed[match.id]} 行对应同一道题目 {match.code}",
                                        file, sheet))
            continue
        claimed[match.id] = row
        changes = diff(match.data, item)
        planned = Planned(row, item, code=match.code, existing_id=match.id, changes=changes,
                          retired=match.status != "active")
        (plan.updated if changes else plan.unchanged).append(planned)
    if near_threshold is not None:  # None: no near-duplicate search (a worker applying a previewed plan)
        _near_duplicate_warnings(plan, existing, near_threshold, file, sheet)
    plan.errors.sort(key=lambda e: (e.row or 0))
    plan.warnings.sort(key=lambda e: (e.row or 0))
    return plan
