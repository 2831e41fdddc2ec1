"""The split runner: one simulated worker gives the stores of the runner before the split;
N simulated workers run jobs side by side on an event clock; packed stores export curves."""
import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.loop.runner import Runner
from bench.config.suite import SuiteError, load_suite
from methods import REGISTRY, WAIT
from methods.hyperband import Hyperband
from tests.conftest import REPO

FIXTURES = Path(__file__).parent / "fixtures"
CURVES = FIXTURES / "smoke-curves.csv"

# The suite that made fixtures/replay-before-split.json.gz: run with the runner as it was before the
# split into backend, ledger, retell and checkpoints (commit a06fb0e) with today's methods/ (the
# tuners, e.g. SMAC's hash-seed-independent local search, are not what this compares), PYTHONHASHSEED=0,
# through the command line, and dumped by _decided below. SMAC's asks depend on Python's string hashing, so the
# comparison pins it the same way.
BEFORE_SPLIT = f"""
profile = "smoke"
backend = "replay"
curves = "{CURVES}"
budgets = [2, 6]
seeds = [0, 1]
resume_promotions = true
[[methods]]
label = "hyperband"
method = "hyperband"
params = {{ eta = 3 }}
[[methods]]
label = "sh-n9"
method = "successive-halving"
params = {{ n = 9, eta = 3, bracket_budget = "$B" }}
[[methods]]
label = "hb-s1"
method = "hyperband-bracket"
params = {{ s = 1, eta = 3 }}
[[methods]]
label = "random"
method = "random-search"
[[methods]]
label = "smac-bo"
method = "smac-bo"
params = {{ n_initial = 3 }}
[[methods]]
label = "skopt-gp"
method = "skopt-gp"
params = {{ n_initial = 3 }}
[[methods]]
label = "smac-hb"
method = "smac-hb"
params = {{ n_initial = 3, eta = 3 }}
"""

DECIDED = {
    "jobs": "SELECT run_key, job_id, trial_id, config, resource, resumes_from, info, ask_seq, tell_seq, status, loss, "
            "val_miou, epochs_trained FROM jobs ORDER BY run_key, job_id",
    "evaluations": "SELECT run_key, job_id, trial_id, epoch, resource, epochs_trained, cum_epochs, train_loss, "
                   "val_loss, val_miou, seconds, status FROM evaluations ORDER BY run_key, job_id, epoch",
    "incumbents": "SELECT run_key, trial_id, job_id, config, resource, val_loss, val_miou, test_loss, test_miou "
                  "FROM incumbents ORDER BY run_key",
    "runs": "SELECT run_key, status, epochs_spent, epochs_restart, overshoot, eval_seconds FROM runs ORDER BY run_key",
}


def _decided(db: Path) -> dict:
    """What a replayed suite decided: its asks and tells, epochs, incumbents and run totals."""
    con = sqlite3.connect(db)
    out = {k: [list(r) for r in con.execute(q)] for k, q in DECIDED.items()}
    con.close()
    return json.loads(json.dumps(out))  # the same float round trip as the fixture's


def _run(tmp_path, text, name="s.toml", results="res"):
    (tmp_path / name).write_text(text)
    assert Runner(load_suite(tmp_path / name), tmp_path / results, progress=False).run() == 0
    return tmp_path / results / "results.db"


def test_one_worker_gives_the_stores_of_the_runner_before_the_split(tmp_path):
    want = json.loads(gzip.decompress((FIXTURES / "replay-before-split.json.gz").read_bytes()))
    (tmp_path / "s.toml").write_text(BEFORE_SPLIT)
    res = subprocess.run([sys.executable, "-m", "bench", "run", str(tmp_path / "s.toml"), "--results",
                          str(tmp_path / "res"), "--no-progress"], cwd=REPO, capture_output=True, text=True,
                         timeout=600, env=dict(os.environ, PYTHONHASHSEED="0"))
    assert res.returncode == 0, res.stderr[-2000:]
    got = _decided(tmp_path / "res" / "results.db")
    assert {k: len(v) for k, v in got.items()} == {k: len(v) for k, v in want.items()}
    # The hand-written methods are compared exactly. SMAC's and skopt's asks depend on floating-point details
    # of the machine (BLAS and libm kernels): on 2026-12-01 the code of 039aeda, which passed this test where
    # the fixture was made, gave skopt a weight decay one ulp apart on another machine, and SMAC-BO then chose
    # another configuration. For them the structure of the run is compared: jobs, rungs, order and outcome.
    library = ("smac-bo/", "smac-hb/", "skopt-gp/")
    for table in DECIDED:
        exact = [r for r in want[table] if not r[0].startswith(library)]
        assert [r for r in got[table] if not r[0].startswith(library)] == exact, table
    shape = {"jobs": [0, 1, 2, 4, 5, 7, 8, 9, 12], "runs": [0, 1, 2, 3, 4]}  # no configurations or losses
    for table, cols in shape.items():
        pick = lambda rows: [[r[c] for c in cols] for r in rows if r[0].startswith(library)]  # noqa: E731
        assert pick(got[table]) == pick(want[table]), table


class LoggedHyperband(Hyperband):
    """Hyperband that notes, each time it answers WAIT, which jobs it is waiting on."""
    waits: list = []

    def ask(self):
        job = super().ask()
        if job is WAIT:
            LoggedHyperband.waits.append(frozenset(self.pending))
        return job


WORKERS = f"""
profile = "smoke"
backend = "replay"
curves = "{CURVES}"
workers = 4
budgets = [6]
seeds = [0, 1]
[[methods]]
label = "hb"
method = "logged-hyperband"
params = {{ eta = 3 }}
[[methods]]
label = "random"
method = "random-search"
"""


@pytest.fixture
def four_workers(tmp_path, monkeypatch):
    LoggedHyperband.waits = []
    monkeypatch.setitem(REGISTRY, "logged-hyperband", lambda *a, **k: LoggedHyperband(*a, **k))
    return _run(tmp_path, WORKERS), LoggedHyperband.waits


def _jobs(db: Path, run_key: str) -> list[dict]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM jobs WHERE run_key = ? ORDER BY ask_seq", (run_key,))]
    for r in rows:
        r["sim_seconds"] = con.execute("SELECT SUM(seconds) FROM evaluations WHERE run_key = ? AND job_id = ?",
                                       (run_key, r["job_id"])).fetchone()[0]
    con.close()
    return rows


def _running_at(jobs, t) -> int:
    return sum(j["started"] <= t < j["finished"] for j in jobs)


def test_four_workers_overlap_never_exceed_four_and_keep_busy(four_workers):
    db, waits = four_workers
    for key in ("hb/B6/seed0", "hb/B6/seed1", "random/B6/seed0", "random/B6/seed1"):
        jobs = _jobs(db, key)
        ran = [j for j in jobs if j["status"] in ("ok", "failed")]
        assert ran and all(j["started"] is not None and j["finished"] is not None for j in ran)
        # a job lasts its epochs times its configuration's recorded seconds per epoch
        for j in ran:
            if j["status"] != "ok":
                continue
            assert j["finished"] - j["started"] == pytest.approx(j["sim_seconds"], rel=1e-9, abs=1e-12)
        # never more than 4 at once, on 4 distinct workers; jobs overlap
        starts = sorted({j["started"] for j in ran})
        assert max(_running_at(ran, t) for t in starts) == 4
        assert {j["worker"] for j in ran} == {"0", "1", "2", "3"}
        for w in "0123":
            mine = sorted((j["started"], j["finished"]) for j in ran if j["worker"] == w)
            assert all(a[1] <= b[0] for a, b in zip(mine, mine[1:])), (key, w)
        # tells come in simulated-time order, and a job starts at the time of the tell before its ask
        told = sorted(ran, key=lambda j: j["tell_seq"])
        assert [j["finished"] for j in told] == sorted(j["finished"] for j in told)
        for j in ran:
            before = [t for t in told if t["tell_seq"] < j["ask_seq"]]
            assert j["started"] == (max(t["finished"] for t in before) if before else 0.0)
        # every worker busy except where the tuner said WAIT (until the budget stops the run)
        stop = min((j["ask_seq"] for j in jobs if j["status"] == "skipped"), default=float("inf"))
        for nxt in (t["tell_seq"] for t in told):  # the state just before each tell
            if nxt > stop:
                break
            running = frozenset(j["job_id"] for j in ran if j["ask_seq"] < nxt and j["tell_seq"] >= nxt)
            if len(running) < 4:
                assert key.startswith("hb/") and running in waits, (key, nxt, sorted(running))
    assert waits  # synchronous Hyperband waits for its rungs


def test_worker_count_is_checked(tmp_path):
    base = WORKERS.replace('method = "logged-hyperband"', 'method = "hyperband"')
    for bad, expected in (("workers = 0", r"key 'workers': expected a positive integer"),
                          ('workers = "4"', r"key 'workers': expected a positive integer")):
        (tmp_path / "w.toml").write_text(base.replace("workers = 4", bad))
        with pytest.raises(SuiteError, match=expected):
            load_suite(tmp_path / "w.toml")
    train = base.replace('backend = "replay"\n', "").replace(f'curves = "{CURVES}"\n', "")
    (tmp_path / "t.toml").write_text(train)
    assert {r.workers for r in load_suite(tmp_path / "t.toml").runs()} == {4}  # training: jobs in flight per run
    (tmp_path / "w.toml").write_text(base)
    assert main(["run", str(tmp_path / "w.toml"), "--results", str(tmp_path / "r"), "--workers", "2",
                 "--no-progress"]) == 2
    assert not (tmp_path / "r").exists()


def test_four_workers_resume_after_kills_as_if_never_killed(tmp_path, monkeypatch, bench_cli):
    text = WORKERS.replace('method = "logged-hyperband"', 'method = "hyperband"').replace("seeds = [0, 1]",
                                                                                          "seeds = [0]")
    want = _decided(_run(tmp_path, text, "a.toml", "once"))
    (tmp_path / "b.toml").write_text(text)
    cmd = ["run", tmp_path / "b.toml", "--results", tmp_path / "killed", "--no-progress"]  # new processes
    for at in (9, 23, 41):
        res = bench_cli.run(cmd, env=dict(os.environ, AERIAL_HPO_KILL_AT_WRITE=str(at)), timeout=300)
        assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    res = bench_cli.run(cmd, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    got = _decided(tmp_path / "killed" / "results.db")
    assert got["jobs"] == want["jobs"] and got["evaluations"] == want["evaluations"]
    assert got["incumbents"] == want["incumbents"]
    times = lambda db: sqlite3.connect(db).execute(  # noqa: E731
        "SELECT job_id, started, finished, worker FROM jobs ORDER BY run_key, job_id").fetchall()
    assert times(tmp_path / "killed" / "results.db") == times(tmp_path / "once" / "results.db")


def test_overshoot_has_its_own_column(tmp_path):
    db = _run(tmp_path, BEFORE_SPLIT.replace("budgets = [2, 6]", "budgets = [2]").split("[[methods]]\nlabel = \"sh")[0])
    con = sqlite3.connect(db)
    skipped = con.execute("SELECT j.overshoot, r.overshoot FROM jobs j JOIN runs r USING (run_key) "
                          "WHERE j.status = 'skipped'").fetchall()
    assert skipped and all(a == b and a > 0 for a, b in skipped)


def test_export_curves_reads_a_packed_store(tmp_path, monkeypatch):
    from bench.storage import packing
    monkeypatch.setattr(packing, "CACHE", tmp_path / "cache")
    db = _run(tmp_path, BEFORE_SPLIT.replace("budgets = [2, 6]", "budgets = [2]").split("[[methods]]\nlabel = \"sh")[0])
    assert main(["export-curves", str(db.parent), "--out", str(tmp_path / "a.csv")]) == 0
    assert main(["pack", str(db.parent)]) == 0
    db.rename(tmp_path / "moved.db")
    assert main(["export-curves", str(db.parent), "--out", str(tmp_path / "b.csv")]) == 0
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert len((tmp_path / "a.csv").read_text().splitlines()) > 10


def test_paper_seconds_clock_follows_the_simulated_workers(four_workers):
    from paper.data import best_so_far, load
    db, _ = four_workers
    res = load(db.parent)
    got = best_so_far(res, "seconds")
    for key, g in got.groupby("run_key"):
        jobs = [j for j in _jobs(db, key) if j["status"] == "ok"]
        tuner = float(res.runs.set_index("run_key").at[key, "tuner_seconds"])
        # the last evaluation lands at the last job's finish (plus the tuner's time), not at the sum of all jobs
        assert g["x"].max() == pytest.approx(max(j["finished"] for j in jobs) + tuner, rel=1e-9)
        assert g["x"].max() < sum(j["sim_seconds"] for j in jobs)
        assert (g["x"].diff().dropna() >= 0).all() and (g["best"].diff().dropna() >= 0).all()


def test_dask_workers_record_real_start_finish_and_worker(tmp_path):
    """Under Dask (--workers N) replayed jobs run for real in parallel: Unix start and finish times and the
    worker's address are recorded; the asks are those of one simulated worker."""
    text = WORKERS.replace("workers = 4\n", "").replace('method = "logged-hyperband"', 'method = "hyperband"') \
        .replace("seeds = [0, 1]", "seeds = [0]")
    (tmp_path / "d.toml").write_text(text)
    assert Runner(load_suite(tmp_path / "d.toml"), tmp_path / "dask", workers=2, progress=False).run() == 0
    one = _decided(_run(tmp_path, text, "o.toml", "one"))
    con = sqlite3.connect(tmp_path / "dask" / "results.db")
    rows = con.execute("SELECT started, finished, worker FROM jobs WHERE status = 'ok'").fetchall()
    assert rows and all(s > 1e9 and f >= s and w.startswith("tcp://") for s, f, w in rows)
    assert len({w for _, _, w in rows}) <= 2
    got = _decided(tmp_path / "dask" / "results.db")
    assert [j[:6] for j in got["jobs"]] == [j[:6] for j in one["jobs"]]  # same asks, same resources
