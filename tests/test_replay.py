"""Replay: recorded curves answer jobs exactly; a replayed run asks what the real run asked; resume."""
import os
import signal
import sqlite3

import pandas as pd
import pytest

from bench.tables.curves import CurveTable, export_curves
from bench.loop.runner import Runner
from bench.config.suite import SuiteError, load_suite
from segmentation.profiles import get_profile
from segmentation.space import search_space
from tests.conftest import REPO
from tests.test_harness import TINY, _rows, _suite

REPLAY = TINY.replace('resume_promotions = true', 'resume_promotions = true\nbackend = "replay"\ncurves = "{curves}"')


@pytest.fixture(scope="module")
def real_and_table(tiny_real, tmp_path_factory):
    """The real smoke-profile run (Hyperband and random search, seed 0) and the curves table made from it."""
    tmp = tmp_path_factory.mktemp("table")
    table = export_curves(tiny_real, tmp / "curves" / "tiny.csv")
    return tiny_real.parent, table


def _replay_suite(tmp, table, name="replay.toml"):
    return _suite(tmp, REPLAY.replace("{curves}", str(table)), name)


def test_exported_table_holds_every_trained_epoch(real_and_table):
    tmp, table = real_and_table
    df = pd.read_csv(table)
    db = sqlite3.connect(tmp / "results" / "results.db")
    n = db.execute("SELECT COUNT(DISTINCT j.config || '/' || e.epoch) FROM evaluations e JOIN jobs j USING (run_key, job_id)").fetchone()[0]
    assert len(df) == n and set(df["status"]) == {"ok"}
    assert {"config_id", "config.learning_rate", "epoch", "val_loss", "val_miou", "seconds"} <= set(df.columns)
    assert table.with_suffix(".meta.json").is_file()


def test_replayed_hyperband_asks_what_the_real_run_asked(real_and_table, tmp_path):
    tmp, table = real_and_table
    assert Runner(load_suite(_replay_suite(tmp_path, table)), tmp_path / "rep", progress=False).run() == 0
    real, rep = _rows(tmp / "results"), _rows(tmp_path / "rep")
    assert rep[1] == real[1]            # jobs: same configurations, resources, statuses and losses, same order
    strip = lambda rows: [r[:11] for r in rows]  # noqa: E731 - every column but the per-class list
    assert strip(rep[0]) == strip(real[0])       # exact replay values, epoch by epoch
    assert [r[:5] for r in rep[2]] == [r[:5] for r in real[2]]  # budgets, overshoot
    # the simulated clock: every replayed epoch of a configuration costs the median of its recorded epochs
    df = pd.read_csv(table, float_precision="round_trip")
    median = df.groupby("config_id")["seconds"].median()
    from bench.tables.curves import config_id
    import json
    db = sqlite3.connect(tmp_path / "rep" / "results.db")
    for cfg, epoch, secs in db.execute("SELECT j.config, e.epoch, e.seconds FROM evaluations e JOIN jobs j USING (run_key, job_id)"):
        assert secs == pytest.approx(median[config_id(json.loads(cfg))], rel=1e-12)
    for key, sim, tuner in db.execute("SELECT run_key, eval_seconds, tuner_seconds FROM runs"):
        total = db.execute("SELECT SUM(seconds) FROM evaluations WHERE run_key = ?", (key,)).fetchone()[0]
        assert sim == pytest.approx(total, rel=1e-9)
        assert tuner > 0  # the tuner's own decision time is measured, not hidden


def test_replay_run_resumes_after_kills(real_and_table, tmp_path, bench_cli):
    tmp, table = real_and_table
    suite, results = _replay_suite(tmp_path, table), tmp_path / "rep"
    env = dict(os.environ)
    for at in (7, 19, 33):
        res = bench_cli.run(["run", suite, "--results", results, "--no-progress"],  # new processes
                            env=dict(env, AERIAL_HPO_KILL_AT_WRITE=str(at)), timeout=300)
        assert res.returncode == -signal.SIGKILL
    res = bench_cli.run(["run", suite, "--results", results, "--no-progress"], timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    want = _rows(tmp / "results")
    got = _rows(results)
    assert got[1] == want[1] and [r[:11] for r in got[0]] == [r[:11] for r in want[0]] and got[4] == "ok"


def test_nearest_neighbour_lookup():
    space = search_space(get_profile("cpu"))
    a = {"augment": True, "batch_size": 32, "decoder_width": 16, "encoder": "resnet18", "learning_rate": 1e-3,
         "loss": "ce", "weight_decay": 1e-4}
    b = dict(a, encoder="resnet34", learning_rate=5e-2)
    rows = [{"config_id": cid, **{f"config.{k}": v for k, v in c.items()}, "epoch": 1, "status": "ok",
             "val_loss": 1.0, "seconds": 1.0} for cid, c in (("A", a), ("B", b))]
    t = CurveTable(pd.DataFrame(rows), space)
    assert t.lookup(a) == "A" and t.lookup(b) == "B"
    assert t.lookup(dict(a, learning_rate=1.2e-3)) == "A"
    assert t.lookup(dict(b, learning_rate=4e-2, augment=False)) == "B"


def test_replay_suite_needs_a_table_that_reaches_R(tmp_path, real_and_table):
    _, table = real_and_table
    bad = REPLAY.replace("{curves}", str(table)).replace('profile = "smoke"', 'profile = "smoke"\nmax_budget = 27')
    with pytest.raises(SuiteError, match=r"key 'curves': expected curves reaching max_budget = 27 epochs"):
        load_suite(_suite(tmp_path, bad))
    with pytest.raises(SuiteError, match=r"key 'curves': expected an existing curves table"):
        load_suite(_suite(tmp_path, REPLAY.replace("{curves}", str(tmp_path / "none.csv")), "x.toml"))


def test_successive_halving_with_budget_placeholder_and_infeasible_runs(tmp_path, real_and_table):
    _, table = real_and_table
    text = REPLAY.replace("{curves}", str(table)).split("[[methods]]")[0] + (
        '[[methods]]\nlabel = "sh-n3"\nmethod = "successive-halving"\nparams = { n = 3, bracket_budget = "$B" }\n'
        '[[methods]]\nlabel = "sh-n27"\nmethod = "successive-halving"\nparams = { n = 27, bracket_budget = "$B" }\n')
    suite = load_suite(_suite(tmp_path, text))
    assert {r.key: r.params["bracket_budget"] for r in suite.runs()} == {"sh-n3/B2/seed0": 18, "sh-n27/B2/seed0": 18}
    assert Runner(suite, tmp_path / "r", progress=False).run() == 0
    db = sqlite3.connect(tmp_path / "r" / "results.db")
    rows = dict(db.execute("SELECT run_key, status FROM runs").fetchall())
    assert rows == {"sh-n3/B2/seed0": "done", "sh-n27/B2/seed0": "infeasible"}
    err = db.execute("SELECT error FROM runs WHERE run_key = 'sh-n27/B2/seed0'").fetchone()[0]
    assert "cheapest bracket of n=27" in err


OBJECTIVE_SUITE = """
profile = "smoke"
backend = "replay"
curves = "{curves}"
budgets = [3]
seeds = [0, 1, 2]
{objective}
[[methods]]
label = "random"
method = "random-search"
[[methods]]
label = "hyperband"
method = "hyperband"
"""


@pytest.mark.parametrize("objective", [None, "val_loss", "val_miou"])
def test_objective_picks_what_tuners_are_told_and_the_incumbent(tmp_path, objective):
    """Tuners minimise the suite's objective (1 - mIoU for val_miou); the incumbent is its best at
    the highest resource reached. The default leaves a run's identity as it was."""
    from tests.test_paper import FIXTURE
    text = OBJECTIVE_SUITE.format(curves=FIXTURE, objective=f'objective = "{objective}"' if objective else "")
    (tmp_path / "o.toml").write_text(text)
    suite = load_suite(tmp_path / "o.toml")
    assert ("objective" in suite.runs()[0].identity()) == (objective == "val_miou")
    assert Runner(suite, tmp_path / "res", progress=False).run() == 0
    db = sqlite3.connect(tmp_path / "res" / "results.db")
    for (key,) in db.execute("SELECT run_key FROM runs"):
        top = db.execute("SELECT MAX(resource) FROM jobs WHERE run_key = ? AND status = 'ok'", (key,)).fetchone()[0]
        jobs = db.execute("SELECT trial_id, loss, val_miou FROM jobs WHERE run_key = ? AND status = 'ok' AND "
                          "resource = ?", (key, top)).fetchall()
        want = (max(jobs, key=lambda j: (j[2], -j[0])) if objective == "val_miou"
                else min(jobs, key=lambda j: (j[1], j[0])))
        inc = db.execute("SELECT trial_id, val_loss, val_miou FROM incumbents WHERE run_key = ?", (key,)).fetchone()
        assert inc == want, key


def test_unknown_objective_is_an_error(tmp_path):
    from tests.test_paper import FIXTURE
    (tmp_path / "o.toml").write_text(OBJECTIVE_SUITE.format(curves=FIXTURE, objective='objective = "accuracy"'))
    with pytest.raises(SuiteError, match=r"o\.toml.*objective.*val_loss.*val_miou"):
        load_suite(tmp_path / "o.toml")


# -- training seeds in the table -------------------------------------------------------
def _seeded_table(tmp_path, n_configs=4, seeds=(0, 1, 2), epochs=5):
    """A curves table of smoke-space configurations with distinct curves per training seed."""
    from bench.tables.curves import config_id
    space = search_space(get_profile("smoke"), seed=3)
    rows = []
    for c in range(n_configs):
        config = {k: (v.item() if hasattr(v, "item") else v) for k, v in dict(space.sample_configuration()).items()}
        for t in seeds:
            for e in range(1, epochs + 1):
                rows.append({"config_id": config_id(config), "train_seed": t,
                             **{f"config.{k}": v for k, v in sorted(config.items())}, "epoch": e, "status": "ok",
                             "train_loss": 1.0, "val_loss": 1.0 / e + 0.01 * t + 0.1 * c,
                             "val_miou": 0.1 * e + 0.001 * t, "test_loss": 2.0 + t, "test_miou": 0.3 + 0.01 * t,
                             "seconds": 1.0 + t})
    path = tmp_path / "seeded.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path, pd.DataFrame(rows)


def _spec(path, config, resource, run_seed, trial_id, resumes_from=0):
    return {"curves": str(path), "profile": "smoke", "config": config, "resource": resource,
            "resumes_from": resumes_from, "ckpt_in": "replayed" if resumes_from else None,
            "run_seed": run_seed, "trial_id": trial_id}


def test_replay_draws_training_seeds_by_run_seed_and_trial(tmp_path):
    from bench.tables.curves import replay_job, replay_test
    path, df = _seeded_table(tmp_path)
    cols = [c for c in df.columns if c.startswith("config.")]
    config = {c[len("config."):]: v for c, v in df.iloc[0][cols].items()}
    config = {k: (v.item() if hasattr(v, "item") else v) for k, v in config.items()}
    curve = lambda run_seed, trial: [e["val_loss"] for e in replay_job(_spec(path, config, 5, run_seed, trial))["epochs"]]  # noqa: E731
    # the same (run seed, trial) always gets the same curve
    assert curve(0, 0) == curve(0, 0)
    # different run seeds draw different training seeds for the same trial (several of 3 seeds appear)
    drawn = {replay_job(_spec(path, config, 5, s, 0))["train_seed"] for s in range(12)}
    assert len(drawn) >= 2 and drawn <= {0, 1, 2}
    assert len({tuple(curve(s, 0)) for s in range(12)}) == len(drawn)
    # a promotion continues the curve of its trial's seed: epochs 3..5 after 1..2 equal one job to 5
    for s in range(6):
        whole = replay_job(_spec(path, config, 5, s, 7))
        head = replay_job(_spec(path, config, 2, s, 7))
        tail = replay_job(_spec(path, config, 5, s, 7, resumes_from=2))
        assert head["train_seed"] == tail["train_seed"] == whole["train_seed"]
        assert [e["val_loss"] for e in head["epochs"] + tail["epochs"]] == [e["val_loss"] for e in whole["epochs"]]
        # the test metrics are those of the same seed
        t = replay_test(_spec(path, config, 5, s, 7))
        assert t["loss"] == 2.0 + whole["train_seed"]


def test_table_without_train_seed_replays_as_before(tmp_path):
    """Old tables (no train_seed column) hold one seed: answers do not depend on run seed or trial."""
    from bench.tables.curves import replay_job
    path, df = _seeded_table(tmp_path, seeds=(0,))
    old = tmp_path / "old.csv"
    df.drop(columns=["train_seed"]).to_csv(old, index=False)
    cols = [c for c in df.columns if c.startswith("config.")]
    config = {c[len("config."):]: (v.item() if hasattr(v, "item") else v) for c, v in df.iloc[0][cols].items()}
    answers = {tuple(e["val_loss"] for e in replay_job(_spec(old, config, 5, s, t))["epochs"])
               for s in range(4) for t in range(4)}
    assert len(answers) == 1


def test_replay_stats_count_entries_and_neighbours(tmp_path):
    from bench.tables.curves import replay_stats
    path, df = _seeded_table(tmp_path)
    cols = [c for c in df.columns if c.startswith("config.")]
    firsts = df.drop_duplicates("config_id")
    configs = [{c[len("config."):]: (v.item() if hasattr(v, "item") else v) for c, v in r[cols].items()}
               for _, r in firsts.iterrows()]
    off = dict(configs[0], learning_rate=configs[0]["learning_rate"] * 1.01)  # not in the table
    stats = replay_stats([configs[0], configs[0], configs[1], off], path, "smoke")
    assert stats == {"table_entries": 2, "neighbour_share": 0.25}


def test_table_sampling_asks_only_recorded_configurations(tmp_path):
    """sampling = "table": random search, Hyperband and ASHA ask recorded configurations only
    (neighbour share 0); the default answers with neighbours (share > 0 for random search);
    every replayed run stores both numbers."""
    import json
    path, df = _seeded_table(tmp_path, n_configs=6)
    recorded = {json.dumps({c[len("config."):]: (v.item() if hasattr(v, "item") else v) for c, v in r.items()},
                           sort_keys=True)
                for _, r in df.drop_duplicates("config_id")[[c for c in df.columns if c.startswith("config.")]]
                .iterrows()}
    base = f'''profile = "smoke"
backend = "replay"
curves = "{path}"
max_budget = 5
budgets = [3]
seeds = [0, 1]
[[methods]]
label = "hb"
method = "hyperband"
[[methods]]
label = "rs"
method = "random-search"
[[methods]]
label = "asha"
method = "asha"
'''
    for sampling in ("table", "neighbour"):
        suite = _suite(tmp_path, f'sampling = "{sampling}"\n' + base, f"{sampling}.toml")
        assert Runner(load_suite(suite), tmp_path / sampling, progress=False).run() == 0
        db = sqlite3.connect(tmp_path / sampling / "results.db")
        asked = [(k, json.dumps(json.loads(c), sort_keys=True)) for k, c in db.execute("SELECT run_key, config FROM jobs")]
        stats = dict(((k, (e, s)) for k, e, s in db.execute("SELECT run_key, table_entries, neighbour_share FROM runs")))
        db.close()
        assert len(stats) == 6 and all(e is not None and 1 <= e <= 6 for e, _ in stats.values())
        if sampling == "table":
            assert all(c in recorded for _, c in asked)
            assert all(s == 0.0 for _, s in stats.values())
        else:
            assert not all(c in recorded for _, c in asked)
            assert all(s > 0 for k, (_, s) in stats.items() if k.startswith("rs/"))


def test_export_curves_refuses_to_mix_recipes(tmp_path, capsys):
    """The committed cpu-v2 recording shard and the constant-rate recipe arm are two recipes: one table
    never holds both (issue 10: never mix them silently)."""
    from bench.cli import main
    shard, constant = REPO / "results/curves-raw/cpu-v2-seed0-shard0of2", REPO / "results/recipe/cpu-v2-constant"
    assert main(["export-curves", str(shard), str(constant), "--out", str(tmp_path / "mixed.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cpu-v2+lr_schedule=constant" in err and "cpu-v2" in err
    assert not (tmp_path / "mixed.csv").exists()


def test_candidates_sampling_answers_every_method_with_recorded_configurations(tmp_path):
    """sampling = "candidates": SMAC-BO, SMAC-HB and skopt-GP choose among the table's configurations
    (neighbour share 0, each configuration a trial at most once), random search and Hyperband draw from the
    table as under "table"; DEHB and Optuna's TPE cannot and are recorded infeasible with the reason;
    the same suite asks the same jobs again."""
    import json
    path, df = _seeded_table(tmp_path, n_configs=8)
    recorded = {json.dumps({c[len("config."):]: (v.item() if hasattr(v, "item") else v) for c, v in r.items()},
                           sort_keys=True)
                for _, r in df.drop_duplicates("config_id")[[c for c in df.columns if c.startswith("config.")]]
                .iterrows()}
    suite = f'''profile = "smoke"
backend = "replay"
curves = "{path}"
sampling = "candidates"
max_budget = 5
budgets = [2]
seeds = [0, 1]
[[methods]]
label = "smac-bo"
method = "smac-bo"
params = {{ n_initial = 2 }}
[[methods]]
label = "smac-hb"
method = "smac-hb"
params = {{ n_initial = 2 }}
[[methods]]
label = "skopt"
method = "skopt-gp"
params = {{ n_initial = 2 }}
[[methods]]
label = "rs"
method = "random-search"
[[methods]]
label = "hb"
method = "hyperband"
[[methods]]
label = "dehb"
method = "dehb"
[[methods]]
label = "tpe"
method = "optuna-tpe-hb"
'''
    runs = []
    for name in ("a", "b"):
        assert Runner(load_suite(_suite(tmp_path, suite, f"{name}.toml")), tmp_path / name, progress=False).run() == 0
        db = sqlite3.connect(tmp_path / name / "results.db")
        jobs = [(k, j, json.dumps(json.loads(c), sort_keys=True), r)
                for k, j, c, r in db.execute("SELECT run_key, job_id, config, resource FROM jobs ORDER BY run_key, job_id")]
        stats = {k: (st, s, e) for k, st, s, e in db.execute("SELECT run_key, status, neighbour_share, error FROM runs")}
        db.close()
        runs.append(jobs)
    assert runs[0] == runs[1]                                   # same seeds, same asks
    assert {k.split("/")[0] for k, *_ in runs[0]} == {"smac-bo", "smac-hb", "skopt", "rs", "hb"}
    assert all(c in recorded for _, _, c, _ in runs[0])         # every ask is a recorded configuration
    for key, (status, share, error) in stats.items():
        if key.split("/")[0] in ("dehb", "tpe"):
            assert status == "infeasible" and "cannot choose from a fixed set" in error
        else:
            assert status == "done" and share == 0.0
    for label in ("smac-bo", "skopt"):                          # one job per trial, never a configuration twice
        for seed in (0, 1):
            configs = [c for k, _, c, _ in runs[0] if k.startswith(f"{label}/B2/seed{seed}")]
            assert configs and len(configs) == len(set(configs))
