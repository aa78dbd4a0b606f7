"""Benchmark: the 2-second rule. Every secretariat / supervisor page of a 5,000-candidate round, and the POSTs that
start the long work, timed through the real app.

    .venv/bin/python bench/request_times.py --candidates 5000 --repeat 3 [--database-url postgresql://…/bench]

Set-up (tables dropped first: use a database you can throw away; default a SQLite file in a temporary folder): the
data set of ``bench/load.py`` (a round, one 60-item paper per candidate, one open session, bulk inserts), then, also
in bulk, every candidate's submitted and graded attempt, their three component scores, 25 defense panels with one
day, a defense slot and a defense case each, and one finished job. Then through Flask's test client (the whole
request: routing, access, unit of work, template; no network) as the secretariat and as the supervisor:

- every GET rule of the app that the secretariat or the supervisor may open (``allowed_roles``), its arguments
  filled with the data set's ids, ``?round=`` and ``?level=`` set; each run ``--repeat`` times;
- the POSTs that start long work: 确认并冻结 of the 5,000-candidate level, each whole-round export's "generate"
  button, the scheduler, the session's paper generation, a 5,000-row roster upload (staged for confirmation).

Per route: the status, the median and max wall time, and how many requests took over 2 s. Exits 1 when any counted
request took over 2 s. ``--inline`` also times each whole-round export built inside the request (the export job
threshold out of the way): the figure the job avoids, printed but not counted.
"""
from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from common import header, report
from load import PASSWORD, build_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
LIMIT_S = 2.0


def enrich(app, session_id: int, n_panels: int = 25) -> dict:
    """Attempts, component scores, defense panels, slots and cases for every candidate, in bulk; two staff users."""
    from sqlalchemy import insert, select

    from certify.accounts import create_user
    from certify.clock import utcnow
    from certify.extensions import db
    from certify.models import Candidate, ComponentScore, Round
    from defense.models import DefenseAssignment, DefenseDay, Panel
    from defense.scoring.models import DefenseCase
    from exam.models import Attempt, SessionCandidate

    rng = random.Random(5)
    with app.app_context():
        rnd = db.session.execute(select(Round)).scalars().first()
        now = utcnow()
        assigns = db.session.execute(select(SessionCandidate.candidate_id, SessionCandidate.paper_id)
                                     .where(SessionCandidate.session_id == session_id)).all()
        attempts, scores = [], []
        for cand_id, paper_id in assigns:
            exam = Decimal(rng.randint(3000, 10000)) / 100
            attempts.append({"session_id": session_id, "candidate_id": cand_id, "paper_id": paper_id,
                             "state": "submitted", "started_at": now - timedelta(hours=2),
                             "deadline_at": now - timedelta(hours=1), "submitted_at": now - timedelta(hours=1),
                             "answered_count": 60, "score": exam, "graded_at": now - timedelta(minutes=50)})
            for component, value in (("exam", exam), ("defense", Decimal(rng.randint(50, 100))),
                                     ("record", Decimal(rng.randint(40, 100)))):
                scores.append({"candidate_id": cand_id, "component": component, "score": value,
                               "status": "scored", "source": "bench"})
        for model, rows in ((Attempt, attempts), (ComponentScore, scores)):
            for i in range(0, len(rows), 5000):
                db.session.execute(insert(model), rows[i:i + 5000])
        day = DefenseDay(round_id=rnd.id, day=(now + timedelta(days=7)).date())
        panels = [Panel(round_id=rnd.id, name=f"第{p + 1}组", room=f"{p + 1}01") for p in range(n_panels)]
        db.session.add_all([day, *panels])
        db.session.flush()
        cands = db.session.execute(select(Candidate.id).where(Candidate.round_id == rnd.id)
                                   .order_by(Candidate.id)).scalars().all()
        rows = []
        for i, cand_id in enumerate(cands):
            start = now + timedelta(days=7, minutes=20 * (i // n_panels))
            rows.append({"round_id": rnd.id, "candidate_id": cand_id, "panel_id": panels[i % n_panels].id,
                         "start_at": start, "end_at": start + timedelta(minutes=20), "queue_position": i // n_panels})
        db.session.execute(insert(DefenseAssignment), rows)
        ids = dict(db.session.execute(select(DefenseAssignment.candidate_id, DefenseAssignment.id)).all())
        db.session.execute(insert(DefenseCase), [
            {"round_id": rnd.id, "assignment_id": ids[r["candidate_id"]], "candidate_id": r["candidate_id"],
             "panel_id": r["panel_id"], "queue_order": r["queue_position"]} for r in rows])
        staff = {}
        for role in ("secretariat", "supervisor"):
            user, _ = create_user(f"bench-{role}", role, password=PASSWORD, generated=False)
            user.must_change_password = False
            db.session.flush()
            staff[role] = user.id
        db.session.commit()
        out = {"round_code": rnd.code, "round_id": rnd.id, "panel_id": panels[0].id, "session_id": session_id,
               "candidate_id": cands[0], "staff": staff,
               "case_id": db.session.execute(select(DefenseCase.id).order_by(DefenseCase.id)).scalars().first()}
        db.session.remove()
    return out


def fill(rule, data: dict, job_id: int | None) -> list[str]:
    """The rule's URLs with the data set's ids (every value of an ``any(...)`` part: both formats of an export),
    or [] for a rule this benchmark cannot fill meaningfully."""
    from itertools import product

    from werkzeug.routing import AnyConverter

    values: dict[str, list] = {}
    fixed = {"code": data["round_code"], "round_code": data["round_code"], "rnd": data["round_code"],
             "fmt": "xlsx", "format": "xlsx", "ext": "xlsx", "session_id": data["session_id"],
             "panel_id": data["panel_id"], "case_id": data["case_id"], "candidate_id": data["candidate_id"],
             "round_id": data["round_id"], "job_id": job_id}
    for name, converter in rule._converters.items():
        if isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)
        elif fixed.get(name) is not None:
            values[name] = [fixed[name]]
        else:
            return []  # an id of something the data set does not have (a blueprint, an item, an account …)
    names = list(values)
    return [rule.build(dict(zip(names, combo)), append_unknown=False)[1] for combo in product(*values.values())]


def timed(client, method: str, url: str, **kwargs) -> tuple[int, float]:
    start = time.perf_counter()
    resp = client.open(url, method=method, **kwargs)
    resp.get_data()
    return resp.status_code, time.perf_counter() - start


def roster_csv(rows: int) -> bytes:
    """A valid roster file of ``rows`` new candidates (bench/roster_import.py's generator)."""
    from roster_import import generate

    path = Path(tempfile.mkdtemp(prefix="bench-roster-")) / "roster.csv"
    generate(path, rows)
    return path.read_bytes()


class Timings:
    """Each route's statuses and wall times; prints a line per route as it goes."""

    def __init__(self, repeat: int):
        self.repeat = repeat
        self.rows: list[tuple[str, str, str, list[int], list[float], bool]] = []

    def measure(self, client, role: str, method: str, path: str, counted: bool = True, repeat: int | None = None,
                **kwargs) -> None:
        statuses, times = [], []
        for _ in range(repeat or self.repeat):
            status, seconds = timed(client, method, path, **kwargs)
            statuses.append(status)
            times.append(seconds)
        self.rows.append((role, method, path, statuses, times, counted))
        flag = " OVER" if max(times) > LIMIT_S and counted else ""
        print(f"{role:<11} {method:<4} {path:<70} {statuses[-1]} median {statistics.median(times):.3f}"
              f" max {max(times):.3f}{flag}", flush=True)


def staff_clients(app, data: dict) -> dict:
    from certify.extensions import db
    from certify.models import User

    clients = {}
    for role in ("secretariat", "supervisor"):
        c = app.test_client()
        with c.session_transaction() as sess:
            with app.app_context():
                sess["_user_id"] = db.session.get(User, data["staff"][role]).get_id()
            sess["_fresh"] = True
        clients[role] = c
    return clients


def start_long_work(t: Timings, sec, data: dict, candidates: int) -> None:
    """The POSTs that start long work, once each (their jobs are then there for /jobs/<id>)."""
    code = data["round_code"]
    t.measure(sec, "secretariat", "POST", f"/results/{code}/confirm", repeat=1,
              data={"level": "初级", "ratio": "0.3", "min_total": "", "acknowledge": "y", "reason": "基准"})
    for name, form in (("results.results", {"p_masked": "0"}), ("results.publicity", {}),
                       ("exam.round", {"p_full": "1"}), ("defense.scores", {"p_full": "1"}),
                       ("defense.schedule", {})):
        t.measure(sec, "secretariat", "POST", f"/exports/{code}/{name}.xlsx", repeat=1, data=form)
    t.measure(sec, "secretariat", "POST", f"/defense/admin/{code}/schedule/run", repeat=1)
    t.measure(sec, "secretariat", "POST", f"/exam/admin/sessions/{data['session_id']}/papers", repeat=1,
              data={"acknowledge": "y", "reason": "基准"})
    t.measure(sec, "secretariat", "POST", f"/rounds/{code}/roster", repeat=1,
              data={"file": (io.BytesIO(roster_csv(candidates)), "名单.csv")}, content_type="multipart/form-data")


def staff_pages(app, data: dict) -> list[tuple[str, str]]:
    """(role, url) of every GET rule the secretariat or the supervisor may open, filled with the data set's ids."""
    from sqlalchemy import select

    from certify.access import allowed_roles
    from certify.extensions import db
    from certify.jobs.models import Job

    code = data["round_code"]
    with app.app_context():
        job_id = db.session.execute(select(Job.id).order_by(Job.id)).scalars().first()
        rules = sorted((r for r in app.url_map.iter_rules() if r.endpoint != "static"
                        and not r.endpoint.endswith(".static") and "GET" in r.methods), key=lambda r: r.rule)
        plan = []
        for rule in rules:
            roles = allowed_roles(app.view_functions[rule.endpoint]) or frozenset()
            for path in fill(rule, data, job_id):
                if path.startswith("/api/"):
                    continue
                query = f"?round={code}&level=初级&ratio=0.3"
                plan.extend((role, path + query) for role in ("secretariat", "supervisor") if role in roles)
        db.session.remove()
    return plan


def run_jobs(app) -> list[str]:
    """The queued export and results jobs, run as the worker runs them (timed, not counted: no request waits for
    them); the scheduler and paper jobs are cancelled. Returns the stored files' tokens."""
    from sqlalchemy import select

    from certify import export_job
    from certify.extensions import db
    from certify.jobs import queue
    from certify.jobs.models import QUEUED, Job

    tokens = []
    with app.app_context():
        for job in db.session.execute(select(Job).where(Job.state == QUEUED).order_by(Job.id)).scalars().all():
            if job.kind not in (export_job.KIND, "results.confirm"):
                queue.request_cancel(job)
        db.session.commit()
        while True:
            start = time.perf_counter()
            job_id = queue.run_next(name="bench")
            if job_id is None:
                break
            job = db.session.get(Job, job_id)
            db.session.refresh(job)
            print(f"worker      JOB  {job.title:<66} {job.state} {time.perf_counter() - start:.3f} s", flush=True)
            if job.kind == export_job.KIND and job.state == "succeeded":
                tokens.append(job.args["token"])
        db.session.remove()
    return tokens


def summarise(t: Timings, database: str, candidates: int) -> int:
    over = [(role, method, path, times) for role, method, path, _s, times, counted in t.rows
            if counted and max(times) > LIMIT_S]
    errors = [(role, method, path, s) for role, method, path, s, _t, _c in t.rows if any(x >= 500 for x in s)]
    print(f"\n# {len(t.rows)} routes timed ({sum(len(r[4]) for r in t.rows)} requests); over {LIMIT_S} s: {len(over)}")
    for role, method, path, times in sorted(over, key=lambda o: -max(o[3])):
        print(f"#   OVER {role} {method} {path}: median {statistics.median(times):.2f} s, max {max(times):.2f} s, "
              f"{sum(1 for x in times if x > LIMIT_S)}/{len(times)} over")
    for role, method, path, statuses in errors:
        print(f"#   ERROR {role} {method} {path}: {statuses}")
    counted = [x for r in t.rows if r[5] for x in r[4]]
    report({"requests_over_2s": (sum(1 for x in counted if x > LIMIT_S), "requests", "lower"),
            "routes_over_2s": (len(over), "routes", "lower"),
            "slowest_request_s": (round(max(counted), 3), "s", "lower"),
            "median_request_s": (round(statistics.median(counted), 4), "s", "lower")},
           modes={"database": database, "candidates": candidates, "client": "flask test client"}, runs=t.repeat)
    return 1 if over or errors else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--inline", action="store_true", help="also time the exports built inside the request")
    parser.add_argument("--only", default=None, metavar="REGEX",
                        help="time only the GET pages whose path matches REGEX (no POSTs, no jobs)")
    args = parser.parse_args()
    header()
    tmp = tempfile.mkdtemp(prefix="bench-request-times-")
    os.environ["CERTIFY_INSTANCE"] = tmp
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    t0 = time.perf_counter()
    built = build_dataset(url, args.candidates, hash_method="pbkdf2:sha256:1")

    from certify import create_app
    from certify.config import normalise_database_url

    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(url), "EXAM_SWEEPER_ENABLED": False,
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    data = enrich(app, built["session_id"])
    database = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    print(f"# data set: {args.candidates} candidates, built in {time.perf_counter() - t0:.1f} s; database {database}")
    t = Timings(args.repeat)
    clients = staff_clients(app, data)
    sec = clients["secretariat"]
    if args.only:  # one page's before/after: just the matching GETs
        import re
        pages = [(role, path) for role, path in staff_pages(app, data) if re.search(args.only, path)]
        for role, path in pages:
            t.measure(clients[role], role, "GET", path)
        raise SystemExit(summarise(t, database, args.candidates) if pages else 2)
    start_long_work(t, sec, data, args.candidates)
    for role, path in staff_pages(app, data):
        t.measure(clients[role], role, "GET", path)
    for token in run_jobs(app):
        t.measure(sec, "secretariat", "GET", f"/exports/file/{token}")
    if args.inline:  # the exports built inside the request, as below the threshold: printed, not counted
        app.config["EXPORT_JOB_MIN_CANDIDATES"] = 10 ** 9
        code = data["round_code"]
        for path in (f"/results/{code}/export/results.xlsx", f"/results/{code}/export/results.csv",
                     f"/exam/admin/rounds/{code}/export.xlsx", f"/defense/export/{code}.xlsx",
                     f"/defense/admin/{code}/schedule.xlsx"):
            t.measure(sec, "inline", "GET", path, counted=False, repeat=1)
    raise SystemExit(summarise(t, database, args.candidates))


if __name__ == "__main__":
    main()
