"""Roster import (考生名单): every error class, encodings, aliases, idempotent re-import, all-or-nothing."""
import pytest

from certify.extensions import db
from certify.models import AuditEntry, Candidate, User
from certify.roster import import_roster
from certify.tabular import ImportFailed


def _count(model):
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar()


def _errors(rnd, data, filename):
    with pytest.raises(ImportFailed) as info:
        import_roster(rnd, data, filename)
    db.session.rollback()
    return info.value.errors


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_every_encoding_imports(make_round, roster_files, encoding):
    rnd = make_round()
    rows = [roster_files.person(1), roster_files.person(2, "中级", work_unit="重庆市第八中学校")]
    data = roster_files.csv(rows, encoding=encoding)
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
    result = import_roster(rnd, data, "名单.csv")
    db.session.commit()
    assert (result.added, result.updated, result.unchanged) == (2, 0, 0)
    people = db.session.execute(db.select(Candidate).order_by(Candidate.level.desc())).scalars().all()
    assert [(c.name, c.level) for c in people] == [("考生01", "初级"), ("考生02", "中级")]
    assert people[1].work_unit == "重庆市第八中学校"


def test_xlsx_with_english_alias_headers_imports(make_round, roster_files):
    rnd = make_round()
    data = roster_files.xlsx([roster_files.person(1), roster_files.person(2)], header=roster_files.header_en)
    assert import_roster(rnd, data, "roster.xlsx").added == 2


def test_optional_columns_may_be_absent(make_round, roster_files):
    rnd = make_round()
    header = roster_files.header_zh[:5]
    data = roster_files.csv([roster_files.person(1)[:5]], header=header)
    assert import_roster(rnd, data, "r.csv").added == 1


def test_every_candidate_gets_an_account_that_must_change_its_password(make_round, roster_files):
    rnd = make_round()
    import_roster(rnd, roster_files.xlsx([roster_files.person(1), roster_files.person(2, "中级")]), "r.xlsx")
    db.session.commit()
    for cand in db.session.execute(db.select(Candidate)).scalars():
        assert cand.user.username == cand.ticket
        assert cand.user.role == "candidate"
        assert cand.user.must_change_password
        assert cand.user.display_name == cand.name
        # no password until the admission slips are printed (accounts.issue_slip_passwords), none in plain text
        assert not cand.user.has_usable_password and not cand.user.check_password("")
        assert not hasattr(cand, "initial_password")


def test_generated_tickets_are_unique_stable_and_follow_the_pattern(make_round, roster_files):
    rnd = make_round()
    rows = [roster_files.person(1), roster_files.person(2), roster_files.person(3, "中级")]
    import_roster(rnd, roster_files.csv(rows), "r.csv")
    db.session.commit()
    tickets = {c.id_number: c.ticket for c in db.session.execute(db.select(Candidate)).scalars()}
    assert sorted(tickets.values()) == ["20245010001", "20245010002", "20245020001"]
    # one more candidate later: the sequence continues, earlier tickets stay as they are
    import_roster(rnd, roster_files.csv(rows + [roster_files.person(4)]), "r.csv")
    db.session.commit()
    after = {c.id_number: c.ticket for c in db.session.execute(db.select(Candidate)).scalars()}
    assert {k: after[k] for k in tickets} == tickets
    assert after[roster_files.valid_id(4)] == "20245010003"


def test_given_tickets_are_kept(make_round, roster_files):
    rnd = make_round()
    import_roster(rnd, roster_files.csv([roster_files.person(1, ticket="CQ-A-001")]), "r.csv")
    assert db.session.execute(db.select(Candidate.ticket)).scalar() == "CQ-A-001"


def test_reimporting_the_same_file_changes_nothing(make_round, roster_files):
    rnd = make_round()
    data = roster_files.xlsx([roster_files.person(n) for n in range(1, 6)])
    first = import_roster(rnd, data, "r.xlsx")
    db.session.commit()
    audits, users = _count(AuditEntry), _count(User)
    hashes = db.select(Candidate.ticket, User.password_hash).join(User, Candidate.user_id == User.id)
    passwords = dict(db.session.execute(hashes).all())
    second = import_roster(rnd, data, "r.xlsx")
    db.session.commit()
    assert (first.added, second.added, second.updated, second.unchanged) == (5, 0, 0, 5)
    assert (_count(AuditEntry), _count(User)) == (audits, users)
    assert dict(db.session.execute(hashes).all()) == passwords


def test_changed_contact_fields_are_updated(make_round, roster_files):
    rnd = make_round()
    import_roster(rnd, roster_files.csv([roster_files.person(1), roster_files.person(2)]), "r.csv")
    db.session.commit()
    changed = roster_files.person(2, phone="13912345678", work_unit="新单位", name="改名")
    result = import_roster(rnd, roster_files.csv([roster_files.person(1), changed]), "r.csv")
    db.session.commit()
    assert (result.added, result.updated, result.unchanged) == (0, 1, 1)
    cand = db.session.execute(db.select(Candidate).filter_by(id_number=roster_files.valid_id(2))).scalar_one()
    assert (cand.phone, cand.work_unit, cand.name, cand.user.display_name) == ("13912345678", "新单位", "改名", "改名")
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="roster.import").order_by(AuditEntry.id.desc())
                               ).scalars().first()
    assert entry.detail["updated"] == 1


def test_missing_required_column_is_named(make_round, roster_files):
    rnd = make_round()
    header = ["证件号", "姓名", "区县", "认证级别"]
    errors = _errors(rnd, roster_files.csv([[roster_files.valid_id(1), "甲", "渝中区", "初级"]], header=header),
                     "r.csv")
    assert [(e.row, e.column) for e in errors] == [(1, "工作单位")]
    assert "缺少必需的列" in errors[0].message


def test_every_row_error_is_reported_with_file_row_and_column(make_round, roster_files, make_candidate):
    rnd = make_round()
    other = make_round("2024-cq-b")
    make_candidate(other, ticket="TAKEN-01")
    good = roster_files.person(1)
    rows = [
        good,                                                   # row 2: fine
        roster_files.person(2, id_number="500103198805020171"),  # row 3: wrong check digit
        roster_files.person(3, id_number="12345"),              # row 4: wrong length
        roster_files.person(4, name=""),                        # row 5: required field empty
        roster_files.person(5, level="高级"),                    # row 6: unknown level
        list(good[:1]) + roster_files.person(6)[1:],            # row 7: duplicate ID in the file
        roster_files.person(7, ticket="T-DUP-1"),               # row 8
        roster_files.person(8, ticket="T-DUP-1"),               # row 9: duplicate ticket in the file
        roster_files.person(9, ticket="TAKEN-01"),              # row 10: ticket of another candidate
        roster_files.person(10, work_unit=""),                   # row 11: required field empty
    ]
    errors = _errors(rnd, roster_files.xlsx(rows), "名单.xlsx")
    found = {(e.row, e.column) for e in errors}
    assert found == {(3, "证件号"), (4, "证件号"), (5, "姓名"), (6, "认证级别"), (7, "证件号"), (9, "准考证号"),
                     (10, "准考证号"), (11, "工作单位")}
    assert all(e.file == "名单.xlsx" and e.sheet == "考生名单" for e in errors)
    text = "\n".join(str(e) for e in errors)
    assert "名单.xlsx，工作表「考生名单」，第 3 行，「证件号」列：证件号校验位错误" in text
    assert "与第 2 行重复" in text and "已被其他考生或账号使用" in text
    assert _count(Candidate) == 1 and _count(User) == 1  # only the other round's candidate: nothing written


def test_a_level_the_round_does_not_offer_is_refused(make_round, roster_files):
    rnd = make_round("2024-jl", "吉林")
    errors = _errors(rnd, roster_files.csv([roster_files.person(1), roster_files.person(2, "中级")]), "jl.csv")
    assert [(e.row, e.column) for e in errors] == [(3, "认证级别")]
    assert "本轮（吉林）不设中级认证" in errors[0].message
    assert _count(Candidate) == 0


def test_the_level_of_an_existing_candidate_cannot_change(make_round, roster_files):
    rnd = make_round()
    import_roster(rnd, roster_files.csv([roster_files.person(1), roster_files.person(2)]), "r.csv")
    db.session.commit()
    errors = _errors(rnd, roster_files.csv([roster_files.person(1, phone="13900000000"),
                                            roster_files.person(2, "中级")]), "r.csv")
    assert [(e.row, e.column) for e in errors] == [(3, "认证级别")]
    assert "不能更改" in errors[0].message
    # all or nothing: row 2's valid phone change was not written either
    cand = db.session.execute(db.select(Candidate).filter_by(id_number=roster_files.valid_id(1))).scalar_one()
    assert cand.phone != "13900000000"


def test_a_ticket_that_is_a_staff_login_is_refused(make_round, make_user, roster_files):
    rnd = make_round()
    make_user("secretariat", username="mishu")
    errors = _errors(rnd, roster_files.csv([roster_files.person(1, ticket="mishu")]), "r.csv")
    assert [(e.row, e.column) for e in errors] == [(2, "准考证号")]


def test_unsupported_empty_and_unreadable_files_are_refused(make_round, roster_files):
    rnd = make_round()
    assert "不支持的文件类型" in _errors(rnd, b"x", "r.txt")[0].message
    assert "文件为空" in _errors(rnd, b"", "r.csv")[0].message
    assert "无法读取文件" in _errors(rnd, b"not a zip", "r.xlsx")[0].message
    assert "没有考生数据" in _errors(rnd, roster_files.csv([]), "r.csv")[0].message


def test_same_person_in_two_rounds_gets_two_tickets(make_round, roster_files):
    cq, cq2 = make_round(), make_round("2024-cq-2")
    data = roster_files.csv([roster_files.person(1)])
    import_roster(cq, data, "r.csv")
    db.session.commit()
    import_roster(cq2, data, "r.csv")
    db.session.commit()
    assert sorted(db.session.execute(db.select(Candidate.ticket)).scalars()) == ["20245010001", "20245010002"]


def test_a_ticket_of_another_candidate_of_the_same_round_is_refused(make_round, roster_files):
    rnd = make_round()
    import_roster(rnd, roster_files.csv([roster_files.person(1, ticket="CQ-0001")]), "r.csv")
    db.session.commit()
    errors = _errors(rnd, roster_files.csv([roster_files.person(1, ticket="CQ-0001"),
                                            roster_files.person(2, ticket="CQ-0001")]), "r.csv")
    # row 3 repeats row 2's ticket; importing row 3 alone names the holder instead
    assert [(e.row, e.column) for e in errors] == [(3, "准考证号")]
    errors = _errors(rnd, roster_files.csv([roster_files.person(2, ticket="CQ-0001")]), "r.csv")
    assert [(e.row, e.column) for e in errors] == [(2, "准考证号")]
    assert "已被其他考生或账号使用" in errors[0].message
