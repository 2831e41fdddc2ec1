"""Process-parallel replayed sweeps (``bench run SUITE --processes P``, bench/loop/sweep.py): the same
rows as the one-process runner, whole runs only, resumable after a kill."""
import os
import signal
import subprocess
import sys

import pytest

from bench.instruments.crashtest import compare, snapshot
from bench.storage.store import read_store
from tests.conftest import REPO

SUITE = """
profile = "cpu"
backend = "replay"
curves = "results/curves/cpu-seed0.csv"
max_budget = 9
budgets = [2, 3]
seeds = [0, 1]
[[methods]]
label = "hb"
method = "hyperband"
params = { eta = 3 }
[[methods]]
label = "sh-n27"
method = "successive-halving"
params = { n = 27, eta = 3, bracket_budget = "$B" }
[[methods]]
label = "skopt"
method = "skopt-gp"
params = { n_initial = 2, n_points = 100 }
"""


def bench(cli, *argv, env=None):
    """``python -m bench ARGV`` in a new process (forked by ``bench_cli``, see tests/clirun.py)."""
    return cli.run(argv, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, timeout=600)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, bench_cli):
    """The suite run by the one-process runner: (suite file, its store)."""
    tmp = tmp_path_factory.mktemp("sweep")
    suite = tmp / "par.toml"
    suite.write_text(SUITE)
    one = bench(bench_cli, "run", str(suite), "--results", str(tmp / "one"), "--no-progress")
    assert one.returncode == 0, one.stderr
    return suite, tmp / "one" / "results.db"


def test_processes_store_the_rows_of_the_one_process_runner(tmp_path, reference, bench_cli):
    suite, ref_db = reference
    two = bench(bench_cli, "run", str(suite), "--results", str(tmp_path / "two"), "--no-progress", "--processes", "2")
    assert two.returncode == 0, two.stderr
    diff = compare(snapshot(ref_db), snapshot(tmp_path / "two" / "results.db"))
    assert diff["rows"] > 100 and diff["lost"] == diff["doubled"] == diff["differing"] == 0, diff["examples"][:5]
    with read_store(ref_db) as a, read_store(tmp_path / "two" / "results.db") as b:
        assert [r["run_key"] for r in a.runs()] == [r["run_key"] for r in b.runs()]  # the suite's order
        assert {r["status"] for r in b.runs()} == {"done", "infeasible"}
        assert len({r["pid"] for r in b.runs()}) >= 2  # really in other processes
    again = bench(bench_cli, "run", str(suite), "--results", str(tmp_path / "two"), "--processes", "2")
    assert again.returncode == 0 and "already done" in again.stderr


def test_a_killed_parallel_sweep_keeps_whole_runs_and_resumes_to_the_same_rows(tmp_path, reference, bench_cli):
    suite, ref_db = reference
    # the whole process group (parent and children mid-run) is SIGKILLed once 3 runs are stored: a
    # fault hook, not a timed kill (a slow first run lets the others pile up and be stored at once)
    proc = subprocess.run([sys.executable, "-m", "bench", "run", str(suite), "--results", str(tmp_path / "p"),
                           "--no-progress", "--processes", "2"], cwd=REPO, start_new_session=True,
                          env=dict(os.environ, AERIAL_HPO_KILL_SWEEP_AFTER="3"),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    db = tmp_path / "p" / "results.db"
    with read_store(db) as s:  # only whole runs: every stored run is done or infeasible
        stored = s.runs()
        assert stored and {r["status"] for r in stored} <= {"done", "infeasible"}
        done = [r["run_key"] for r in stored]
    assert len(done) == 3
    part = diff_of(ref_db, db, only=set(done))
    assert part["lost"] == part["doubled"] == part["differing"] == 0, part["examples"][:5]
    res = bench(bench_cli, "run", str(suite), "--results", str(tmp_path / "p"), "--no-progress", "--processes", "2")
    assert res.returncode == 0, res.stderr
    full = compare(snapshot(ref_db), snapshot(db))
    assert full["lost"] == full["doubled"] == full["differing"] == 0, full["examples"][:5]


def diff_of(want_db, got_db, only: set[str]) -> dict:
    want, got = snapshot(want_db), snapshot(got_db)
    for table in ("runs", "jobs", "evaluations", "incumbents"):
        want[table] = {k: v for k, v in want[table].items() if k[0] in only}
    return compare(want, got)


def test_processes_refused_for_training_suites_and_bad_counts(tmp_path, bench_cli):
    res = bench(bench_cli, "run", "bench/suites/smoke.toml", "--results", str(tmp_path / "r"), "--processes", "2")
    assert res.returncode == 2 and "not a replayed suite" in res.stderr and "Traceback" not in res.stderr
    suite = tmp_path / "par.toml"
    suite.write_text(SUITE)
    res = bench(bench_cli, "run", str(suite), "--results", str(tmp_path / "r"), "--processes", "0")
    assert res.returncode == 2 and "positive number of processes" in res.stderr
    assert not (tmp_path / "r" / "results.db").exists()
