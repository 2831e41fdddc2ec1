"""Real vs replay (paper.realcheck) and the distinct entries / neighbour shares beside replayed
results (paper.replaystats).

Inputs: the committed real-training smoke store (``results/smoke``: real U-Net training on the
smoke profile) and a replayed twin made here on the committed smoke-profile curves table, with
other labels, so that matching by the stored role (not the label) is what is tested. With 2
seeds this tests the table and sentence code, not the replay's fidelity."""
import shutil
import sqlite3

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench.runner import Runner
from bench.suite import load_suite
from paper import realcheck, replaystats
from paper.data import load
from tests.conftest import REPO
from tests.test_paper import FIXTURE

REAL = REPO / "results" / "smoke"
TWIN = f"""
profile = "smoke"
backend = "replay"
curves = "{FIXTURE}"
budgets = [1, 3]
seeds = [0, 1]
resume_promotions = true
[[methods]]
label = "rs"
method = "random-search"
[[methods]]
label = "hb"
method = "hyperband"
params = {{ eta = 3 }}
[[methods]]
label = "gp"
method = "skopt-gp"
params = {{ n_initial = 3 }}
"""
PAIRS = {"hb-eta3": "hb", "random": "rs", "skopt-gp": "gp"}  # real label -> the replayed twin's label


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("twin")
    (tmp / "twin.toml").write_text(TWIN)
    assert Runner(load_suite(tmp / "twin.toml"), tmp / "replay", progress=False).run() == 0
    return tmp / "replay"


def _median_test_miou(results, label, budget):
    db = sqlite3.connect(results / "results.db")
    v = [x for (x,) in db.execute("SELECT i.test_miou FROM incumbents i JOIN runs r USING (run_key) "
                                  "WHERE r.label = ? AND r.budget = ?", (label, budget))]
    db.close()
    return float(np.median(v))


def test_real_vs_replay_table_matches_methods_by_role(twin, tmp_path):
    nums = realcheck.summary(REAL, twin, tmp_path)
    assert not nums.get("missing") and not nums["stand_in"] and nums["backends"] == ["train", "replay"]
    table = pd.read_csv(tmp_path / "realcheck.csv", dtype=str)
    assert (tmp_path / "realcheck.md").is_file() and (tmp_path / "realcheck.tex").is_file()
    for real_label, label in PAIRS.items():
        for b in (1, 3):
            cells = table[(table["method"] == f"{real_label} (replay: {label})") & (table["B"] == str(b))].iloc[0].tolist()
            assert cells[2].split(" [")[0] == f"{_median_test_miou(REAL, real_label, b):.3f}"
            assert cells[4].split(" [")[0] == f"{_median_test_miou(twin, label, b):.3f}"
            db = sqlite3.connect(twin / "results.db")
            e, s = zip(*db.execute("SELECT table_entries, neighbour_share FROM runs WHERE label = ? AND budget = ?",
                                   (label, b)))
            db.close()
            assert cells[6] == f"{np.median(e):g}" and cells[7] == f"{np.median(s):.0%}"
    # the real suite's other methods have no twin: listed, not dropped, and not ranked
    assert (table.loc[table["method"] == "smac-bo", "replay: test mIoU, median [IQR]"] == "not in the replay store").all()
    r = nums["ranking"]["3"]
    assert sorted(r["methods"]) == sorted(PAIRS) and len(r["pairs"]) == 3
    real_med = [_median_test_miou(REAL, m, 3) for m in r["methods"]]
    rep_med = [_median_test_miou(twin, PAIRS[m], 3) for m in r["methods"]]
    assert r["kendall_tau"] == pytest.approx(stats.kendalltau(real_med, rep_med).statistic)
    for p in r["pairs"]:
        i, j = r["methods"].index(p["a"]), r["methods"].index(p["b"])
        assert p["agree"] == (np.sign(real_med[i] - real_med[j]) == np.sign(rep_med[i] - rep_med[j]))
    text = realcheck.text(nums, tmp_path)
    assert "B = 3 R: The replay " in text and f"Kendall tau = {r['kendall_tau']:.2f}" in text
    assert "With 2 real runs per method" in text and "`smac-bo`" in text


def test_absent_stores_say_not_measured_yet(twin, tmp_path):
    nums = realcheck.summary(tmp_path / "realcheck", twin, tmp_path)
    assert nums["missing"] and not (tmp_path / "realcheck.md").exists()
    assert "Real vs replay: not measured yet" in realcheck.text(nums, tmp_path)
    same = realcheck.summary(twin, twin, tmp_path)  # two replayed stores: said to be stand-ins
    assert same["stand_in"] and "Stand-in inputs" in realcheck.text(same, tmp_path)


def test_replay_stats_beside_results_and_na_for_old_stores(twin, tmp_path):
    res = load(twin)
    t = replaystats.table(res).set_index("method")
    db = sqlite3.connect(twin / "results.db")
    e, s = zip(*db.execute("SELECT table_entries, neighbour_share FROM runs WHERE label = 'hb' AND budget = 3"))
    db.close()
    assert t.loc["hb", "B=3"] == f"{np.median(e):g} / {np.median(s):.0%}"
    assert replaystats.summary(res)["runs_with_values"] == len(res.runs)
    old = tmp_path / "old"  # a store from before runs stored these numbers: the columns do not exist
    shutil.copytree(twin, old)
    db = sqlite3.connect(old / "results.db")
    for c in replaystats.COLUMNS:
        db.execute(f"ALTER TABLE runs DROP COLUMN {c}")
    db.commit()
    db.close()
    res_old = load(old)
    assert (replaystats.table(res_old).drop(columns="method") == "n/a").all().all()
    nums = replaystats.write(res_old, tmp_path)
    assert nums["runs_with_values"] == 0 and "made before runs stored" in (tmp_path / "replay_old.md").read_text()
    # the report: one line for a store without the numbers, the table for a store with them
    assert "n/a for every method and B" in replaystats.section({"backend": "replay", "replay_stats": nums}, tmp_path,
                                                               "old")
    new = replaystats.write(res, tmp_path)
    assert replaystats.section({"backend": "replay", "replay_stats": new}, tmp_path, res.name) == \
        (tmp_path / f"replay_{res.name}.md").read_text()
    assert "real training" in replaystats.section({"backend": "train"}, tmp_path, "smoke")


def test_readme_twin_template_replays_realcheck_by_role(tmp_path):
    """The README's realcheck-replay.toml template is a valid replay suite whose runs have the roles
    (hence the matching in the paper) of bench/suites/realcheck.toml's runs. Loaded here on the
    committed cpu-seed0 table in place of cpu-v2.csv, which does not exist yet."""
    import re

    from methods.roles import role
    text = re.search(r"```toml\n(# Replayed twin.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    assert 'curves = "results/curves/cpu-v2.csv"' in text
    (tmp_path / "twin.toml").write_text(text.replace("results/curves/cpu-v2.csv",
                                                     str(REPO / "results" / "curves" / "cpu-seed0.csv")))
    twin, real = load_suite(tmp_path / "twin.toml"), load_suite(REPO / "bench" / "suites" / "realcheck.toml")

    def roles(suite):
        return {(r.budget, r.seed, role(r.method, r.params, r.min_budget, r.max_budget)["algorithm"])
                for r in suite.runs()}
    assert twin.runs()[0].backend == "replay" and real.runs()[0].backend != "replay"
    assert roles(twin) == roles(real) and len(roles(real)) == len(real.runs())


def _test_mious(results, label, budget):
    db = sqlite3.connect(results / "results.db")
    v = [x for (x,) in db.execute("SELECT i.test_miou FROM incumbents i JOIN runs r USING (run_key) "
                                  "WHERE r.label = ? AND r.budget = ?", (label, budget))]
    db.close()
    return v


def test_each_method_real_against_replayed_with_holm(twin, tmp_path):
    """Per method and B: a two-sided Mann-Whitney U of the real runs' against the replayed runs'
    final test mIoU, in the table (uncorrected) and in the text (Holm over the methods of one B)."""
    from statsmodels.stats.multitest import multipletests
    nums = realcheck.summary(REAL, twin, tmp_path)
    table = pd.read_csv(tmp_path / "realcheck.csv", dtype=str)
    fid = nums["fidelity"]
    assert {(f["label"], f["budget"]) for f in fid} == {(r, b) for r in PAIRS for b in (1, 3)}
    for b in (1, 3):
        fs = [f for f in fid if f["budget"] == b]
        want = [stats.mannwhitneyu(_test_mious(REAL, f["label"], b), _test_mious(twin, PAIRS[f["label"]], b),
                                   alternative="two-sided").pvalue for f in fs]
        assert [f["p"] for f in fs] == pytest.approx(want)
        assert [f["p_holm"] for f in fs] == pytest.approx(list(multipletests(want, method="holm")[1]))
        for f in fs:
            cell = table[(table["method"] == f"{f['label']} (replay: {PAIRS[f['label']]})") & (table["B"] == str(b))]
            assert cell[realcheck.MWU].iloc[0] == f"{f['p']:.2g}"
    assert (table.loc[table["method"] == "smac-bo", realcheck.MWU] == "—").all()  # no twin: no test
    text = realcheck.text(nums, tmp_path)
    for b in (1, 3):
        line = next(x for x in text.split("\n\n") if x.startswith(f"B = {b} R, each method's real runs"))
        differ = [f["label"] for f in fid if f["budget"] == b and f["p_holm"] < realcheck.ALPHA]
        assert ("differs from real training for" in line) == bool(differ)
        assert "2 real vs 2 replayed runs" in line and "not evidence of fidelity" in line
