"""Defense scheduling: candidates to panels (CP-SAT), then to slots within each panel. Pure: no Flask, no db.

Hard rules: a panelist never faces a candidate of their own work unit or one they declared a conflict with
(candidate or work unit); each candidate gets exactly one panel and slot; a panel holds one candidate per slot.
Soft goals: balanced panel loads, candidates of one work unit spread over panels, contiguous sessions filled
from the start of each day.

Decomposition: (1) eligibility and a Hall-style feasibility check on the bipartite candidate→eligible-panel
graph (max flow with panel capacities; when it falls short, the candidates reachable from the unmatched ones
in the residual graph form the precise failing set), (2) CP-SAT assigns candidates to panels with the hard
conflict constraints, minimising load spread and unit concentration under a time limit, (3) each panel's
candidates fill its slots in order from the start of the first day.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta


def norm_unit(text: str | None) -> str:
    """Work units compare without whitespace and case (``重庆一中`` == ``重庆 一中``)."""
    return "".join((text or "").split()).lower()


# ------------------------------------------------------------------ inputs and outputs

@dataclass(frozen=True)
class SPanelist:
    id: int
    name: str
    work_unit: str
    conflict_candidates: frozenset = frozenset()  # candidate ids declared
    conflict_units: frozenset = frozenset()  # normalised work unit names declared


@dataclass(frozen=True)
class SPanel:
    id: int
    name: str
    members: tuple[SPanelist, ...]


@dataclass(frozen=True)
class SCandidate:
    id: int
    name: str
    work_unit: str
    ticket: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}（{self.ticket}，{self.work_unit}）" if self.ticket else f"{self.name}（{self.work_unit}）"


@dataclass(frozen=True)
class Slot:
    start: datetime  # local naive time; the caller converts to UTC
    end: datetime


@dataclass
class Placement:
    candidate_id: int
    panel_id: int
    slot_index: int
    position: int  # 1-based place in the panel's queue


@dataclass
class ScheduleResult:
    ok: bool
    placements: list[Placement] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # why no schedule exists (Chinese, precise)
    loads: dict[int, int] = field(default_factory=dict)
    status: str = ""  # solver status
    seconds: float = 0.0


class Infeasible(Exception):
    def __init__(self, reasons: list[str]):
        super().__init__("；".join(reasons))
        self.reasons = reasons


# ------------------------------------------------------------------ slots

def parse_hhmm(text: str) -> tuple[int, int]:
    text = (text or "").strip().replace("：", ":")
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"时间「{text}」格式应为 HH:MM")
    h, m = int(parts[0]), int(parts[1])
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"时间「{text}」无效")
    return h, m


def parse_breaks(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """``"12:00-13:30, 15:00-15:10"`` → [((12,0),(13,30)), …]."""
    out = []
    for part in (text or "").replace("，", ",").replace("；", ",").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        pieces = part.replace("—", "-").replace("～", "-").replace("~", "-").split("-")
        if len(pieces) != 2:
            raise ValueError(f"休息时段「{part}」格式应为 HH:MM-HH:MM")
        a, b = parse_hhmm(pieces[0]), parse_hhmm(pieces[1])
        if b <= a:
            raise ValueError(f"休息时段「{part}」的结束时间须晚于开始时间")
        out.append((a, b))
    return out


@dataclass(frozen=True)
class DaySpec:
    day: date
    start: str = "08:30"
    end: str = "17:30"
    slot_minutes: int = 20
    breaks: str = "12:00-13:30"


def day_slots(spec: DaySpec) -> list[Slot]:
    """The day's slots: from start, slot_minutes each, skipping any slot that overlaps a break, ending by end."""
    if spec.slot_minutes <= 0:
        raise ValueError("每个时段的分钟数必须大于 0")
    sh, sm = parse_hhmm(spec.start)
    eh, em = parse_hhmm(spec.end)
    start = datetime.combine(spec.day, datetime.min.time()).replace(hour=sh, minute=sm)
    end = datetime.combine(spec.day, datetime.min.time()).replace(hour=eh, minute=em)
    if end <= start:
        raise ValueError(f"{spec.day} 的结束时间须晚于开始时间")
    breaks = [(start.replace(hour=a[0], minute=a[1]), start.replace(hour=b[0], minute=b[1]))
              for a, b in parse_breaks(spec.breaks)]
    step = timedelta(minutes=spec.slot_minutes)
    slots, t = [], start
    while t + step <= end:
        clash = next((b for b in breaks if t < b[1] and b[0] < t + step), None)
        if clash is not None:
            t = clash[1]  # resume when the break ends
            continue
        slots.append(Slot(t, t + step))
        t += step
    return slots


def build_slots(days: Iterable[DaySpec]) -> list[Slot]:
    out: list[Slot] = []
    for spec in sorted(days, key=lambda d: d.day):
        out.extend(day_slots(spec))
    return out


# ------------------------------------------------------------------ eligibility

def conflict_reason(panelist: SPanelist, candidate: SCandidate) -> str:
    unit = norm_unit(candidate.work_unit)
    if unit and norm_unit(panelist.work_unit) == unit:
        return "同一工作单位"
    if candidate.id in panelist.conflict_candidates:
        return "申报回避该考生"
    if unit and unit in panelist.conflict_units:
        return "申报回避该工作单位"
    return ""


def panel_blockers(panel: SPanel, candidate: SCandidate) -> list[tuple[SPanelist, str]]:
    return [(m, r) for m in panel.members if (r := conflict_reason(m, candidate))]


def eligibility(candidates: Sequence[SCandidate], panels: Sequence[SPanel]) -> dict[int, list[int]]:
    """candidate id → ids of the panels none of whose members conflicts with the candidate."""
    return {c.id: [p.id for p in panels if not panel_blockers(p, c)] for c in candidates}


# ------------------------------------------------------------------ Hall-style feasibility

def _max_flow_failing_set(elig: dict[int, list[int]], capacity: dict[int, int]) -> tuple[int, set[int]]:
    """Max flow source → candidate types → eligible panels → sink (panel capacity). Returns (flow, failing set).

    Candidates are grouped by their set of eligible panels, so the graph stays small. When the flow falls short,
    the failing set is every candidate whose type is reachable from the source in the residual graph: by
    Hall's theorem those candidates only reach panels that are full, and there are more of them than places.
    """
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for cid, ps in elig.items():
        groups[tuple(sorted(ps))].append(cid)
    types = list(groups)
    src, sink = ("s",), ("t",)
    cap: dict = defaultdict(int)
    adj: dict = defaultdict(set)

    def edge(a, b, c):
        cap[(a, b)] += c
        adj[a].add(b)
        adj[b].add(a)

    for i, t in enumerate(types):
        edge(src, ("c", i), len(groups[t]))
        for p in t:
            edge(("c", i), ("p", p), len(groups[t]))
    for p, c in capacity.items():
        edge(("p", p), sink, c)
    total = 0
    prev = _residual_search(adj, cap, src, sink)
    while sink in prev:
        total += _augment(prev, cap, sink)
        prev = _residual_search(adj, cap, src, sink)
    failing: set[int] = set()
    if total < len(elig):
        for node in prev:
            if node[0] == "c":
                failing.update(groups[types[node[1]]])
    return total, failing


def _residual_search(adj: dict, cap: dict, src, sink) -> dict:
    """Breadth-first search of the residual graph from the source (stops once the sink is reached):
    node -> the node it was reached from (the source maps to None)."""
    prev = {src: None}
    queue = deque([src])
    while queue and sink not in prev:
        u = queue.popleft()
        for v in adj[u]:
            if v not in prev and cap[(u, v)] > 0:
                prev[v] = u
                queue.append(v)
    return prev


def _augment(prev: dict, cap: dict, sink) -> int:
    """Push the bottleneck amount along the path found to the sink; returns the amount."""
    amount, v = math.inf, sink
    while prev[v] is not None:
        amount = min(amount, cap[(prev[v], v)])
        v = prev[v]
    v = sink
    while prev[v] is not None:
        cap[(prev[v], v)] -= amount
        cap[(v, prev[v])] += amount
        v = prev[v]
    return amount


def hall_violation(candidates: Sequence[SCandidate], panels: Sequence[SPanel], slots_per_panel: int
                   ) -> tuple[set[int], list[int]] | None:
    """A set S of candidates whose eligible panels N(S) hold fewer places than |S| (None when every candidate
    can be placed). Returns (S, N(S) as panel ids in the panels' order)."""
    elig = eligibility(candidates, panels)
    flow, failing = _max_flow_failing_set(elig, {p.id: slots_per_panel for p in panels})
    if flow == len(candidates):
        return None
    reach = {p for cid in failing for p in elig[cid]}
    return failing, [p.id for p in panels if p.id in reach]


def explain_infeasible(candidates: Sequence[SCandidate], panels: Sequence[SPanel], slots_per_panel: int
                       ) -> list[str]:
    """Every reason no valid schedule exists (empty when one does). Precise: names candidates and constraints."""
    reasons = []
    if not panels:
        reasons.append("本轮没有答辩组，请先导入或新建答辩组")
    if slots_per_panel <= 0:
        reasons.append("没有可用的答辩时段，请先设置答辩日（日期、起止时间、时段长度、休息时间）")
    if reasons:
        return reasons
    by_id = {c.id: c for c in candidates}
    elig = eligibility(candidates, panels)
    for c in candidates:
        if not elig[c.id]:
            causes = "；".join(
                f"{p.name}：" + "、".join(f"{m.name}（{m.work_unit}，{why}）" for m, why in panel_blockers(p, c))
                for p in panels)
            reasons.append(f"考生 {c.label} 与每个答辩组都有回避冲突：{causes}")
    total_slots = slots_per_panel * len(panels)
    if len(candidates) > total_slots:
        reasons.append(f"容量不足：共有 {len(candidates)} 名答辩考生，但只有 {total_slots} 个时段"
                       f"（{len(panels)} 个答辩组 × 每组 {slots_per_panel} 个时段），请增加答辩日或答辩组")
    if reasons:
        return reasons
    violation = hall_violation(candidates, panels, slots_per_panel)
    if violation is not None:
        failing, reach = violation
        panel_names = {p.id: p.name for p in panels}
        names = "、".join(by_id[cid].label for cid in sorted(failing, key=lambda i: by_id[i].ticket or by_id[i].name))
        reasons.append(
            f"回避限制导致容量不足：以下 {len(failing)} 名考生只能安排到 {'、'.join(panel_names[p] for p in reach)}"
            f"（共 {len(reach) * slots_per_panel} 个时段），其余答辩组均有成员须回避：{names}")
    return reasons


# ------------------------------------------------------------------ assignment

def _greedy(candidates: Sequence[SCandidate], elig: dict[int, list[int]], capacity: dict[int, int]
            ) -> dict[int, int] | None:
    """Most-constrained first, to the least-loaded eligible panel (ties: fewest of the same unit). The baseline
    and the solver's hint; None when it gets stuck."""
    load = {p: 0 for p in capacity}
    unit_load: dict[tuple[str, int], int] = defaultdict(int)
    out = {}
    for c in sorted(candidates, key=lambda c: (len(elig[c.id]), c.ticket, c.id)):
        options = [p for p in elig[c.id] if load[p] < capacity[p]]
        if not options:
            return None
        u = norm_unit(c.work_unit)
        p = min(options, key=lambda p: (load[p], unit_load[(u, p)], p))
        out[c.id] = p
        load[p] += 1
        unit_load[(u, p)] += 1
    return out


def greedy_assign(candidates, panels, slots_per_panel):
    """Baseline for the benchmark: the greedy assignment (or None)."""
    elig = eligibility(candidates, panels)
    return _greedy(candidates, elig, {p.id: slots_per_panel for p in panels})


def assign_panels(candidates: Sequence[SCandidate], panels: Sequence[SPanel], slots_per_panel: int, *,
                  time_limit: float = 8.0, workers: int = 2, seed: int = 0) -> tuple[dict[int, int], str]:
    """CP-SAT: candidate → panel. Hard: eligibility, capacity, exactly one panel. Objective (lexicographic by
    weights): load spread (max − min), then unit concentration (candidates of a unit above their fair share
    in one panel). Returns (assignment, solver status name). Raises Infeasible."""
    from ortools.sat.python import cp_model

    elig = eligibility(candidates, panels)
    capacity = {p.id: slots_per_panel for p in panels}
    model = cp_model.CpModel()
    x: dict[tuple[int, int], object] = {}
    for c in candidates:
        for p in elig[c.id]:
            x[(c.id, p)] = model.NewBoolVar(f"x{c.id}_{p}")
        model.AddExactlyOne(x[(c.id, p)] for p in elig[c.id])
    loads = {}
    for p in panels:
        terms = [x[(c.id, p.id)] for c in candidates if (c.id, p.id) in x]
        loads[p.id] = model.NewIntVar(0, capacity[p.id], f"load{p.id}")
        model.Add(loads[p.id] == sum(terms))
    hi = model.NewIntVar(0, slots_per_panel, "hi")
    lo = model.NewIntVar(0, slots_per_panel, "lo")
    model.AddMaxEquality(hi, list(loads.values()))
    model.AddMinEquality(lo, list(loads.values()))
    by_unit: dict[str, list[SCandidate]] = defaultdict(list)
    for c in candidates:
        by_unit[norm_unit(c.work_unit)].append(c)
    excess_terms = []
    for members in by_unit.values():
        if len(members) < 2:
            continue
        reach = {p for c in members for p in elig[c.id]}
        share = math.ceil(len(members) / max(len(reach), 1))
        for p in reach:
            terms = [x[(c.id, p)] for c in members if (c.id, p) in x]
            if len(terms) <= share:
                continue
            e = model.NewIntVar(0, len(terms), f"e{p}_{len(excess_terms)}")
            model.Add(e >= sum(terms) - share)
            excess_terms.append(e)
    n = max(len(candidates), 1)
    model.Minimize((hi - lo) * (n + 1) + sum(excess_terms))
    hint = _greedy(candidates, elig, capacity)
    if hint:
        for (cid, p), var in x.items():
            model.AddHint(var, 1 if hint[cid] == p else 0)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = max(1, int(workers))
    solver.parameters.random_seed = seed
    status = solver.Solve(model)
    name = solver.StatusName(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        reasons = explain_infeasible(candidates, panels, slots_per_panel)
        raise Infeasible(reasons or [f"求解器未能在 {time_limit:g} 秒内找到可行的分组方案（{name}）"])
    return {cid: p for (cid, p), var in x.items() if solver.BooleanValue(var)}, name


def order_within_panel(members: Sequence[SCandidate]) -> list[SCandidate]:
    """Queue order in a panel: by ticket (then name), so the order is stable and easy to read."""
    return sorted(members, key=lambda c: (c.ticket or "", c.name, c.id))


def schedule(candidates: Sequence[SCandidate], panels: Sequence[SPanel], slots: Sequence[Slot], *,
             time_limit: float = 8.0, workers: int = 2, progress: Callable[[int, str], None] | None = None
             ) -> ScheduleResult:
    """The whole schedule. Slots are the same grid for every panel; each panel fills its slots from the first."""
    began = time.perf_counter()
    report = progress or (lambda pct, msg: None)
    report(5, "检查回避关系与容量")
    reasons = explain_infeasible(candidates, panels, len(slots))
    if reasons:
        return ScheduleResult(False, reasons=reasons, seconds=time.perf_counter() - began, status="INFEASIBLE")
    if not candidates:
        return ScheduleResult(True, status="EMPTY", loads={p.id: 0 for p in panels},
                              seconds=time.perf_counter() - began)
    report(20, "为考生分配答辩组（CP-SAT）")
    try:
        assignment, status = assign_panels(candidates, panels, len(slots), time_limit=time_limit, workers=workers)
    except Infeasible as err:
        return ScheduleResult(False, reasons=err.reasons, seconds=time.perf_counter() - began, status="INFEASIBLE")
    report(80, "在各答辩组内排定时段")
    placements = []
    by_panel: dict[int, list[SCandidate]] = defaultdict(list)
    for c in candidates:
        by_panel[assignment[c.id]].append(c)
    for p in panels:
        for i, c in enumerate(order_within_panel(by_panel[p.id])):
            placements.append(Placement(c.id, p.id, i, i + 1))
    report(95, "方案已生成")
    return ScheduleResult(True, placements=placements, loads={p.id: len(by_panel[p.id]) for p in panels},
                          status=status, seconds=time.perf_counter() - began)


# ------------------------------------------------------------------ manual moves

def check_move(candidate: SCandidate, panel: SPanel, slot_index: int, n_slots: int,
               occupied: dict[int, int]) -> list[str]:
    """Problems with placing a candidate in a panel's slot; ``occupied`` maps slot index → candidate id there."""
    problems = []
    if not (0 <= slot_index < n_slots):
        problems.append("所选时段不在答辩日的时段表内")
    blockers = panel_blockers(panel, candidate)
    if blockers:
        problems.append(f"考生 {candidate.label} 不能安排到 {panel.name}：" + "、".join(
            f"{m.name}（{why}）" for m, why in blockers) + " 须回避")
    other = occupied.get(slot_index)
    if other is not None and other != candidate.id:
        problems.append(f"{panel.name} 在该时段已安排了其他考生，同一答辩组不能同时面试两名考生")
    return problems
