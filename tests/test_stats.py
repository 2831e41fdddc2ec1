"""The paper's statistics against hand computations on a small replayed sweep (the recorded cpu
curves, R = 27): regret, IQM, critical differences, wasted budget, speed-up; roles from the store
(also for stores without the role columns); a suite with relabelled methods gets every figure."""
import json
import math
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from bench.loop.runner import Runner
from bench.config.suite import load_suite
from paper.build import build
from paper.report import render

REPO = Path(__file__).resolve().parents[1]
CURVES = REPO / "results" / "curves" / "cpu-seed0.csv"
# hb-s3 relabelled "bracket-aggressive", random search labelled "rs": the paper must not need the usual labels
SUITE = f"""
profile = "cpu"
backend = "replay"
curves = "{CURVES}"
budgets = [4, 8]
seeds = [0, 1, 2, 3, 4, 5]
resume_promotions = true
[[methods]]
label = "sh-n1"
method = "successive-halving"
params = {{ n = 1, eta = 3, bracket_budget = "$B", cost = "resume" }}
[[methods]]
label = "sh-n27"
method = "successive-halving"
params = {{ n = 27, eta = 3, bracket_budget = "$B", cost = "resume" }}
[[methods]]
label = "bracket-aggressive"
method = "hyperband-bracket"
params = {{ s = 3, eta = 3 }}
[[methods]]
label = "hb-s0"
method = "hyperband-bracket"
params = {{ s = 0, eta = 3 }}
[[methods]]
label = "hyperband"
method = "hyperband"
params = {{ eta = 3 }}
[[methods]]
label = "rs"
method = "random-search"
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stats")
    (tmp / "mini.toml").write_text(SUITE)
    # named like the sweep the paper's template knows, so the generated text is filled in from it
    assert Runner(load_suite(tmp / "mini.toml"), tmp / "nvsbn", progress=False).run() == 0
    return tmp / "nvsbn"


@pytest.fixture(scope="module")
def built(sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("paper") / "build"
    numbers = build([sweep], out, [CURVES])
    render(numbers, out)
    return out, numbers


def _store(sweep) -> tuple[pd.DataFrame, pd.DataFrame]:
    db = sqlite3.connect(sweep / "results.db")
    runs = pd.read_sql_query("SELECT r.*, i.val_loss AS inc_val_loss, i.test_loss AS inc_test_loss, "
                             "i.resource AS inc_resource FROM runs r LEFT JOIN incumbents i USING (run_key)", db)
    jobs = pd.read_sql_query("SELECT * FROM jobs ORDER BY run_key, tell_seq", db)
    db.close()
    return runs, jobs


def _table_best():
    df = pd.read_csv(CURVES, float_precision="round_trip")
    last = df[(df["status"] == "ok") & (df["epoch"] == 27)]
    return last["val_loss"].min(), last["test_loss"].min()


def _iqm_by_hand(v) -> float:
    """Mean of the middle half: with 6 values, drop the lowest and highest 25 % (1.5 -> 1 each)."""
    v = np.sort(np.asarray(v, dtype=float))
    k = int(0.25 * len(v))
    return float(v[k:len(v) - k].mean())


def test_every_figure_and_table_with_relabelled_methods(built, sweep):
    out, numbers = built
    for stem in ("anytime_epochs", "anytime_seconds", "brackets", "nvsbn", "iqm", "cd", "regret_dist"):
        assert (out / f"{stem}_{sweep.name}.png").stat().st_size > 1000, stem
    for stem in ("final", "coverage", "speed", "speedup", "iqm", "regret", "wasted", "nvsbn"):
        assert (out / f"{stem}_{sweep.name}.md").is_file(), stem
    # the single brackets and random search are found by role, under their new labels
    assert "bracket-aggressive" in (out / f"iqm_{sweep.name}.md").read_text()
    assert "sh-n1 = hb-s0 = rs" in (out / f"iqm_{sweep.name}.md").read_text()


def test_roles_are_stored_and_derived_alike_for_old_stores(sweep, tmp_path):
    from paper.data import load
    runs, _ = _store(sweep)
    assert runs["algorithm"].notna().all()
    r = runs[(runs["label"] == "bracket-aggressive") & (runs["budget"] == 4)].iloc[0]
    assert (r["family"], r["eta"], r["r_max"], r["bracket_s"], r["bracket_n"]) == ("bracket", 3, 27, 3, 27)
    same = runs[(runs["budget"] == 4) & (runs["seed"] == 0)].groupby("algorithm")["label"].apply(sorted).tolist()
    assert ["hb-s0", "rs", "sh-n1"] in same and ["bracket-aggressive", "sh-n27"] in same
    # a store written before the role columns existed: NULL there, derived from method + params
    old = tmp_path / "old"
    shutil.copytree(sweep, old)
    db = sqlite3.connect(old / "results.db")
    db.execute("UPDATE runs SET family = NULL, eta = NULL, r_max = NULL, bracket_s = NULL, bracket_n = NULL, "
               "brackets = NULL, algorithm = NULL")
    db.commit()
    db.close()
    cols = ["run_key", "family", "eta", "r_max", "bracket_s", "bracket_n", "brackets", "algorithm"]
    a = load(sweep).runs[cols].astype(str)
    b = load(old).runs[cols].astype(str)
    pd.testing.assert_frame_equal(a, b)


def test_identical_algorithms_give_identical_results(sweep):
    runs, _ = _store(sweep)
    for (b, seed), g in runs.groupby(["budget", "seed"]):
        for alg, h in g.groupby("algorithm"):
            assert h["inc_val_loss"].nunique() == 1 and h["epochs_spent"].nunique() == 1, (b, seed, alg)


def test_regret_and_iqm_equal_a_hand_computation(built, sweep):
    out, _ = built
    runs, _ = _store(sweep)
    best_val, best_test = _table_best()
    g = runs[(runs["label"] == "hyperband") & (runs["budget"] == 8)]
    regret = g["inc_val_loss"] - best_val
    iqm = pd.read_csv(out / f"iqm_{sweep.name}.csv").set_index("method")
    assert iqm.at["hyperband", "B=8"].startswith(f"{_iqm_by_hand(regret):.4f} [")
    reg = pd.read_csv(out / f"regret_{sweep.name}.csv", dtype=str)
    row = reg[(reg["method"] == "hyperband") & (reg["B"] == "8")].iloc[0]
    q1, m, q3 = np.quantile(g["inc_test_loss"] - best_test, [0.25, 0.5, 0.75])
    assert row["test regret, median [IQR]"] == f"{m:.4f} [{q1:.4f}, {q3:.4f}]"
    assert row["runs"] == "6/6"
    # pooled over budgets, stratified: the IQM of all 12 values
    both = runs[runs["label"] == "hyperband"]["inc_val_loss"] - best_val
    assert iqm.at["hyperband", "all B (stratified)"].startswith(f"{sps.trim_mean(both, 0.25):.4f} [")
    lo, hi = (float(x) for x in iqm.at["hyperband", "B=8"].split("[")[1].rstrip("]").split(","))
    assert lo <= _iqm_by_hand(regret) <= hi


def test_critical_differences_count_each_algorithm_once_with_seeds_of_one_budget_as_blocks(built, sweep):
    """Seeds of different budgets share a stream (random search at 8R starts with its 4R runs), so the
    blocks are the 6 seeds of one budget; merged columns enter once."""
    _, numbers = built
    runs, jobs = _store(sweep)
    asked = jobs.sort_values("ask_seq")
    first = asked[asked["run_key"] == "rs/B4/seed0"]["config"].tolist()
    assert asked[asked["run_key"] == "rs/B8/seed0"]["config"].tolist()[:len(first)] == first
    cd = numbers["results"][sweep.name]["statistics"]["critical_difference"]["8"]
    assert cd["blocks"] == 6
    best_val, _ = _table_best()
    b8 = runs[runs["budget"] == 8]
    cols = {"rs": "sh-n1 = hb-s0 = rs", "sh-n27": "sh-n27", "bracket-aggressive": "bracket-aggressive",
            "hyperband": "hyperband"}
    assert sorted(cd["methods"]) == sorted(cols.values())
    w = {lab: b8[b8["label"] == lab].sort_values("seed")["inc_val_loss"].to_numpy() - best_val for lab in cols}
    p = sps.friedmanchisquare(*w.values()).pvalue
    assert cd["pvalue"] == pytest.approx(p)
    ranks = pd.DataFrame(w).rank(axis=1).mean()
    for lab, name in cols.items():
        assert cd["mean_ranks"][name] == pytest.approx(ranks[lab])


def test_wasted_budget_equals_the_bracket_maths(built, sweep):
    """bracket-aggressive (s = 3, resumed promotions) at B = 4R = 108 epochs: one bracket costs
    27x1 + 9x2 + 3x6 + 1x18 = 81 epochs, the next bracket's first rung (27 x 1 epoch) is cut off: 25 %."""
    out, _ = built
    w = pd.read_csv(out / f"wasted_{sweep.name}.csv").set_index("method")
    assert w.at["bracket-aggressive", "B=4"] == "25% + 0% (6/6)"
    assert w.at["rs", "B=4"] == "0% + 0% (6/6)"
    runs, jobs = _store(sweep)
    key = "bracket-aggressive/B4/seed0"
    mine = jobs[(jobs["run_key"] == key) & jobs["tell_seq"].notna()]
    second = mine[mine["info"].map(lambda i: json.loads(i)["iteration"] == 1)]
    assert second["epochs_trained"].sum() == 27 and (second["resource"] < 27).all()


def _time_to_target(jobs: pd.DataFrame, target: float) -> float:
    """Epochs until the runner's incumbent (best loss at the highest resource so far) is at R and <= target."""
    spent, best = 0, None
    for _, j in jobs[jobs["tell_seq"].notna()].sort_values("tell_seq").iterrows():
        spent += j["epochs_trained"] or 0
        if j["status"] == "ok":
            cand = (j["resource"], -j["loss"], -j["trial_id"])
            best = cand if best is None or cand > best else best
        if best is not None and best[0] == 27 and -best[1] <= target + 1e-12:
            return spent
    return math.inf


def test_speedup_equals_a_hand_computation(built, sweep):
    out, _ = built
    runs, jobs = _store(sweep)
    sp = pd.read_csv(out / f"speedup_{sweep.name}.csv", dtype=str).set_index("method")
    for b in (4, 8):
        rs = runs[(runs["label"] == "rs") & (runs["budget"] == b)]
        target = float(np.quantile(rs["inc_val_loss"], 0.75, method="lower"))  # reached by >= 3/4 of its runs
        t_ref = [_time_to_target(jobs[jobs["run_key"] == k], target) for k in rs["run_key"]]
        for label in ("hyperband", "bracket-aggressive"):
            keys = runs[(runs["label"] == label) & (runs["budget"] == b)]["run_key"]
            t = [_time_to_target(jobs[jobs["run_key"] == k], target) for k in keys]
            k = sum(math.isfinite(x) for x in t)
            med = float(np.quantile(t, 0.5, method="lower"))
            cell = next(sp.at[n, f"B={b}"] for n in sp.index if label in n.split(" = ") and sp.at[n, f"B={b}"] != "—")
            if math.isfinite(med):
                ratio = float(np.quantile(t_ref, 0.5, method="lower")) / med
                assert cell.startswith(f"{ratio:.2f}× [") and cell.endswith(f"({k}/6)"), (label, b, cell)
            else:
                assert cell == f"not reached ({k}/6)", (label, b, cell)
            assert "0.00" not in cell  # never a 0 bound standing in for "never"


def test_findings_state_effect_sizes_and_indistinguishable_when_the_ci_covers_zero(built, sweep):
    out, numbers = built
    f = numbers["results"][sweep.name]["statistics"]["findings"]
    text = (out / "paper.md").read_text()
    for b, x in f.items():
        if x["best"] != x["random"]:
            covers = x["val_lo"] <= 0 <= x["val_hi"]
            line = next(ln for ln in text.splitlines() if ln.startswith(f"- B = {b}:"))
            ci = f"validation regret {x['val_diff']:+.4f} [{x['val_lo']:+.4f}, {x['val_hi']:+.4f}]"
            assert (f"{ci}: indistinguishable from random search" in line) == covers, line
            assert ci in line
    assert "**Wasted budget.**" in text and "**Seed noise.**" in text and "**Neighbours.**" in text


def test_a_seeded_table_is_judged_by_seed_means(tmp_path):
    """On a table with training seeds the regret reference is the best configuration's mean over
    its seeds, not its luckiest seed (committed cpu-v2 recording shard, 3 seeds per configuration)."""
    from bench.tables.curves import export_curves
    from paper.stats import table_best
    table = export_curves([REPO / "results/curves-raw/cpu-v2-seed0-shard0of2"], tmp_path / "seeded.csv", partial=True)
    df = pd.read_csv(table)
    at_r = df[(df["status"] == "ok") & (df["epoch"] == df["epoch"].max())]
    assert at_r["train_seed"].nunique() == 3
    best = table_best(table, "val_loss")
    means = at_r.groupby("config_id")["val_loss"].mean()
    assert best["seed_mean"] and best["val"] == pytest.approx(means.min())
    assert best["val"] > at_r["val_loss"].min()  # the luckiest single seed is lower
    assert table_best(table, "val_miou")["test"] == pytest.approx((1 - at_r["test_miou"]).groupby(at_r["config_id"]).mean().min())


def test_replayed_incumbents_on_a_seeded_table_are_scored_by_seed_means(tmp_path, capsys):
    """On a table with training seeds a replayed incumbent is scored by its configuration's mean
    over the seeds at its resource (regret >= 0 at R), the drawn seed's values are kept beside it,
    the anytime trace ends on the same score, and the real-vs-replay check reads the drawn seed."""
    from paper.data import final_table, incumbent_trace, load
    from paper.realcheck import matched
    from paper.stats import final_regret, table_best
    from tests.test_harness import _suite
    from tests.test_replay import _seeded_table
    path, df = _seeded_table(tmp_path, n_configs=6)
    order = {cid: i for i, cid in enumerate(dict.fromkeys(df["config_id"]))}
    df["val_miou"] += 0.03 * df["config_id"].map(order) * (df["train_seed"] - 1)  # seeds disagree on the ranking
    df["test_miou"] += 0.02 * df["config_id"].map(order) + 0.05 * df["train_seed"]
    df.to_csv(path, index=False)
    means = df.groupby(["config_id", "epoch"])[["val_miou", "test_miou", "val_loss"]].mean()
    suite = f'''profile = "smoke"
backend = "replay"
curves = "{path}"
objective = "val_miou"
max_budget = 5
budgets = [3]
seeds = [0, 1, 2]
[[methods]]
label = "hb"
method = "hyperband"
[[methods]]
label = "rs"
method = "random-search"
'''
    # sampling = "neighbour" answers random search's asks with neighbours: the score follows the entry that answered
    for sampling in ("table", "neighbour"):
        out = tmp_path / sampling
        assert Runner(load_suite(_suite(tmp_path, f'sampling = "{sampling}"\n' + suite, f"{sampling}.toml")), out,
                      progress=False).run() == 0
        res = load(out)
        fin = final_regret(res, table_best(path, "val_miou"))
        stored = res.incumbents.set_index("run_key")
        from bench.tables.curves import _table, resolve
        table = _table(str(resolve(path)), "smoke")
        assert fin["val_miou"].notna().all() and (fin["mean_over"] == 3).all()
        for _, r in fin.iterrows():
            cid = table.lookup(json.loads(stored.at[r["run_key"], "config"]))
            assert r["val_miou"] == pytest.approx(means.at[(cid, int(r["resource"])), "val_miou"])
            assert r["test_miou"] == pytest.approx(means.at[(cid, int(r["resource"])), "test_miou"])
            assert r["val_miou_drawn"] == stored.at[r["run_key"], "val_miou"]
            assert r["test_miou_drawn"] == stored.at[r["run_key"], "test_miou"]
            assert r["val_obj"] == pytest.approx(1 - r["val_miou"])
        assert (fin["val_miou"] != fin["val_miou_drawn"]).any()  # a drawn seed is not the mean
        at_r = fin[fin["resource"] == 5]
        assert len(at_r) and (at_r["val_regret"] >= 0).all()  # seed mean against the best seed mean, same rounding
        assert (fin["val_regret_drawn"] == fin["val_obj_drawn"] - table_best(path, "val_miou")["val"]).all()
        trace = incumbent_trace(res)
        last = trace.groupby("run_key").tail(1).set_index("run_key")
        assert np.allclose(last.loc[fin["run_key"], "value"], fin["val_obj"])
        assert np.allclose(last.loc[fin["run_key"], "value_drawn"], fin["val_obj_drawn"])
        # every incumbent of every trace, below R too: the seed mean of the entry its trial's config maps to,
        # and the drawn value is that entry's curve on the seed the trial drew
        assert (trace["resource"] < 5).any()
        seeds = res.runs.set_index("run_key")["seed"]
        configs = res.jobs.drop_duplicates(["run_key", "trial_id"]).set_index(["run_key", "trial_id"])["config"]
        for _, t in trace.iterrows():
            cid = table.lookup(json.loads(configs[(t["run_key"], t["trial_id"])]))
            assert t["value"] == pytest.approx(1 - means.at[(cid, int(t["resource"])), "val_miou"])
            drawn = table.curve(cid, table.seed_for(cid, int(seeds[t["run_key"]]), int(t["trial_id"])))
            assert t["value_drawn"] == 1 - drawn[int(t["resource"])]["val_miou"]
        drawn = final_table(res, drawn=True).set_index("run_key")
        assert (drawn.loc[fin["run_key"], "test_miou"].to_numpy() == fin["test_miou_drawn"].to_numpy()).all()
        pairs = matched(res, res)
        assert all((p["replay"]["test_miou"].to_numpy() == drawn.loc[p["replay"]["run_key"], "test_miou"].to_numpy())
                   .all() for p in pairs)
    # the table changed after the runs: their scores would come from curves they never met
    from paper.__main__ import main as paper_main
    from paper.data import TableChanged
    df.assign(val_miou=df["val_miou"] + 0.01).to_csv(path, index=False)
    with pytest.raises(TableChanged, match=r"re-run the suite"):
        final_table(load(tmp_path / "table"))
    capsys.readouterr()
    assert paper_main([str(tmp_path / "table"), "--out", str(tmp_path / "build")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "now has hash" in err[0] and str(tmp_path / "table") in err[0]
    # a table of one seed per configuration: the stored values, no drawn columns
    one = tmp_path / "one.csv"
    df[df["train_seed"] == 0].drop(columns=["train_seed"]).to_csv(one, index=False)
    out = tmp_path / "one"
    assert Runner(load_suite(_suite(tmp_path, suite.replace(str(path), str(one)), "one.toml")), out,
                  progress=False).run() == 0
    res = load(out)
    fin = final_table(res)
    assert "val_miou_drawn" not in fin and "value_drawn" not in incumbent_trace(res)
    stored = res.incumbents.set_index("run_key")["val_miou"]
    assert (fin["val_miou"].to_numpy() == stored.loc[fin["run_key"]].to_numpy()).all()
