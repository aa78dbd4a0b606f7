"""Benchmark: server CPU per login, in-process (Flask test client, no network), by kind of account.

    .venv/bin/python bench/login_cpu.py [--runs 5] [--logins 100] [--scrypt-logins 20] [--database-url URL]

Kinds: ``one-time`` (a candidate's generated slip password: the light KDF), ``chosen`` (a candidate who chose a
password: scrypt) and ``unknown`` (a username that does not exist). Each run makes that many ``POST /api/login``
from fresh clients (no trusted-device cookie) and divides the process CPU time (``time.process_time``: every thread)
by the number of logins; the median of the runs is printed with the spread. Works on any revision of the project
that has ``/api/login`` (to compare before/after: run it with ``PYTHONPATH`` pointing at the other checkout).
The database is created empty for the run: use one you can throw away (default: a temporary SQLite file).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--logins", type=int, default=100, help="logins per run for one-time passwords")
    parser.add_argument("--scrypt-logins", type=int, default=20, help="logins per run for chosen and unknown")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    os.environ.setdefault("CERTIFY_INSTANCE", tmp)

    import certify
    from certify import create_app
    from certify.config import normalise_database_url

    url = normalise_database_url(args.database_url or f"sqlite:///{tmp}/bench.db")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "EXAM_SWEEPER_ENABLED": False, "WTF_CSRF_ENABLED": False,
                      "LOGIN_RATE_LIMIT": "1000000 per minute", "NOTICE_DELIVERY_ENABLED": False,
                      "LOG_LEVEL": "WARNING"})
    print(f"code: {Path(certify.__file__).resolve().parents[1]}  database: {url.split('://')[0]}")
    most = max(args.logins, args.scrypt_logins)
    with app.app_context():
        from certify import accounts, uow
        from certify.extensions import db
        from certify.models import User

        db.drop_all()
        db.create_all()
        one_time, chosen = {}, {}
        for i in range(most):
            user, _ = accounts.create_user(f"T{i:06d}", "candidate", issue=False)
            one_time[user.username] = accounts.reset_password(user)
        uow.commit()
        for i in range(args.scrypt_logins):
            user, password = accounts.create_user(f"C{i:06d}", "candidate", password=f"quiet-river-{i:04d}-x")
            chosen[user.username] = password
        uow.commit()
        methods = {name: db.session.execute(db.select(User.password_hash).filter_by(username=name)).scalar()
                   .split("$")[0] for name in (next(iter(one_time)), next(iter(chosen)))}
        print("stored hash methods:", methods)
        db.session.remove()

    def login_cpu(pairs: list[tuple[str, str]], expect: int) -> float:
        start = time.process_time()
        for username, password in pairs:
            resp = app.test_client().post("/api/login", json={"username": username, "password": password})
            assert resp.status_code == expect, (resp.status_code, resp.get_data(as_text=True)[:200])
        return (time.process_time() - start) / len(pairs) * 1000

    kinds = {
        "one-time": (list(one_time.items())[:args.logins], 200),
        "chosen": (list(chosen.items()), 200),
        "unknown": ([(f"nobody{i}", "quiet-river-0000-x") for i in range(args.scrypt_logins)], 401),
    }
    login_cpu(kinds["one-time"][0][:5], 200)  # warm-up: imports, templates, the login gate's dummy hash
    login_cpu(kinds["unknown"][0][:1], 401)
    for kind, (pairs, expect) in kinds.items():
        per_run = [login_cpu(pairs, expect) for _ in range(args.runs)]
        print(f"{kind:<9} {len(pairs):4d} logins x {args.runs} runs: CPU per login median "
              f"{statistics.median(per_run):8.2f} ms (runs: {', '.join(f'{x:.2f}' for x in per_run)})")


if __name__ == "__main__":
    main()
