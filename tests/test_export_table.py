"""bench export-table: the flat parquet export with ConfigSpace's JSON, and Syne Tune's blackbox folder."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ConfigSpace import ConfigurationSpace

from bench import load_table
from bench.tables.export import SYNE_OBJECTIVES, export_table

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def table():
    return load_table("cpu-v2")


@pytest.fixture(scope="module")
def exported(table, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export_table(table, "parquet", out / "parquet")
    done = subprocess.run([sys.executable, "-m", "bench", "export-table", "cpu-v2", "--format", "syne-tune",
                           "--out", str(out / "syne")], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def test_parquet_long_table_and_configspace_json(table, exported):
    d = exported / "parquet"
    df = pd.read_parquet(d / "cpu-v2.parquet")
    assert len(df) == 128 * 3 * 27
    assert list(df.columns[:10]) == ["config_id", "train_seed", "epoch", *table.curves.names]
    rng = np.random.default_rng(1)
    for i in rng.choice(len(df), size=30, replace=False):
        r = df.iloc[int(i)]
        config = {n: (r[n].item() if hasattr(r[n], "item") else r[n]) for n in table.curves.names}
        q = table.query(config, int(r["epoch"]), seed=int(r["train_seed"]))
        for m in ("val_loss", "val_miou", "test_loss", "test_miou", "seconds", "cumulative_seconds"):
            assert r[m] == q[m], m
    space = ConfigurationSpace.from_json(d / "configspace.json")
    assert space == table.space
    meta = json.loads((d / "metadata.json").read_text())
    assert meta["version"] == "1.0" and meta["hash"] == table.version.hash
    assert meta["fidelity"] == {"name": "epoch", "lower": 1, "upper": 27, "unit": "epochs"}


def test_syne_tune_folder_holds_the_table(table, exported):
    d = exported / "syne"
    meta = json.loads((d / "metadata.json").read_text())
    assert meta["task_names"] == ["cpu-v2"] and meta["objectives_names"] == list(SYNE_OBJECTIVES)
    assert meta["metric_elapsed_time"] == "metric_elapsed_time" and meta["time_attr"] == "epoch"
    hps = pd.read_parquet(d / "hyperparameters.parquet")
    assert [dict(r) for _, r in hps.iterrows()] == table.configs()
    ev = np.load(d / "objectives_evaluations.npy")
    assert ev.shape == (1, 128, 3, 27, len(SYNE_OBJECTIVES)) and ev.dtype == np.float32
    assert not np.isnan(ev).any()  # cpu-v2 has no failed epoch
    assert np.load(d / "fidelities_values.npy").tolist() == list(range(1, 28))
    rng = np.random.default_rng(2)
    for c, s, e in zip(rng.integers(128, size=20), rng.integers(3, size=20), rng.integers(27, size=20)):
        q = table.query(table.configs()[c], int(e) + 1, seed=table.seeds[s])
        for k, col in enumerate(SYNE_OBJECTIVES.values()):
            assert ev[0, c, s, e, k] == np.float32(q[col])
    space = json.loads((d / "configspace.json").read_text())
    assert space["learning_rate"] == {"domain_cls": "Float", "domain_kwargs": {"lower": 1e-4, "upper": 0.1},
                                      "sampler_cls": "LogUniform", "sampler_kwargs": {"base": pytest.approx(np.e)}}
    assert space["batch_size"]["domain_cls"] == "Ordinal" and space["batch_size"]["domain_kwargs"] == {
        "categories": [16, 32, 64]}
    assert json.loads((d / "fidelityspace.json").read_text())["epoch"]["domain_kwargs"] == {"lower": 1, "upper": 27}


def test_syne_tunes_own_deserialize_reads_it(table, exported):
    """Runs where syne-tune is importable (docs/tables.md says how to
    install it without its heavy dependencies); the structure test above runs everywhere."""
    st = pytest.importorskip("syne_tune.blackbox_repository.blackbox_tabular")
    bb = st.deserialize(str(exported / "syne"))["cpu-v2"]
    config = table.configs()[7]
    got = bb.objective_function(config, fidelity={"epoch": 9}, seed=2)
    q = table.query(config, 9, seed=table.seeds[2])
    for name, col in SYNE_OBJECTIVES.items():
        assert got[name] == pytest.approx(q[col], rel=1e-6)


def _mfpbench_glue() -> str:
    """docs/tables.md's mfpbench block (the python block that imports mfpbench)."""
    import re
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "tables.md").read_text(), re.S)
    return next(b for b in blocks if "from mfpbench import" in b)


def test_mfpbench_tabular_benchmark_reads_the_parquet_export(table, exported):
    """docs/tables.md's glue, run as written on the export; its answers are the table's (seed 0)."""
    pytest.importorskip("mfpbench")
    code = _mfpbench_glue().replace('"/tmp/cpu-v2-parquet"', repr(str(exported / "parquet")))
    assert len(code.splitlines()) <= 25
    ns: dict = {}
    exec(compile(code, "docs/tables.md mfpbench block", "exec"), ns)
    bench = ns["bench"]
    assert (bench.start, bench.end, len(bench.configs)) == (1, 27, 128)
    rng = np.random.default_rng(3)
    ids = sorted(bench.configs)
    for i, e in zip(rng.integers(len(ids), size=15), rng.integers(1, 28, size=15)):
        config = bench.configs[ids[i]]
        got = bench.query(config, at=int(e))
        q = table.query(config.as_dict(), int(e), seed=table.seeds[0])
        assert q["config_id"] == ids[i] and q["exact"]
        for m in ("val_loss", "val_miou", "test_loss", "test_miou", "cumulative_seconds"):
            assert getattr(got, m).value == q[m], m
        assert got.error == q["val_loss"] and got.cost == q["cumulative_seconds"]


def test_bad_format_and_table_are_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "export-table", "no-such-table", "--format", "parquet",
                           "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no committed table named" in done.stderr
