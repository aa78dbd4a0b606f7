"""The pure roster rules: ID numbers (GB 11643), the import plan and ticket generation. No app needed."""
from datetime import date

import pytest

from certify.services.roster_rules import (
    ExistingCandidate,
    assign_tickets,
    check_id_number,
    id_check_digit,
    make_id_number,
    plan_roster,
    ticket_prefix,
)


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014", "500103198805020172"])
def test_known_valid_id_numbers_pass(number):
    assert check_id_number(number) == (number, None)


def test_lowercase_x_is_normalised_to_uppercase():
    assert check_id_number("11010519491231002x") == ("11010519491231002X", None)


@pytest.mark.parametrize("number, fragment", [
    ("11010519491231002", "18 位"),
    ("1101051949123100211", "18 位"),
    ("11010519491231002Y", "格式不正确"),
    ("1101051949A231002X", "格式不正确"),
    ("110105194913310021", "出生日期"),
    ("110105194912310021", "校验位错误（应为 X）"),
    ("", "不能为空"),
    ("5.00103E+17", "科学计数法"),
])
def test_bad_id_numbers_are_named(number, fragment):
    assert fragment in check_id_number(number)[1]


def test_check_digit_of_every_residue_is_consistent():
    for serial in range(200):
        number = make_id_number("220102", date(1990, 1, 1), serial)
        assert id_check_digit(number[:17]) == number[17]
        assert check_id_number(number)[1] is None


def _row(n, **over):
    values = {"id_number": make_id_number("500103", date(1985, 1, 1), n), "name": f"人{n}", "work_unit": "单位",
              "district": "渝中区", "level": "初级", "phone": "", "ticket": ""}
    values.update(over)
    return values


def _plan(rows, existing=None, holders=None, levels=("初级", "中级")):
    return plan_roster(list(enumerate(rows, start=2)), file="f.csv", offered_levels=levels, region="重庆",
                       existing=existing or {}, ticket_holders=holders or {})


def test_plan_reports_duplicates_with_the_first_row():
    a = _row(1)
    plan = _plan([a, dict(a, name="别人"), _row(2, ticket="T0001"), _row(3, ticket="T0001")])
    messages = [(e.row, e.column, e.message) for e in plan.errors]
    assert (3, "证件号", f"证件号 {a['id_number']} 与第 2 行重复") in messages
    assert (5, "准考证号", "准考证号 T0001 与第 4 行重复") in messages


def test_plan_refuses_a_level_change_and_a_ticket_change_of_an_existing_candidate():
    r = _row(1, level="中级", ticket="OTHER1")
    existing = {r["id_number"]: ExistingCandidate(r["id_number"], "T1", "初级", "人1", "单位", "渝中区", "")}
    plan = _plan([r], existing=existing)
    columns = sorted(e.column for e in plan.errors)
    assert columns == ["准考证号", "认证级别"]


def test_plan_sorts_rows_into_add_update_unchanged():
    same, moved, new = _row(1), _row(2, work_unit="新单位"), _row(3)
    existing = {v["id_number"]: ExistingCandidate(v["id_number"], f"T{i}", "初级", v["name"], "单位", "渝中区", "")
                for i, v in enumerate((same, moved))}
    plan = _plan([same, moved, new], existing=existing)
    assert not plan.errors
    assert [r.action for r in plan.rows] == ["unchanged", "update", "add"]
    assert plan.rows[1].changes == {"work_unit": ("单位", "新单位")}
    assert plan.rows[1].values["ticket"] == "T1"


def test_tickets_continue_the_sequence_and_skip_taken_ones():
    plan = _plan([_row(1), _row(2), _row(3, level="中级")])
    prefix = ticket_prefix(2024, "重庆", "初级")
    assign_tickets(plan, year=2024, region="重庆", used={f"{prefix}0001", f"{prefix}0003"})
    assert [r.values["ticket"] for r in plan.rows] == [f"{prefix}0004", f"{prefix}0005", "20245020001"]
    assert prefix == "2024501"  # year, GB/T 2260 province code, level code
