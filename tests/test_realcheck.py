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

from bench.loop.runner import Runner
from bench.config.suite import load_suite
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
    """The realcheck-replay.toml template of docs/replay.md is a valid replay suite whose runs have the roles
    (hence the matching in the paper) of bench/suites/realcheck.toml's runs. Loaded here on the
    committed cpu-seed0 table in place of cpu-v2.csv (a test does not depend on the large table)."""
    import re

    from methods.roles import role
    text = re.search(r"```toml\n(# Replayed twin.*?)```", (REPO / "docs" / "replay.md").read_text(), re.S).group(1)
    assert 'curves = "results/curves/cpu-v2.csv"' in text
    assert (REPO / "bench" / "suites" / "realcheck-replay.toml").read_text() == text  # the committed twin is the template
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


def _exact_mwu(x, y):
    """Two-sided Mann-Whitney p by enumerating every split of the pooled values (ties count 1/2):
    2 min(P(U <= u), P(U >= u)), at most 1."""
    import itertools
    pooled, n1 = list(x) + list(y), len(x)

    def u(idx):
        a = [pooled[i] for i in idx]
        b = [pooled[i] for i in range(len(pooled)) if i not in idx]
        return sum((p > q) + 0.5 * (p == q) for p in a for q in b)
    obs = u(range(n1))
    us = [u(c) for c in itertools.combinations(range(len(pooled)), n1)]
    return min(1.0, 2 * min(np.mean([v <= obs + 1e-9 for v in us]), np.mean([v >= obs - 1e-9 for v in us])))


def test_each_method_real_against_replayed_with_holm(twin, tmp_path):
    """Per method and B: an exact two-sided Mann-Whitney U of the real runs' against the replayed
    runs' final test mIoU, its Hodges-Lehmann shift (table) and Holm's correction over the methods
    (text); at 2 runs a side the text says no shift can be detected."""
    from statsmodels.stats.multitest import multipletests
    nums = realcheck.summary(REAL, twin, tmp_path)
    table = pd.read_csv(tmp_path / "realcheck.csv", dtype=str)
    fid = [f for f in nums["fidelity"] if f["tested"]]
    assert {(f["label"], f["budget"]) for f in fid} == {(r, b) for r in PAIRS for b in (1, 3)}
    db = sqlite3.connect(REAL / "results.db")
    others = {x for (x,) in db.execute("SELECT DISTINCT label FROM runs")} - set(PAIRS)  # no twin
    db.close()
    assert others and {f["label"] for f in nums["fidelity"] if not f["tested"]} == others
    for b in (1, 3):
        fs = [f for f in fid if f["budget"] == b]
        real = [_test_mious(REAL, f["label"], b) for f in fs]
        rep = [_test_mious(twin, PAIRS[f["label"]], b) for f in fs]
        want = [_exact_mwu(x, y) for x, y in zip(real, rep)]
        assert [f["p"] for f in fs] == pytest.approx(want)
        assert [f["p_holm"] for f in fs] == pytest.approx(list(multipletests(want, method="holm")[1]))
        for f, x, y in zip(fs, real, rep):
            assert f["shift"] == pytest.approx(np.median([q - r for q in y for r in x]))
            assert f["min_p"] == pytest.approx(1 / 3)  # 2 vs 2: 2 / C(4, 2)
            cell = table[(table["method"] == f"{f['label']} (replay: {PAIRS[f['label']]})") & (table["B"] == str(b))]
            assert cell[realcheck.MWU].iloc[0] == f"{f['p']:.2g}"
            assert cell[realcheck.SHIFT].iloc[0] == f"{f['shift']:+.3f}"
    assert (table.loc[table["method"] == "smac-bo", realcheck.MWU] == "—").all()
    r = nums["ranking"]["3"]
    assert [x["real_p_holm"] for x in r["pairs"]] == pytest.approx(
        list(multipletests([x["real_p"] for x in r["pairs"]], method="holm")[1]))
    text = realcheck.text(nums, tmp_path)
    for b in (1, 3):
        line = next(x for x in text.split("\n\n") if x.startswith(f"B = {b} R, each method's replayed runs"))
        assert "with 2 real vs 2 replayed runs" in line and "cannot detect any shift" in line
        untested = line.split("not tested (no runs with an incumbent on one side): ")[1].rstrip(".").split(", ")
        assert set(untested) == others


def _pair(label, real, replay):
    return {"label": label, "budget": 4.0, "real": pd.DataFrame({"test_miou": real}),
            "replay": pd.DataFrame({"test_miou": replay})}


def test_fidelity_finds_a_clear_shift_and_lists_what_it_cannot_test():
    """Synthetic samples (five runs a side): a replay that is clearly shifted is named with its shift,
    Holm's p and the caveat; an overlapping one is not; a method without replayed runs or without
    real incumbents is listed as not tested and stays out of the correction."""
    pairs = [_pair("shifted", [.30, .31, .32, .33, .34], [.40, .41, .42, .43, .44]),
             _pair("same", [.30, .35, .32, .38, .34], [.31, .36, .33, .37, .30]),
             _pair("tied", [.30, .30, .31, .32, .33], [.40, .30, .41, .42, .43]),
             _pair("no replay", [.3, .4], []),
             _pair("failed real", [np.nan, np.nan], [.3, .4])]
    fid = realcheck.fidelity(pairs)
    by = {f["label"]: f for f in fid}
    assert not by["no replay"]["tested"] and not by["failed real"]["tested"]
    tested = [f for f in fid if f["tested"]]
    ps = [_exact_mwu(p["real"]["test_miou"], p["replay"]["test_miou"]) for p in pairs[:3]]
    assert [f["p"] for f in tested] == pytest.approx(ps)
    assert by["shifted"]["p"] == pytest.approx(2 / 252) and by["shifted"]["shift"] == pytest.approx(0.10)
    asymptotic = stats.mannwhitneyu([.30, .30, .31, .32, .33], [.40, .30, .41, .42, .43], alternative="two-sided")
    assert abs(by["tied"]["p"] - asymptotic.pvalue) > 1e-3  # with a tie: exact, not the normal approximation
    text = realcheck.text({"ranking": {}, "fidelity": fid})
    assert "shifted against real training for shifted (Hodges-Lehmann shift +0.100" in text
    assert f"Holm {by['shifted']['p_holm']:.2g}" in text and by["shifted"]["p_holm"] < realcheck.ALPHA
    assert "no shift is detected for same" in text and "not evidence of fidelity" in text
    assert "not tested (no runs with an incumbent on one side): no replay, failed real" in text
