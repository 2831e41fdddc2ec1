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
from scipy import stats

from .data import Results, best_so_far, final_table

BOOT = 2000


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


def final_results(res: Results) -> tuple[pd.DataFrame, dict]:
    """Test mIoU of the incumbent, mean ± std over seeds per method and B, the mean rank, and
    Wilcoxon signed-rank tests against random search (Holm-corrected), plus a Friedman test."""
    fin = final_table(res)
    cov = coverage(res).set_index(["label", "budget"])
    labels, budgets = res.methods(), res.budgets()
    wide = fin.pivot_table(index=["budget", "seed"], columns="label", values="test_miou", aggfunc="first")
    complete = wide.dropna(axis=1, how="all").dropna(axis=0, how="any")
    ranks = complete.rank(axis=1, ascending=False).mean() if len(complete) else pd.Series(dtype=float)
    rows, pvals = [], {}
    ref = "random" if "random" in wide.columns else None
    for label in labels:
        row = {"method": label}
        for b in budgets:
            g = fin[(fin["label"] == label) & (fin["budget"] == b)]
            c = cov.loc[(label, b)]
            row[f"B={b:g}"] = _cell(g["test_miou"], int(c["expected"]), int(c["infeasible"]))
        row["mean rank"] = f"{ranks[label]:.2f}" if label in ranks.index else "—"
        if ref and label != ref and label in wide.columns:
            pair = wide[[label, ref]].dropna()
            diff = pair[label] - pair[ref]
            if len(pair) >= 5 and (diff != 0).any():
                pvals[label] = float(stats.wilcoxon(pair[label], pair[ref]).pvalue)
            elif len(pair) and (diff == 0).all():
                pvals[label] = "same as random"  # the same incumbents in every (B, seed): nothing to test
        rows.append(row)
    holm = _holm({k: p for k, p in pvals.items() if not isinstance(p, str)})
    for row in rows:
        m = row["method"]
        row["p vs random (Wilcoxon, Holm)"] = (f"{holm[m]:.3g}" if m in holm else pvals.get(m, "—"))
    info = {"friedman_methods": list(complete.columns), "friedman_blocks": int(len(complete)),
            "rank_budgets": sorted({float(b) for b, _ in complete.index})}
    if complete.shape[1] >= 3 and len(complete) >= 3:
        f = stats.friedmanchisquare(*[complete[c] for c in complete.columns])
        info.update(friedman_statistic=float(f.statistic), friedman_p=float(f.pvalue))
    return pd.DataFrame(rows), info


def _holm(pvals: dict) -> dict:
    items = sorted(pvals.items(), key=lambda kv: kv[1])
    out, running = {}, 0.0
    for i, (k, p) in enumerate(items):
        running = max(running, min(1.0, (len(items) - i) * p))
        out[k] = running
    return out


def speedup(res: Results, reference: str = "random", seed: int = 0) -> pd.DataFrame:
    """How much sooner each method reaches random search's final validation mIoU, per B.

    Target: the (lower) median over seeds of random search's final best validation mIoU
    at B, so at least half of random search's runs reach it. Ratio: random search's
    median epochs to reach the target divided by the method's (a run that never reaches
    it counts as never); 95% bootstrap CI over the method's seeds.
    """
    curves = best_so_far(res, "epochs")
    rng = np.random.default_rng(seed)
    rows = []
    for label in res.methods():
        row = {"method": label}
        for b in res.budgets():
            cb = curves[curves["budget"] == b]
            refc = cb[cb["label"] == reference]
            mine = cb[cb["label"] == label]
            if refc.empty or mine.empty:
                row[f"B={b:g}"] = "—"
                continue
            target = float(np.quantile(refc.groupby("run_key")["best"].max(), 0.5, method="lower"))
            t_ref = float(np.median(_first_reach(refc, target)))
            row[f"B={b:g}"] = _ratio_cell(t_ref, _first_reach(mine, target), rng)
        rows.append(row)
    return pd.DataFrame(rows)


def _first_reach(df: pd.DataFrame, target: float) -> np.ndarray:
    out = []
    for _, g in df.groupby("run_key"):
        hit = g[g["best"] >= target - 1e-12]
        out.append(float(hit["x"].iloc[0]) if len(hit) else math.inf)
    return np.array(out)


def _ratio_cell(t_ref: float, t_m: np.ndarray, rng) -> str:
    reached = int(np.isfinite(t_m).sum())
    med = np.median(t_m)
    if not np.isfinite(med):
        return f"not reached ({reached}/{len(t_m)})"
    boots = np.array([np.median(rng.choice(t_m, len(t_m))) for _ in range(BOOT)])
    ratios = np.where(np.isfinite(boots), t_ref / np.maximum(boots, 1e-12), 0.0)
    lo, hi = np.quantile(ratios, [0.025, 0.975], method="nearest")
    return f"{t_ref / med:.2f}× [{lo:.2f}, {hi:.2f}]"


def nvsbn_cells(res: Results) -> pd.DataFrame:
    """Successive-halving cells over (n, B): median test and validation mIoU of the incumbent, winners."""
    fin = final_table(res)
    sh = fin[fin["method"] == "successive-halving"].copy()
    if sh.empty:
        return pd.DataFrame(columns=["n", "budget", "test_miou", "val_miou", "runs", "infeasible", "winner"])
    sh["n"] = [json.loads(p)["n"] for p in sh["params"]]
    R = res.max_budget
    rows = []
    for (n, b), g in sh.groupby(["n", "budget"]):
        infeasible = bool((g["status"] == "infeasible").all())
        rows.append({"n": n, "budget": b, "test_miou": g["test_miou"].median(), "val_miou": g["val_miou"].median(),
                     "runs": int(g["test_miou"].notna().sum()), "infeasible": infeasible,
                     "single_rung": (not infeasible) and _single_rung(json.loads(g["params"].iloc[0]), R)})
    cells = pd.DataFrame(rows)
    cells["winner"] = False
    for b, g in cells.groupby("budget"):
        if g["val_miou"].notna().any():  # chosen on validation, as a user would; ties all win
            cells.loc[g.index[np.isclose(g["val_miou"], g["val_miou"].max(), rtol=0, atol=1e-12)], "winner"] = True
    return cells


def _single_rung(params: dict, R: int) -> bool:
    """Whether a successive-halving run trains all its n configurations to R (no halving at all)."""
    from methods.brackets import successive_halving_bracket
    try:
        budget = params.get("bracket_budget")
        r_min = params.get("r_min", None if budget is not None else 1)
        bracket = successive_halving_bracket(params["n"], params.get("eta", 3), R, r_min=r_min, budget=budget)
    except (ValueError, TypeError):
        return False
    return len(bracket.rungs) == 1


def speed(res: Results) -> pd.DataFrame:
    """``bench.report.speed_summary`` per method label, formatted for the paper."""
    from bench.report import speed_summary
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


def best_by_budget(res: Results) -> dict:
    """Per B, the method with the highest mean incumbent test mIoU and the one with the highest
    mean validation mIoU (over seeds with an incumbent), with those means."""
    fin = final_table(res)
    out = {}
    for b in res.budgets():
        g = fin[fin["budget"] == b].groupby("label")[["test_miou", "val_miou"]].mean().dropna()
        if g.empty:
            continue
        t, v = g["test_miou"].idxmax(), g["val_miou"].idxmax()
        out[f"{b:g}"] = {"test": t, "test_miou": float(g.at[t, "test_miou"]),
                         "val": v, "val_miou": float(g.at[v, "val_miou"])}
    return out


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
