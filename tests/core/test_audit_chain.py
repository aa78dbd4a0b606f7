"""The audit trail is a hash chain: an edited, deleted or moved entry is named by id (pure walk, the database,
the CLI and the supervisors' page), appends are serialised, and PostgreSQL refuses UPDATE/DELETE outright."""
from __future__ import annotations

import itertools
import threading
from datetime import datetime

import pytest
from sqlalchemy import exc, func, select, text

from certify.audit import audit, verify
from certify.extensions import db
from certify.models import AuditEntry
from certify.services import audit_chain as ac
from tests.conftest import login

# ------------------------------------------------------------------ the pure walk


def _trail(n: int) -> list[dict]:
    rows = [{"at": datetime(2024, 5, 1, 9, 0, i, 123456), "actor_id": 1, "actor_name": "秘书处", "round_id": 1,
             "action": "round.update", "target_type": "Round", "target_id": "1", "reason": "",
             "detail": {"n": i, "before": {"name": "甲"}, "after": {"name": "乙"}}} for i in range(n)]
    return ac.seal(rows, None, None)


def _locate(rows):
    return lambda column, value: next((r["id"] for r in rows if r[column] == value), None)


def _swap_ids(rows, a, b):
    rows = [dict(r) for r in rows]
    for r in rows:
        if r["id"] in (a, b):
            r["id"] = b if r["id"] == a else a
    return sorted(rows, key=lambda r: r["id"])


def test_sealed_trail_verifies_and_names_its_head():
    rows = _trail(5)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["prev_hash"] == ac.GENESIS and rows[1]["prev_hash"] == rows[0]["entry_hash"]
    result = ac.verify_chain(rows)
    assert result.ok and result.count == 5 and result.head_id == 5 and result.message == "审计链完整（至第 5 条）"
    assert ac.verify_chain([]).message == "审计链完整（尚无记录）"


def test_sealing_continues_after_the_last_entry():
    rows = _trail(3)
    more = ac.seal([dict(rows[0], detail={"x": 1})], rows[-1]["id"], rows[-1]["entry_hash"])
    assert more[0]["id"] == 4 and more[0]["prev_hash"] == rows[-1]["entry_hash"]
    assert ac.verify_chain(rows + more).ok


def test_canonical_content_ignores_key_order_but_not_values():
    row = _trail(1)[0]
    assert ac.entry_hash(dict(row, detail={"after": {"name": "乙"}, "before": {"name": "甲"}, "n": 0})) \
        == row["entry_hash"]
    for change in ({"reason": "x"}, {"actor_name": "别人"}, {"at": datetime(2024, 5, 1, 9, 0, 0, 123457)},
                   {"target_id": "2"}, {"round_id": 2}, {"detail": {"n": 1}}, {"action": "round.create"}):
        assert ac.entry_hash(dict(row, **change)) != row["entry_hash"], change


def test_an_edited_entry_is_named():
    rows = _trail(5)
    rows[2] = dict(rows[2], reason="事后补的理由")
    result = ac.verify_chain(rows, locate=_locate(rows))
    assert not result.ok and (result.broken.entry_id, result.broken.kind) == (3, "edited")
    assert result.head_id == 2 and "第 3 条记录的内容已被修改" in result.message


def test_an_edited_entry_whose_hash_was_recomputed_is_still_named():
    rows = _trail(5)
    forged = dict(rows[2], reason="改过")
    forged["entry_hash"] = ac.entry_hash(forged)
    rows[2] = forged
    result = ac.verify_chain(rows, locate=_locate(rows))
    assert (result.broken.entry_id, result.broken.kind) == (3, "edited")


def test_a_deleted_entry_is_named():
    rows = _trail(5)
    del rows[2]
    result = ac.verify_chain(rows, locate=_locate(rows))
    assert (result.broken.entry_id, result.broken.kind) == (3, "deleted")
    assert "第 3 条记录已被删除" in result.message
    first = _trail(3)[1:]
    assert (ac.verify_chain(first).broken.entry_id, ac.verify_chain(first).broken.kind) == (1, "deleted")


@pytest.mark.parametrize("a, b", [(2, 4), (2, 3), (1, 5)])
def test_swapped_entries_are_named_as_reordered(a, b):
    rows = _swap_ids(_trail(5), a, b)
    result = ac.verify_chain(rows, locate=_locate(rows))
    assert (result.broken.entry_id, result.broken.kind) == (a, "reordered")
    assert f"原为第 {b} 条" in result.message
    # without the lookup the first moved entry is still named
    assert ac.verify_chain(rows).broken.entry_id == a


def test_entries_removed_from_the_end_are_caught_with_an_anchor():
    rows = _trail(5)
    anchor = (5, rows[-1]["entry_hash"])
    assert ac.verify_chain(rows, anchor=anchor).ok
    assert ac.verify_chain(rows[:3]).ok  # a chain alone cannot see it
    result = ac.verify_chain(rows[:3], anchor=anchor)
    assert not result.ok and result.broken.kind == "truncated" and "第 5 条已不存在" in result.message


# ------------------------------------------------------------------ in the database


def _write(n: int, **kw):
    for i in range(n):
        audit("round.update", target_type="Round", target_id="1", n=i, **kw)
        db.session.commit()


def _tamper(*statements):
    """Change the table behind the application's back (on PostgreSQL with the trigger off for this transaction
    only, as a superuser restoring a dump could)."""
    db.session.remove()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            conn.execute(text(statement))


def test_entries_are_sealed_in_order_across_transactions(ctx):
    audit("a.one", reason="第一条")
    audit("a.two", when=datetime(2024, 1, 2, 3, 4, 5))
    db.session.flush()
    audit("a.three", amount=__import__("decimal").Decimal("12.50"), ids={3, 1, 2}, pair=(1, "x"))
    db.session.commit()
    _write(2)
    rows = db.session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    assert [r.id for r in rows] == [1, 2, 3, 4, 5]
    assert [r.action for r in rows[:3]] == ["a.one", "a.two", "a.three"]
    assert rows[0].prev_hash == ac.GENESIS
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(rows))
    assert rows[2].detail == {"amount": "12.50", "ids": [1, 2, 3], "pair": [1, "x"]}
    result = verify()
    assert result.ok and result.head_id == 5 and result.message == "审计链完整（至第 5 条）"


def test_a_rolled_back_entry_leaves_no_gap(ctx):
    _write(2)
    audit("a.lost")
    db.session.flush()
    db.session.rollback()
    _write(1)
    assert db.session.execute(select(func.max(AuditEntry.id))).scalar() == 3
    assert verify().ok


def test_verify_command_passes_an_intact_trail(app, ctx):
    _write(3)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "审计链完整（至第 3 条）" in result.output
    head = db.session.execute(select(AuditEntry.entry_hash).where(AuditEntry.id == 3)).scalar()
    assert f"链头：3:{head}" in result.output
    assert app.test_cli_runner().invoke(args=["audit", "verify", "--anchor", f"3:{head}"]).exit_code == 0


@pytest.mark.parametrize("statements, expected", [
    (["UPDATE audit_entries SET reason = '后来加的理由' WHERE id = 3"], "第 3 条记录的内容已被修改"),
    (["UPDATE audit_entries SET detail = '{\"n\": 99}' WHERE id = 2"], "第 2 条记录的内容已被修改"),
    (["DELETE FROM audit_entries WHERE id = 3"], "第 3 条记录已被删除"),
    (["UPDATE audit_entries SET id = -2 WHERE id = 2", "UPDATE audit_entries SET id = 2 WHERE id = 4",
      "UPDATE audit_entries SET id = 4 WHERE id = -2"], "第 2 条记录的位置已被调换"),
], ids=["edit-reason", "edit-detail", "delete", "swap"])
def test_verify_command_names_the_first_tampered_entry(app, ctx, statements, expected):
    _write(5)
    _tamper(*statements)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code != 0
    assert expected in result.output, result.output


def test_verify_command_with_anchor_sees_the_newest_entries_removed(app, ctx):
    _write(4)
    head = db.session.execute(select(AuditEntry.entry_hash).where(AuditEntry.id == 4)).scalar()
    _tamper("DELETE FROM audit_entries WHERE id = 4")
    assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--anchor", f"4:{head}"])
    assert result.exit_code != 0 and "第 4 条已不存在" in result.output
    bad = app.test_cli_runner().invoke(args=["audit", "verify", "--anchor", "x"])
    assert bad.exit_code != 0


def test_the_audit_page_shows_the_state_of_the_chain(app, ctx, client, make_user, monkeypatch):
    sup = make_user("supervisor")
    _write(3)
    login(client, sup.username)
    assert "审计链完整（至第 3 条）" in client.get("/audit/").get_data(as_text=True)
    _tamper("UPDATE audit_entries SET actor_name = '别人' WHERE id = 2")
    monkeypatch.setitem(app.config, "AUDIT_FULL_VERIFY_SECONDS", 0)  # every view walks the whole chain
    html = client.get("/audit/").get_data(as_text=True)
    assert "审计链已断开：第 2 条记录的内容已被修改" in html and 'data-ok="0"' in html


def test_between_full_walks_the_page_checks_every_new_entry(app, ctx, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "AUDIT_FULL_VERIFY_SECONDS", 3600)
    sup = make_user("supervisor")
    _write(3)
    login(client, sup.username)
    assert "审计链完整（至第 3 条）" in client.get("/audit/").get_data(as_text=True)  # a full walk
    _write(2)
    assert "审计链完整（至第 5 条）" in client.get("/audit/").get_data(as_text=True)  # only 4 and 5 walked
    _write(1)
    _tamper("UPDATE audit_entries SET reason = '改过' WHERE id = 6")
    assert "第 6 条记录的内容已被修改" in client.get("/audit/").get_data(as_text=True)
    # an older entry changed is seen at the next full walk
    monkeypatch.setitem(app.config, "AUDIT_FULL_VERIFY_SECONDS", 0)
    _tamper("UPDATE audit_entries SET reason = '改过' WHERE id = 2")
    assert "第 2 条记录的内容已被修改" in client.get("/audit/").get_data(as_text=True)


def test_concurrent_writers_never_chain_to_the_same_predecessor(app, ctx):
    _write(1)
    writers, per_writer = 4, 5
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(k: int):
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                for i in range(per_writer):
                    audit("test.concurrent", writer=k, i=i)
                    db.session.flush()
                    threading.Event().wait(0.005)  # hold the transaction open a moment: a race would show
                    db.session.commit()
                db.session.remove()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    db.session.remove()
    ids = db.session.execute(select(AuditEntry.id).order_by(AuditEntry.id)).scalars().all()
    assert ids == list(range(1, 2 + writers * per_writer))
    assert verify().ok


# ------------------------------------------------------------------ PostgreSQL refuses changes outright


@pytest.fixture
def pg(ctx):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL (set TEST_DATABASE_URL)")
    return ctx


@pytest.mark.parametrize("statement", ["UPDATE audit_entries SET reason = 'x' WHERE id = 1",
                                       "DELETE FROM audit_entries WHERE id = 1"])
def test_postgresql_refuses_update_and_delete_of_an_entry(pg, statement):
    _write(2)
    with pytest.raises(exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text(statement))
    assert db.session.execute(select(func.count()).select_from(AuditEntry)).scalar() == 2
    assert verify().ok


def test_postgresql_trigger_also_guards_orm_changes(pg):
    _write(1)
    entry = db.session.get(AuditEntry, 1)
    entry.reason = "改一下"
    with pytest.raises(exc.DBAPIError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEntry, 1).reason == ""


# ------------------------------------------------------------------ the migration seals an existing trail


def test_migration_seals_the_entries_already_there(app, tmp_path):
    import json
    import os
    import subprocess
    import sys

    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    env = {**os.environ, "DATABASE_URL": url, "CERTIFY_INSTANCE": str(tmp_path / "instance"),
           "EXAM_SWEEPER_ENABLED": "0"}

    def certify(*args):
        result = subprocess.run([sys.executable, "-m", "certify.cli", *args], env=env, capture_output=True,
                                text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stderr
        return result

    certify("db", "upgrade", "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        for i, at in ((3, "2024-05-01 09:00:00.000000"), (7, "2024-05-02 10:30:00.250000")):  # ids with a gap
            conn.execute(text("INSERT INTO audit_entries (id, at, actor_name, action, target_type, target_id, "
                              "reason, detail) VALUES (:id, :at, '秘书处', 'round.update', 'Round', '1', '', :d)"),
                         {"id": i, "at": at, "d": json.dumps({"n": i, "名称": "甲"})})
    certify("db", "upgrade")
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_entries ORDER BY id"))]
    for r in rows:
        r["detail"] = json.loads(r["detail"])
        r["at"] = datetime.fromisoformat(r["at"])
    assert rows[0]["prev_hash"] == ac.GENESIS and rows[1]["prev_hash"] == rows[0]["entry_hash"]
    assert ac.verify_chain(rows).ok
    result = subprocess.run([sys.executable, "-m", "certify.cli", "audit", "verify"], env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0 and "审计链完整（至第 7 条）" in result.stdout, result.stderr
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET reason = 'x' WHERE id = 3"))
    result = subprocess.run([sys.executable, "-m", "certify.cli", "audit", "verify"], env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode != 0 and "第 3 条记录的内容已被修改" in result.stderr
    engine.dispose()
