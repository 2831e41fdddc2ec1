"""Tables from stored results, and writers for Markdown, CSV and LaTeX (booktabs).

Numbers are formatted here once, so the same inputs give byte-identical files.
Missing or failed runs are counted in the cells ("27/30"), never dropped silently.
"""
from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from .data import Results, final_table



def expected_seeds(res: Results) -> int:
    """Seeds per (method, B) that the suite asked for (from the suite text each run recorded)."""
    texts = res.runs["suite_text"].dropna().unique()
    if not len(texts):
        return 0
    return max(len(tomllib.loads(t).get("seeds", [])) for t in texts)


def coverage(res: Results) -> pd.DataFrame:
    """Per (label, B): runs expected, done with an incumbent, failed (no incumbent), infeasible, missing."""
    fin = final_table(res)
    n = expected_seeds(res)
    rows = []
    for label in res.methods():
        for b in res.budgets():
            g = fin[(fin["label"] == label) & (fin["budget"] == b)]
            ok = int(g["test_miou"].notna().sum())
            infeasible = int((g["status"] == "infeasible").sum())
            failed = int(len(g) - ok - infeasible - (g["status"] == "running").sum())
            rows.append({"label": label, "budget": b, "expected": n, "ok": ok, "failed": failed,
                         "infeasible": infeasible, "missing": max(0, n - len(g))})
    return pd.DataFrame(rows)


def _cell(values: pd.Series, expected: int, infeasible: int) -> str:
    v = values.dropna()
    if infeasible and v.empty:
        return "infeasible"
    if v.empty:
        return f"— (0/{expected})"
    txt = f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.iloc[0]:.3f}"  # one seed: no spread
    return txt + (f" ({len(v)}/{expected})" if len(v) < expected else "")


def final_results(res: Results) -> pd.DataFrame:
    """Test mIoU of the incumbent, mean ± std over seeds per method label and B, with (k/N) where
    runs lack an incumbent. Comparisons across methods (which must not count one algorithm twice
    nor pool budgets whose seeds share streams) are in ``paper.stats``."""
    fin = final_table(res)
    cov = coverage(res).set_index(["label", "budget"])
    rows = []
    for label in res.methods():
        row = {"method": label}
        for b in res.budgets():
            g = fin[(fin["label"] == label) & (fin["budget"] == b)]
            c = cov.loc[(label, b)]
            row[f"B={b:g}"] = _cell(g["test_miou"], int(c["expected"]), int(c["infeasible"]))
        rows.append(row)
    return pd.DataFrame(rows)


def neighbour_share(res: Results, curves: str | Path) -> float:
    """Share of the trials (configurations a tuner sampled) that the recorded table does not hold,
    so that replay answered them with the curve of the nearest recorded configuration (a fraction,
    0 to 1, of the store's distinct (run, trial) pairs; NaN without trials).

    Not the runs' stored ``neighbour_share`` (``paper.replaystats``): that one is per run, over its
    asks (a trial promoted to a higher rung is asked again), against the table the run replayed
    (without the ``drop_top`` best); this one pools the trials of the whole store against the full
    table. Each distinct configuration text is decoded once (a table-sampled store asks the same
    few hundred configurations tens of thousands of times)."""
    from bench.tables.curves import _table, resolve
    from methods.base import config_to_dict

    from bench.storage.store import dumps
    # the full table, under the key ``paper.data.replayed_table`` loads it with: one load per process
    table = _table(str(resolve(curves)), str(res.runs["profile"].iloc[0]))
    trials = res.jobs.drop_duplicates(["run_key", "trial_id"])["config"]
    held = {c: dumps({n: config_to_dict(json.loads(c))[n] for n in table.names}) in table.by_key
            for c in set(trials)}
    miss = [not held[c] for c in trials]
    return float(np.mean(miss)) if miss else math.nan


def nvsbn_cells(res: Results) -> pd.DataFrame:
    """Successive-halving cells over (n, B): median test and validation mIoU of the incumbent, winners."""
    fin = final_table(res)
    sh = fin[fin["method"] == "successive-halving"].copy()
    if sh.empty:
        return pd.DataFrame(columns=["n", "budget", "test_miou", "val_miou", "runs", "infeasible", "winner"])
    roles = res.runs.set_index("run_key")
    sh["n"] = [json.loads(p)["n"] for p in sh["params"]]
    sh["family"] = [roles.at[k, "family"] for k in sh["run_key"]]
    rows = []
    for (n, b), g in sh.groupby(["n", "budget"]):
        infeasible = bool((g["status"] == "infeasible").all())
        rows.append({"n": n, "budget": b, "test_miou": g["test_miou"].median(), "val_miou": g["val_miou"].median(),
                     "runs": int(g["test_miou"].notna().sum()), "infeasible": infeasible,
                     "single_rung": (not infeasible) and bool((g["family"] == "random-search").all())})
    cells = pd.DataFrame(rows)
    cells["winner"] = False
    for b, g in cells.groupby("budget"):
        if g["val_miou"].notna().any():  # chosen on validation, as a user would; ties all win
            cells.loc[g.index[np.isclose(g["val_miou"], g["val_miou"].max(), rtol=0, atol=1e-12)], "winner"] = True
    return cells


def speed(res: Results) -> pd.DataFrame:
    """``bench.storage.report.speed_summary`` per method label, formatted for the paper."""
    from bench.storage.report import speed_summary
    s = speed_summary(res.runs, res.jobs, by="label")
    return pd.DataFrame({
        "method": s["label"], "runs": s["runs"], "wall s": s["wall_s"].map("{:.1f}".format),
        "training s": s["train_s"].map("{:.0f}".format), "training s per wall s": s["train_s_per_wall_s"].map(_rate),
        "epochs per wall s": s["epochs_per_wall_s"].map(_rate), "jobs per wall s": s["jobs_per_wall_s"].map(_rate),
        "tuner s": s["tuner_s"].map("{:.2f}".format),
        "tuner share of wall": (s["tuner_s"] / s["wall_s"].where(s["wall_s"] > 0)).map(
            lambda v: "—" if pd.isna(v) else f"{v:.0%}")})


def _rate(r: float) -> str:
    if pd.isna(r):
        return "—"
    return f"{r:,.0f}" if r >= 100 else f"{r:.2f}"


# -- writers ------------------------------------------------------------------------
def to_markdown(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(v) for v in r.tolist()) + " |")
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, out: Path, stem: str, caption: str) -> list[Path]:
    """``stem``.md, .csv and .tex (booktabs) under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    md = out / f"{stem}.md"
    md.write_text(f"{to_markdown(df)}\n{caption}\n")
    csv = out / f"{stem}.csv"
    df.to_csv(csv, index=False, lineterminator="\n")
    tex = out / f"{stem}.tex"
    body = df.to_latex(index=False, escape=True, column_format="l" + "r" * (len(df.columns) - 1))
    tex.write_text("% " + caption.replace("\n", " ") + "\n" + body.replace("±", r"$\pm$").replace("×", r"$\times$"))
    return [md, csv, tex]
