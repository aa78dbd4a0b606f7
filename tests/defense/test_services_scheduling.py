"""The scheduler as a pure function: hard constraints always hold, balance and spread, precise explanations."""
from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from defense.services.scheduling import (
    DaySpec,
    SCandidate,
    Slot,
    SPanel,
    SPanelist,
    build_slots,
    check_move,
    conflict_reason,
    day_slots,
    eligibility,
    explain_infeasible,
    hall_violation,
    schedule,
)

UNITS = [f"单位{i}" for i in range(8)]


@st.composite
def rosters(draw):
    n_panels = draw(st.integers(2, 4))
    pid = 0
    panels = []
    for i in range(n_panels):
        members = []
        for _ in range(draw(st.integers(3, 5))):
            pid += 1
            unit = draw(st.sampled_from(UNITS + ["专家单位"]))
            declared_units = frozenset(draw(st.lists(st.sampled_from(UNITS), max_size=1)))
            members.append(SPanelist(pid, f"专家{pid}", unit, frozenset(), declared_units))
        panels.append(SPanel(i + 1, f"第{i + 1}组", tuple(members)))
    n = draw(st.integers(0, 24))
    candidates = [SCandidate(j + 1, f"考生{j + 1}", draw(st.sampled_from(UNITS)), f"T{j + 1:04d}") for j in range(n)]
    # some declared panelist × candidate conflicts
    if candidates:
        extra = draw(st.lists(st.tuples(st.integers(0, len(panels) - 1), st.integers(0, 4),
                                        st.integers(0, n - 1)), max_size=3))
        for pi, mi, cj in extra:
            panel = panels[pi]
            mi = mi % len(panel.members)
            m = panel.members[mi]
            m = SPanelist(m.id, m.name, m.work_unit, m.conflict_candidates | {candidates[cj].id}, m.conflict_units)
            panels[pi] = SPanel(panel.id, panel.name, panel.members[:mi] + (m,) + panel.members[mi + 1:])
    slots = draw(st.integers(1, 10))
    return candidates, panels, slots


def _grid(n: int) -> list[Slot]:
    base = datetime(2026, 12, 1, 8, 30)
    return [Slot(base + timedelta(minutes=20 * i), base + timedelta(minutes=20 * (i + 1))) for i in range(n)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rosters())
def test_schedule_never_breaks_a_hard_rule_and_explains_when_impossible(data):
    candidates, panels, n_slots = data
    result = schedule(candidates, panels, _grid(n_slots), time_limit=5, workers=1)
    by_panel = {p.id: p for p in panels}
    elig = eligibility(candidates, panels)
    if result.ok:
        placed = Counter(pl.candidate_id for pl in result.placements)
        assert set(placed) == {c.id for c in candidates} and all(v == 1 for v in placed.values())  # exactly once
        cands = {c.id: c for c in candidates}
        for pl in result.placements:
            assert 0 <= pl.slot_index < n_slots
            assert not any(conflict_reason(m, cands[pl.candidate_id]) for m in by_panel[pl.panel_id].members)
        taken = Counter((pl.panel_id, pl.slot_index) for pl in result.placements)
        assert max(taken.values(), default=1) == 1  # no panel holds two candidates at once
        # contiguous from the start of the grid
        for p in panels:
            idx = sorted(pl.slot_index for pl in result.placements if pl.panel_id == p.id)
            assert idx == list(range(len(idx)))
    else:
        assert result.reasons
        # A schedule really is impossible: someone has no panel, or Hall's condition fails.
        no_panel = [c for c in candidates if not elig[c.id]]
        if no_panel:
            assert all(any(c.name in r for r in result.reasons) for c in no_panel)
        else:
            assert any("容量不足" in r for r in result.reasons)
            violation = hall_violation(candidates, panels, n_slots)
            if len(candidates) <= n_slots * len(panels):
                # Hall's condition fails on a named set: they only reach panels with fewer places than them.
                failing, reach = violation
                assert len(failing) > len(reach) * n_slots
                assert all(set(elig[cid]) <= set(reach) for cid in failing)
                names = {c.id: c.name for c in candidates}
                assert all(any(names[cid] in r for r in result.reasons) for cid in failing)


@settings(max_examples=60, deadline=None)
@given(rosters())
def test_hall_violation_exists_exactly_when_no_schedule_exists(data):
    candidates, panels, n_slots = data
    violation = hall_violation(candidates, panels, n_slots)
    result = schedule(candidates, panels, _grid(n_slots), time_limit=5, workers=1)
    assert (violation is None) == result.ok
    if violation is not None:
        failing, reach = violation
        elig = eligibility(candidates, panels)
        assert failing and len(failing) > len(reach) * n_slots
        assert all(set(elig[cid]) <= set(reach) for cid in failing)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(0, 60), st.integers(3, 12))
def test_without_conflicts_loads_differ_by_at_most_one_and_units_spread(n_panels, n, n_units):
    panels = [SPanel(i, f"第{i}组", tuple(SPanelist(i * 10 + k, f"专家{i}{k}", f"专家单位{i}{k}") for k in range(3)))
              for i in range(n_panels)]
    candidates = [SCandidate(j, f"考生{j}", f"单位{j % n_units}", f"T{j:04d}") for j in range(n)]
    result = schedule(candidates, panels, _grid(max(1, math.ceil(n / n_panels) + 1)), time_limit=5, workers=1)
    assert result.ok
    loads = list(result.loads.values())
    assert max(loads) - min(loads) <= 1
    unit_of = {c.id: c.work_unit for c in candidates}
    per = Counter((unit_of[pl.candidate_id], pl.panel_id) for pl in result.placements)
    size = Counter(c.work_unit for c in candidates)
    for (unit, _panel), k in per.items():
        assert k <= math.ceil(size[unit] / n_panels)  # a unit's candidates are spread as evenly as possible


def test_candidate_conflicting_with_every_panel_is_named_with_the_panelists():
    panels = [SPanel(1, "第一组", (SPanelist(1, "甲", "一中"), SPanelist(2, "乙", "二中"), SPanelist(3, "丙", "三中"))),
              SPanel(2, "第二组", (SPanelist(4, "丁", "四中", conflict_units=frozenset({"一中"})),
                                  SPanelist(5, "戊", "五中"), SPanelist(6, "己", "六中")))]
    cands = [SCandidate(1, "张三", "一中", "T0001"), SCandidate(2, "李四", "七中", "T0002")]
    reasons = explain_infeasible(cands, panels, 5)
    assert len(reasons) == 1
    assert "张三" in reasons[0] and "与每个答辩组都有回避冲突" in reasons[0]
    assert "甲（一中，同一工作单位）" in reasons[0] and "丁（四中，申报回避该工作单位）" in reasons[0]
    assert "李四" not in reasons[0]


def test_capacity_shortfall_names_the_numbers():
    panels = [SPanel(1, "第一组", (SPanelist(1, "甲", "x"),)), SPanel(2, "第二组", (SPanelist(2, "乙", "y"),))]
    cands = [SCandidate(i, f"考生{i}", "z", f"T{i}") for i in range(5)]
    reasons = explain_infeasible(cands, panels, 2)
    assert reasons == ["容量不足：共有 5 名答辩考生，但只有 4 个时段（2 个答辩组 × 每组 2 个时段），请增加答辩日或答辩组"]


def test_hall_violation_names_the_failing_set_and_the_panels_they_can_reach():
    # Three candidates of 二中 can only go to 第一组 (第二组 and 第三组 have 二中 panelists): 2 slots for 3.
    panels = [SPanel(1, "第一组", (SPanelist(1, "甲", "一中"),)), SPanel(2, "第二组", (SPanelist(2, "乙", "二中"),)),
              SPanel(3, "第三组", (SPanelist(3, "丙", "二中"),))]
    cands = [SCandidate(i, f"二中考生{i}", "二中", f"T{i}") for i in range(1, 4)] + [SCandidate(9, "其他", "九中", "T9")]
    reasons = explain_infeasible(cands, panels, 2)
    assert len(reasons) == 1
    r = reasons[0]
    assert "以下 3 名考生只能安排到 第一组（共 2 个时段）" in r
    assert all(f"二中考生{i}" in r for i in range(1, 4)) and "其他" not in r
    result = schedule(cands, panels, _grid(2))
    assert not result.ok and result.reasons == reasons


def test_declared_candidate_conflict_is_respected():
    panels = [SPanel(1, "A", (SPanelist(1, "甲", "一中", conflict_candidates=frozenset({7})),)),
              SPanel(2, "B", (SPanelist(2, "乙", "二中"),))]
    result = schedule([SCandidate(7, "王五", "三中", "T7")], panels, _grid(3))
    assert result.ok and result.placements[0].panel_id == 2


def test_day_slots_skip_breaks_and_end_by_the_end_time():
    slots = day_slots(DaySpec(date(2026, 12, 1), "08:30", "12:30", 30, "10:00-10:15"))
    starts = [s.start.strftime("%H:%M") for s in slots]
    assert starts == ["08:30", "09:00", "09:30", "10:15", "10:45", "11:15", "11:45"]
    assert slots[-1].end == datetime(2026, 12, 1, 12, 15)
    two = build_slots([DaySpec(date(2026, 12, 2)), DaySpec(date(2026, 12, 1))])
    assert two[0].start.date() == date(2026, 12, 1) and len(two) == 2 * len(day_slots(DaySpec(date(2026, 12, 1))))


def test_bad_times_are_refused_in_chinese():
    import pytest

    with pytest.raises(ValueError, match="HH:MM"):
        day_slots(DaySpec(date(2026, 12, 1), "8点", "17:30"))
    with pytest.raises(ValueError, match="结束时间须晚于开始时间"):
        day_slots(DaySpec(date(2026, 12, 1), "12:00", "11:00"))


def test_check_move_reports_conflict_and_double_booking():
    panel = SPanel(1, "第一组", (SPanelist(1, "甲", "一中"),))
    c = SCandidate(5, "张三", "一中", "T5")
    problems = check_move(c, panel, 2, 4, {2: 9})
    assert any("甲（同一工作单位）" in p for p in problems)
    assert any("同一答辩组不能同时面试两名考生" in p for p in problems)
    assert check_move(SCandidate(6, "李四", "二中", "T6"), panel, 1, 4, {2: 9}) == []
    assert check_move(SCandidate(6, "李四", "二中", "T6"), panel, 9, 4, {}) == ["所选时段不在答辩日的时段表内"]
