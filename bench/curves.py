"""Learning-curve tables: export them from a store, look configurations up, replay jobs.

A curves table (CSV or parquet, in ``results/curves/``) has one row per
(configuration, epoch): ``config_id``, one ``config.<name>`` column per
hyperparameter, ``epoch``, ``status``, ``train_loss``, ``val_loss``, ``val_miou``,
``test_loss``, ``test_miou`` and ``seconds`` (wall seconds the epoch took when it
was recorded). A curve that ends in a failure has a last row with status ``failed``.
Replay's simulated clock charges each epoch of a configuration the median of its
recorded epoch seconds (see ``CurveTable``).

Replay maps every configuration a tuner asks for to a row of the table: the same
configuration when the table has it, else its nearest neighbour in the space
normalised to the unit cube (log-scaled ranges, ordinals by rank, categoricals
one-hot, so a differing category counts as distance 1). Every tuner keeps its own
sampler and model and only the answers come from the table; for random search,
successive halving and Hyperband this is sampling from the table (each recorded
configuration with the prior probability of its neighbourhood), and SMAC and
scikit-optimize search the real space while being answered by the table. A
tuner run against a table made from its own real run therefore asks exactly what
the real run asked.
"""
from __future__ import annotations

import hashlib
import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from methods.base import config_to_dict

from .packing import store_file
from .store import dumps, read_store

REPO = Path(__file__).resolve().parents[1]
METRICS = ("train_loss", "val_loss", "val_miou", "test_loss", "test_miou", "seconds")


def config_id(config: dict) -> str:
    return hashlib.sha1(dumps(config_to_dict(config)).encode()).hexdigest()[:12]


def resolve(path: str | Path) -> Path:
    """A curves path as given, else relative to the repository root."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else REPO / p


# -- export -------------------------------------------------------------------------
def curves_from_store(db_path: Path) -> tuple[pd.DataFrame, dict]:
    """Curves of every configuration in a store (first occurrence of each (config, epoch) wins)."""
    with read_store(db_path) as store:
        tests = store.curve_tests()
        rows, seen = [], set()
        # only jobs that ended: a configuration still being recorded (or in flight) has no whole curve yet
        for e in store.ended_evaluations():
            config = json.loads(e["config"])
            cid = config_id(config)
            if (cid, e["epoch"]) in seen:
                continue
            seen.add((cid, e["epoch"]))
            t = tests.get((e["run_key"], e["job_id"], e["epoch"]))
            rows.append({"config_id": cid, **{f"config.{k}": v for k, v in sorted(config.items())},
                         "epoch": e["epoch"], "status": e["status"], "train_loss": e["train_loss"],
                         "val_loss": e["val_loss"], "val_miou": e["val_miou"],
                         "test_loss": t["test_loss"] if t else None, "test_miou": t["test_miou"] if t else None,
                         "seconds": e["seconds"]})
        runs = store.run_provenance()
    df = pd.DataFrame(rows).sort_values(["config_id", "epoch"], kind="stable").reset_index(drop=True)
    for r in runs:
        r["versions"] = json.loads(r["versions"]) if r["versions"] else None
    return df, {"source": str(db_path), "runs": runs}


def export_curves(results: Path, out: Path) -> Path:
    """Write the curves of a results directory's store (``results.db``, or a packed ``results.db.xz``)."""
    df, meta = curves_from_store(store_file(results))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        df.to_parquet(out, index=False)
    else:
        df.to_csv(out, index=False)  # shortest round-trip floats: replay is exact
    meta.update({"rows": len(df), "configs": int(df["config_id"].nunique()) if len(df) else 0,
                 "max_epoch": int(df["epoch"].max()) if len(df) else 0})
    out.with_suffix(".meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out


# -- the table ------------------------------------------------------------------------
class CurveTable:
    def __init__(self, df: pd.DataFrame, space):
        self.df = df
        self.space = space
        self.names = [hp.name for hp in space.values()]
        missing = [n for n in self.names if f"config.{n}" not in df.columns]
        if missing:
            raise ValueError(f"curves table lacks hyperparameter column(s) {missing}")
        first = df.drop_duplicates("config_id", keep="first")
        self.ids = list(first["config_id"])
        self.configs = [{n: _py(r[f"config.{n}"]) for n in self.names} for _, r in first.iterrows()]
        self.by_key = {dumps(c): cid for c, cid in zip(self.configs, self.ids)}
        self.matrix = np.stack([self._vector(c) for c in self.configs]) if self.configs else np.zeros((0, 0))
        self.curves = {cid: {int(r["epoch"]): r for r in g.to_dict("records")}
                       for cid, g in df.groupby("config_id", sort=False)}
        # The simulated clock charges every epoch of a configuration the median of its recorded
        # epoch seconds: same data, same model, so one epoch costs the same in expectation, and
        # the median drops spikes from other work on the machine while it recorded.
        self.epoch_seconds = {cid: float(g.loc[g["status"] == "ok", "seconds"].median())
                              if (g["status"] == "ok").any() else 0.0
                              for cid, g in df.groupby("config_id", sort=False)}
        self.max_epoch = int(df["epoch"].max()) if len(df) else 0

    @classmethod
    def load(cls, path: Path, space) -> "CurveTable":
        path = resolve(path)
        if not path.is_file():
            raise FileNotFoundError(f"curves table not found: {path}")
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, float_precision="round_trip")
        return cls(df, space)

    def _vector(self, config: dict) -> np.ndarray:
        from ConfigSpace import (CategoricalHyperparameter, OrdinalHyperparameter, UniformFloatHyperparameter,
                                 UniformIntegerHyperparameter)
        out = []
        for hp in self.space.values():
            v = config[hp.name]
            if isinstance(hp, (UniformFloatHyperparameter, UniformIntegerHyperparameter)):
                lo, hi, x = float(hp.lower), float(hp.upper), float(v)
                if hp.log:
                    lo, hi, x = math.log(lo), math.log(hi), math.log(x)
                out.append((x - lo) / (hi - lo) if hi > lo else 0.0)
            elif isinstance(hp, OrdinalHyperparameter):
                seq = list(hp.sequence)
                out.append(seq.index(_match(seq, v)) / max(1, len(seq) - 1))
            elif isinstance(hp, CategoricalHyperparameter):
                choices = list(hp.choices)
                k = choices.index(_match(choices, v))
                out.extend((1 / math.sqrt(2)) * float(i == k) for i in range(len(choices)))
            else:
                raise ValueError(f"replay cannot normalise hyperparameter {hp.name!r} ({type(hp).__name__})")
        return np.array(out)

    def lookup(self, config: dict) -> str:
        """The config id of ``config`` in the table, or of its nearest neighbour (ties: table order)."""
        key = dumps({n: config_to_dict(config)[n] for n in self.names})
        if key in self.by_key:
            return self.by_key[key]
        d = np.linalg.norm(self.matrix - self._vector(config), axis=1)
        return self.ids[int(np.argmin(d))]


def _py(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, str) and v in ("True", "False"):
        return v == "True"
    return v


def _match(options: list, v):
    for o in options:
        if o == v or str(o) == str(v):
            return o
    raise ValueError(f"value {v!r} is not one of {options}")


@lru_cache(maxsize=4)
def _table(path: str, profile: str) -> CurveTable:
    from segmentation.profiles import get_profile
    from segmentation.space import search_space
    return CurveTable.load(Path(path), search_space(get_profile(profile)))


def table_hash(path: str | Path) -> str:
    return hashlib.sha256(resolve(path).read_bytes()).hexdigest()[:16]


# -- replayed jobs (same shapes as bench.jobs) -----------------------------------------
def replay_job(spec: dict, on_epoch=None) -> dict:
    """Answer a job from the table: the recorded epochs (start, resource] of the nearest configuration.

    ``seconds`` is the simulated time (the recorded epoch seconds), ``real_seconds`` what replay took.
    """
    import time
    t0 = time.perf_counter()
    table = _table(spec["curves"], spec["profile"])
    cid = table.lookup(spec["config"])
    curve = table.curves[cid]
    start = spec["resumes_from"] if spec.get("ckpt_in") else 0
    epochs, status, error, sim = [], "ok", None, 0.0
    for epoch in range(start + 1, spec["resource"] + 1):
        row = curve.get(epoch)
        if row is None:
            status, error = "failed", f"curve of config {cid} ends at epoch {max(curve)} (recorded), asked {epoch}"
            break
        sim += table.epoch_seconds[cid]
        if row["status"] != "ok":
            status, error = "failed", f"recorded failure of config {cid} at epoch {epoch}"
            break
        e = {"epoch": epoch, "train_loss": row["train_loss"], "val_loss": row["val_loss"],
             "val_miou": row["val_miou"], "val_iou": None, "val_precision": None, "val_recall": None,
             "seconds": table.epoch_seconds[cid], "test": None}
        epochs.append(e)
        if on_epoch is not None:
            on_epoch(e)
    trained = spec["resource"] - start if status == "ok" else min(spec["resource"] - start, len(epochs) + 1)
    return {"status": status, "epochs": epochs, "error": error, "epochs_trained": trained, "start": start,
            "seconds": sim, "real_seconds": time.perf_counter() - t0, "table_config": cid}


def replay_test(spec: dict) -> dict:
    """The recorded test metrics of a configuration at an epoch (NaN where the table has none)."""
    table = _table(spec["curves"], spec["profile"])
    row = table.curves[table.lookup(spec["config"])].get(spec["resource"], {})
    nan = float("nan")
    return {"loss": _num(row.get("test_loss")), "miou": _num(row.get("test_miou")), "iou": None,
            "precision": None, "recall": None, "pixel_accuracy": nan, "seconds": 0.0}


def _num(v) -> float:
    return float("nan") if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
