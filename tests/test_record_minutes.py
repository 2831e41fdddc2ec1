"""bench record --minutes (issue 28): a time-boxed record stops at a chunk boundary with a consistent
store, and the same command resumes it to exactly the rows of an uninterrupted record."""
import itertools
import sqlite3

import pytest

from bench.loop.record import TimeBox, check_minutes, record
from tests.conftest import SMOKE_RECORD
from tests.test_record import _rows

ARGS = dict(profile="smoke", n_configs=2, seed=5, epochs=4, chunk=2, progress=False)
CLI = SMOKE_RECORD  # the same arguments on the command line


def _cli(cli, results, *extra):
    """``python -m bench record ...`` in a new process (forked by ``bench_cli``, see tests/clirun.py)."""
    return cli.run(["record", *CLI, "--results", results, *extra], timeout=600)


def test_time_box_expects_chunks_from_the_slowest_epoch():
    now = iter([100.0] * 10)
    box = TimeBox(deadline=110.0, clock=lambda: next(now))
    assert box.fits(3)  # nothing measured yet: any time left starts a chunk
    box.observe(4.0, 2)  # 2 s per epoch
    box.observe(1.0, 2)  # a faster chunk does not lower the estimate
    assert box.per_epoch == 2.0
    assert box.fits(4)  # 2 * 4 * 1.25 = 10 <= 10 s left
    assert not box.fits(5)
    assert TimeBox(None).fits(10 ** 6)
    assert check_minutes("2.5") == 2.5 and check_minutes(None) is None
    for bad in ("-1", "inf", "nan", 0):
        with pytest.raises(ValueError, match="--minutes expects a positive number of minutes"):
            check_minutes(bad)


def test_record_stopped_by_minutes_resumes_to_the_uninterrupted_rows(tmp_path, real_data, bench_cli, smoke_record):
    want = _rows(smoke_record)  # the uninterrupted record of the same arguments (python -m bench record ...)
    assert len(want[0]) == 8 and [j[1] for j in want[2]] == ["ok", "ok"]
    # a clock on which every look at it is 1000 s after the last, and a time box of 1500 s: the look before
    # job 0 (at 0 s) and before its first chunk (at 1000 s, nothing measured yet) find time left, the look
    # before its second chunk (at 2000 s) does not: the record stops after epochs 1-2 of job 0
    ticks = itertools.count(0.0, 1000.0)
    out = record(results=tmp_path / "rec", data=str(real_data), minutes=1500 / 60, started=0.0,
                 clock=lambda: next(ticks), **ARGS)
    assert out == tmp_path / "rec"
    ev, te, jobs = _rows(tmp_path / "rec")
    assert [(r[0], r[1]) for r in ev] == [(0, 1), (0, 2)] and [(r[0], r[1]) for r in te] == [(0, 1), (0, 2)]
    assert ev == want[0][:2] and te == want[1][:2]
    assert jobs == [(0, "asked", None)]  # unfinished, not failed
    assert sorted(p.name for p in (tmp_path / "rec" / "checkpoints" / "j0").iterdir()) == ["e2.pt"]
    db = sqlite3.connect(tmp_path / "rec" / "results.db")
    assert db.execute("SELECT status FROM runs").fetchall() == [("running",)]  # not done: bench status says interrupted
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()
    res = _cli(bench_cli, tmp_path / "rec", "--data", str(real_data), "--minutes", "30")  # the same command, given the time it needs
    assert res.returncode == 0, res.stderr[-2000:]
    assert _rows(tmp_path / "rec") == want
    db = sqlite3.connect(tmp_path / "rec" / "results.db")
    assert db.execute("SELECT status FROM runs").fetchall() == [("done",)]


def test_minutes_on_workers_stops_before_a_chunk_that_cannot_fit_and_bad_minutes_is_one_line(tmp_path, real_data, bench_cli):
    res = _cli(bench_cli, tmp_path / "w", "--data", str(real_data), "--workers", "2", "--minutes", "0.0001")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "stopped at a chunk boundary" in res.stderr
    ev, te, jobs = _rows(tmp_path / "w")
    assert ev == [] and te == [] and jobs == []  # the time was up before the first job could start
    for bad in ("0", "soon"):
        res = _cli(bench_cli, tmp_path / "bad", "--data", str(real_data), "--minutes", bad)
        err = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(err) == 1 and err[0] == f"error: --minutes expects a positive number of minutes, got {bad!r}"
