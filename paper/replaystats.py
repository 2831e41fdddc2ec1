"""How each replayed result was answered: distinct recorded entries and neighbour shares.

A replayed run stores in the runs table (``bench.tables.curves.replay_stats``, written by the runner):
``table_entries``, the number of distinct recorded configurations of the curves table that
answered its asks, and ``neighbour_share``, the share of its asks answered by the curve of a
nearest recorded neighbour rather than by the configuration asked. Both are NULL for stores
made before these columns existed ("n/a" here), and absent for real training.

This module reads them from the frames ``paper.data.load`` gives (the store's runs table) and
reports, per method label and B, their medians over the runs (seeds) that have them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .data import Results

COLUMNS = ("table_entries", "neighbour_share")
ENTRIES = "distinct entries, median"
SHARE = "neighbour share, median"


def per_run(res: Results) -> pd.DataFrame:
    """One row per run: run_key, label, budget, seed, table_entries, neighbour_share (NaN where
    the store has no value)."""
    runs = res.runs
    out = runs[["run_key", "label", "budget", "seed"]].copy()
    for c in COLUMNS:
        out[c] = pd.to_numeric(runs[c], errors="coerce") if c in runs else np.nan
    return out


def cell(res: Results, label: str, budget: float) -> dict[str, str]:
    """The two medians of one (label, B) as text: ``{ENTRIES: "12", SHARE: "0%"}``, "n/a" where no
    run of the cell stored them."""
    d = per_run(res)
    d = d[(d["label"] == label) & (d["budget"] == budget)]
    e, s = d["table_entries"].dropna(), d["neighbour_share"].dropna()
    return {ENTRIES: f"{e.median():g}" if len(e) else "n/a", SHARE: f"{s.median():.0%}" if len(s) else "n/a"}


def table(res: Results) -> pd.DataFrame:
    """Method labels (suite order) x B: "median distinct entries / median neighbour share"."""
    rows = []
    for label in res.methods():
        row = {"method": label}
        for b in res.budgets():
            if not ((res.runs["label"] == label) & (res.runs["budget"] == b)).any():
                row[f"B={b:g}"] = "—"
                continue
            c = cell(res, label, b)
            row[f"B={b:g}"] = "n/a" if c[ENTRIES] == c[SHARE] == "n/a" else f"{c[ENTRIES]} / {c[SHARE]}"
        rows.append(row)
    return pd.DataFrame(rows)


def summary(res: Results) -> dict:
    """Numbers for numbers.json: runs with stored values, and the overall medians."""
    d = per_run(res)
    stored = d.dropna(subset=["table_entries"])
    return {"runs": int(len(d)), "runs_with_values": int(len(stored)),
            "entries_median": float(stored["table_entries"].median()) if len(stored) else None,
            "neighbour_share_median": float(d["neighbour_share"].dropna().median())
            if d["neighbour_share"].notna().any() else None}


def write(res: Results, out: Path) -> dict:
    """``replay_<name>`` (.md, .csv, .tex) under ``out``; returns ``summary``."""
    from .tables import write_table
    nums = summary(res)
    old = ("" if nums["runs_with_values"] else
           " n/a: this store was made before runs stored these numbers (every cell); re-running the suite fills them.")
    write_table(table(res), out, f"replay_{res.name}", (
        f"How the replayed results of {res.name} were answered, per method and B, median over seeds: distinct recorded "
        "configurations of the curves table that answered a run's asks / share of its asks answered by the curve of "
        f"the nearest recorded neighbour instead of the configuration asked (stored per run).{old}"))
    return nums


def section(result_numbers: dict, out: Path, name: str) -> str:
    """The ``replay_<name>`` table as Markdown for the report, or a line saying why there is none."""
    p = Path(out) / f"replay_{name}.md"
    stats = result_numbers.get("replay_stats") or {}
    if stats and not stats.get("runs_with_values"):
        return (f"*Distinct entries and neighbour shares of `{name}`: n/a for every method and B (the store was made "
                f"before runs stored them; `replay_{name}.md` lists the cells; the threats section gives the share of "
                "sampled configurations the table does not hold).*\n")
    if p.is_file():
        return p.read_text()
    if result_numbers.get("backend") != "replay":
        return f"*({name} is real training: no recorded entries or neighbours.)*"
    return f"*(distinct entries and neighbour shares of {name}: not measured yet.)*"
