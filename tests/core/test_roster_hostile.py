"""Roster imports that used to crash or mis-import silently: odd digits in ID numbers, future birth dates,
IDs typed into numeric cells, 100,000-row files, and a file that is read before the database is touched."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import event

from certify.extensions import db
from certify.models import Candidate
from certify.roster import import_roster
from certify.services.roster_rules import check_id_number, make_id_number, plan_roster
from certify.tabular import ImportFailed

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def errors_of(rnd, data: bytes, name: str):
    with pytest.raises(ImportFailed) as info:
        import_roster(rnd, data, name)
    db.session.rollback()
    return info.value.errors


def count() -> int:
    return db.session.execute(db.select(db.func.count(Candidate.id))).scalar_one()


def test_a_fullwidth_copy_of_an_existing_id_number_is_refused_not_added(make_round, roster_files):
    rnd = make_round()
    row = roster_files.person(1)
    import_roster(rnd, roster_files.csv([row]), "a.csv")
    db.session.commit()
    copy = [row[0].translate(FULLWIDTH), *row[1:]]
    errors = errors_of(rnd, roster_files.csv([copy]), "b.csv")
    assert (errors[0].row, errors[0].column) == (2, "证件号") and "非标准数字" in errors[0].message
    assert count() == 1


@pytest.mark.parametrize("digit", ["²", "٣", "۳", "३", "①"])
def test_unusual_digits_in_an_id_number_are_a_row_error_not_a_crash(make_round, roster_files, digit):
    rnd = make_round()
    good = roster_files.valid_id(1)
    errors = errors_of(rnd, roster_files.csv([roster_files.person(1, id_number=good[:7] + digit + good[8:])]), "a.csv")
    assert errors[0].column == "证件号" and ("非标准数字" in errors[0].message or "格式" in errors[0].message)


def test_id_numbers_with_controls_or_future_birth_dates_are_refused():
    good = make_id_number("500103", date(1990, 3, 15), 1)
    assert "U+0000" in check_id_number(good[:5] + "\x00" + good[6:])[1]
    assert "U+200B" in check_id_number(good[:5] + "\u200b" + good[5:])[1]
    future = make_id_number("500103", date(2090, 1, 1), 1)
    assert "在未来" in check_id_number(future, today=date(2024, 6, 1))[1]
    assert check_id_number(make_id_number("500103", date(2024, 5, 31), 1), today=date(2024, 6, 1))[1] is None


def test_an_id_number_stored_as_an_excel_number_is_recognised(make_round, roster_files):
    rnd = make_round()
    row = [5.00103199003151e17, *roster_files.person(1)[1:]]
    errors = errors_of(rnd, roster_files.xlsx([row]), "a.xlsx")
    assert errors[0].column == "证件号" and "存成了数字" in errors[0].message and "文本格式" in errors[0].message


def test_tickets_with_fullwidth_characters_are_named():
    plan = plan_roster([(2, {"id_number": make_id_number("500103", date(1990, 1, 1), 1), "name": "甲",
                             "work_unit": "一中", "district": "渝中区", "level": "初级", "ticket": "２０２４Ａ０１"})],
                       file="a.csv", offered_levels=["初级"], region="重庆", existing={}, ticket_holders={})
    assert plan.errors[0].column == "准考证号" and "非标准数字" in plan.errors[0].message


def test_a_40k_row_roster_is_looked_up_in_chunks(make_round, roster_files):
    """More rows than one SQLite statement may bind (32,766; PostgreSQL: 65,535): refused for its one bad row,
    not crashed, and no statement binds more than a chunk."""
    rnd = make_round()
    rows = [[make_id_number("500103", date(1950, 1, 1) + timedelta(days=n // 1000), n % 1000), f"考生{n}", "一中",
             "渝中区", "初级", "", f"T{n:07d}"] for n in range(40_000)]
    rows[-1][4] = "高级"
    widest = []

    def track(conn, cursor, statement, parameters, context, executemany):
        widest.append(len(parameters) if isinstance(parameters, (tuple, list, dict)) else 0)

    event.listen(db.engine, "before_cursor_execute", track)
    try:
        errors = errors_of(rnd, roster_files.csv(rows), "big.csv")
    finally:
        event.remove(db.engine, "before_cursor_execute", track)
    assert [(e.row, e.column) for e in errors] == [(40_001, "认证级别")]
    assert widest and max(widest) <= 600
    assert count() == 0


def test_a_refused_file_is_read_before_any_query(make_round, roster_files):
    """The file is parsed whole before the import asks the database anything: a bad file costs no query
    (and so holds no transaction open while it is read)."""
    rnd = make_round()
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        errors_of(rnd, "证件号,姓名,工作单位,区县,认证级别\r\n1,张\x00三,一中,渝中区,初级\r\n".encode(), "a.csv")
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert statements == []
