"""Paper assembly (组卷): checking a blueprint against the bank and drawing papers. Pure: plain values in,
plain values out; no Flask, no database.

Eligibility
    An item version fills a blueprint row (stratum) when its type equals the row's type, its category equals
    the row's category (``""`` = any category), its difficulty lies in the row's range and its level suits
    the scheme: a junior (初级) scheme draws 初级 or 通用 items, an intermediate (中级) one 中级 or 通用 items.
    The caller passes only active items' current versions.

Checking a blueprint (``check_blueprint``)
    The points must total exactly 100 (Decimal). Each row on its own must have ``count`` eligible items;
    otherwise the row is named with the number missing. Rows may compete for the same items (e.g. "single
    choice, any category" and "single choice, 科学素养"), so the rows are also checked jointly: items are
    grouped into classes by the set of rows they could fill, and a max-flow (source → row, capacity count;
    row → class; class → sink, capacity class size) decides whether every row can be filled at once, with
    no item used twice. By Hall's theorem the flow is complete exactly when no set of rows needs more items
    than the union of their pools holds; when it is not, the rows still reachable from the source in the
    residual graph form such a violating set, and the error names them, what they need together, what they
    share and how many are missing (the proof that no draw can succeed).

Expected facility
    An item's expected facility (proportion of the marks candidates earn) is its measured ``facility`` when it
    was measured on at least ``MIN_FACILITY_N`` attempts, else a mapping of the written difficulty
    1–5 → 0.90, 0.75, 0.60, 0.45, 0.30. A paper's expected facility is the points-weighted mean.

Drawing one paper (``Assembler.draw``), per-candidate mode
    The session target is the expected facility of an average draw: for each row, the mean expected facility
    of its pool, weighted by the row's points. Rows are handled from the least slack (pool − count) to the
    most, so scarce rows draw first. For each row, ``tries`` (default 8) candidate sets of ``count`` items
    are drawn without replacement from the row's pool minus the items already on the paper, each with the
    Gumbel-top-k trick on weights ``exp(-exposure_weight × uses)``, where ``uses`` counts how often the item
    has already been drawn in this session — least-used items are preferred, so exposure spreads. The set
    whose mean facility is closest to the row's own target is kept (ties broken by lower total use). After
    all rows, while the paper's expected facility is further than ``tolerance`` from the session target,
    the single swap (one paper item ↔ one unused item of the same row) that brings it closest is made
    (at most ``max_swaps`` swaps). If overlapping rows leave a later row short (the greedy order cannot
    always avoid it), the paper is drawn again with per-class quotas from a max-flow whose row order is
    shuffled by the candidate's seed — the flow exists because the blueprint passed ``check_blueprint``,
    so every paper is complete.

Fixed mode
    One item set is drawn with the session seed; every candidate receives those items, in their own order.

Order
    Questions are grouped in sections by type (单选, 多选, 判断, the usual order of a paper) and shuffled within
    each section per candidate. Options are shuffled per candidate for single and multiple choice. True/false
    options keep their written order 正确 / 错误: the two options are fixed labels, not content, and showing
    "错误" first only trips candidates up without making copying harder.

Reproducibility
    ``candidate_seed(session_seed, candidate_id)`` derives each candidate's seed (BLAKE2b); the candidate's
    random generator draws their item sets, question order and option order. Because exposure balancing
    depends on the papers drawn before, ``assemble_session`` draws candidates in ascending id order: the same
    bank, blueprint, seed and candidate list always give identical papers.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

SINGLE, MULTIPLE, TRUEFALSE = "single", "multiple", "truefalse"
TYPE_ORDER = {SINGLE: 0, MULTIPLE: 1, TRUEFALSE: 2}
TYPE_LABELS = {SINGLE: "单选", MULTIPLE: "多选", TRUEFALSE: "判断"}
LEVEL_ITEMS = {"初级": ("初级", "通用"), "中级": ("中级", "通用")}
DIFFICULTY_FACILITY = {1: 0.90, 2: 0.75, 3: 0.60, 4: 0.45, 5: 0.30}
MIN_FACILITY_N = 30
TOTAL_POINTS = Decimal(100)


@dataclass(frozen=True)
class BankItem:
    version_id: int
    type: str
    category: str
    difficulty: int
    level: str
    n_options: int
    facility: float | None = None
    facility_n: int | None = None

    @property
    def expected_facility(self) -> float:
        return expected_facility(self.difficulty, self.facility, self.facility_n)


@dataclass(frozen=True)
class Stratum:
    position: int
    category: str
    type: str
    difficulty_min: int
    difficulty_max: int
    count: int
    points: Decimal

    def describe(self) -> str:
        cat = self.category or "任意分类"
        diff = (f"难度 {self.difficulty_min}" if self.difficulty_min == self.difficulty_max
                else f"难度 {self.difficulty_min}–{self.difficulty_max}")
        return f"第 {self.position} 行（{cat} · {TYPE_LABELS.get(self.type, self.type)} · {diff}）"


@dataclass(frozen=True)
class PaperLine:
    position: int  # 1-based, the candidate's order
    version_id: int
    row: int  # the stratum's position
    points: Decimal
    option_order: list[int]


@dataclass
class DrawnPaper:
    seed: int
    expected_facility: float
    lines: list[PaperLine] = field(default_factory=list)

    @property
    def version_ids(self) -> list[int]:
        return [line.version_id for line in self.lines]

    @property
    def total_points(self) -> Decimal:
        return sum((line.points for line in self.lines), Decimal(0))


def expected_facility(difficulty: int, facility: float | None = None, facility_n: int | None = None) -> float:
    if facility is not None and facility_n is not None and facility_n >= MIN_FACILITY_N:
        return float(min(max(facility, 0.0), 1.0))
    return DIFFICULTY_FACILITY.get(int(difficulty), 0.6)


def candidate_seed(session_seed: int, candidate_id: int) -> int:
    digest = hashlib.blake2b(f"{int(session_seed)}:{int(candidate_id)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 33  # 31 bits: fits the INTEGER column Paper.seed


def eligible(item: BankItem, stratum: Stratum, level: str) -> bool:
    return (item.type == stratum.type
            and (not stratum.category or item.category == stratum.category)
            and stratum.difficulty_min <= item.difficulty <= stratum.difficulty_max
            and item.level in LEVEL_ITEMS.get(level, (level, "通用")))


# ---------------------------------------------------------------- max-flow over item classes

def _classes(strata: Sequence[Stratum], items: Sequence[BankItem], level: str):
    """Group item indexes by the set of rows (indexes into strata) they can fill."""
    classes: dict[frozenset[int], list[int]] = {}
    for idx, item in enumerate(items):
        rows = frozenset(r for r, s in enumerate(strata) if eligible(item, s, level))
        if rows:
            classes.setdefault(rows, []).append(idx)
    return classes


def _max_flow(strata: Sequence[Stratum], classes: dict[frozenset[int], list[int]], row_order: Sequence[int]):
    """Edmonds–Karp on source → rows → classes → sink. Returns (flow value, quotas {(row, class): n},
    rows reachable from the source in the final residual graph)."""
    keys = list(classes)
    n_rows, n_cls = len(strata), len(keys)
    source, sink = 0, 1 + n_rows + n_cls
    size = sink + 1
    cap = [[0] * size for _ in range(size)]
    for r in range(n_rows):
        cap[source][1 + r] = strata[r].count
    for c, key in enumerate(keys):
        for r in key:
            cap[1 + r][1 + n_rows + c] = len(classes[key])
        cap[1 + n_rows + c][sink] = len(classes[key])
    # adjacency in the requested row order so different orders give different (valid) quotas
    adj: list[list[int]] = [[] for _ in range(size)]
    adj[source] = [1 + r for r in row_order]
    for r in range(n_rows):
        adj[1 + r] = [source] + [1 + n_rows + c for c, key in enumerate(keys) if r in key]
    for c, key in enumerate(keys):
        adj[1 + n_rows + c] = [1 + r for r in key] + [sink]
    adj[sink] = [1 + n_rows + c for c in range(n_cls)]
    flow = [[0] * size for _ in range(size)]
    total = 0
    while True:
        parent = [-1] * size
        parent[source] = source
        queue = [source]
        for u in queue:
            for v in adj[u]:
                if parent[v] == -1 and cap[u][v] - flow[u][v] > 0:
                    parent[v] = u
                    queue.append(v)
            if parent[sink] != -1:
                break
        if parent[sink] == -1:
            break
        push, v = None, sink
        while v != source:
            u = parent[v]
            push = cap[u][v] - flow[u][v] if push is None else min(push, cap[u][v] - flow[u][v])
            v = u
        v = sink
        while v != source:
            u = parent[v]
            flow[u][v] += push
            flow[v][u] -= push
            v = u
        total += push
    reachable_rows = [r for r in range(n_rows) if parent[1 + r] != -1]
    quotas = {(r, keys[c]): flow[1 + r][1 + n_rows + c]
              for r in range(n_rows) for c in range(n_cls) if flow[1 + r][1 + n_rows + c] > 0}
    return total, quotas, reachable_rows


def check_blueprint(strata: Sequence[Stratum], items: Sequence[BankItem], level: str) -> list[str]:
    """Every problem that keeps the blueprint from being drawn from this bank (empty = usable)."""
    errors: list[str] = []
    if not strata:
        return ["组卷方案至少需要一行"]
    total = sum((Decimal(s.count) * Decimal(s.points) for s in strata), Decimal(0))
    total_error = [] if total == TOTAL_POINTS else [f"各行分值合计必须为 100 分（现为 {total.normalize():f} 分）"]
    for s in strata:
        if s.type not in TYPE_ORDER:
            errors.append(f"第 {s.position} 行：题型「{s.type}」无效")
        if s.count <= 0:
            errors.append(f"第 {s.position} 行：题数必须大于 0")
        if Decimal(s.points) <= 0:
            errors.append(f"第 {s.position} 行：每题分值必须大于 0")
        if not (1 <= s.difficulty_min <= s.difficulty_max <= 5):
            errors.append(f"第 {s.position} 行：难度范围须在 1–5 之间且下限不大于上限")
    if errors:
        return total_error + errors
    errors = total_error  # the bank is checked too, so every problem is reported at once
    pool_sizes = [sum(1 for it in items if eligible(it, s, level)) for s in strata]
    alone_ok = True
    for s, n in zip(strata, pool_sizes):
        if n < s.count:
            alone_ok = False
            errors.append(f"{s.describe()}：需要 {s.count} 道题，题库中符合条件（{level}适用、在用）的只有 {n} 道，"
                          f"还缺 {s.count - n} 道")
    if not alone_ok:
        return errors
    classes = _classes(strata, items, level)
    need = sum(s.count for s in strata)
    value, _quotas, reachable = _max_flow(strata, classes, range(len(strata)))
    if value < need:
        rows = sorted(reachable)
        union = {i for key, members in classes.items() if key & set(rows) for i in members}
        demand = sum(strata[r].count for r in rows)
        names = "、".join(str(strata[r].position) for r in rows)
        errors.append(f"第 {names} 行的抽题条件相互重叠：这些行共需 {demand} 道题，但能满足其中任一行的题目合计只有 "
                      f"{len(union)} 道，还缺 {demand - len(union)} 道（同一道题在一份试卷中只能出现一次）")
    return errors


# ---------------------------------------------------------------- drawing

class AssemblyError(ValueError):
    pass


class Assembler:
    """Draws papers for one session: holds the bank as arrays and the session's exposure counts."""

    def __init__(self, strata: Sequence[Stratum], items: Sequence[BankItem], level: str, *,
                 tolerance: float = 0.02, tries: int = 8, exposure_weight: float = 1.0, max_swaps: int = 4,
                 balance: bool = True):
        problems = check_blueprint(strata, items, level)
        if problems:
            raise AssemblyError("；".join(problems))
        self.strata = list(strata)
        self.items = list(items)
        self.level = level
        self.tolerance, self.tries, self.exposure_weight = tolerance, tries, exposure_weight
        self.max_swaps, self.balance = max_swaps, balance
        self.version_ids = np.array([it.version_id for it in self.items], dtype=np.int64)
        self.facility = np.array([it.expected_facility for it in self.items], dtype=np.float64)
        self.n_options = [it.n_options for it in self.items]
        self.types = [it.type for it in self.items]
        self.uses = np.zeros(len(self.items), dtype=np.float64)
        self.pools = [np.array([i for i, it in enumerate(self.items) if eligible(it, s, level)], dtype=np.int64)
                      for s in self.strata]
        self.points = [Decimal(s.points) for s in self.strata]
        self.row_targets = [float(self.facility[p].mean()) for p in self.pools]
        weights = [float(s.points) * s.count for s in self.strata]
        self.target = float(np.dot(weights, self.row_targets) / sum(weights))
        self.order = sorted(range(len(self.strata)),
                            key=lambda r: (len(self.pools[r]) - self.strata[r].count, r))
        self._classes = _classes(self.strata, self.items, level)
        self.fallbacks = 0

    # -- item sets
    def _weights_log(self, pool: np.ndarray) -> np.ndarray:
        return -self.exposure_weight * self.uses[pool]

    def _pick(self, rng: np.random.Generator, pool: np.ndarray, k: int, target: float) -> np.ndarray:
        if k >= len(pool):
            return pool.copy()
        tries = self.tries if self.balance else 1
        logw = self._weights_log(pool)
        # Gumbel noise as -log(Exp(1)): one logarithm per draw instead of two
        keys = logw[None, :] - np.log(rng.standard_exponential(size=(tries, len(pool))))
        picks = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        if tries == 1:
            return pool[picks[0]]
        means = self.facility[pool[picks]].mean(axis=1)
        used = self.uses[pool[picks]].sum(axis=1)
        best = int(np.lexsort((used, np.abs(means - target)))[0])
        return pool[picks[best]]

    def _greedy(self, rng) -> list[np.ndarray] | None:
        chosen: list[np.ndarray | None] = [None] * len(self.strata)
        taken = np.zeros(len(self.items), dtype=bool)
        for r in self.order:
            pool = self.pools[r]
            pool = pool[~taken[pool]]
            k = self.strata[r].count
            if len(pool) < k:
                return None
            pick = self._pick(rng, pool, k, self.row_targets[r])
            taken[pick] = True
            chosen[r] = pick
        return chosen  # type: ignore[return-value]

    def _by_quota(self, rng) -> list[np.ndarray]:
        """Draw with per-class quotas from a max-flow (always complete for a checked blueprint)."""
        order = list(rng.permutation(len(self.strata)))
        _value, quotas, _ = _max_flow(self.strata, self._classes, order)
        chosen: list[list[int]] = [[] for _ in self.strata]
        for key, members in self._classes.items():
            members_arr = np.array(members, dtype=np.int64)
            demand = [(r, quotas.get((r, key), 0)) for r in sorted(key)]
            total = sum(n for _, n in demand)
            if not total:
                continue
            pick = self._pick(rng, members_arr, total, float(self.facility[members_arr].mean()))
            pick = pick[rng.permutation(len(pick))]
            start = 0
            for r, n in demand:
                chosen[r].extend(pick[start:start + n].tolist())
                start += n
        return [np.array(c, dtype=np.int64) for c in chosen]

    def _paper_facility(self, chosen: list[np.ndarray]) -> float:
        num = sum(float(self.points[r]) * float(self.facility[c].sum()) for r, c in enumerate(chosen))
        den = sum(float(self.points[r]) * len(c) for r, c in enumerate(chosen))
        return num / den

    def _swap_towards_target(self, chosen: list[np.ndarray]) -> None:
        den = sum(float(self.points[r]) * len(c) for r, c in enumerate(chosen))
        for _ in range(self.max_swaps):
            current = self._paper_facility(chosen)
            gap = (self.target - current) * den  # points-weighted facility to add
            if abs(self.target - current) <= self.tolerance:
                return
            on_paper = np.concatenate(chosen)
            best = None
            for r, picked in enumerate(chosen):
                pool = self.pools[r]
                free = pool[~np.isin(pool, on_paper)]
                if not len(free):
                    continue
                change = float(self.points[r]) * (self.facility[free][None, :] - self.facility[picked][:, None])
                residual = np.abs(gap - change)
                i, j = np.unravel_index(int(np.argmin(residual)), residual.shape)
                if best is None or residual[i, j] < best[0]:
                    best = (float(residual[i, j]), r, int(i), int(free[j]))
            if best is None or best[0] >= abs(gap):
                return
            _, r, i, new = best
            chosen[r] = chosen[r].copy()
            chosen[r][i] = new

    def draw_items(self, seed: int) -> list[np.ndarray]:
        """The item indexes of one paper, per row (rows in blueprint order); updates the exposure counts."""
        rng = np.random.default_rng(seed)
        chosen = self._greedy(rng)
        if chosen is None:
            self.fallbacks += 1
            chosen = self._by_quota(rng)
        if self.balance:
            self._swap_towards_target(chosen)
        for c in chosen:
            self.uses[c] += 1
        return chosen

    def layout(self, seed: int, chosen: list[np.ndarray]) -> DrawnPaper:
        """Question order (type sections, shuffled within) and option order for one candidate."""
        rng = np.random.default_rng([seed, 1])
        entries = [(i, r) for r, c in enumerate(chosen) for i in c.tolist()]
        sections = np.array([TYPE_ORDER[self.types[i]] for i, _ in entries])
        order = np.lexsort((rng.random(len(entries)), sections)).tolist()
        # a uniformly random permutation of 0..7 per question; keeping the values below n gives one of 0..n-1
        perms = np.argsort(rng.random((len(entries), 8)), axis=1).tolist()
        lines = []
        for pos, e in enumerate(order, start=1):
            idx, r = entries[e]
            n = self.n_options[idx]
            if self.types[idx] == TRUEFALSE:
                perm = list(range(n))
            else:
                perm = [x for x in perms[e] if x < n]
            lines.append(PaperLine(pos, int(self.version_ids[idx]), self.strata[r].position, self.points[r], perm))
        return DrawnPaper(seed=seed, expected_facility=round(self._paper_facility(chosen), 6), lines=lines)

    def draw(self, seed: int) -> DrawnPaper:
        return self.layout(seed, self.draw_items(seed))


def assemble_session(strata: Sequence[Stratum], items: Sequence[BankItem], level: str, mode: str,
                     session_seed: int, candidate_ids: Iterable[int], **options) -> dict[int, DrawnPaper]:
    """Papers for every candidate of a session, keyed by candidate id (drawn in ascending id order)."""
    assembler = Assembler(strata, items, level, **options)
    ids = sorted(set(candidate_ids))
    papers: dict[int, DrawnPaper] = {}
    if mode == "fixed":
        chosen = assembler.draw_items(candidate_seed(session_seed, 0))
        for cid in ids:
            papers[cid] = assembler.layout(candidate_seed(session_seed, cid), chosen)
        return papers
    for cid in ids:
        papers[cid] = assembler.draw(candidate_seed(session_seed, cid))
    return papers


def naive_session(strata: Sequence[Stratum], items: Sequence[BankItem], level: str, session_seed: int,
                  candidate_ids: Iterable[int]) -> dict[int, DrawnPaper]:
    """Baseline for the benchmark: plain uniform draws (no difficulty balancing, no exposure spreading)."""
    return assemble_session(strata, items, level, "per_candidate", session_seed, candidate_ids, balance=False,
                            exposure_weight=0.0)


def session_stats(papers: Iterable[DrawnPaper], pools: Sequence[Sequence[int]] = ()) -> dict:
    """Spread of the papers' expected facility and of item exposure (for reports, tests and the benchmark).

    ``pools``: per blueprint row, the version ids that row could draw. Exposure is compared within a row
    (a row of 10 items over a pool of 100 is bound to use its items more often than a row of 5 over 400):
    ``exposure_cv`` is the mean over rows of the coefficient of variation of the uses of the row's pool
    (unused items count 0) and ``exposure_gap`` the largest max − min of uses within a row."""
    papers = list(papers)
    facilities = np.array([p.expected_facility for p in papers], dtype=np.float64)
    uses: dict[int, int] = {}
    for p in papers:
        for vid in p.version_ids:
            uses[vid] = uses.get(vid, 0) + 1
    cvs, gaps = [], []
    for pool in pools:
        counts = np.array([uses.get(vid, 0) for vid in pool], dtype=np.float64)
        if len(counts) and counts.mean():
            cvs.append(float(counts.std() / counts.mean()))
            gaps.append(int(counts.max() - counts.min()))
    return {
        "papers": len(papers),
        "facility_mean": float(facilities.mean()) if len(papers) else 0.0,
        "facility_sd": float(facilities.std()) if len(papers) else 0.0,
        "facility_range": float(facilities.max() - facilities.min()) if len(papers) else 0.0,
        "items_used": len(uses),
        "exposure_max": max(uses.values(), default=0),
        "exposure_cv": float(np.mean(cvs)) if cvs else 0.0,
        "exposure_gap": max(gaps, default=0),
    }


def row_pools(strata: Sequence[Stratum], items: Sequence[BankItem], level: str) -> list[list[int]]:
    """Per row, the version ids it may draw."""
    return [[it.version_id for it in items if eligible(it, s, level)] for s in strata]
