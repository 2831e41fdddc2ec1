"""A recorded curves table written in formats other tools read (``python -m bench export-table``).

``parquet``: ``DIR/NAME.parquet``, a flat long table with one row per (configuration,
training seed[, budget], epoch): ``config_id``, ``train_seed``, [``budget``], ``epoch``
(1-based, inclusive), one column per hyperparameter under its own name, ``status``, the
metrics, ``seconds`` (wall seconds of the epoch), ``cpu_seconds`` where recorded and
``cumulative_seconds`` (epochs 1..epoch); ``DIR/configspace.json`` written by ConfigSpace's
own JSON writer (``ConfigurationSpace.to_json``); ``DIR/metadata.json`` (name, version, hash,
fidelity ``epoch`` with its bounds, seeds, budgets).

``syne-tune``: the folder Syne Tune's blackbox repository deserialises with
``syne_tune.blackbox_repository.blackbox_tabular.deserialize(DIR)`` (layout of its
``serialize``): ``configspace.json`` and ``fidelityspace.json`` in Syne Tune's own
domain JSON (``config_space_to_json_dict``), ``hyperparameters.parquet`` (one row per
configuration), ``objectives_evaluations.npy`` (float32, shape (tasks, configurations,
seeds, epochs, objectives); NaN where nothing was recorded), ``fidelities_values.npy``
(epochs 1..max_epoch) and ``metadata.json`` (``objectives_names``, ``task_names``, and the
repository's ``metric_elapsed_time``, ``metric_default`` and ``time_attr`` keys). One task per
table (named like the table); a budget-aware table has one task per budget
(``NAME-budget-R``), each with NaN after epoch R. Objectives: ``metric_val_loss``,
``metric_val_miou``, ``metric_test_loss``, ``metric_test_miou``, ``metric_train_loss``,
``metric_time_this_resource`` (seconds of that epoch) and ``metric_elapsed_time`` (seconds of
epochs 1..epoch). Syne Tune is not needed to write it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

FORMATS = ("parquet", "syne-tune")
SYNE_OBJECTIVES = {  # Syne Tune objective name -> column of the table
    "metric_val_loss": "val_loss", "metric_val_miou": "val_miou", "metric_test_loss": "test_loss",
    "metric_test_miou": "test_miou", "metric_train_loss": "train_loss",
    "metric_time_this_resource": "seconds", "metric_elapsed_time": "cumulative_seconds",
}
FIDELITY = "epoch"


def long_frame(table) -> pd.DataFrame:
    """The table as one flat frame: hyperparameters under their own names, cumulative seconds added."""
    df = table.curves.df.copy()
    if "train_seed" not in df.columns:
        df["train_seed"] = 0
    keys = ["config_id", "train_seed"] + (["budget"] if table.budget_aware else [])
    df = df.sort_values([*keys, "epoch"], kind="stable").reset_index(drop=True)
    df["cumulative_seconds"] = df.groupby(keys, sort=False)["seconds"].cumsum()
    rank = df.groupby(keys, sort=False).cumcount() + 1
    df.loc[rank != df["epoch"], "cumulative_seconds"] = np.nan  # a gap in a curve: no cumulative time
    names = table.curves.names
    configs = {cid: c for cid, c in zip(table.curves.ids, table.curves.configs)}
    for n in names:  # the values as the space has them (CSV reads booleans as text)
        df[n] = [configs[cid][n] for cid in df["config_id"]]
    if table.budget_aware:
        df["budget"] = df["budget"].astype(int)
    front = [*keys, "epoch", *names]
    rest = [c for c in df.columns if c not in front and not c.startswith("config.")]
    return df[front + rest]


def _metadata(table) -> dict:
    v = table.version
    return {"name": table.name, "version": v.version, "hash": v.hash, "profile": table.profile,
            "fidelity": {"name": FIDELITY, "lower": 1, "upper": table.max_epoch, "unit": "epochs"},
            "seeds": table.seeds, "budgets": table.budgets, "seconds": "wall seconds of the epoch when recorded"}


def export_parquet(table, out: Path) -> list[Path]:
    """``NAME.parquet``, ``configspace.json`` (ConfigSpace's writer) and ``metadata.json`` in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / f"{table.name}.parquet"
    long_frame(table).to_parquet(data, index=False)
    table.space.to_json(out / "configspace.json")
    (out / "metadata.json").write_text(json.dumps(_metadata(table), indent=2) + "\n")
    return [data, out / "configspace.json", out / "metadata.json"]


# -- Syne Tune ---------------------------------------------------------------------------
def syne_tune_domain(hp) -> dict | object:
    """One ConfigSpace hyperparameter as Syne Tune's domain JSON (``syne_tune.config_space.to_dict``)."""
    from ConfigSpace import (CategoricalHyperparameter, Constant, OrdinalHyperparameter, UniformFloatHyperparameter,
                             UniformIntegerHyperparameter)
    uniform = {"sampler_cls": "Uniform", "sampler_kwargs": {}}
    loguniform = {"sampler_cls": "LogUniform", "sampler_kwargs": {"base": math.e}}
    if isinstance(hp, UniformFloatHyperparameter):
        return {"domain_cls": "Float", "domain_kwargs": {"lower": float(hp.lower), "upper": float(hp.upper)},
                **(loguniform if hp.log else uniform)}
    if isinstance(hp, UniformIntegerHyperparameter):
        return {"domain_cls": "Integer", "domain_kwargs": {"lower": int(hp.lower), "upper": int(hp.upper)},
                **(loguniform if hp.log else uniform)}
    if isinstance(hp, OrdinalHyperparameter):  # Syne Tune's ordinal(kind="equal"): ordered, no distances
        return {"domain_cls": "Ordinal", "domain_kwargs": {"categories": [_plain(v) for v in hp.sequence]}, **uniform}
    if isinstance(hp, CategoricalHyperparameter):
        return {"domain_cls": "Categorical", "domain_kwargs": {"categories": [_plain(v) for v in hp.choices]},
                **uniform}
    if isinstance(hp, Constant):
        return _plain(hp.value)
    raise ValueError(f"hyperparameter {hp.name!r} ({type(hp).__name__}) has no Syne Tune domain here")


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def syne_tune_arrays(table) -> tuple[pd.DataFrame, np.ndarray, list[str], list[str]]:
    """(hyperparameters, objectives_evaluations (tasks, configs, seeds, epochs, objectives),
    task names, objective names) as Syne Tune's ``serialize`` writes them."""
    df = long_frame(table)
    ids = list(table.curves.ids)
    hps = pd.DataFrame(table.curves.configs, columns=table.curves.names)
    budgets = table.budgets if table.budget_aware else [None]
    tasks = [table.name if b is None else f"{table.name}-budget-{b}" for b in budgets]
    names = list(SYNE_OBJECTIVES)
    ev = np.full((len(tasks), len(ids), len(table.seeds), table.max_epoch, len(names)), np.nan, dtype=np.float32)
    ok = df[df["status"] == "ok"]
    t = np.zeros(len(ok), dtype=int) if not table.budget_aware else ok["budget"].map(
        {b: i for i, b in enumerate(budgets)}).to_numpy()
    c = ok["config_id"].map({cid: i for i, cid in enumerate(ids)}).to_numpy()
    s = ok["train_seed"].map({sd: i for i, sd in enumerate(table.seeds)}).to_numpy()
    e = ok["epoch"].to_numpy(dtype=int) - 1
    for k, col in enumerate(SYNE_OBJECTIVES.values()):
        ev[t, c, s, e, k] = ok[col].to_numpy(dtype=float)
    return hps, ev, tasks, names


def export_syne_tune(table, out: Path) -> list[Path]:
    """The folder ``syne_tune.blackbox_repository.blackbox_tabular.deserialize(out)`` reads."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hps, ev, tasks, names = syne_tune_arrays(table)
    space = {hp.name: syne_tune_domain(hp) for hp in table.space.values()}
    fidelity = {FIDELITY: {"domain_cls": "Integer", "domain_kwargs": {"lower": 1, "upper": table.max_epoch},
                           "sampler_cls": "Uniform", "sampler_kwargs": {}}}
    written = []
    for name, obj in (("configspace.json", space), ("fidelityspace.json", fidelity)):
        (out / name).write_text(json.dumps(obj))
        written.append(out / name)
    hps.to_parquet(out / "hyperparameters.parquet", index=False, compression="gzip")  # as Syne Tune writes it
    with open(out / "objectives_evaluations.npy", "wb") as f:
        np.save(f, ev, allow_pickle=False)
    with open(out / "fidelities_values.npy", "wb") as f:
        np.save(f, np.arange(1, table.max_epoch + 1), allow_pickle=False)
    meta = {"objectives_names": names, "task_names": tasks, "metric_elapsed_time": "metric_elapsed_time",
            "metric_default": "metric_val_loss", "time_attr": FIDELITY, "aerial_hpo_bench": _metadata(table)}
    (out / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return written + [out / n for n in ("hyperparameters.parquet", "objectives_evaluations.npy",
                                        "fidelities_values.npy", "metadata.json")]


def export_table(table, fmt: str, out: Path) -> list[Path]:
    if fmt == "parquet":
        return export_parquet(table, out)
    if fmt == "syne-tune":
        return export_syne_tune(table, out)
    raise ValueError(f"--format {fmt!r}: expected one of {list(FORMATS)}")
