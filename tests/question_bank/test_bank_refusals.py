"""Bank refusals are DomainErrors: the item page flashes them, and nothing is written."""
from __future__ import annotations

from bank_files import csv_bytes, sample_rows
from sqlalchemy import func, select

from certify.errors import DomainError
from certify.extensions import db
from certify.models import AuditEntry
from question_bank import operations as ops
from question_bank.models import Item
from tests.conftest import login


def test_bank_errors_are_domain_errors(ctx):
    assert issubclass(ops.BankError, DomainError) and issubclass(ops.ItemInvalid, DomainError)
    err = ops.ItemInvalid([("题干", "题干不能为空"), ("答案", "答案无效")])
    assert err.messages == ["题干：题干不能为空", "答案：答案无效"] and str(err) == "题干：题干不能为空；答案：答案无效"
    assert err.to_json()["fields"][1] == {"column": "答案", "message": "答案无效"}


def test_retiring_a_retired_item_is_flashed_and_writes_nothing(ctx, client, make_user):
    ops.import_bank(csv_bytes(sample_rows()[:1]), "a.csv")
    db.session.commit()
    item = db.session.execute(select(Item)).scalar_one()
    login(client, make_user("secretariat").username)
    assert client.post(f"/bank/items/{item.id}/retire", data={"reason": "超纲"}).status_code == 302
    resp = client.post(f"/bank/items/{item.id}/retire", data={"reason": "再次"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/bank/items/{item.id}")
    assert f"题目 {item.code} 已停用" in client.get(resp.headers["Location"]).get_data(as_text=True)
    retired = db.session.execute(select(func.count()).select_from(AuditEntry).filter_by(
        action="bank.item.retire")).scalar()
    assert retired == 1
    resp = client.post(f"/bank/items/{item.id}/retire", data={"reason": "x"}, headers={"Accept": "application/json"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "already_retired"
