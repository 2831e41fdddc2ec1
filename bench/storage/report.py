"""Reading a results directory: ``status`` (per run) and ``export`` (one tidy table)."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pandas as pd

from segmentation.palette import CLASSES

from bench.storage.packing import store_file
from bench.storage.store import ENDED, ReadStore, read_store

STALE_SECONDS = 600


def open_store(results: Path) -> ReadStore:
    """The results directory's store (``results.db``, or its packed ``results.db.xz``), read-only
    and integrity-checked: reading never modifies it."""
    return read_store(store_file(results))


def _alive(row) -> bool:
    if row["host"] != socket.gethostname():
        return time.time() - (row["heartbeat"] or 0) < STALE_SECONDS
    try:
        os.kill(int(row["pid"]), 0)
        return True
    except (OSError, TypeError, ValueError):
        return False


def status_table(results: Path) -> pd.DataFrame:
    store = open_store(results)
    rows = []
    for r in store.runs():
        state = r["status"] if r["status"] in ENDED else (
            "running" if _alive(r) else "interrupted")
        jobs = store.jobs(r["run_key"])
        ok = [j for j in jobs if j["status"] == "ok"]
        inc = store.incumbent(r["run_key"])
        rows.append({
            "run": r["run_key"], "state": state, "epochs": f"{r['epochs_spent']}/{r['budget_epochs']}",
            "restart_epochs": r["epochs_restart"], "trials": len({j["trial_id"] for j in jobs}),
            "failed": sum(j["status"] == "failed" for j in jobs),
            "best_val_mIoU": max((j["val_miou"] for j in ok), default=float("nan")),
            "test_mIoU": inc["test_miou"] if inc else float("nan"),
            "overshoot": r["overshoot"], "peak_disk_MB": round((r["peak_disk_bytes"] or 0) / 1e6, 1),
            "wall_s": round(r["wall_seconds"] or 0.0, 1),
            "note": (r["error"] or "")[:60],
        })
    store.close()
    return pd.DataFrame(rows)


def speed_summary(runs: pd.DataFrame, jobs: pd.DataFrame, by: str = "method") -> pd.DataFrame:
    """Per ``by`` (method or label, in order of first appearance) over finished runs: runs, wall
    seconds, seconds of training (simulated in replay), evaluated epochs, jobs (one ask and tell
    each) and the tuners' own decision seconds, with training seconds, epochs and jobs per wall
    second (NaN where no wall time was recorded). ``runs`` and ``jobs`` are the store's tables."""
    done = runs[runs["status"] == "done"].copy()
    done["jobs"] = done["run_key"].map(jobs["run_key"].value_counts()).fillna(0)
    g = done.groupby(by, sort=False).agg(runs=("run_key", "size"), wall_s=("wall_seconds", "sum"),
                                         train_s=("eval_seconds", "sum"), epochs=("epochs_spent", "sum"),
                                         jobs=("jobs", "sum"), tuner_s=("tuner_seconds", "sum"))
    g = g.reindex([k for k in dict.fromkeys(runs[by]) if k in g.index])  # the runs' order, not the finished ones'
    wall = g["wall_s"].where(g["wall_s"] > 0)
    for name in ("train_s", "epochs", "jobs"):
        g[f"{name}_per_wall_s"] = g[name] / wall
    return g.reset_index()


def speed_table(results: Path, total: bool = False) -> pd.DataFrame:
    """``speed_summary`` of a results directory per method family (wall seconds: the runs' own,
    without the start-up of the process), rounded; ``total`` adds a last row ``all``."""
    store = open_store(results)
    runs = store.runs_frame(order_by="method")
    jobs = store.jobs_frame()[["run_key"]]
    store.close()
    table = speed_summary(runs, jobs)
    if total:
        table = pd.concat([table, speed_summary(runs.assign(method="all"), jobs)], ignore_index=True)
    return table.round({"wall_s": 2, "train_s": 1, "train_s_per_wall_s": 1,
                                            "epochs_per_wall_s": 1, "jobs_per_wall_s": 1, "tuner_s": 2})


def evaluations_table(results: Path) -> pd.DataFrame:
    """One row per evaluated epoch: run key, method label, B, seed, trial, config columns, metrics."""
    store = open_store(results)
    runs = {r["run_key"]: r for r in store.runs()}
    rows = []
    for e in store.evaluations():
        r = runs[e["run_key"]]
        row = {"run_key": e["run_key"], "label": r["label"], "method": r["method"], "budget": r["budget"],
               "seed": r["seed"], "profile": r["profile"], "trial_id": e["trial_id"], "job_id": e["job_id"],
               "epoch": e["epoch"], "resource": e["resource"], "epochs_trained": e["epochs_trained"],
               "cum_epochs": e["cum_epochs"], "status": e["status"], "train_loss": e["train_loss"],
               "val_loss": e["val_loss"], "val_miou": e["val_miou"], "seconds": e["seconds"], "error": e["error"]}
        row.update({f"config.{k}": v for k, v in json.loads(e["config"]).items()})
        for metric in ("val_iou", "val_precision", "val_recall"):
            values = json.loads(e[metric]) if e[metric] else [None] * len(CLASSES)
            row.update({f"{metric}.{c}": v for c, v in zip(CLASSES, values)})
        rows.append(row)
    store.close()
    return pd.DataFrame(rows)


def export(results: Path, fmt: str = "csv", out: Path | None = None) -> Path:
    df = evaluations_table(results)
    out = Path(out) if out else Path(results) / f"evaluations.{fmt}"
    if fmt == "csv":
        df.to_csv(out, index=False)
    elif fmt == "parquet":
        df.to_parquet(out, index=False)
    else:
        raise ValueError(f"format must be csv or parquet, got {fmt!r}")
    return out
