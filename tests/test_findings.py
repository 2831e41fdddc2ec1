"""The Findings family: Holm's step over the like-for-like comparisons, and a generated sentence checked by hand."""
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from paper.findings import text


def test_holm_step_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert multipletests(p, method="holm")[1] == pytest.approx([0.03, 0.06, 0.06, 0.02])


def _row(**kw):
    base = {"store": "nvsbn", "objective": "val_loss", "B": 13.222222222222221, "method": "skopt-gp",
            "answering": "table", "random_answering": "table", "runs": 30, "like_for_like": True,
            "iqm_diff": -0.0080, "lo": -0.0138, "hi": -0.0031, "effect_sd": -0.32, "test_miou_diff": 0.006,
            "p": 0.001, "p_holm": 0.012, "verdict": "lower regret"}
    return {**base, **kw}


def test_findings_sentence_by_hand():
    df = pd.DataFrame([_row(), _row(method="hyperband", iqm_diff=0.001, lo=-0.004, hi=0.006, p=0.4, p_holm=1.0,
                                    verdict="indistinguishable"),
                       _row(method="smac-bo", answering="neighbour", like_for_like=False, iqm_diff=np.nan,
                            p=np.nan, p_holm=np.nan, verdict="not tested (no random search answered alike)")])
    out = text(df).splitlines()
    assert out[0] == ("- `skopt-gp` at B = 13.2222 R (nvsbn, objective val_loss, it and random search answered by the table): validation "
                      "regret lower than random search's by 0.0080 [-0.0138, -0.0031] (IQM difference, 95% CI; "
                      "Holm-corrected p = 0.012), 0.32 training-seed sds; test mIoU +0.0060. It was not checked without "
                      "the top configuration; it was not checked without the top 3 configurations.")
    assert "Of 2 comparisons with random search answered alike" in out[1] and "1 differ" in out[1]
    assert "1 comparison(s) were not tested" in out[2] and "`smac-bo`" in out[2]
    assert out[-1] == "- Seeds per comparison (runs of the method per cell): 30 with the whole table."
    kept = df.iloc[:2].assign(runs=[30, 29])
    k1 = kept.assign(drop_top=1, runs=[22, 21])
    assert text(pd.concat([kept, k1], ignore_index=True)).splitlines()[-1] == (
        "- Seeds per comparison (runs of the method per cell): 29-30 with the whole table; 21-22 with its best 1 "
        "configuration(s) left out.")


# -- on a small replayed sweep ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    """A small replayed sweep on a five-configuration table (tests.test_drop_top): random search and successive
    halving (n = 3) answered by the table, and random search answered through the nearest-neighbour map, 24 seeds
    at B = 2 R. Successive halving picks at epoch 1, where the table's worst configuration at R looks best."""
    from bench.loop.runner import Runner
    from bench.config.suite import load_suite
    from paper import stats as st
    from paper.data import load
    from tests.test_drop_top import _suite, _table
    tmp = tmp_path_factory.mktemp("sweep")
    path, _, _ = _table(tmp)
    loaded, bests = {}, {}
    for name, methods, sampling in (("tab", ("random", "sh"), "candidates"), ("nbr", ("random",), "neighbour")):
        suite = load_suite(_suite(tmp, path, name, 0, methods, sampling, seeds=range(24), budget=2))
        assert Runner(suite, tmp / name, progress=False).run() == 0
        loaded[name] = load(tmp / name)
        bests[name] = st.table_best(str(path), "val_loss")
    return loaded, bests


def test_holm_and_a_findings_sentence_by_hand_on_a_small_replayed_sweep(small_sweep):
    from scipy.stats import mannwhitneyu

    from paper import findings
    from paper import stats as st
    loaded, bests = small_sweep
    df = findings.compute(loaded, bests)
    tested = df[df["like_for_like"].astype(bool)]
    assert list(tested["method"]) == ["sh"] and tested["random_store"].iloc[0] == "tab"
    r = tested.iloc[0]
    fin = st.final_regret(loaded["tab"], bests["tab"])
    sh, rs = (fin.loc[fin["label"] == lab, "val_regret"].to_numpy() for lab in ("sh", "rs"))
    assert len(sh) == len(rs) == 24
    p = mannwhitneyu(sh, rs, alternative="two-sided").pvalue
    assert r["p"] == pytest.approx(p)
    assert r["p_holm"] == pytest.approx(min(1.0, p))  # a family of one: Holm multiplies by 1
    # with two more p-values the family is three: Holm's step by hand on compute's p
    fam = pd.concat([df, df.assign(method="x", p=0.001), df.assign(method="y", p=0.02)], ignore_index=True)
    fam["p_holm"] = multipletests(fam["p"].to_numpy(dtype=float), method="holm")[1]
    by_hand = sorted([(0.001, 3), (0.02, 2), (p, 1)])
    running, expect = 0.0, {}
    for i, (pv, _) in enumerate(by_hand):
        running = max(running, min(1.0, pv * (3 - i)))
        expect[pv] = running
    assert fam["p_holm"].tolist() == pytest.approx([expect[p], expect[0.001], expect[0.02]])
    # successive halving picks at epoch 1, where the table's worst configuration at R looks best: higher regret
    assert r["verdict"] == "higher regret" and r["iqm_diff"] > 0
    d, lo, hi = st.iqm_difference_ci(sh, rs)
    line = findings.text(df).splitlines()[0]
    assert line == (f"- `sh` at B = 2 R (tab, objective val_loss, it and random search answered by the table): validation "
                    f"regret higher than random search's by {abs(d):.4f} [{lo:+.4f}, {hi:+.4f}] (IQM difference, 95% CI; "
                    f"Holm-corrected p = {p:.3g}), {abs(r['effect_sd']):.2f} training-seed sds; test mIoU "
                    f"{r['test_miou_diff']:+.4f}. It was not checked without the top configuration; it was not checked "
                    "without the top 3 configurations.")


def test_runs_answered_differently_are_never_compared(small_sweep):
    """The neighbour-answered random search of the sweep is never the reference of a table-answered method: with only
    it in the sweep, successive halving is not tested."""
    from paper import findings
    loaded, bests = small_sweep
    df = findings.compute({"nbr": loaded["nbr"], "tab": loaded["tab"]}, bests)
    assert set(df.loc[df["like_for_like"].astype(bool), "random_answering"]) == {"table"}
    # without the table-answered random search, nothing answered alike remains for successive halving
    only = loaded["tab"].runs[loaded["tab"].runs["label"] == "sh"]
    tab = type(loaded["tab"])(loaded["tab"].name, loaded["tab"].path, only,
                              *(f[f["run_key"].isin(only["run_key"])] for f in (loaded["tab"].jobs, loaded["tab"].evals,
                                                                                  loaded["tab"].incumbents)))
    df = findings.compute({"nbr": loaded["nbr"], "tab": tab}, bests)
    row = df[df["method"] == "sh"].iloc[0]
    assert not row["like_for_like"] and row["answering"] == "table" and np.isnan(row["p_holm"])
    assert row["verdict"].startswith("not tested")
