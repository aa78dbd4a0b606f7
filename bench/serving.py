"""Benchmark: which gunicorn worker serves the platform best, on the real answer-save path with Socket.IO held.

    .venv/bin/python bench/serving.py [--database-url URL] [--runs 5] [--clients 16] [--sockets 200] [--seconds 6]

For each server configuration (gunicorn -c python:certify.gunicorn_conf certify.wsgi:app, one worker process):
  gevent          -k gevent, worker_connections 1000, DB pool 18 (pip install .[gevent])
  gthread-16      -k gthread --threads 16 (the same request concurrency as the gevent pool)
  gthread-256     -k gthread --threads 256 (enough threads to hold every Socket.IO connection)
the script logs demo-like candidates in once (cookies stay valid across servers: one SECRET_KEY), then per run:
  A. saves: --clients threads, each a candidate PUTting answers for --seconds (CSRF on, like the browser)
  B. the same while --sockets candidates hold a websocket Socket.IO connection to /exam (joined to their attempt
     room, so every save also emits to a live room): connect time, connections refused, save throughput.
It prints the median of --runs runs per figure, the ratios gevent : gthread, the worker's memory, the command
lines, the core count and the load average before and after. The database is rebuilt for the run (tables
dropped first): use one you can throw away (SQLite in a temp dir by default).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SECRET = "bench-serving-secret-key-0123456789abcdef"
CONFIGS = {
    "gevent": {"WEB_WORKER_CLASS": "gevent", "WEB_THREADS": "16"},
    "gthread-16": {"WEB_WORKER_CLASS": "gthread", "WEB_THREADS": "16"},
    "gthread-256": {"WEB_WORKER_CLASS": "gthread", "WEB_THREADS": "256", "DB_POOL_SIZE": "18"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    values = sorted(values)
    return values[max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))] if values else float("nan")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def worker_rss_mb(master_pid: int) -> float:
    try:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
        total = 0
        for pid in children:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024
    except OSError:
        return float("nan")


class Server:
    def __init__(self, name: str, env_extra: dict, database_url: str, instance: str, log_dir: Path):
        self.port = free_port()
        self.env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": SECRET, "CERTIFY_INSTANCE": instance,
                    "EXAM_SWEEPER_ENABLED": "0", "BIND": f"127.0.0.1:{self.port}", "PYTHONPATH": str(ROOT),
                    "LOGIN_RATE_LIMIT": "100000 per minute", "CERTIFY_SECURE_COOKIES": "0", "CERTIFY_HSTS": "0",
                    "EXAM_SAVE_RATE_LIMIT": "1000000 per minute",  # saves in a tight loop; the limiter's cost stays
                    **env_extra}
        self.env.pop("REDIS_URL", None)
        self.cmd = [sys.executable, "-m", "gunicorn", "-c", "python:certify.gunicorn_conf", "certify.wsgi:app"]
        self.name = name
        self.log = open(log_dir / f"{name}.log", "w")

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        import requests

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name}: server exited, see {self.log.name}")
            time.sleep(0.3)
        raise SystemExit(f"{self.name}: server did not answer /healthz")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def command_line(self) -> str:
        keys = [k for k in ("WEB_WORKER_CLASS", "WEB_THREADS", "DB_POOL_SIZE") if k in self.env]
        return (" ".join(f"{k}={self.env[k]}" for k in keys)
                + " gunicorn -c python:certify.gunicorn_conf certify.wsgi:app")


def login_all(base: str, session_id: int, tickets: list[str]) -> list[dict]:
    """Log each candidate in and start the attempt once; the cookies and tokens are reused by every server."""
    import requests
    from exam_save import PASSWORD

    out = []
    for ticket in tickets:
        http = requests.Session()
        r = http.post(f"{base}/api/login", json={"username": ticket, "password": PASSWORD})
        r.raise_for_status()
        csrf = r.json()["csrf_token"]
        body = http.post(f"{base}/api/exam/sessions/{session_id}/attempt", headers={"X-CSRFToken": csrf}).json()
        out.append({"cookies": http.cookies.get_dict(), "csrf": csrf, "attempt": body["attempt_id"],
                    "token": body["client_token"], "seq": body["last_seq"], "items": body["items"]})
    return out


def save_load(base: str, cands: list[dict], seconds: float) -> dict:
    import requests

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = threading.Barrier(len(cands) + 1)
    stop_at = [0.0]

    def worker(c):
        http = requests.Session()
        http.cookies.update(c["cookies"])
        rng = random.Random(c["attempt"])
        headers = {"X-Attempt-Token": c["token"], "X-CSRFToken": c["csrf"]}
        mine, bad = [], 0
        start.wait()
        while time.perf_counter() < stop_at[0]:
            item = rng.choice(c["items"])
            c["seq"] += 1
            t0 = time.perf_counter()
            try:
                resp = http.put(f"{base}/api/exam/attempts/{c['attempt']}/answers/{item['position']}",
                                json={"response": [item["options"][0]["id"]], "seq": c["seq"]}, headers=headers,
                                timeout=5)
                ok = resp.status_code == 200
            except requests.RequestException:
                ok = False
            mine.append(time.perf_counter() - t0)
            bad += not ok
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker, args=(c,)) for c in cands]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    start.wait()
    for t in threads:
        t.join()
    return {"saves_per_s": len(latencies) / seconds, "median_ms": statistics.median(latencies) * 1000,
            "p95_ms": pct(latencies, 95) * 1000, "errors": errors[0]}


def hold_sockets(base: str, cands: list[dict], connect_timeout: float = 3.0):
    """Open one websocket Socket.IO connection per candidate to /exam and join its attempt room (engine.io v4
    frames spoken directly, so the client side costs no threads). Returns (open sockets, connect times, failures)."""
    import websocket

    url = base.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    opened, times, failures = [], [], 0
    lock = threading.Lock()

    def connect(c):
        nonlocal failures
        cookie = "; ".join(f"{k}={v}" for k, v in c["cookies"].items())
        t0 = time.perf_counter()
        try:
            ws = websocket.create_connection(url, timeout=connect_timeout, cookie=cookie,
                                             origin=base)
            assert ws.recv().startswith("0")  # engine.io open
            ws.send("40/exam," + json.dumps({"csrf_token": c["csrf"]}))  # connect auth: the page's CSRF token
            assert ws.recv().startswith("40/exam,")  # namespace connected (authenticated)
            ws.send(f'42/exam,1["join_attempt",{{"attempt_id":{c["attempt"]:d}}}]')
            reply = ws.recv()
            while not reply.startswith("43/exam,1"):
                reply = ws.recv()
            assert '"ok":true' in reply.replace(" ", ""), reply
            with lock:
                opened.append(ws)
                times.append(time.perf_counter() - t0)
        except Exception:
            with lock:
                failures += 1

    # 16 connecting at a time, like a room of browsers arriving
    pending = list(cands)
    while pending:
        batch, pending = pending[:16], pending[16:]
        ts = [threading.Thread(target=connect, args=(c,)) for c in batch]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    return opened, times, failures


def close_all(sockets) -> None:
    for ws in sockets:
        try:
            ws.close()
        except Exception:
            pass


def run_config(name, env_extra, args, url, instance, log_dir, cands_save, cands_sock):
    runs = []
    with Server(name, env_extra, url, instance, log_dir) as server:
        save_load(server.base, cands_save[:4], 1.0)  # warm-up
        for _ in range(args.runs):
            a = save_load(server.base, cands_save, args.seconds)
            t0 = time.perf_counter()
            held, times, failures = hold_sockets(server.base, cands_sock)
            connect_all_s = time.perf_counter() - t0
            b = save_load(server.base, cands_save, args.seconds)
            rss = worker_rss_mb(server.proc.pid)
            close_all(held)
            time.sleep(1.0)
            runs.append({"a": a, "b": b, "held": len(held), "refused": failures, "connect_all_s": connect_all_s,
                         "connect_median_ms": statistics.median(times) * 1000 if times else float("nan"),
                         "rss_mb": rss})
        command = server.command_line()
    return command, runs


def med(runs, *path):
    values = []
    for r in runs:
        v = r
        for key in path:
            v = v[key]
        values.append(v)
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--raw", action="store_true", help="also print every run as JSON")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    url = args.database_url or f"sqlite:///{tmp / 'serving.db'}"
    instance = str(tmp / "instance")
    os.environ["CERTIFY_INSTANCE"] = instance
    from exam_save import build, make_app

    app = make_app(url)
    session_id, tickets = build(app, args.clients + args.sockets)
    with app.app_context():
        from certify.extensions import db

        db.session.remove()
        db.engine.dispose()

    load_before = loadavg()
    # log everyone in once, on the first configuration's server (cookies are signed with the shared SECRET)
    first = args.configs.split(",")[0]
    with Server(f"{first}-login", CONFIGS[first], url, instance, tmp) as server:
        cands = login_all(server.base, session_id, tickets)
    cands_save, cands_sock = cands[: args.clients], cands[args.clients:]

    results = {}
    for name in args.configs.split(","):
        results[name] = run_config(name, CONFIGS[name], args, url, instance, tmp, cands_save, cands_sock)
    load_after = loadavg()

    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite (WAL)"
    print(f"bench/serving.py — {backend}, {os.cpu_count()} cores, load average before {load_before}, "
          f"after {load_after}; median of {args.runs} runs; {args.clients} saving clients × {args.seconds:.0f} s; "
          f"{args.sockets} held /exam websocket connections")
    print(f"{'config':<12} {'saves/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'err':>4} | with sockets held: "
          f"{'held':>5} {'refused':>7} {'conn p50 ms':>11} {'all s':>6} {'saves/s':>8} {'p95 ms':>7} {'err':>4} "
          f"{'RSS MB':>7}")
    for name, (_command, runs) in results.items():
        print(f"{name:<12} {med(runs, 'a', 'saves_per_s'):>8.0f} {med(runs, 'a', 'median_ms'):>7.1f} "
              f"{med(runs, 'a', 'p95_ms'):>7.1f} {med(runs, 'a', 'errors'):>4.0f} | {'':>18} "
              f"{med(runs, 'held'):>5.0f} {med(runs, 'refused'):>7.0f} {med(runs, 'connect_median_ms'):>11.1f} "
              f"{med(runs, 'connect_all_s'):>6.1f} {med(runs, 'b', 'saves_per_s'):>8.0f} "
              f"{med(runs, 'b', 'p95_ms'):>7.1f} {med(runs, 'b', 'errors'):>4.0f} {med(runs, 'rss_mb'):>7.0f}")
    if "gevent" in results:
        g = results["gevent"][1]
        for other in (n for n in results if n != "gevent"):
            o = results[other][1]
            print(f"ratio gevent : {other}: saves/s {med(g, 'a', 'saves_per_s') / med(o, 'a', 'saves_per_s'):.2f}"
                  f" · saves/s with sockets held "
                  f"{med(g, 'b', 'saves_per_s') / max(med(o, 'b', 'saves_per_s'), 1e-9):.2f}"
                  f" · held connections {med(g, 'held') / max(med(o, 'held'), 1):.2f}"
                  f" · worker RSS {med(g, 'rss_mb') / med(o, 'rss_mb'):.2f}")
    for name, (command, _runs) in results.items():
        print(f"command [{name}]: {command}")
    if args.raw:
        print(json.dumps({n: r for n, (_c, r) in results.items()}, default=str))


if __name__ == "__main__":
    main()
