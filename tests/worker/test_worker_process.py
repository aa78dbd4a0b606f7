"""``certify worker`` as a real process against the suite's database: it claims a queued job, runs it to its
end, and stops cleanly on SIGTERM."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from certify.extensions import db
from certify.jobs import queue
from certify.jobs.models import FAILED, Job

ROOT = Path(__file__).resolve().parents[2]


def test_worker_process_runs_a_queued_job_and_stops_on_sigterm(app, ctx, database_url, tmp_path):
    job = queue.enqueue("defense.schedule", {"round_id": 987654})  # a round that no longer exists
    db.session.commit()
    env = {**os.environ, "DATABASE_URL": database_url, "CERTIFY_INSTANCE": str(tmp_path / "instance"),
           "EXAM_SWEEPER_ENABLED": "0", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "certify.cli", "worker"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        state = None
        while time.monotonic() < deadline and proc.poll() is None:
            db.session.expire_all()
            state = db.session.get(Job, job.id).state
            db.session.rollback()
            if state == FAILED:
                break
            time.sleep(0.3)
        assert state == FAILED, f"worker did not run the job: {state}"
        assert db.session.get(Job, job.id).message == "该轮次已不存在"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "后台进程已启动" in out and "后台进程已停止" in out
