"""bench record: real curves with test metrics kept apart; a killed record resumes to the same rows."""
import signal
import sqlite3
import subprocess
import sys

from tests.conftest import REPO


def _record(results, env=None):
    import os
    return subprocess.run([sys.executable, "-m", "bench", "record", "--profile", "smoke", "--configs", "2",
                           "--seed", "5", "--epochs", "4", "--chunk", "2", "--results", str(results), "--no-progress"],
                          cwd=REPO, env=dict(os.environ, **(env or {})), capture_output=True, text=True, timeout=300)


def _rows(results):
    db = sqlite3.connect(results / "results.db")
    ev = db.execute("SELECT job_id, epoch, train_loss, val_loss, val_miou, status FROM evaluations "
                    "ORDER BY job_id, epoch").fetchall()
    te = db.execute("SELECT job_id, epoch, test_loss, test_miou FROM curve_tests ORDER BY job_id, epoch").fetchall()
    jobs = db.execute("SELECT job_id, status, epochs_trained FROM jobs ORDER BY job_id").fetchall()
    return ev, te, jobs


def test_record_resumes_after_kills_to_the_same_curves(tmp_path, real_data):
    assert _record(tmp_path / "ref").returncode == 0
    want = _rows(tmp_path / "ref")
    assert len(want[0]) == len(want[1]) == 2 * 4 and want[2] == [(0, "ok", 4), (1, "ok", 4)]
    assert all(0 <= t[3] <= 1 for t in want[1])  # test mIoU per epoch, in its own table
    for at in (6, 13):  # SIGKILL inside a store write, mid-configuration
        assert _record(tmp_path / "rec", {"AERIAL_HPO_KILL_AT_WRITE": str(at)}).returncode == -signal.SIGKILL
    assert _record(tmp_path / "rec").returncode == 0
    assert _rows(tmp_path / "rec") == want
    assert not (tmp_path / "rec" / "checkpoints" / "c0").exists()
