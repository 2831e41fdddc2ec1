"""Budget-aware fidelity (issue 23): a schedule that ends at the job's own budget, a recording with one
training per budget, replay that charges a promotion as a new training, and suites it cannot answer refused."""
import json
import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from bench.tables.curves import CurveTable, _budget_aware_twin, export_curves
from bench.loop.record import record
from bench.loop.runner import Runner
from bench.config.suite import load_suite
from segmentation.profiles import get_profile
from segmentation.space import search_space
from segmentation.train import _steps_per_epoch, load_checkpoint, load_task, lr_factor, train
from tests.conftest import REPO

BUDGET = "smoke+lr_schedule=cosine-to-budget"  # the smoke task (R = 9) with the budget-aware schedule
COSINE = "smoke+lr_schedule=cosine"


@pytest.mark.parametrize("spe", [1, 7, 14, 28, 57])
@pytest.mark.parametrize("r", [1, 3, 9, 27])
def test_schedule_reaches_zero_after_the_last_step_of_epoch_r_and_warms_up_within_it(r, spe):
    R = 27
    f = [lr_factor(s, spe, R, "cosine-to-budget", r) for s in range(r * spe + 1)]
    assert f[r * spe] == 0.0                        # the rate after the last step of epoch r
    assert all(v > 0 for v in f[:r * spe])          # every step of the job trains
    warmup = next(s for s, v in enumerate(f) if v == 1.0) + 1
    assert warmup == max(1, r * spe // R)           # a 1/R share of the job's steps ...
    assert warmup <= spe and (warmup < spe or r == R or spe < R // r)  # ... never more than one epoch
    assert all(a >= b for a, b in zip(f[warmup - 1:], f[warmup:]))     # then it only decays
    if r == R:  # at R the budget-aware schedule is cpu-v2's cosine schedule, step for step
        assert f == [lr_factor(s, spe, R, "cosine") for s in range(R * spe + 1)]


def test_budget_aware_training_ends_at_a_zero_rate_and_equals_cosine_at_R(tmp_path):
    task = load_task(BUDGET)
    config = dict(get_profile(BUDGET).default)
    res = train(config, 3, 0, task, save_to=tmp_path / "b3.pt")
    assert res.status == "ok" and load_checkpoint(tmp_path / "b3.pt")["scheduler"]["_last_lr"] == [0.0]
    spe = _steps_per_epoch(task.x["train"].shape[0], config["batch_size"])
    assert load_checkpoint(tmp_path / "b3.pt")["scheduler"]["last_epoch"] == 3 * spe
    # the cosine schedule over R = 9 has not annealed after 3 epochs
    cos = train(config, 3, 0, load_task(COSINE), save_to=tmp_path / "c3.pt")
    assert load_checkpoint(tmp_path / "c3.pt")["scheduler"]["_last_lr"][0] > 0
    assert [e.val_loss for e in cos.epochs] != [e.val_loss for e in res.epochs]
    # at r = R: the same training, bit for bit
    full_b = train(config, 9, 0, task)
    full_c = train(config, 9, 0, load_task(COSINE))
    assert [(e.train_loss, e.val_loss, e.val_miou) for e in full_b.epochs] == \
           [(e.train_loss, e.val_loss, e.val_miou) for e in full_c.epochs]


def test_budget_aware_checkpoint_refuses_another_budget(tmp_path):
    task = load_task(BUDGET)
    config = dict(get_profile(BUDGET).default)
    train(config, 1, 0, task, save_to=tmp_path / "e1.pt", budget=3)
    with pytest.raises(ValueError, match="cannot be continued to another budget"):
        train(config, 3, 0, task, checkpoint=tmp_path / "e1.pt", budget=9)
    # continuing the same budget's run (a record's chunk) equals training it in one go
    part = train(config, 3, 0, task, checkpoint=tmp_path / "e1.pt", budget=3)
    whole = train(config, 3, 0, task, budget=3)
    assert [e.val_loss for e in part.epochs] == [e.val_loss for e in whole.epochs[1:]]


@pytest.fixture(scope="module")
def budget_table(tmp_path_factory):
    """A budget-aware recording of the smoke task (2 configurations x 1 seed x r in {1, 3, 9}) and its table."""
    tmp = tmp_path_factory.mktemp("fidelity")
    store = record(BUDGET, 2, 0, tmp / "rec", chunk=2, progress=False, budgets=(1, 3, 9))
    return store, export_curves(store, tmp / "curves" / "smoke-budget.csv")


def test_recording_holds_one_training_per_budget(budget_table):
    store, path = budget_table
    df = pd.read_csv(path)
    assert sorted(df["budget"].unique()) == [1, 3, 9]
    for (cid, seed, b), g in df.groupby(["config_id", "train_seed", "budget"]):
        assert list(g["epoch"]) == list(range(1, b + 1))          # epochs 1..r of the r-run
    assert json.loads(path.with_suffix(".meta.json").read_text())["budgets"] == [1, 3, 9]
    # the r-runs differ from the longer runs' epoch r (each annealed at its own budget)
    one = df[(df.budget == 1) & (df.epoch == 1)].set_index("config_id")["val_loss"]
    nine = df[(df.budget == 9) & (df.epoch == 1)].set_index("config_id")["val_loss"]
    assert len(one) == 2 and not one.equals(nine)
    table = CurveTable.load(path, search_space(get_profile(BUDGET)))
    assert table.budget_aware and table.budgets == [1, 3, 9]


def test_export_refuses_a_budget_hole_unless_partial(budget_table, tmp_path):
    store, path = budget_table
    db = sqlite3.connect(store / "results.db")
    for table in ("evaluations", "curve_tests", "jobs"):  # configuration 0's r = 3 run, as if never recorded
        db.execute(f"DELETE FROM {table} WHERE job_id = 1")
    db.commit()
    db.close()
    try:
        with pytest.raises(ValueError, match="lack some of the budgets"):
            export_curves(store, tmp_path / "t.csv")
        out = export_curves(store, tmp_path / "t.csv", partial=True)
        meta = json.loads(out.with_suffix(".meta.json").read_text())
        assert meta["complete"] is False and len(pd.read_csv(out)["config_id"].unique()) == 1
    finally:  # the fixture's store is shared: put the run back as the module recorded it
        record(BUDGET, 2, 0, store, chunk=2, progress=False, budgets=(1, 3, 9))
    timing = ["seconds", "cpu_seconds"]  # retraining repeats every metric bit for bit, not the clock
    again = pd.read_csv(export_curves(store, tmp_path / "again.csv")).drop(columns=timing)
    assert again.equals(pd.read_csv(path).drop(columns=timing))


def test_ladder_brackets_keep_every_rung_on_the_recorded_budgets():
    from methods.brackets import ladder, successive_halving_bracket
    assert ladder(3, 27) == [1, 3, 9, 27] and ladder(2, 27, 2) == [3, 6, 13, 27]
    free = successive_halving_bracket(27, 3, 27, budget=357, cost="restart")
    assert {g.r for g in free.rungs} - {1, 3, 9, 27}               # sized freely: rungs off the ladder
    fixed = successive_halving_bracket(27, 3, 27, budget=357, cost="restart", on_ladder=True)
    assert {g.r for g in fixed.rungs} <= {1, 3, 9, 27} and fixed.cost_restart <= 357
    with pytest.raises(ValueError, match="ladder"):
        successive_halving_bracket(27, 3, 27, r_min=2, on_ladder=True)


def test_twin_profiles_join_only_as_budget_aware_and_its_fixed_horizon_twin():
    assert _budget_aware_twin({"cpu-v2-budget", "cpu-v2"}) == ("cpu-v2", 27)
    assert _budget_aware_twin({"cpu-v2-budget", "cpu"}) is None
    assert _budget_aware_twin({"cpu-v2", "cpu"}) is None


SUITE = """
profile = "smoke"
backend = "replay"
curves = "{curves}"
sampling = "table"
budgets = [3]
seeds = [0, 1]
resume_promotions = false
[[methods]]
label = "hyperband"
method = "hyperband"
params = {{ eta = 3 }}
[[methods]]
label = "sh"
method = "successive-halving"
params = {{ n = 9, eta = 3, bracket_budget = "$B", cost = "restart", on_ladder = true }}
"""


def test_replay_charges_a_promotion_as_a_new_training_answered_by_its_own_run(budget_table, tmp_path):
    _, path = budget_table
    suite = tmp_path / "s.toml"
    suite.write_text(SUITE.format(curves=path))
    assert Runner(load_suite(suite), tmp_path / "res", progress=False).run() == 0
    df = pd.read_csv(path, float_precision="round_trip")  # as replay reads it: exact floats
    db = sqlite3.connect(tmp_path / "res" / "results.db")
    jobs = db.execute("SELECT run_key, job_id, config, resource, resumes_from, epochs_trained, loss, info FROM jobs "
                      "WHERE status = 'ok'").fetchall()
    promoted = [j for j in jobs if j[4] > 0]
    assert promoted, "Hyperband at B = 3 R promotes"
    for run_key, job_id, config, resource, resumes_from, trained, loss, _ in jobs:
        assert trained == resource                             # charged r', not r' - r
        c = json.loads(config)
        rows = df[(df.budget == resource) & (df.epoch == resource)]
        rows = rows[(rows["config.learning_rate"] == c["learning_rate"]) & (rows["config.encoder"] == c["encoder"])]
        assert loss in set(rows["val_loss"])                   # the r'-run's last epoch, not the R-run's epoch r'
        epochs = db.execute("SELECT epoch FROM evaluations WHERE run_key = ? AND job_id = ? ORDER BY epoch",
                            (run_key, job_id)).fetchall()
        assert [e[0] for e in epochs] == list(range(1, resource + 1))
    spent = dict(db.execute("SELECT run_key, epochs_spent FROM runs").fetchall())
    charged = dict(db.execute("SELECT run_key, SUM(epochs_trained) FROM jobs GROUP BY run_key").fetchall())
    assert spent == charged  # the ledger charges what the jobs trained


@pytest.mark.parametrize("change, key", [
    ("resume_promotions = false", "resume_promotions"),
    ('label = "sh"', "methods[1].params.cost"),
    ('label = "hyperband"', "methods[2].method"),
    ('label = "hyperband"', "methods[2]"),
    ("on_ladder = true", "methods[1]"),
])
def test_incompatible_suite_fails_before_anything_runs(budget_table, tmp_path, change, key):
    _, path = budget_table
    text = SUITE.format(curves=path)
    if key == "resume_promotions":
        text = text.replace(change, "resume_promotions = true")
    elif key.endswith(".cost"):
        text = text.replace('cost = "restart"', 'cost = "resume"')
    elif change == "on_ladder = true":  # successive halving sized to B freely: rungs the table lacks
        text = text.replace(', on_ladder = true', '').replace("budgets = [3]", "budgets = [5]")
    elif key.endswith(".method"):
        text += '[[methods]]\nlabel = "tpe"\nmethod = "optuna-tpe-hb"\nparams = { eta = 3 }\n'
    else:
        text += '[[methods]]\nlabel = "hb2"\nmethod = "hyperband"\nparams = { eta = 2 }\n'
    suite = tmp_path / "bad.toml"
    suite.write_text(text)
    out = subprocess.run([sys.executable, "-m", "bench", "run", str(suite), "--results", str(tmp_path / "res")],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"key '{key}'" in lines[0] and "budget-aware" in lines[0], out.stderr
    assert not (tmp_path / "res").exists()


def _synthetic(tmp_path, aware: bool):
    """Six configurations x 2 seeds, R = 9: at R the value is the configuration's index; the budget-aware rungs
    keep that order, the budget-unaware epoch 1 reverses it and epoch 3 keeps it."""
    rows = []
    for c in range(6):
        for seed in (0, 1):
            for budget in ((1, 3, 9) if aware else (None,)):
                last = budget or 9
                for e in range(1, last + 1):
                    if e == 9:
                        v = c + 0.01 * seed
                    elif aware:
                        v = 10 + c + e  # the run annealed at its budget ranks as R does
                    else:
                        v = 10 - c if e == 1 else 10 + c
                    rows.append({"config_id": f"c{c}", "train_seed": seed, **({"budget": budget} if aware else {}),
                                 "epoch": e, "status": "ok", "val_loss": float(v), "val_miou": float(-v),
                                 "test_loss": float(v), "test_miou": float(-v), "seconds": 1.0})
    path = tmp_path / ("aware.csv" if aware else "unaware.csv")
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_rung_rho_per_design_on_the_same_configurations(tmp_path):
    from paper.fidelity import rung_rho
    df = rung_rho(_synthetic(tmp_path, False), _synthetic(tmp_path, True))
    loss = df[df["metric"] == "val_loss"].set_index(["rung", "design"])["rho"]
    assert loss[(1, "budget-unaware")] == pytest.approx(-1) and loss[(1, "budget-aware")] == pytest.approx(1)
    assert loss[(3, "budget-unaware")] == pytest.approx(1) and loss[(3, "budget-aware")] == pytest.approx(1)
    assert loss[(1, "aware - unaware")] == pytest.approx(2)
    assert set(df["configs"]) == {6} and sorted(df["rung"].unique()) == [1, 3]


def test_side_by_side_says_holds_or_flips():
    from paper.fidelity import side_by_side

    def frame(verdicts):
        return pd.DataFrame([{"budget": 1.0, "column": m, "labels": [m], "random": "random", "runs": 30,
                              "iqm_diff": -0.01 if v == "lower" else 0.0, "lo": -0.02, "hi": 0.0, "p": 0.01,
                              "p_holm": 0.02 if v == "lower" else 0.5, "verdict": v} for m, v in verdicts.items()])
    out = side_by_side(frame({"hb": "lower", "sh": "lower", "gp": "indistinguishable"}),
                       frame({"hb": "lower", "sh": "indistinguishable", "gp": "indistinguishable"}),
                       ["hb", "sh", "gp", "random"])
    assert dict(zip(out["method"], out["conclusion"])) == {"hb": "holds", "sh": "flips", "gp": "holds"}


class _Store:
    """What ``paper.fidelity.pairs`` reads of a loaded store: backend, table, objective, budgets, seeds,
    labels, R and each run's identity (``resume``)."""

    def __init__(self, curves, resume, labels=("random", "hb")):
        import json
        self.backend, self.curves, self.objective, self.max_budget = "replay", curves, "val_loss", 27
        self.drop_top = 0
        self.runs = pd.DataFrame([{"seed": s, "label": lab, "identity": json.dumps({"resume": resume})}
                                  for s in (0, 1) for lab in labels])

    def budgets(self):
        return [13.2]


def test_design_pairs_take_the_store_that_charges_promotions_alike_and_cost_pairs_share_a_table(monkeypatch):
    from paper import fidelity
    monkeypatch.setattr(fidelity, "budget_aware", lambda curves: curves == "aware.csv")
    loaded = {"nvsbn": _Store("unaware.csv", True), "nvsbn-restart": _Store("unaware.csv", False),
              "nvsbn-budget": _Store("aware.csv", False), "other": _Store("unaware.csv", False, ("random",))}
    assert fidelity.pairs(loaded) == [("nvsbn-restart", "nvsbn-budget")]
    assert fidelity.cost_pairs(loaded) == [("nvsbn", "nvsbn-restart")]
    del loaded["nvsbn-restart"]  # without the restart arm the design pair falls back to the resumed store
    assert fidelity.pairs(loaded) == [("nvsbn", "nvsbn-budget")] and fidelity.cost_pairs(loaded) == []


def test_cost_text_names_both_arms_and_says_holds_or_flips(tmp_path):
    from paper.fidelity import COSTS, NOT_MEASURED, side_by_side, text

    def frame(verdicts):
        return pd.DataFrame([{"budget": 13.2, "column": m, "labels": [m], "random": "random", "runs": 30,
                              "iqm_diff": -0.01 if v == "lower" else 0.0, "lo": -0.02, "hi": 0.0, "p": 0.01,
                              "p_holm": 0.02 if v == "lower" else 0.5, "verdict": v} for m, v in verdicts.items()])
    rows = side_by_side(frame({"hb": "lower", "sh": "indistinguishable"}),
                        frame({"hb": "indistinguishable", "sh": "indistinguishable"}), ["hb", "sh"], COSTS)
    out = text({"costs": [{"resumed": "nvsbn", "restarted": "nvsbn-restart", "objective": "val_loss",
                           "rows": rows.to_dict("records"), "winners": {}}]}, tmp_path)
    assert out.startswith(NOT_MEASURED)
    assert ("`hb` at B = 13.2 R: regret lower than random search with promotions resumed and indistinguishable "
            "from random search with promotions restarted: **flips**.") in out
    assert "1 of 2 method x budget comparisons are indistinguishable" in out


def test_the_best_n_holds_holds_within_noise_or_flips():
    """A different best n is a flip only when some arm's best is distinguishably worse than the other arm's
    best in that other arm (ties of medians are not flips); the sentence names both near-best sets."""
    from paper.fidelity import COSTS, _verdict_sentences, choice_verdict, side_by_side
    assert choice_verdict([81], [81], [27, 81], [81]) == "holds"
    assert choice_verdict([81], [27], [27, 81, 243], [9, 27, 81]) == "holds within noise"
    assert choice_verdict([81], [27], [81, 243], [9, 27, 81]) == "flips"  # 27 is worse than 81 with resumes
    assert choice_verdict([81], [27], None, None) == "differs"  # numbers made before the near-best sets
    rows = side_by_side(pd.DataFrame(columns=["budget", "column", "labels", "verdict"]),
                        pd.DataFrame(columns=["budget", "column", "labels", "verdict"]), [], COSTS)
    out = " ".join(_verdict_sentences(rows, {COSTS[0]: {"13.2": [81]}, COSTS[1]: {"13.2": [27]}}, COSTS,
                                      ("resumed", "restarted"),
                                      {COSTS[0]: {"13.2": [27, 81]}, COSTS[1]: {"13.2": [27]}}))
    assert "81 (within noise of it: 27, 81) resumed, 27 (within noise of it: 27) restarted: **flips**" in out


def test_near_best_takes_the_best_median_and_what_a_corrected_test_cannot_tell_from_it(monkeypatch):
    import paper.data
    from paper import fidelity
    rng = np.random.default_rng(0)
    rows = []
    for n, centre in ((1, 0.30), (3, 0.45), (9, 0.452), (27, 0.40)):
        for seed, v in enumerate(centre + rng.normal(0, 0.005, 30)):
            rows.append({"method": "successive-halving", "params": json.dumps({"n": n}), "budget": 13.2,
                         "val_miou": v, "seed": seed})

    monkeypatch.setattr(paper.data, "final_table", lambda res: pd.DataFrame(rows))  # a store's final table
    assert fidelity.near_best(object()) == {"13.2": [3, 9]}  # 1 and 27 are far below the best (9)


def test_the_rung_correlations_need_only_the_twin_tables(tmp_path):
    """Before any sweep is replayed on it, a budget-aware table and its fixed-horizon twin (by the profiles
    their recordings name) are enough for the rung correlations; other tables are not paired."""
    import json

    from paper.fidelity import table_twins

    def table(name, profiles, budget):
        p = tmp_path / f"{name}.csv"
        p.write_text("config_id,epoch" + (",budget" if budget else "") + "\n")
        (tmp_path / f"{name}.meta.json").write_text(json.dumps({"runs": [{"profile": x} for x in profiles]}))
        return p
    old = table("cpu-seed0", ["cpu"], False)
    twin = table("cpu-v2", ["cpu-v2"], False)
    aware = table("cpu-v2-budget", ["cpu-v2-budget", "cpu-v2"], True)
    assert table_twins([old, aware, twin]) == (twin, aware)
    assert table_twins([old, twin]) is None and table_twins([aware, old]) is None
