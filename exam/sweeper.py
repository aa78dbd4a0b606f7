"""The background sweeper: closes and grades overdue attempts (auto-submitted) even when no browser is open,
and records never-started candidates absent once a session has closed.

One daemon thread per process, each tick in its own app context. Safe with several processes: attempts and
sessions are claimed with ``UPDATE … WHERE state = 'in_progress' AND deadline_at < cutoff`` (and
``absentees_recorded_at IS NULL``), so each is closed by exactly one process.
"""
from __future__ import annotations

import threading

from certify.extensions import db

_started: set[int] = set()
_lock = threading.Lock()


def sweep_once(app) -> dict:
    from . import operations as ops

    with app.app_context():
        try:
            result = ops.sweep()
            db.session.commit()
            return result
        except Exception:
            db.session.rollback()
            raise
        finally:
            db.session.remove()


def _loop(app, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        try:
            result = sweep_once(app)
            if result["closed"] or result["absent"]:
                app.logger.info("exam sweep: closed %d attempts, absentees %s", len(result["closed"]),
                                result["absent"])
        except Exception:  # keep sweeping; the next tick retries
            app.logger.exception("exam sweep failed")


def start_sweeper(app) -> threading.Event | None:
    """Start the sweeper thread for this app once (EXAM_SWEEPER_ENABLED, every EXAM_SWEEP_INTERVAL_SECONDS)."""
    if not app.config.get("EXAM_SWEEPER_ENABLED"):
        return None
    with _lock:
        if id(app) in _started:
            return None
        _started.add(id(app))
    stop = threading.Event()
    interval = max(1, int(app.config.get("EXAM_SWEEP_INTERVAL_SECONDS", 5)))
    thread = threading.Thread(target=_loop, args=(app, interval, stop), name="exam-sweeper", daemon=True)
    thread.start()
    app.extensions["exam_sweeper_stop"] = stop
    return stop
