"""The room's views are built from one snapshot by a pure module; who sees what is decided there, once."""
from datetime import datetime
from decimal import Decimal

from defense.services import views
from defense.services.states import CaseState, SheetStatus

RUBRIC = views.RubricSnap((views.Criterion(1, "认识理解", Decimal("30"), ""),
                           views.Criterion(2, "科技素养", Decimal("30"), ""),
                           views.Criterion(3, "组织策划能力", Decimal("40"), "")),
                          ({"name": "个人陈述", "seconds": 300},), Decimal("20"), Decimal("15"), 3)
MEMBERS = (views.MemberSnap(11, "组长", 101, True), views.MemberSnap(12, "甲", 102, False),
           views.MemberSnap(13, "乙", 103, False))


def sheet(sid, panelist, status, total=None):
    return views.SheetSnap(sid, panelist, status, {"1": "10"} if total else {}, total, 2, 1 if total else 0,
                           datetime(2026, 12, 1, 1) if status == SheetStatus.SUBMITTED else None, "", "", 0)


def snapshot(*sheets, state=CaseState.SCORING):
    case = views.CaseSnap(7, state, 1, False, 3, "考生", "T1", "单位", None, None, (), None, (), None, "",
                          tuple(sheets))
    return views.PanelSnapshot(1, "第一组", "301", "", MEMBERS, RUBRIC, (case,), datetime(2026, 12, 1, 2))


ALL_IN = (sheet(1, 11, SheetStatus.SUBMITTED, Decimal("80")), sheet(2, 12, SheetStatus.SUBMITTED, Decimal("85")),
          sheet(3, 13, SheetStatus.SUBMITTED, Decimal("90")))


def test_views_module_imports_neither_flask_nor_the_database():
    import ast
    from pathlib import Path

    import defense.services

    banned = ("flask", "sqlalchemy", "certify.extensions", "certify.models", "certify.audit", "defense.models",
              "defense.scoring.models", ".models", "..models", "..scoring.models", "...models")
    for name in ("views", "states", "machines"):
        tree = ast.parse((Path(defense.services.__file__).parent / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = ["." * node.level + (node.module or "")]
            else:
                continue
            assert not [m for m in modules if m.startswith(banned)], (name, modules)


def test_a_panelist_sees_only_their_own_sheet_and_nothing_meant_for_the_chair():
    snap = snapshot(sheet(1, 11, SheetStatus.DRAFT), sheet(2, 12, SheetStatus.SUBMITTED, Decimal("80")),
                    sheet(3, 13, SheetStatus.DRAFT))
    mine = views.room_view(snap, 13)
    case = mine["cases"][0]
    assert case["my_sheet"]["id"] == 3 and "members" not in case and "aggregate" not in case and "all_in" not in case
    assert "80" not in repr(mine)  # another panelist's total never travels to a panelist
    chair = views.room_view(snap, 11)["cases"][0]
    by_id = {m["panelist_id"]: m for m in chair["members"]}
    assert by_id[12]["status"] == "submitted" and "total" not in by_id[12]  # the chair's own sheet is not in yet


def test_the_chair_sees_totals_after_their_own_sheet_and_the_aggregate_when_all_are_in():
    snap = snapshot(*ALL_IN)
    chair = views.room_view(snap, 11)["cases"][0]
    assert [m.get("total") for m in chair["members"]] == ["80", "85", "90"]
    assert chair["all_in"] and chair["aggregate"]["score"] == "85"
    assert views.room_view(snap, 12)["me"] == {"panelist_id": 12, "is_chair": False, "name": "甲"}


def test_a_sheet_of_someone_who_left_the_panel_no_longer_counts():
    snap = snapshot(*ALL_IN, sheet(4, 99, SheetStatus.DRAFT))
    chair = views.room_view(snap, 11)["cases"][0]
    assert chair["all_in"] and [m["panelist_id"] for m in chair["members"]] == [11, 12, 13]
