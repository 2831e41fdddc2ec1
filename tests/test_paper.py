"""The paper is built from stored results only: every figure and table, values equal to the store's,
missing runs counted, the same inputs giving byte-identical tables."""
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from bench.loop.runner import Runner
from bench.config.suite import load_suite
from paper.build import build
from paper.report import render

FIXTURE = Path(__file__).parent / "fixtures" / "smoke-curves.csv"
SWEEP = f"""
profile = "smoke"
backend = "replay"
curves = "{FIXTURE}"
budgets = [1, 2]
seeds = [0, 1, 2]
[[methods]]
label = "sh-n1"
method = "successive-halving"
params = {{ n = 1, bracket_budget = "$B" }}
[[methods]]
label = "sh-n3"
method = "successive-halving"
params = {{ n = 3, bracket_budget = "$B" }}
[[methods]]
label = "sh-n9"
method = "successive-halving"
params = {{ n = 9, bracket_budget = "$B" }}
[[methods]]
label = "hb-s1"
method = "hyperband-bracket"
params = {{ s = 1 }}
[[methods]]
label = "hyperband"
method = "hyperband"
[[methods]]
label = "random"
method = "random-search"
[[methods]]
label = "skopt-gp"
method = "skopt-gp"
params = {{ n_initial = 2 }}
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A small replayed n vs B/n sweep on real (smoke-profile) curves, with one run missing."""
    tmp = tmp_path_factory.mktemp("sweep")
    (tmp / "sweep.toml").write_text(SWEEP)
    assert Runner(load_suite(tmp / "sweep.toml"), tmp / "nvsbn", progress=False).run() == 0
    db = sqlite3.connect(tmp / "nvsbn" / "results.db")
    for table in ("runs", "jobs", "evaluations", "incumbents"):  # as if one run never happened
        db.execute(f"DELETE FROM {table} WHERE run_key = 'random/B2/seed2'")
    db.commit()
    db.close()
    return tmp / "nvsbn"


@pytest.fixture(scope="module")
def real(tiny_real, tmp_path_factory):
    """The tiny real-training results, under the name the paper's template knows (``smoke``)."""
    dest = tmp_path_factory.mktemp("real") / "smoke"
    shutil.copytree(tiny_real, dest)
    return dest


@pytest.fixture(scope="module")
def built(sweep, real, tmp_path_factory):
    out = tmp_path_factory.mktemp("paper") / "build"
    numbers = build([sweep, real], out, [FIXTURE])
    render(numbers, out)
    return out, numbers


def test_every_figure_and_table_exists(built, sweep, real):
    out, _ = built
    for stem in ("anytime_epochs", "anytime_seconds", "nvsbn", "brackets"):
        for ext in ("png", "pdf"):
            assert (out / f"{stem}_{sweep.name}.{ext}").stat().st_size > 1000
    for stem in ("anytime_epochs", "tile5", "incumbent_losses", "per_class"):
        assert (out / f"{stem}_{real.name}.png").is_file()
    assert (out / f"curves_{FIXTURE.stem}.png").is_file()
    for stem in ("final", "speedup", "coverage", "nvsbn", "speed"):
        for ext in ("md", "csv", "tex"):
            assert (out / f"{stem}_{sweep.name}.{ext}").is_file()
    assert "\\toprule" in (out / f"final_{sweep.name}.tex").read_text()
    text = (out / "paper.md").read_text()
    assert not re.search(r"\$[A-Za-z_]", text), "every template field is filled"
    assert "replayed learning curves" in text and "real training" in text


def test_table_values_equal_the_store(built, sweep):
    out, _ = built
    db = sqlite3.connect(sweep / "results.db")
    vals = [v for (v,) in db.execute("SELECT i.test_miou FROM incumbents i JOIN runs r USING (run_key) "
                                     "WHERE r.label = 'hyperband' AND r.budget = 1 ORDER BY r.seed")]
    import statistics
    want = f"{statistics.mean(vals):.3f} ± {statistics.stdev(vals):.3f}"
    final = (out / f"final_{sweep.name}.csv").read_text()
    row = next(line for line in final.splitlines() if line.startswith("hyperband,"))
    assert row.split(",")[1] == want
    cells = json.loads(json.dumps(built[1]["results"][sweep.name]["nvsbn_winners"]))
    assert set(cells) == {"1", "2"}
    grid = pd.read_csv(out / f"nvsbn_{sweep.name}.csv")
    # n = 1 trains its one configuration to R: no halving; n = 3 in 2R = 18 epochs halves (3x3, then 1x9)
    assert grid.loc[grid["n"] == 1, "single_rung"].all()
    assert not grid.loc[(grid["n"] == 3) & (grid["budget"] == 2), "single_rung"].item()
    for b, g in grid.groupby("budget"):  # the n with the best validation median win (ties: all of them)
        winners = set(g.loc[g["winner"], "n"])
        assert winners and winners <= set(g.loc[g["val_miou"] == g["val_miou"].max(), "n"])
        assert cells[f"{b:g}"] == sorted(winners)
    runs, sim, wall, jobs = db.execute(
        "SELECT COUNT(*), SUM(eval_seconds), SUM(wall_seconds), SUM((SELECT COUNT(*) FROM jobs j WHERE "
        "j.run_key = r.run_key)) FROM runs r WHERE label = 'hyperband' AND status = 'done'").fetchone()
    speed = pd.read_csv(out / f"speed_{sweep.name}.csv", dtype=str).set_index("method").loc["hyperband"]
    assert [speed["runs"], speed["wall s"], speed["training s"]] == [str(runs), f"{wall:.1f}", f"{sim:.0f}"]
    assert float(speed["jobs per wall s"].replace(",", "")) == pytest.approx(jobs / wall, rel=0.01, abs=0.01)
    f = built[1]["results"][sweep.name]["statistics"]["findings"]["1"]  # effect sizes: tests/test_stats.py
    assert f["columns"] >= 2 and f["random"].split(" = ")[0] in {"sh-n1", "random"}


def test_missing_and_infeasible_runs_are_counted(built, sweep):
    out, numbers = built
    final = (out / f"final_{sweep.name}.md").read_text()
    random_row = next(line for line in final.splitlines() if line.startswith("| random |"))
    assert "(2/3)" in random_row.split("|")[3]              # B=2: one of three seeds missing
    sh9 = next(line for line in final.splitlines() if line.startswith("| sh-n9 |"))
    assert "infeasible" in sh9
    cov = (out / f"coverage_{sweep.name}.csv").read_text().splitlines()
    assert "random,2.0,3,2,0,0,1" in cov
    assert numbers["results"][sweep.name]["missing_or_failed"] >= 1


def test_same_inputs_give_byte_identical_tables(built, sweep, real, tmp_path):
    out, _ = built
    again = tmp_path / "again"
    build([sweep, real], again, [FIXTURE])
    for f in sorted(out.glob("*")):
        if f.suffix in (".md", ".csv", ".tex") and f.name != "paper.md":
            assert (again / f.name).read_bytes() == f.read_bytes(), f.name


def test_missing_results_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results store"):
        build([tmp_path / "nothing"], tmp_path / "out")


def test_curve_numbers_equal_the_table(built):
    """The recorded-curve numbers the report quotes (spread, rank correlations) are the table's."""
    from scipy import stats
    _, numbers = built
    c = numbers["curves"][FIXTURE.stem]
    df = pd.read_csv(FIXTURE, float_precision="round_trip")
    R = int(df["epoch"].max())
    last = df[df["epoch"] == R].set_index("config_id")
    first = df[df["epoch"] == 1].set_index("config_id").loc[last.index]
    assert c["configs"] == df["config_id"].nunique() and c["R"] == R
    assert c["final_val_miou"]["min"] == last["val_miou"].min()
    assert c["final_val_miou"]["median"] == pytest.approx(last["val_miou"].median())
    assert c["spearman_val_loss_vs_final"][1] == pytest.approx(stats.spearmanr(first["val_loss"], last["val_loss"])[0])
    assert c["spearman_final_val_loss_vs_val_miou"] == pytest.approx(
        stats.spearmanr(last["val_loss"], last["val_miou"])[0])
    from paper.report import values
    fields = values(json.loads(json.dumps(numbers)), built[0])  # as rendered from numbers.json
    assert fields["smoke_curves_rho1"] == f"{c['spearman_val_loss_vs_final'][1]:.2f}"
    assert fields["smoke_curves_rho_loss_miou"] == f"{c['spearman_final_val_loss_vs_val_miou']:.2f}"


def test_the_curves_section_follows_the_table_the_sweep_replays(built):
    """Section 3's ``table_*`` fields describe the table the n vs B/n store replays (from its statistics),
    whichever other tables are committed; a seeded table gets the training-seed threat, not "one seed"."""
    from paper.report import values
    out, numbers = built
    numbers = json.loads(json.dumps(numbers))
    fields = values(numbers, out)
    assert fields["table_name"] == f"`{FIXTURE}`"  # the path the store records
    assert fields["table_configs"] == fields["smoke_curves_configs"] and "One recording seed" in fields["table_threat_seeds"]
    seeded = dict(numbers["curves"][FIXTURE.stem], configs=128, train_seeds=3)
    numbers["curves"]["cpu-v9"] = seeded  # a second table; the sweep is said to replay it
    numbers["results"]["nvsbn"]["statistics"]["table_best"]["path"] = "results/curves/cpu-v9.csv"
    fields = values(numbers, out)
    assert fields["table_configs"] == "128" and fields["table_name"] == "`results/curves/cpu-v9.csv`"
    assert "3 recording seeds" in fields["table_threat_seeds"] and "3 training seeds each" in fields["table_seeds"]
    assert "The table is finite (128 configurations)" in fields["table_threat_seeds"]
    del numbers["results"]["nvsbn"]["statistics"]
    assert "not available" in values(numbers, out)["table_configs"]  # no sweep, two tables: a gap, not a guess
    del numbers["curves"][FIXTURE.stem]
    assert values(numbers, out)["table_configs"] == "128"  # no sweep, one table: that table


def test_sections_are_filled_by_what_a_store_holds_not_its_folder_name(sweep, tmp_path):
    """The sweep under a folder name the template does not know still fills the n vs B/n section
    (paper.sections), with the tables of that store; a second store of the same content in a folder named
    like the section does not take it (the first given fills it). Real-training sections: the test below."""
    from paper.report import values
    other, namesake = tmp_path / "my-sweep", tmp_path / "nvsbn"
    shutil.copytree(sweep, other)
    shutil.copytree(sweep, namesake)
    out = tmp_path / "build"
    numbers = build([other, namesake], out, [FIXTURE])
    assert numbers["results"]["my-sweep"]["section"] == "nvsbn" and "section" not in numbers["results"]["nvsbn"]
    text = render(numbers, out).read_text()
    fields = values(numbers, out)
    for key in ("nvsbn_iqm_table", "nvsbn_final_table", "nvsbn_winners", "nvsbn_findings", "table_configs"):
        assert "not available" not in fields[key], key
    assert fields["nvsbn_final_table"] == (out / "final_my-sweep.md").read_text()
    assert "`results/my-sweep/`" in fields["nvsbn_source"] and "`results/my-sweep/`" in text


def test_a_store_fills_one_section_and_table_sampling_is_preferred():
    from paper.sections import assign, section_of
    f = {"backend": "replay", "profile": ["cpu-v2"], "objective": "val_loss", "sampling": ["neighbour"],
         "workers": [1], "budget_aware": False, "sh_ns": [1, 3, 9]}
    assert section_of(f) == "nvsbn" and section_of(dict(f, objective="val_miou")) == "nvsbn_miou"
    assert section_of(dict(f, budget_aware=True)) is None and section_of(dict(f, sh_ns=[9])) is None
    assert section_of(dict(f, workers=[1, 4])) == "workers"
    assert section_of(dict(f, backend="train", profile=["cpu"])) == "cpu"
    assert section_of(dict(f, backend="train", profile=["cpu-v2"])) is None
    stores = {"a": f, "nvsbn-x": dict(f, sampling=["table"]), "c": dict(f, sampling=["table"])}
    assert assign(stores) == {"nvsbn-x": "nvsbn"}  # table sampling first, then the order given
    assert assign({"a": f, "b": f}) == {"a": "nvsbn"}


# -- the cheaper computations give what the per-run ones gave (issue 26) ------------------------
def _trace_per_run(res):
    """``paper.data.incumbent_trace`` as it was computed before (one frame per run), without the seed means."""
    import numpy as np
    done = set(res.runs.loc[res.runs["status"] == "done", "run_key"])
    jobs = res.jobs[res.jobs["run_key"].isin(done) & res.jobs["tell_seq"].notna()]
    secs = res.evals.groupby(["run_key", "job_id"], as_index=False)["seconds"].sum()
    jobs = jobs.merge(secs, on=["run_key", "job_id"], how="left").sort_values(["run_key", "tell_seq"], kind="stable")
    runs = res.runs.set_index("run_key")
    out = []
    for key, g in jobs.groupby("run_key", sort=False):
        tuner = float(runs.at[key, "tuner_seconds"] or 0.0) / max(1, len(g))
        epochs = np.cumsum(g["epochs_trained"].fillna(0).to_numpy(dtype=float))
        seconds = np.cumsum(g["seconds"].fillna(0).to_numpy(dtype=float) + tuner)
        finished = pd.to_numeric(g["finished"]).to_numpy(dtype=float)
        val = g["loss"].to_numpy(dtype=float)
        ok = (g["status"] == "ok").to_numpy() & np.isfinite(val)
        best, rows = None, []
        for k in range(len(g)):
            if ok[k]:
                cand = (int(g["resource"].iloc[k]), -val[k], -int(g["trial_id"].iloc[k]))
                best = cand if best is None or cand > best else best
            if best is not None:
                rows.append((epochs[k], seconds[k], finished[k], -best[2], best[0], -best[1]))
        if rows:
            r = runs.loc[key]
            d = pd.DataFrame(rows, columns=["epochs", "seconds", "finished", "trial_id", "resource", "value"])
            for i, c in enumerate(("label", "budget", "seed", "workers")):
                d.insert(i, c, r[c])
            d.insert(0, "run_key", key)
            out.append(d)
    return pd.concat(out, ignore_index=True)


def test_incumbent_trace_built_at_once_equals_the_per_run_frames(sweep):
    from paper.data import incumbent_trace, load
    res = load(sweep)
    got = incumbent_trace(res)
    assert res.backend == "replay" and len(got)
    pd.testing.assert_frame_equal(got.drop(columns=["value_drawn"], errors="ignore")
                                  .assign(value=got.get("value_drawn", got["value"])),
                                  _trace_per_run(res), check_exact=True, check_dtype=False)


def test_step_grid_and_bootstrap_medians_equal_the_per_run_computation(sweep):
    import numpy as np
    from paper.data import incumbent_trace, load
    from paper.figures import _medians, step_grid
    trace = incumbent_trace(load(sweep))
    grid = np.geomspace(1.0, float(trace["epochs"].max()), 40)
    got = step_grid(trace, "epochs", grid)
    for key, g in trace.groupby("run_key", sort=False):  # each run: its incumbent as a step function of epochs
        x, y = g["epochs"].to_numpy(), g["value"].to_numpy()
        i = np.searchsorted(x, grid, side="right") - 1
        want = np.where(i >= 0, y[np.clip(i, 0, None)], np.nan)
        row = got[got["run_key"] == key]
        assert (row["label"] == g["label"].iloc[0]).all()
        np.testing.assert_array_equal(row["x"].to_numpy(), grid)
        np.testing.assert_array_equal(row["value"].to_numpy(), want)
    assert list(dict.fromkeys(got["run_key"])) == list(dict.fromkeys(trace["run_key"]))
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 30, 31):
        a = rng.random((n, 25)).round(1)  # ties, as incumbents that stopped changing give
        idx = rng.integers(0, n, (200, n))
        np.testing.assert_array_equal(_medians(a, idx), np.median(a[idx], axis=1))


def test_wasted_budget_is_computed_once_and_equals_the_per_run_reading(sweep):
    import json

    import numpy as np
    from paper.data import load
    from paper.stats import wasted
    res = load(sweep)
    got = wasted(res)
    assert "wasted" in res.cache
    pd.testing.assert_frame_equal(wasted(res), got)  # the second call reads the first one's
    R = res.max_budget
    jobs = res.jobs[res.jobs["tell_seq"].notna()]
    for _, row in got.iterrows():
        g = jobs[jobs["run_key"] == row["run_key"]].sort_values("tell_seq")
        info = [json.loads(i) for i in g["info"]]
        trained = g["epochs_trained"].fillna(0).to_numpy(dtype=float)
        at_r = ((g["status"] == "ok") & (g["resource"] >= R)).to_numpy()
        if all("iteration" in i and "bracket_index" in i for i in info):
            inst = [(i["iteration"], i["bracket_index"]) for i in info]
            reached = {b for b, hit in zip(inst, at_r) if hit}
            want = float(sum(t for b, t in zip(inst, trained) if b not in reached))
        else:
            last = np.flatnonzero(at_r)
            want = float(trained[last[-1] + 1:].sum()) if len(last) else float(trained.sum())
        assert row["wasted"] == want, row["run_key"]


def test_neighbour_share_decodes_each_configuration_once_and_equals_the_per_trial_count(sweep):
    """The store-wide share of trials the table does not hold: equal to deciding trial by trial. It is not
    the mean of the runs' stored neighbour_share (per run, over its asks, a promoted trial counted again)."""
    import json

    from bench.storage.store import dumps
    from bench.tables.curves import CurveTable
    from methods.base import config_to_dict
    from paper.data import load
    from paper.tables import neighbour_share
    from segmentation.profiles import get_profile
    from segmentation.space import search_space
    res = load(sweep)
    table = CurveTable.load(FIXTURE, search_space(get_profile("smoke")))
    trials = res.jobs.drop_duplicates(["run_key", "trial_id"])["config"]
    miss = [dumps({n: config_to_dict(json.loads(c))[n] for n in table.names}) not in table.by_key for c in trials]
    assert 0 < sum(miss) < len(miss)  # skopt-gp's proposals are answered by neighbours, the others' are not
    assert neighbour_share(res, FIXTURE) == sum(miss) / len(miss)


def test_evaluations_are_read_on_first_use_and_job_seconds_equal_their_sums(sweep):
    from paper.data import EVAL_COLUMNS, job_seconds, load
    res = load(sweep)
    assert res._evals is None  # load read each job's summed seconds, not the evaluations
    stored = job_seconds(res)
    with sqlite3.connect(sweep / "results.db") as db:
        n = db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    assert list(res.evals.columns) == list(EVAL_COLUMNS) and len(res.evals) == n
    want = res.evals.groupby(["run_key", "job_id"], as_index=False)["seconds"].sum()
    pd.testing.assert_frame_equal(stored, want, check_exact=True)


def test_stores_of_one_table_share_it_and_its_seed_means(sweep, tmp_path):
    from bench.tables.curves import CurveTable
    from paper.data import _seed_means, load, replayed_table
    from segmentation.profiles import get_profile
    from segmentation.space import search_space
    other = tmp_path / "copy"
    shutil.copytree(sweep, other)
    table = replayed_table(load(sweep))
    assert replayed_table(load(other)) is table  # loaded once per process, whichever store asks first
    assert table.by_key == CurveTable.load(FIXTURE, search_space(get_profile("smoke"))).by_key
    assert _seed_means(table) is _seed_means(table)
