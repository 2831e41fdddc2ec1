"""The public query API over the recorded curves tables (bench.tables.table, ``from bench import load_table``)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import load_table
from bench.tables.table import NotRecorded, TableError

REPO = Path(__file__).resolve().parents[1]
CSV = REPO / "results" / "curves" / "cpu-v2.csv"
NAMES = ["augment", "batch_size", "decoder_width", "encoder", "learning_rate", "loss", "weight_decay"]


@pytest.fixture(scope="module")
def table():
    return load_table("cpu-v2")


@pytest.fixture(scope="module")
def rows():
    """The CSV as text, read with the csv module (independently of pandas and bench.tables.curves)."""
    with CSV.open(newline="") as f:
        return list(csv.DictReader(f))


def _config(row: dict) -> dict:
    def value(name, text):
        if text in ("True", "False"):
            return text == "True"
        for cast in (int, float):
            try:
                return cast(text)
            except ValueError:
                pass
        return text
    return {n: value(n, row[f"config.{n}"]) for n in NAMES}


def test_shape_and_space(table, rows):
    assert table.max_epoch == 27
    assert table.seeds == [0, 1, 2]
    assert table.budgets is None
    assert sorted(table.space) == NAMES
    configs = table.configs()
    assert len(configs) == len({r["config_id"] for r in rows}) == 128
    assert {json.dumps(c, sort_keys=True) for c in configs} == {json.dumps(_config(r), sort_keys=True) for r in rows}
    assert load_table(CSV).max_epoch == 27  # a path works as well as a name


def test_query_matches_the_csv_for_sampled_rows(table, rows):
    rng = np.random.default_rng(0)
    for i in rng.choice(len(rows), size=60, replace=False):
        r = rows[int(i)]
        epoch, seed = int(r["epoch"]), int(r["train_seed"])
        got = table.query(_config(r), epoch, seed=seed)
        assert got["config_id"] == r["config_id"] and got["seeds"] == [seed] and got["exact"]
        for m in ("val_loss", "val_miou", "test_loss", "test_miou", "train_loss", "seconds"):
            assert got[m] == float(r[m]), (m, r["config_id"], seed, epoch)
        same_curve = [x for x in rows if x["config_id"] == r["config_id"] and x["train_seed"] == r["train_seed"]
                      and int(x["epoch"]) <= epoch]
        assert len(same_curve) == epoch
        assert got["cumulative_seconds"] == pytest.approx(sum(float(x["seconds"]) for x in same_curve), rel=1e-12)


def test_seed_mean_is_the_mean_over_seeds(table, rows):
    r = rows[500]
    at = [x for x in rows if x["config_id"] == r["config_id"] and x["epoch"] == r["epoch"]]
    got = table.query(_config(r), int(r["epoch"]))
    assert got["seeds"] == [0, 1, 2] and len(at) == 3
    for m in ("val_loss", "test_miou", "seconds"):
        assert got[m] == pytest.approx(np.mean([float(x[m]) for x in at]), rel=1e-12)
    per_seed = [table.query(_config(r), int(r["epoch"]), seed=s)["cumulative_seconds"] for s in (0, 1, 2)]
    assert got["cumulative_seconds"] == pytest.approx(np.mean(per_seed), rel=1e-12)


def test_seed_mean_equals_the_papers_scoring_of_incumbents(table):
    """paper.data.final_table scores a replayed run's incumbent by the seed mean of its configuration
    at its resource (seeded_table), answered by its nearest recorded entry as replay answered it; the
    API's seed=None with nearest=True gives the same numbers."""
    from paper.data import final_table, load
    res = load(REPO / "results" / "realcheck-replay")
    assert res.curves == "results/curves/cpu-v2.csv"
    final = final_table(res)
    inc = res.incumbents.set_index("run_key")
    checked = 0
    for _, f in final.iterrows():
        if f["run_key"] not in inc.index:
            continue
        got = table.query(json.loads(inc.at[f["run_key"], "config"]), int(f["resource"]), nearest=True)
        for m in ("val_loss", "val_miou", "test_loss", "test_miou"):
            assert got[m] == f[m], (f["run_key"], m)
        assert len(got["seeds"]) == f["mean_over"]
        checked += 1
    assert checked >= 10


def test_unrecorded_configuration_is_an_error_unless_nearest(table):
    c = dict(table.configs()[5], learning_rate=0.0123456)
    with pytest.raises(NotRecorded, match="is not recorded in table 'cpu-v2'.*nearest=True"):
        table.query(c, 3)
    got = table.query(c, 3, nearest=True)
    assert not got["exact"]
    assert got["config_id"] == table.curves.match(c)[0]
    assert got["config"] == table.configs()[table.curves.ids.index(got["config_id"])]
    assert got["val_loss"] == table.query(got["config"], 3)["val_loss"]


def test_bad_arguments_say_what_was_expected(table):
    c = table.configs()[0]
    with pytest.raises(TableError, match=r"epoch: expected 1\.\.27"):
        table.query(c, 0)
    with pytest.raises(TableError, match=r"seed: expected None .* \[0, 1, 2\], got 7"):
        table.query(c, 1, seed=7)
    with pytest.raises(TableError, match="not budget-aware"):
        table.query(c, 1, budget=9)
    with pytest.raises(TableError, match=r"missing \['loss'\]"):
        table.query({k: v for k, v in c.items() if k != "loss"}, 1)
    with pytest.raises(TableError, match="no committed table named 'cpu-v9'.*cpu-v2"):
        load_table("cpu-v9")
    with pytest.raises(TableError, match="not found"):
        load_table("results/curves/nothing.csv")


def test_budget_aware_table(tmp_path, rows):
    """A table with a budget column: one curve per (configuration, seed, budget), epochs 1..budget."""
    keep = [r for r in rows if r["config_id"] in {rows[0]["config_id"], rows[100]["config_id"]}
            and r["train_seed"] in ("0", "1")]
    out = []
    for budget in (1, 3, 9):
        for r in keep:
            if int(r["epoch"]) <= budget:
                x = dict(r, budget=str(budget))
                x["val_loss"] = str(float(r["val_loss"]) + budget)  # the curves of each budget differ
                out.append(x)
    path = tmp_path / "budgeted.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out[0]))
        w.writeheader()
        w.writerows(out)
    t = load_table(path, profile="cpu-v2")
    assert t.budgets == [1, 3, 9] and t.max_epoch == 9 and t.seeds == [0, 1]
    c = _config(keep[0])
    at3 = next(float(r["val_loss"]) for r in keep
               if r["config_id"] == keep[0]["config_id"] and r["train_seed"] == "0" and r["epoch"] == "3")
    assert t.query(c, 3, seed=0)["val_loss"] == at3 + 3  # budget defaults to the epoch: the curve ending there
    assert t.query(c, 3, seed=0, budget=9)["val_loss"] == pytest.approx(t.query(c, 3, seed=0)["val_loss"] + 6)
    assert t.query(c, 2, budget=3)["budget"] == 3
    with pytest.raises(TableError, match=r"budget: expected one of the table's budgets \[1, 3, 9\]"):
        t.query(c, 2)
    with pytest.raises(TableError, match=r"epoch: expected 1\.\.3"):
        t.query(c, 4, budget=3)


def test_importing_bench_is_cheap():
    code = "import bench, sys; print(sorted(m for m in ('pandas', 'numpy', 'ConfigSpace', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip() == "[]"


def test_version_from_the_changelog(table, tmp_path):
    from bench.tables.curves import table_hash
    v = table.version
    assert (v.name, v.version, v.hash) == ("cpu-v2", "1.0", table_hash(CSV))
    assert "128 configurations" in v.changes and str(v) == f"cpu-v2 1.0 (sha256 {v.hash})"
    changed = tmp_path / "cpu-v2.csv"  # one value changed: another table, not a released version
    changed.write_text(CSV.read_text().replace("0.8601593916652767", "0.8601593916652768", 1))
    (tmp_path / "cpu-v2.meta.json").write_text((REPO / "results/curves/cpu-v2.meta.json").read_text())
    other = load_table(changed).version
    assert other.version is None and other.hash != v.hash and str(other).startswith("cpu-v2 unreleased")


def test_every_committed_table_has_a_changelog_entry():
    """Every table committed to results/curves/ (git ls-files; a table being recorded is not yet committed)."""
    from bench.tables.table import CURVES_DIR, table_version
    listed = subprocess.run(["git", "ls-files", "results/curves"], capture_output=True, text=True, cwd=REPO)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot tell committed tables from others")
    paths = [REPO / p for p in listed.stdout.split() if p.endswith((".csv", ".parquet"))]
    assert any(p.name == "cpu-v2.csv" for p in paths)
    for path in paths:
        v = table_version(path)
        assert v.version is not None, (f"{path.name} (hash {v.hash}) has no entry in results/curves/CHANGELOG.toml: "
                                       "add one (name, version, hash, date, changes)")


def test_license_and_citation():
    assert (REPO / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) 2026 aerial-hpo-bench authors")
    import yaml
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT" and cff["title"] and cff["authors"]
