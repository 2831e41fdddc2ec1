"""Reading stored results (never training): a results directory's store as pandas tables."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.packing import store_file
from bench.store import read_store

EVAL_COLUMNS = ("run_key", "job_id", "trial_id", "epoch", "resource", "epochs_trained", "cum_epochs", "train_loss",
                "val_loss", "val_miou", "seconds", "status")


@dataclass
class Results:
    """One results directory: its runs, jobs, evaluations and incumbents, read-only."""

    name: str
    path: Path
    runs: pd.DataFrame
    jobs: pd.DataFrame
    evals: pd.DataFrame
    incumbents: pd.DataFrame

    @property
    def backend(self) -> str:
        """'replay' or 'train' (real training), from the runs' recorded identity."""
        kinds = {json.loads(i).get("backend", "train") for i in self.runs["identity"]} if len(self.runs) else set()
        return "replay" if kinds == {"replay"} else "train"

    @property
    def max_budget(self) -> int:
        return int(max(json.loads(i)["max_budget"] for i in self.runs["identity"]))

    def methods(self) -> list[str]:
        """Method labels in the order the suite lists them."""
        return list(dict.fromkeys(self.runs["label"]))

    def budgets(self) -> list[float]:
        return sorted(self.runs["budget"].unique())


def load(path: str | Path) -> Results:
    path = Path(path)
    with read_store(store_file(path)) as store:  # results.db, or the packed results.db.xz
        runs = store.runs_frame(skip_method="record")
        jobs = store.jobs_frame()
        evals = store.evaluations_frame(EVAL_COLUMNS)
        inc = store.incumbents_frame()
    keep = set(runs["run_key"])
    jobs, evals, inc = (df[df["run_key"].isin(keep)].reset_index(drop=True) for df in (jobs, evals, inc))
    return Results(path.name, path, runs, jobs, evals, inc)


def best_so_far(res: Results, clock: str = "epochs") -> pd.DataFrame:
    """Per run, the best validation mIoU seen so far against cumulative epochs or seconds.

    Only finished runs count. Rows are in the order the runs recorded them; ``x`` is the
    cumulative epochs trained, or seconds of training (simulated in replay) plus the tuner's
    decision time spread evenly over the run's evaluations. With one worker the seconds add
    up; a replayed run on several simulated workers (the suite's ``workers``) puts each epoch
    at its job's simulated start plus the job's seconds up to that epoch (its jobs overlap).
    """
    done = set(res.runs.loc[res.runs["status"] == "done", "run_key"])  # interrupted runs are partial
    ev = res.evals[(res.evals["status"] == "ok") & res.evals["run_key"].isin(done)].copy()
    runs = res.runs.set_index("run_key")
    parallel = {k for k, i in runs["identity"].items() if json.loads(i).get("workers", 1) > 1}
    started = (res.jobs.set_index(["run_key", "job_id"])["started"] if parallel and "started" in res.jobs
               else None)
    out = []
    for key, g in ev.groupby("run_key", sort=False):
        g = g.sort_values(["cum_epochs", "job_id", "epoch"], kind="stable")
        if clock == "epochs":
            x = g["cum_epochs"].to_numpy(dtype=float)
        elif key in parallel:
            g = g.assign(x=[started[(key, j)] for j in g["job_id"]] + g.groupby("job_id")["seconds"].cumsum())
            g = g.sort_values(["x", "job_id", "epoch"], kind="stable")
            tuner = float(runs.at[key, "tuner_seconds"] or 0.0)
            x = g["x"].to_numpy(dtype=float) + tuner / max(1, len(g)) * np.arange(1, len(g) + 1)
        else:
            tuner = float(runs.at[key, "tuner_seconds"] or 0.0)
            x = np.cumsum(g["seconds"].to_numpy(dtype=float) + tuner / max(1, len(g)))
        y = np.maximum.accumulate(g["val_miou"].to_numpy(dtype=float))
        r = runs.loc[key]
        out.append(pd.DataFrame({"run_key": key, "label": r["label"], "budget": r["budget"], "seed": r["seed"],
                                 "x": x, "best": y}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(
        columns=["run_key", "label", "budget", "seed", "x", "best"])


def final_table(res: Results) -> pd.DataFrame:
    """One row per run: status, incumbent test and validation mIoU, epochs spent."""
    inc = res.incumbents.set_index("run_key")
    rows = []
    for _, r in res.runs.iterrows():
        has = r["run_key"] in inc.index
        rows.append({"run_key": r["run_key"], "label": r["label"], "method": r["method"], "budget": r["budget"],
                     "seed": r["seed"], "status": r["status"] if (has or r["status"] != "done") else "no incumbent",
                     "test_miou": inc.at[r["run_key"], "test_miou"] if has else np.nan,
                     "val_miou": inc.at[r["run_key"], "val_miou"] if has else np.nan,
                     "epochs": r["epochs_spent"], "params": r["params"]})
    return pd.DataFrame(rows)
