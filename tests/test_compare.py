"""``python -m bench compare SUITE --against STORE`` (bench/compare.py, paper/compare.py): the suite's methods run
on the grid the reference store's runs recorded (not the one its folder name suggests), into a folder of their
own, and the report carries the paper's statistics with no "not available" note; bad input is one line, exit 2."""
import json
import os
import subprocess
import sys
import tomllib

import pandas as pd
import pytest

from bench.storage.packing import store_file
from bench.storage.store import read_store
from tests.conftest import REPO

FIXTURE = "tests/fixtures/smoke-curves.csv"
# the reference: objective val_miou, nearest-neighbour answering, budgets 2 and 4 R, seeds 0-5; its folder is
# named "nvsbn", whose committed namesake minimises val_loss on table sampling: compare must read the store
REFERENCE = f"""
name = "reference"
profile = "smoke"
backend = "replay"
curves = "{FIXTURE}"
objective = "val_miou"
budgets = [2, 4]
seeds = [0, 1, 2, 3, 4, 5]
[[methods]]
label = "hb"
method = "hyperband"
params = {{ eta = 3 }}
[[methods]]
label = "random"
method = "random-search"
"""
MINE = """
name = "mine"
[[methods]]
label = "qmc"
method = "optuna"
params = { sampler = "QMCSampler", pruner = "none" }
"""


def bench(*argv):
    return subprocess.run([sys.executable, "-m", "bench", *argv], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}, timeout=600)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    (tmp / "reference.toml").write_text(REFERENCE)
    (tmp / "mine.toml").write_text(MINE)
    ref = bench("run", str(tmp / "reference.toml"), "--results", str(tmp / "nvsbn"), "--no-progress")
    assert ref.returncode == 0, ref.stderr[-2000:]
    done = bench("compare", str(tmp / "mine.toml"), "--against", str(tmp / "nvsbn"), "--results", str(tmp / "cmp"),
                 "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp, done


def _runs(path):
    with read_store(store_file(path)) as s:
        return s.runs_frame()


def test_the_suite_runs_on_the_grid_the_reference_store_recorded(compared):
    tmp, _ = compared
    ref, new = _runs(tmp / "nvsbn"), _runs(tmp / "cmp")
    assert set(new["label"]) == {"qmc"} and set(new["status"]) == {"done"}
    assert sorted(new["budget"].unique()) == sorted(ref["budget"].unique()) == [2.0, 4.0]
    assert sorted(new["seed"].unique()) == sorted(ref["seed"].unique()) == list(range(6))
    for key in ("objective", "curves", "curves_hash", "sampling", "max_budget", "profile", "backend", "resume"):
        got = {json.loads(i).get(key) for i in new["identity"]}
        assert got == {json.loads(i).get(key) for i in ref["identity"]}, key
    assert {json.loads(i)["objective"] for i in new["identity"]} == {"val_miou"}  # from the store, not "nvsbn"
    merged = tomllib.loads((tmp / "cmp" / "suite.toml").read_text())
    assert merged["objective"] == "val_miou" and merged["budgets"] == [2.0, 4.0] and merged["name"] == "mine"
    assert len(_runs(tmp / "nvsbn")) == len(ref)  # the reference store is only read


def test_the_report_has_the_papers_statistics_and_no_missing_piece(compared):
    tmp, done = compared
    md = tmp / "cmp" / "compare.md"
    assert done.stdout.strip().endswith(str(md))
    text = md.read_text()
    assert "not available" not in text and "nan" not in text.lower().replace("nanmean", "")
    assert "`qmc` at B = 2 R" in text and "`qmc` at B = 4 R" in text
    assert (tmp / "cmp" / "compare.png").stat().st_size > 1000
    df = pd.read_csv(tmp / "cmp" / "compare.csv")
    # every (B, new column, reference column): hb and random search at 2 budgets
    assert len(df) == 4 and set(df["reference"]) == {"hb", "random"}
    assert df.loc[df["reference"] == "random", "reference_is_random"].all()
    # all answered through the nearest-neighbour map, so all tested; Holm never lowers a p-value
    assert df["like_for_like"].all() and (df["p_holm"] >= df["p"] - 1e-12).all() and (df["p"].between(0, 1)).all()
    assert (df["lo"] <= df["iqm_diff"]).all() and (df["iqm_diff"] <= df["hi"]).all()


def test_the_iqm_difference_is_that_of_the_two_stores_final_regrets(compared):
    """Recomputed from the stores with the paper's scoring, independently of the report's code path."""
    from scipy.stats import trim_mean

    from paper import stats as st
    from paper.data import load
    tmp, _ = compared
    ref, new = load(tmp / "nvsbn"), load(tmp / "cmp")
    best = st.table_best(ref.curves, ref.objective)
    fr, fn = st.final_regret(ref, best), st.final_regret(new, best)
    a = fn[(fn["budget"] == 4.0)]["val_regret"].dropna()
    b = fr[(fr["budget"] == 4.0) & (fr["label"] == "random")]["val_regret"].dropna()
    df = pd.read_csv(tmp / "cmp" / "compare.csv")
    row = df[(df["B"] == 4.0) & (df["reference"] == "random")].iloc[0]
    assert row["iqm_diff"] == pytest.approx(trim_mean(a, 0.25) - trim_mean(b, 0.25), abs=1e-12)


def test_again_resumes_and_renders_the_same_report(compared):
    tmp, _ = compared
    before = (tmp / "cmp" / "compare.md").read_text()
    again = bench("compare", str(tmp / "mine.toml"), "--against", str(tmp / "nvsbn"), "--results", str(tmp / "cmp"),
                  "--no-progress")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already done" in again.stderr
    assert (tmp / "cmp" / "compare.md").read_text() == before  # seeded bootstrap: the same numbers


@pytest.mark.parametrize("case", ["missing store", "budgets conflict", "objective conflict", "label taken",
                                  "no methods"])
def test_bad_input_is_one_line_and_exit_2(compared, tmp_path, case):
    tmp, _ = compared
    against = str(tmp / "nvsbn")
    suite = MINE
    if case == "missing store":
        against = str(tmp_path / "no-such-store")
    elif case == "budgets conflict":
        suite = "budgets = [1, 3]\n" + MINE
    elif case == "objective conflict":
        suite = 'objective = "val_loss"\n' + MINE
    elif case == "label taken":
        suite = MINE.replace('label = "qmc"', 'label = "random"')
    else:
        suite = 'name = "empty"\n'
    (tmp_path / "s.toml").write_text(suite)
    done = bench("compare", str(tmp_path / "s.toml"), "--against", against, "--results", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    expected = {"missing store": "no results store", "budgets conflict": "key 'budgets'",
                "objective conflict": "key 'objective'", "label taken": "methods[0].label",
                "no methods": "key 'methods'"}[case]
    assert expected in done.stderr
    assert not (tmp_path / "out").exists()  # refused before anything was written
