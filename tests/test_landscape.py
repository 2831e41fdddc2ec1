"""The landscape of a curves table (paper.landscape): seed noise vs configuration spread and rank
correlations by epoch, on the committed real tables (cpu-v2 shard 0: several training seeds;
cpu-seed0: one), equal to direct computations and to ``bench recipe-report``'s criterion."""
import itertools
import sqlite3

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench.tables.curves import export_curves
from bench.tables.recipe import final_curves, seed_spread
from paper import landscape
from tests.conftest import REPO

SHARD = REPO / "results" / "curves-raw" / "cpu-v2-seed0-shard0of2"  # committed part of the cpu-v2 recording
ONE_SEED = REPO / "results" / "curves" / "cpu-seed0.csv"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """The committed cpu-v2 recording shard exported as a curves table (several training seeds)."""
    return export_curves(SHARD, tmp_path_factory.mktemp("curves") / "cpu-v2-shard0.csv", partial=True)


def _finals(path):
    df = pd.read_csv(path, float_precision="round_trip")
    R = df["epoch"].max()
    f = df[(df["epoch"] == R) & (df["status"] == "ok")]
    full = f.groupby("config_id")["train_seed"].transform("nunique") == f["train_seed"].nunique()
    return df, f[full], R


def test_seed_noise_is_the_recipe_criterion(seeded):
    df, f, R = _finals(seeded)
    ok = landscape.read_table(seeded)
    for metric in ("val_loss", "val_miou"):
        n = landscape.noise(ok, metric)
        sd = f.groupby("config_id")[metric].std(ddof=1)
        means = f.groupby("config_id")[metric].mean()
        iqr = means.quantile(0.75) - means.quantile(0.25)
        assert n["seeds"] == df["train_seed"].nunique() >= 2 and n["configs"] == len(means) and n["R"] == R
        assert n["seed_sd"] == pytest.approx(sd.median()) and n["iqr"] == pytest.approx(iqr)
        assert n["ratio"] == pytest.approx(sd.median() / iqr)
        lo, hi = n["seed_sd_ci"]
        assert lo <= n["seed_sd"] <= hi and lo >= sd.min() and hi <= sd.max()
        assert n["ratio_ci"][0] <= n["ratio"] <= n["ratio_ci"][1]
        best = means.max() - means.median() if metric == "val_miou" else means.median() - means.min()
        assert n["best_minus_median"] == pytest.approx(best)
        w = f.pivot(index="config_id", columns="train_seed", values=metric)
        for a, b in itertools.combinations(sorted(w.columns), 2):
            assert n["seed_to_seed"][f"{a}-{b}"] == pytest.approx(stats.spearmanr(w[a], w[b]).statistic)
    # the same numbers as bench recipe-report computes from the recording store itself (docs/task.md's recipe table)
    _, store = final_curves(SHARD)
    for metric in ("val_loss", "val_miou"):
        want, n = seed_spread(store, metric), landscape.noise(ok, metric)
        assert (want["configs"], want["seeds"]) == (n["configs"], n["seeds"])
        for k in ("seed_sd", "iqr", "ratio", "best_minus_median"):
            assert n[k] == pytest.approx(want[k], rel=1e-9), (metric, k)


def test_rank_correlation_by_epoch_per_seed_and_of_seed_means(seeded):
    df, _, R = _finals(seeded)
    long = landscape.rank_by_epoch(landscape.read_table(seeded), "val_miou")
    seeds = sorted(df["train_seed"].unique())
    assert set(long["curve"]) == {f"seed {s}" for s in seeds} | {landscape.MEAN}
    assert sorted(long["epoch"].unique()) == list(range(1, R + 1))
    assert np.allclose(long.loc[long["epoch"] == R, "rho"], 1.0)
    whole = df[df["config_id"].isin(set(_finals(seeded)[1]["config_id"]))]  # every seed reached R (a recording
    s = seeds[0]                                                            # in progress has partial groups)
    g = whole[whole["train_seed"] == s].pivot(index="config_id", columns="epoch", values="val_miou")
    got = long[(long["curve"] == f"seed {s}") & (long["epoch"] == 5)]["rho"].item()
    assert got == pytest.approx(stats.spearmanr(g[5], g[R]).statistic)
    m = whole.groupby(["config_id", "epoch"])["val_miou"].mean().unstack()
    got = long[(long["curve"] == landscape.MEAN) & (long["epoch"] == 3)]["rho"].item()
    assert got == pytest.approx(stats.spearmanr(m[3], m[R]).statistic)


def test_one_seed_table_says_no_seed_noise_and_keeps_its_spread(tmp_path):
    nums = landscape.summary(ONE_SEED, tmp_path)
    v = nums["noise"]["val_miou"]
    df = pd.read_csv(ONE_SEED)
    last = df[df["epoch"] == df["epoch"].max()]
    assert v["seeds"] == 1 and "seed_sd" not in v and v["configs"] == last["config_id"].nunique()
    assert v["iqr"] == pytest.approx(last["val_miou"].quantile(0.75) - last["val_miou"].quantile(0.25))
    text = landscape.text({ONE_SEED.stem: nums}, tmp_path)
    assert "One training seed: no seed noise recorded" in text
    assert "Training-seed noise: not measured yet" in text
    assert "one training seed: no seed noise recorded" in (tmp_path / f"landscape_{ONE_SEED.stem}.md").read_text()
    assert len(pd.read_csv(tmp_path / f"rank_by_epoch_{ONE_SEED.stem}.csv")) == df["epoch"].max()
    assert (tmp_path / f"rank_by_epoch_{ONE_SEED.stem}.png").stat().st_size > 1000
    assert "not measured yet" in landscape.text({}, None)


def test_seeded_table_in_the_paper(seeded, tmp_path):
    """A table with training seeds: the report quotes its numbers, and the curve summary (the
    section-3 figure) reads it as seed means instead of failing on repeated configurations."""
    from paper.build import curves_summary
    nums = landscape.summary(seeded, tmp_path)
    text = landscape.text({seeded.stem: nums}, tmp_path)
    v = nums["noise"]["val_miou"]
    assert f"sd / IQR = {v['ratio']:.2f}" in text and "not measured yet" not in text
    assert f"{v['configs']} configurations x {v['seeds']} training seeds" in text
    _, c = curves_summary(seeded, tmp_path)
    assert c["train_seeds"] == v["seeds"] and c["complete"] == v["configs"]


def test_a_partial_table_says_so_in_the_paper(seeded, tmp_path):
    """A table exported from an unfinished recording (``--partial``) is marked in section 3 with its
    number of curves; a complete one is not."""
    import json

    from paper.build import curves_summary
    from paper.report import values
    meta = json.loads(seeded.with_suffix(".meta.json").read_text())
    _, c = curves_summary(seeded, tmp_path)
    assert c["recording_complete"] is meta["complete"] and c["recording_curves"] == meta["curves"]
    text = landscape.text({seeded.stem: landscape.summary(seeded, tmp_path)}, tmp_path)
    assert ("a partial recording, exported before it was whole" in text) == (not meta["complete"])
    # a table exported before the flag existed: complete when every recording run had ended
    old = tmp_path / "old" / seeded.name
    old.parent.mkdir()
    old.write_bytes(seeded.read_bytes())
    for status, complete in (("running", False), ("done", True), ("infeasible", True)):
        runs = [{"run_key": "record/cpu-v2/seed0", "status": "done", "wall_seconds": 1.0},
                {"run_key": "record/cpu-v2/seed1", "status": status, "wall_seconds": 1.0}]
        old.with_suffix(".meta.json").write_text(json.dumps({"runs": runs}))
        _, o = curves_summary(old, tmp_path)
        assert o["recording_complete"] is complete
        assert o["recording_incomplete_because"] == ([] if complete else ["record/cpu-v2/seed1: status running"])
    for complete in (False, True):
        v = values({"curves": {seeded.stem: dict(c, recording_complete=complete)}}, tmp_path)
        assert v["table_partial"] == v[f"{seeded.stem.replace('-', '_')}_partial"]
        if complete:
            assert v["table_partial"] == ""
        else:
            assert "partial recording" in v["table_partial"]
            assert f"only the {meta['curves']} curves that had ended" in v["table_partial"]


def test_recipe_report_pools_the_shards_of_one_recording(tmp_path):
    """Both committed shards of the cpu-v2 recording are one recipe: their configurations are pooled
    (not intersected, which would leave none), and a shard given twice counts once."""
    from bench.tables.recipe import recipe_table
    shards = []
    for src in (SHARD, SHARD.parent / "cpu-v2-seed0-shard1of2"):  # a snapshot: the recording may be writing them
        (tmp_path / src.name).mkdir()
        with sqlite3.connect(f"file:{src / 'results.db'}?mode=ro", uri=True) as a, \
                sqlite3.connect(tmp_path / src.name / "results.db") as b:
            a.backup(b)
        shards.append(tmp_path / src.name)
    parts = [final_curves(s)[1] for s in shards]
    both = pd.concat(parts, ignore_index=True)
    assert len(parts[0]) and len(parts[1]) and not set(parts[0]["config"]) & set(parts[1]["config"])
    for given in (shards, shards + [shards[0]]):
        t = recipe_table(given, n_boot=10)
        assert set(t["recipe"]) == {"cpu-v2"}
        loss = t[t["metric"] == "val_loss"].iloc[0]
        want = seed_spread(both, "val_loss")
        assert loss["configs"] == want["configs"] == both["config"].nunique()
        assert loss["ratio"] == pytest.approx(want["ratio"], rel=1e-12)
        whole = t[t["validation"].str.startswith("all ")].iloc[0]
        assert whole["ratio"] == pytest.approx(seed_spread(both, "val_miou")["ratio"], rel=1e-12)
