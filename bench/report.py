"""Reading a results directory: ``status`` (per run) and ``export`` (one tidy table)."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pandas as pd

from segmentation.palette import CLASSES

from .packing import store_file
from .store import Store

STALE_SECONDS = 600


def open_store(results: Path) -> Store:
    """The results directory's store (``results.db``, or its packed ``results.db.xz``)."""
    return Store(store_file(results))


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
        state = r["status"] if r["status"] in ("done", "infeasible") else (
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


def speed_table(results: Path) -> pd.DataFrame:
    """Per method over finished runs: wall seconds, seconds of training (simulated in replay), their
    ratio, evaluated epochs and jobs (one ask and tell each) per wall second, and the tuners' own
    decision seconds."""
    store = open_store(results)
    rows = []
    for method, n, wall, sim, tuner, epochs, jobs in store.db.execute(
            "SELECT method, COUNT(*), SUM(wall_seconds), SUM(eval_seconds), SUM(tuner_seconds), SUM(epochs_spent), "
            "SUM((SELECT COUNT(*) FROM jobs j WHERE j.run_key = r.run_key)) "
            "FROM runs r WHERE status = 'done' GROUP BY method ORDER BY method"):
        rows.append({"method": method, "runs": n, "wall_s": round(wall, 2), "train_s": round(sim, 1),
                     "train_s_per_wall_s": round(sim / wall, 1) if wall else float("nan"),
                     "epochs_per_wall_s": round(epochs / wall, 1) if wall else float("nan"),
                     "jobs_per_wall_s": round(jobs / wall, 1) if wall else float("nan"),
                     "tuner_s": round(tuner, 2)})
    store.close()
    return pd.DataFrame(rows)


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
