"""Prefix reuse (issue 26, bench/loop/prefix.py): which methods ask the same at every B is established
here, per registered method, by replaying each at two budgets on its own; then a sweep that cuts the
smaller budgets' runs from the largest stores the rows of one that replays every budget, also after a
kill at any store write (with --processes: tests/test_sweep.py, whose suite has runs cut from others)."""
import os

import pytest

from bench.config.suite import load_suite
from bench.instruments.crashtest import crash_test
from bench.instruments.sweepcost import DECIDED, decided_rows, digest
from bench.loop import prefix
from bench.storage.store import read_store
from methods import REGISTRY

FAST = {"smac-bo": "n_initial = 2, local_search_iterations = 2", "smac-hb": "n_initial = 2, local_search_iterations = 2",
        "skopt-gp": "n_initial = 2, n_points = 100"}

# Every registered method with its default parameters (the model-based ones model early), replayed
# on the cpu curves (R = 9) at B = 3 and 6 (27 and 54 epochs), table sampling as in nvsbn.toml.
EVERY = """
profile = "cpu"
backend = "replay"
curves = "results/curves/cpu-seed0.csv"
sampling = "table"
max_budget = 9
budgets = [3, 6]
seeds = [0]
""" + "".join(f'[[methods]]\nlabel = "{m}"\nmethod = "{m}"\nparams = {{ {FAST.get(m, "")} }}\n' for m in sorted(REGISTRY))

def bench(cli, *argv):
    return cli.run(argv, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=900)


@pytest.fixture(scope="module")
def separate(tmp_path_factory, bench_cli):
    """EVERY replayed with every budget on its own (no prefix reuse)."""
    tmp = tmp_path_factory.mktemp("prefix")
    suite = tmp / "every.toml"
    suite.write_text(EVERY)
    r = bench(bench_cli, "run", str(suite), "--results", str(tmp / "sep"), "--no-progress", "--no-prefix-reuse")
    assert r.returncode == 0, r.stderr
    assert "cut from" not in r.stderr
    return suite, tmp / "sep" / "results.db"


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_the_smaller_budgets_run_is_a_prefix_of_the_larger_one(method, separate):
    """The property prefix reuse rests on, per method: replayed on its own at B = 3, a run asks, is told and
    trains exactly the first jobs of the same run at B = 6; then it stops (the job its budget refuses is the
    larger run's next ask) or its tuner finished (and so did the larger run's)."""
    _, db = separate
    with read_store(db) as s:
        small, large = s.jobs(f"{method}/B3/seed0"), s.jobs(f"{method}/B6/seed0")
        ev_small = [tuple(e)[1:] for e in s.db.execute(
            "SELECT run_key, job_id, epoch, val_loss, val_miou, cum_epochs, seconds FROM evaluations "
            "WHERE run_key = ? ORDER BY job_id, epoch", (f"{method}/B3/seed0",))]
        ev_large = [tuple(e)[1:] for e in s.db.execute(
            "SELECT run_key, job_id, epoch, val_loss, val_miou, cum_epochs, seconds FROM evaluations "
            "WHERE run_key = ? ORDER BY job_id, epoch", (f"{method}/B6/seed0",))]
    assert len(small) >= 3, f"{method}: too few jobs at B = 3 to say anything"
    keys = ("job_id", "trial_id", "config", "resource", "resumes_from", "info", "ask_seq", "tell_seq", "status",
            "loss", "val_miou", "epochs_trained", "started", "finished", "worker")
    done = [j for j in small if j["status"] != "skipped"]
    assert [tuple(j[k] for k in keys) for j in done] == [tuple(j[k] for k in keys) for j in large[:len(done)]]
    assert ev_small == ev_large[:len(ev_small)]
    if len(done) < len(small):  # stopped by its budget: the refused job is the larger run's next ask
        skip = small[-1]
        assert skip["status"] == "skipped" and skip["overshoot"] > 0
        nxt = large[len(done)]
        assert (skip["job_id"], skip["config"], skip["resource"], skip["ask_seq"]) == \
            (nxt["job_id"], nxt["config"], nxt["resource"], nxt["ask_seq"])
    else:
        assert len(large) == len(done), f"{method}: finished at B = 3 but not at B = 6"


def test_a_sweep_with_prefix_reuse_stores_the_rows_of_separate_runs(separate, tmp_path, bench_cli):
    suite, sep = separate
    r = bench(bench_cli, "run", str(suite), "--results", str(tmp_path / "cut"), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("cut from") == len(REGISTRY)  # every method qualified: one cut each
    a, b = decided_rows(sep), decided_rows(tmp_path / "cut" / "results.db")
    for table in DECIDED:
        assert len(a[table]) > 0 and a[table] == b[table], (table, sorted(a[table] ^ b[table])[:4])
    with read_store(tmp_path / "cut" / "results.db") as s:
        for m in REGISTRY:  # a cut run's clock is its driven run's so far: never more than the whole
            small, large = s.run(f"{m}/B3/seed0"), s.run(f"{m}/B6/seed0")
            assert small["tuner_seconds"] <= large["tuner_seconds"] and small["wall_seconds"] <= large["wall_seconds"]
            assert small["started"] == large["started"]


# One cheap method at two budgets, so that the kills also land inside the cut's transaction and
# between the driven run's rows and its cut.
KILLS = """
profile = "cpu"
backend = "replay"
curves = "results/curves/cpu-seed0.csv"
max_budget = 2
budgets = [1, 2]
seeds = [0]
[[methods]]
label = "hb"
method = "hyperband-bracket"
params = { s = 1, eta = 2 }
"""


def test_a_kill_at_every_store_write_of_a_cut_sweep_resumes_to_the_uninterrupted_rows(tmp_path):
    suite = tmp_path / "kills.toml"
    suite.write_text(KILLS)
    report = crash_test(suite, tmp_path / "work", jobs=2)
    assert report.errors == [], report.errors[:5]
    assert report.kills == report.writes >= 8
    assert (report.lost, report.doubled, report.differing) == (0, 0, 0), report.examples[:10]


def _specs(text, tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return load_suite(p).runs()


def test_plan_groups_only_fresh_one_worker_runs_that_differ_in_B_alone(tmp_path):
    specs = _specs("""
profile = "cpu"
backend = "replay"
curves = "results/curves/cpu-seed0.csv"
max_budget = 9
budgets = [2, 3, 5]
seeds = [0, 1]
[[methods]]
label = "hb"
method = "hyperband"
[[methods]]
label = "sh"
method = "successive-halving"
params = { n = 3, eta = 3, bracket_budget = "$B" }
""", tmp_path)
    fresh = {s.key for s in specs} - {"hb/B5/seed1"}  # as if a sitting had started it
    order, cuts = prefix.plan(specs, fresh)
    assert [s.key for s in order][:3] == ["hb/B5/seed0", "sh/B2/seed0", "hb/B3/seed1"]
    assert {k: [c.key for c in v] for k, v in cuts.items()} == {
        "hb/B5/seed0": ["hb/B2/seed0", "hb/B3/seed0"], "hb/B3/seed1": ["hb/B2/seed1"]}
    assert "hb/B5/seed1" in [s.key for s in order]  # resumed on its own
    assert all(s.key in {o.key for o in order} for s in specs if s.label == "sh")  # sized to B: every B runs
    assert sorted(k for g in prefix.groups(specs, fresh) for k in g) == sorted(s.key for s in specs)
    many = _specs("""
profile = "cpu"
backend = "replay"
curves = "results/curves/cpu-seed0.csv"
max_budget = 9
budgets = [2, 3]
seeds = [0]
workers = 2
[[methods]]
label = "hb"
method = "hyperband"
""", tmp_path)
    assert prefix.plan(many, {s.key for s in many}) == (many, {})  # jobs overlap: no prefix to cut
