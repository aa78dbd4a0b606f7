"""Benchmark: importing a roster of N candidates and issuing their admission-slip one-time passwords.

    .venv/bin/python bench/slip_passwords.py [--candidates 5000] [--database-url URL]

Prints the hash cost per method (generated one-time passwords vs. chosen passwords), then the wall time of
``import_rows`` (accounts without a password yet) and of ``accounts.issue_slip_passwords`` for the whole round,
each followed by its commit. The database is created empty for the run: use one you can throw away.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=5000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    os.environ.setdefault("CERTIFY_INSTANCE", tmp)

    from certify import create_app
    from certify.config import normalise_database_url
    from certify.services.passwords import GENERATED_BITS, measure

    for method, ms in measure().items():
        print(f"{method:<22} {ms['hash_ms']:8.2f} ms per hash (median) · {args.candidates} accounts: "
              f"{ms['hash_ms'] * args.candidates / 1000:7.1f} s")
    print(f"generated one-time passwords: {GENERATED_BITS:.1f} bits")

    url = normalise_database_url(args.database_url or f"sqlite:///{tmp}/bench.db")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "EXAM_SWEEPER_ENABLED": False})
    with app.app_context():
        from certify import uow
        from certify.accounts import issue_slip_passwords
        from certify.extensions import db
        from certify.models import Candidate
        from certify.roster import import_rows
        from certify.rounds import create_round
        from certify.services.roster_rules import make_id_number

        db.drop_all()
        db.create_all()
        rnd = create_round("bench-cq", "重庆", 2025)
        uow.commit()
        rows = []
        for i in range(args.candidates):
            id_number = make_id_number("500103", date(1970 + i % 30, 1 + i % 12, 1 + i % 28), i % 1000)
            rows.append((i + 2, {"id_number": id_number, "name": f"考生{i}", "work_unit": f"单位{i % 50}",
                                 "district": "渝中区", "level": "初级" if i % 2 else "中级", "phone": "",
                                 "ticket": ""}))
        # make_id_number's serial wraps: keep rows whose id is unique
        seen, unique = set(), []
        for _, v in rows:
            if v["id_number"] not in seen:
                seen.add(v["id_number"])
                unique.append((len(unique) + 2, v))
        start = time.perf_counter()
        import_rows(rnd, unique, file="bench.csv")
        uow.commit()
        imported = time.perf_counter() - start
        from sqlalchemy.orm import selectinload

        people = db.session.execute(db.select(Candidate).where(Candidate.round_id == rnd.id)
                                    .options(selectinload(Candidate.user))).scalars().all()  # as the slip page does
        start = time.perf_counter()
        issued = issue_slip_passwords(rnd, people)
        uow.commit()
        issuing = time.perf_counter() - start
        print(f"import of {len(unique)} candidates (no password yet): {imported:.1f} s")
        print(f"slip batch, {len(issued)} one-time passwords issued and committed: {issuing:.1f} s")
        print(f"database: {db.engine.dialect.name}; cores: {os.cpu_count()}; load: {os.getloadavg()[0]:.2f}")
        db.drop_all()


if __name__ == "__main__":
    main()
