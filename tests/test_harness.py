"""The harness on the real smoke data: kill and resume, failing trials, parallel runs, changed suites."""
import math
import os
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from bench.storage.report import evaluations_table, status_table
from bench.loop.runner import Runner, SuiteChanged
from bench.storage.store import Store
from bench.config.suite import load_suite
from methods import REGISTRY
from methods.random_search import RandomSearch

from tests.conftest import REPO, TINY_SUITE as TINY


def _suite(tmp_path, text=TINY, name="tiny.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _run_cli(cli, suite, results, env_extra=None, timeout=300):
    """``python -m bench run SUITE`` in a new process (forked by ``bench_cli``, see tests/clirun.py)."""
    env = dict(os.environ, **(env_extra or {}))
    return cli.run(["run", suite, "--results", results, "--no-progress"], env=env, timeout=timeout)


def _rows(results):
    db = sqlite3.connect(Path(results) / "results.db")
    ev = db.execute("SELECT e.run_key, e.job_id, e.trial_id, e.epoch, j.config, e.resource, e.epochs_trained, "
                    "e.cum_epochs, e.train_loss, e.val_loss, e.val_miou, e.val_iou, e.status FROM evaluations e "
                    "JOIN jobs j USING (run_key, job_id) ORDER BY e.run_key, e.job_id, e.epoch").fetchall()
    jobs = db.execute("SELECT run_key, job_id, trial_id, config, resource, resumes_from, status, loss "
                      "FROM jobs ORDER BY run_key, job_id").fetchall()
    runs = db.execute("SELECT run_key, status, epochs_spent, epochs_restart, overshoot FROM runs "
                      "ORDER BY run_key").fetchall()
    inc = db.execute("SELECT run_key, trial_id, resource, val_loss, test_miou FROM incumbents "
                     "ORDER BY run_key").fetchall()
    ok = db.execute("PRAGMA integrity_check").fetchone()[0]
    db.close()
    return ev, jobs, runs, inc, ok


@pytest.fixture(scope="module")
def reference(tiny_real):
    return tiny_real.parent, _rows(tiny_real)


def test_uninterrupted_run_records_everything(reference):
    tmp, (ev, jobs, runs, inc, ok) = reference
    assert ok == "ok"
    assert [r[:2] for r in runs] == [("hb/B2/seed0", "done"), ("rs/B2/seed0", "done")]
    hb = dict((r[0], r) for r in runs)["hb/B2/seed0"]
    # 9 configs x 1 epoch, 3 promoted to 3 epochs (resume: 2 more each) = 15; the last rung needs 6 -> overshoot 3
    assert hb[2] == 15 and hb[3] == 9 + 3 * 3 and hb[4] == 3
    assert [j[6] for j in jobs if j[0] == "hb/B2/seed0"].count("skipped") == 1
    assert len(inc) == 2 and all(0 <= i[4] <= 1 for i in inc)
    assert not (tmp / "results" / "checkpoints" / "hb_B2_seed0").exists()  # deleted when the run ended
    assert (tmp / "results" / "incumbents" / "hb_B2_seed0.pt").is_file()     # but the incumbent's stay
    assert (tmp / "results" / "predictions" / "hb_B2_seed0" / "tile5_image001.png").is_file()


def _evaluation_rows(results) -> int:
    """Evaluation rows stored so far (0 before the store exists); read while a driver writes (WAL)."""
    db = Path(results) / "results.db"
    if not db.is_file():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:  # the schema is being made
        return 0


def test_kill_at_random_points_then_resume_equals_uninterrupted(tmp_path, reference, bench_cli):
    """Three SIGKILLs inside a store write (the N-th of the sitting, N drawn where a resume still writes:
    the whole run makes about a hundred) and two at a moment inside a training: once the sitting has stored
    1 to 3 more epochs, then 0 to 0.3 s later (on progress, not on a clock, so that a fast machine does not
    finish before the kill). Then a resume must equal the uninterrupted run."""
    _, want = reference
    suite, results = _suite(tmp_path), tmp_path / "results"
    rng = np.random.default_rng(2024)
    kills = [("write", int(n)) for n in rng.integers(3, 25, size=3)] + [
        ("progress", (int(k), float(t))) for k, t in zip(rng.integers(1, 4, size=2), rng.uniform(0.0, 0.3, size=2))]
    killed = 0
    for kind, at in kills:
        if kind == "write":  # SIGKILL inside the N-th store write, between the INSERT and its COMMIT
            res = _run_cli(bench_cli, suite, results, {"AERIAL_HPO_KILL_AT_WRITE": str(at)})
            killed += res.returncode == -signal.SIGKILL
        else:
            more, extra = at
            before = _evaluation_rows(results)
            proc = bench_cli.start(["run", suite, "--results", results, "--no-progress"])
            deadline = time.monotonic() + 600
            while proc.poll() is None and _evaluation_rows(results) < before + more and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(extra)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            proc.result()
    assert killed >= 4
    res = _run_cli(bench_cli, suite, results)
    assert res.returncode == 0, res.stderr[-3000:]
    ev, jobs, runs, inc, ok = _rows(results)
    assert ok == "ok"
    assert ev == want[0]          # nothing lost, nothing duplicated, same values
    assert jobs == want[1]
    assert runs == want[2]
    assert inc == want[3]


def test_kill_as_a_run_is_recorded_done_then_resume_tests_its_incumbent(tmp_path, reference, bench_cli):
    """Killed inside the write that records the first run done (its incumbent already tested and
    its weights kept): the resume must still find the checkpoint it tests the incumbent from
    (the real-training crash sweep found its folder deleted before that write) and end equal."""
    _, want = reference
    suite, results = _suite(tmp_path), tmp_path / "results"
    res = _run_cli(bench_cli, suite, results, {"AERIAL_HPO_KILL_AT_WRITE": "run-done"})
    assert res.returncode == -signal.SIGKILL
    assert (results / "checkpoints" / "hb_B2_seed0").is_dir()
    res = _run_cli(bench_cli, suite, results)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "incumbent test failed" not in res.stderr
    ev, jobs, runs, inc, ok = _rows(results)
    assert ok == "ok" and (ev, jobs, runs, inc) == want[:4]
    assert not (results / "checkpoints" / "hb_B2_seed0").exists()
    assert (results / "incumbents" / "hb_B2_seed0.pt").is_file()


def test_failing_trial_is_recorded_and_run_goes_on(tmp_path, monkeypatch, real_data):
    class FirstTrialDiverges(RandomSearch):
        """Random search whose first configuration has an infinite learning rate: real training, real NaN."""
        def _sample(self):
            config = super()._sample()
            if self.n_configs == 1:
                config["learning_rate"] = math.inf
            return config

    monkeypatch.setitem(REGISTRY, "diverging", lambda *a, **k: FirstTrialDiverges(*a, **k))
    text = TINY.split("[[methods]]")[0] + '[[methods]]\nlabel = "div"\nmethod = "diverging"\n'
    runner = Runner(load_suite(_suite(tmp_path, text)), tmp_path / "r", progress=False)
    assert runner.run() == 0
    store = Store(tmp_path / "r" / "results.db")
    jobs = store.jobs("div/B2/seed0")
    assert jobs[0]["status"] == "failed" and "non-finite" in jobs[0]["error"]
    assert jobs[1]["status"] == "ok"
    failed = [e for e in store.evaluations("div/B2/seed0") if e["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["val_loss"] is None and "nan" in failed[0]["error"]
    run = store.run("div/B2/seed0")
    assert run["status"] == "done" and run["epochs_spent"] == 1 + 9  # the failed epoch counts, then one trial
    assert store.incumbent("div/B2/seed0")["trial_id"] == 1


def _overlaps(spans):
    """Pairs of (started, finished) Unix-time spans that overlap in time."""
    return sum(1 for i, a in enumerate(spans) for b in spans[i + 1:] if a[0] < b[1] and b[0] < a[1])


def test_two_dask_workers_record_the_same_runs_and_budgets(tmp_path, reference):
    """Two Dask workers, one worker per run (the suite's default): each run trains one job at a time,
    as the same run replayed does, and the second worker trains the other run side by side."""
    _, want = reference
    runner = Runner(load_suite(_suite(tmp_path)), tmp_path / "par", workers=2, progress=False)
    assert runner.run() == 0
    ev, jobs, runs, inc, ok = _rows(tmp_path / "par")
    assert ok == "ok"
    assert [(r[0], r[1], r[2]) for r in runs] == [(r[0], r[1], r[2]) for r in want[2]]
    assert {e[0] for e in ev} == {e[0] for e in want[0]}
    assert [j[:6] for j in jobs] == [j[:6] for j in want[1]]  # same asks, same resources
    db = sqlite3.connect(tmp_path / "par" / "results.db")
    spans = {k: [(a, b) for r, a, b in db.execute("SELECT run_key, started, finished FROM jobs WHERE status != "
                                                   "'skipped' ORDER BY job_id") if r == k] for k in ("hb/B2/seed0", "rs/B2/seed0")}
    db.close()
    assert _overlaps(spans["hb/B2/seed0"]) == 0 and _overlaps(spans["rs/B2/seed0"]) == 0  # one job in flight per run
    assert _overlaps(spans["hb/B2/seed0"] + spans["rs/B2/seed0"]) > 0  # the two runs trained side by side


def test_a_training_run_with_two_workers_keeps_two_jobs_in_flight(tmp_path, reference, bench_cli):
    """``workers = 2`` in a training suite (through the command line): a run uses both Dask workers and
    asks what it asks on one; without two workers in the sitting it is refused in one line."""
    from bench.cli import main
    _, want = reference
    text = "workers = 2\n" + TINY.split("[[methods]]\nlabel = \"rs\"")[0]
    suite = _suite(tmp_path, text)
    res = _run_cli(bench_cli, suite, tmp_path / "w1")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "key 'workers': expected at most the 1 worker(s) this sitting has" in res.stderr
    assert main(["run", str(suite), "--results", str(tmp_path / "w2"), "--workers", "2", "--no-progress"]) == 0
    db = sqlite3.connect(tmp_path / "w2" / "results.db")
    rows = db.execute("SELECT run_key, job_id, trial_id, config, resource, resumes_from, started, finished FROM jobs "
                      "WHERE status != 'skipped' ORDER BY job_id").fetchall()
    assert db.execute("SELECT workers FROM runs").fetchall() == [(2,)]
    db.close()
    assert [r[1:6] for r in rows] == [j[1:6] for j in want[1] if j[0] == "hb/B2/seed0" and j[6] != "skipped"]
    assert _overlaps([r[6:] for r in rows]) > 0


def test_changed_suite_is_refused_with_a_diff_and_fresh_starts_over(tmp_path, bench_cli):
    # the store's identity check is the same for every backend: replayed (cpu curves, R = 27), no training
    text = TINY.split("[[methods]]\nlabel = \"rs\"")[0].replace("budgets = [2]", "budgets = [1]").replace(
        'profile = "smoke"', f'profile = "cpu"\nbackend = "replay"\ncurves = "{REPO}/results/curves/cpu-seed0.csv"')
    suite = _suite(tmp_path, text)
    assert Runner(load_suite(suite), tmp_path / "r", progress=False).run() == 0
    suite.write_text(text.replace("eta = 3", "eta = 2"))
    with pytest.raises(SuiteChanged, match=r"(?s)hb/B1/seed0: params changed.*-params = \{ eta = 3 \}.*--fresh"):
        Runner(load_suite(suite), tmp_path / "r", progress=False).run()
    res = bench_cli.run(["run", suite, "--results", tmp_path / "r", "--no-progress", "--fresh"], timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert list(tmp_path.joinpath("r").glob("old-*/results.db"))  # moved aside, not deleted


def test_status_and_export_match_the_store(reference, tmp_path, bench_cli):
    tmp, (ev, jobs, runs, inc, ok) = reference
    st = status_table(tmp / "results")
    assert list(st["state"]) == ["done", "done"]
    assert list(st["epochs"]) == [f"{r[2]}/18" for r in runs]
    df = evaluations_table(tmp / "results")
    assert len(df) == len(ev)
    assert {"config.learning_rate", "val_iou.Water", "cum_epochs", "label", "budget"} <= set(df.columns)
    speed = bench_cli.run(["speed", tmp / "results"])
    assert speed.returncode == 0, speed.stderr
    assert "hyperband" in speed.stdout and "epochs_per_wall_s" in speed.stdout
    out = bench_cli.run(["export", tmp / "results", "--format", "csv", "--out", tmp_path / "e.csv"])
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).is_file()
