"""Budget-unaware against budget-aware fidelity, side by side (issue 23).

On a budget-unaware table (``cpu-v2``) the value at rung r is epoch r of a training whose learning
rate anneals over R; on a budget-aware table (``cpu-v2-budget``) it is the last epoch of a training
whose schedule ended at r. The same configurations, seeds and R column; only what a rung means differs.
This module pairs the stores that replayed the same suite on the two designs and says, conclusion by
conclusion, whether it holds under both or flips.

Compute (pure; frames and dicts):

* ``rung_rho``: per design, rung r and metric, Spearman rho over configurations between the seed
  mean at rung r and the seed mean at R, with a 95% percentile bootstrap CI over configurations
  (2000 resamples, the same resampled configurations for both designs, so the difference of the two
  rhos has a paired CI too). Only configurations that both tables hold with every seed at every rung.
* ``comparisons``: per design, budget and method column, the final validation regret against random
  search: IQM difference [95% bootstrap CI] and a two-sided Mann-Whitney U test over the seeds, Holm-
  corrected over the method x budget comparisons of that design and objective; the verdict "lower",
  "higher" (regret than random search) or "indistinguishable" (corrected p >= 0.05).
* ``pairs``: which stores are the same suite on the two designs, chosen by what they hold (objective,
  budgets, seeds, labels, the table's design), never by their names.

Render: ``write`` saves the tables and the rho figure; ``text`` the section of ``paper.md``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from . import landscape
from . import stats as st

BOOT = 2000
ALPHA = 0.05
DESIGNS = ("budget-unaware", "budget-aware")
METRICS = {"val_loss": "validation cross-entropy", "val_miou": "validation mIoU"}


# -- which stores pair up --------------------------------------------------------------------
def budget_aware(curves: str | Path | None) -> bool:
    """Whether a curves table is budget-aware (has a ``budget`` column)."""
    if not curves:
        return False
    from bench.fidelity import table_budgets
    from bench.curves import resolve
    return resolve(curves).is_file() and table_budgets(curves) is not None


def _signature(res) -> tuple:
    return (res.objective, tuple(res.budgets()), tuple(sorted(res.runs["seed"].unique().tolist())),
            tuple(sorted(res.runs["label"].unique())), res.max_budget)


def pairs(loaded: dict) -> list[tuple[str, str]]:
    """(budget-unaware store, budget-aware store) name pairs: replayed stores with the same objective,
    budgets, seeds, labels and R, one on a budget-unaware table, the other on a budget-aware one."""
    aware = {n: r for n, r in loaded.items() if r.backend == "replay" and budget_aware(r.curves)}
    unaware = {n: r for n, r in loaded.items() if r.backend == "replay" and r.curves and n not in aware
               and r.drop_top == 0}  # a leave-top-k-out store replayed another table
    out = []
    for a, ra in sorted(aware.items()):
        match = [u for u, ru in sorted(unaware.items()) if _signature(ru) == _signature(ra)]
        if match:
            out.append((match[0], a))
    return out


# -- how early the final ranking shows, per design -------------------------------------------------
def _means(path) -> pd.DataFrame:
    """Seed means by (config_id, epoch = rung) of a table's values at each resource (``run_ends``)."""
    ok = landscape.read_table(path)
    return landscape.seed_means(ok).set_index(["config_id", "epoch"])


def _rank_rows(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, axis=-1)


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ra, rb = _rank_rows(a), _rank_rows(b)
    ra = ra - ra.mean(axis=-1, keepdims=True)
    rb = rb - rb.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample of tied values has no rank correlation (NaN)
        return (ra * rb).sum(-1) / np.sqrt((ra * ra).sum(-1) * (rb * rb).sum(-1))


def rung_rho(unaware_path, aware_path, rungs: list[int] | None = None, seed: int = 0) -> pd.DataFrame:
    """Long table: ``metric``, ``rung`` (epochs), ``design``, ``rho`` [``lo``, ``hi``] and ``configs``; plus
    rows with design "aware - unaware" holding the paired difference. ``rungs`` default: the aware table's
    budgets below R."""
    means = {"budget-unaware": _means(unaware_path), "budget-aware": _means(aware_path)}
    R = int(max(m.index.get_level_values("epoch").max() for m in means.values()))
    if rungs is None:
        rungs = sorted({int(e) for e in means["budget-aware"].index.get_level_values("epoch")} - {R})
    # configurations held at R and at every rung by both designs
    held = None
    for m in means.values():
        ids = set(m.xs(R, level="epoch").index)
        for r in rungs:
            ids &= set(m.xs(r, level="epoch").index) if r in m.index.get_level_values("epoch") else set()
        held = ids if held is None else held & ids
    ids = sorted(held or ())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(ids), (BOOT, len(ids))) if ids else np.zeros((0, 0), dtype=int)
    rows = []
    for metric in METRICS:
        for r in rungs:
            boots = {}
            for design, m in means.items():
                if not ids:
                    continue
                x = m.xs(r, level="epoch").loc[ids, metric].to_numpy(dtype=float)
                y = m.xs(R, level="epoch").loc[ids, metric].to_numpy(dtype=float)
                rho = float(_spearman_rows(x[None], y[None])[0])
                boots[design] = _spearman_rows(x[idx], y[idx])
                lo, hi = np.nanpercentile(boots[design], [2.5, 97.5])
                rows.append({"metric": metric, "rung": r, "design": design, "rho": rho, "lo": float(lo),
                             "hi": float(hi), "configs": len(ids)})
            if len(boots) == 2:
                d = boots["budget-aware"] - boots["budget-unaware"]
                point = rows[-1]["rho"] - rows[-2]["rho"]
                lo, hi = np.nanpercentile(d, [2.5, 97.5])
                rows.append({"metric": metric, "rung": r, "design": "aware - unaware", "rho": point, "lo": float(lo),
                             "hi": float(hi), "configs": len(ids)})
    return pd.DataFrame(rows, columns=["metric", "rung", "design", "rho", "lo", "hi", "configs"])


# -- conclusions against random search, per design --------------------------------------------------
def comparisons(res, best: dict) -> pd.DataFrame:
    """Per budget and method column of one store: final validation regret against random search's column.

    Columns: ``budget``, ``column`` (labels of one algorithm joined by " = "), ``labels`` (list), ``runs``,
    ``iqm_diff`` [``lo``, ``hi``] (IQM of the column minus IQM of random search), ``p`` (two-sided
    Mann-Whitney U), ``p_holm`` (Holm over every row of the store), ``verdict``."""
    fin = st.final_regret(res, best)
    order = res.methods()
    rows = []
    for b in res.budgets():
        fb = fin[fin["budget"] == b]
        cols = st.columns(fb, order)
        ref = next((n for n, labels in cols.items()
                    if str(fb[fb["label"] == labels[0]]["algorithm"].iloc[0]).startswith("random-search R=")), None)
        if ref is None:
            continue
        base = fb[fb["label"] == cols[ref][0]]["val_regret"].dropna().to_numpy()
        for name, labels in cols.items():
            if name == ref:
                continue
            v = fb[fb["label"] == labels[0]]["val_regret"].dropna().to_numpy()
            d, lo, hi = st.iqm_difference_ci(v, base)
            p = float(stats.mannwhitneyu(v, base, alternative="two-sided").pvalue) if len(v) and len(base) else np.nan
            rows.append({"budget": float(b), "column": name, "labels": labels, "random": ref, "runs": len(v),
                         "iqm_diff": d, "lo": lo, "hi": hi, "p": p})
    df = pd.DataFrame(rows, columns=["budget", "column", "labels", "random", "runs", "iqm_diff", "lo", "hi", "p"])
    ok = df["p"].notna()
    df["p_holm"] = np.nan
    if ok.any():
        df.loc[ok, "p_holm"] = multipletests(df.loc[ok, "p"], alpha=ALPHA, method="holm")[1]
    df["verdict"] = [("lower" if d < 0 else "higher") if (p == p and p < ALPHA) else "indistinguishable"
                     for d, p in zip(df["iqm_diff"], df["p_holm"])]
    return df


def _verdict_of(df: pd.DataFrame, label: str, budget: float) -> dict | None:
    """The row whose column holds ``label`` at ``budget`` (None: random search itself, or no result)."""
    for _, r in df[df["budget"] == budget].iterrows():
        if label in r["labels"]:
            return r.to_dict()
    return None


def side_by_side(unaware: pd.DataFrame, aware: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """One row per (label, budget): each design's verdict, IQM difference [CI] and Holm p; ``holds``."""
    rows = []
    for b in sorted(set(unaware["budget"]) | set(aware["budget"])):
        for label in labels:
            u, a = _verdict_of(unaware, label, b), _verdict_of(aware, label, b)
            if u is None and a is None:
                continue
            vu = u["verdict"] if u else "is random search"
            va = a["verdict"] if a else "is random search"
            rows.append({"method": label, "B": f"{b:g}",
                         "budget-unaware": _cell(u), "budget-aware": _cell(a),
                         "verdict budget-unaware": vu, "verdict budget-aware": va,
                         "conclusion": "holds" if vu == va else "flips"})
    return pd.DataFrame(rows, columns=["method", "B", "budget-unaware", "budget-aware", "verdict budget-unaware",
                                       "verdict budget-aware", "conclusion"])


def _cell(r: dict | None) -> str:
    if r is None:
        return "(random search)"
    return (f"{r['verdict']}: {r['iqm_diff']:+.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}], p_Holm = {r['p_holm']:.3g}"
            if r["p_holm"] == r["p_holm"] else f"{r['verdict']}: {r['iqm_diff']:+.4f}")


def winners(res) -> dict[str, list[int]]:
    """Per B, the successive-halving n with the best median validation objective (ties: all)."""
    from . import tables
    cells = tables.nvsbn_cells(res)
    if cells.empty:
        return {}
    return {f"{b:g}": [int(x) for x in g.loc[g["winner"], "n"]] for b, g in cells.groupby("budget") if g["winner"].any()}


# -- render --------------------------------------------------------------------------------------
def plot_rho(df: pd.DataFrame, axes) -> None:
    """Pure: rho at each rung with its 95% CI, per design (one axes per metric)."""
    for ax, (metric, name) in zip(axes, METRICS.items()):
        d = df[df["metric"] == metric]
        for k, (design, colour, dx) in enumerate((("budget-unaware", "#D55E00", -0.06),
                                                  ("budget-aware", "#0072B2", 0.06))):
            g = d[d["design"] == design]
            if g.empty:
                continue
            x = np.log(g["rung"].to_numpy(dtype=float)) / np.log(3) + dx
            ax.errorbar(x, g["rho"], yerr=[g["rho"] - g["lo"], g["hi"] - g["rho"]], fmt="o-", color=colour,
                        capsize=3, label=design)
        rungs = sorted(d["rung"].unique())
        ax.set_xticks(np.log(np.asarray(rungs, dtype=float)) / np.log(3), [str(r) for r in rungs])
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.set_ylim(-0.4, 1.02)
        ax.set_xlabel("rung r (epochs)")
        ax.set_ylabel(f"Spearman rho with the value at R")
        ax.set_title(name)
        ax.legend(loc="lower right")


def write(unaware_path, aware_path, pair_results: list[dict], out: Path) -> dict:
    """Tables ``fidelity_rho`` and ``fidelity_<store>`` (one per pair), the figure ``fidelity_rho``; returns
    the numbers ``text`` renders. ``pair_results``: per pair {"unaware": name, "aware": name, "objective",
    "frame": side_by_side(...), "winners": {design: winners}}."""
    import matplotlib.pyplot as plt

    from .style import save
    from .tables import write_table
    rho = rung_rho(unaware_path, aware_path)
    nums: dict = {"unaware_table": str(unaware_path), "aware_table": str(aware_path),
                  "configs": int(rho["configs"].max()) if len(rho) else 0, "rho": rho.to_dict("records"), "pairs": []}
    if len(rho):
        w = rho.assign(value=[f"{r:.2f} [{lo:.2f}, {hi:.2f}]" for r, lo, hi in zip(rho["rho"], rho["lo"], rho["hi"])])
        w = w.pivot_table(index=["metric", "rung"], columns="design", values="value", aggfunc="first").reset_index()
        w["metric"] = w["metric"].map(METRICS)
        write_table(w[["metric", "rung"] + [c for c in (*DESIGNS, "aware - unaware") if c in w.columns]], out,
                    "fidelity_rho", (
                        f"Spearman rho over {nums['configs']} configurations between the seed mean at rung r and the "
                        "seed mean at R, [95% percentile bootstrap CI over configurations, 2000 resamples; the "
                        "difference paired]. Budget-unaware: epoch r of the training annealed over R "
                        f"(`{unaware_path}`); budget-aware: the last epoch of the training annealed at r "
                        f"(`{aware_path}`)."))
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
        plot_rho(rho, axes)
        fig.suptitle(f"How well each rung ranks configurations as R does, under both fidelity designs "
                     f"({nums['configs']} configurations, seed means, 95% bootstrap CI)")
        save(fig, out, "fidelity_rho")
    for p in pair_results:
        frame = p["frame"]
        write_table(frame[["method", "B", "budget-unaware", "budget-aware", "conclusion"]], out,
                    f"fidelity_{p['aware']}", (
                        f"Final validation regret against random search, `{p['unaware']}` (budget-unaware) beside "
                        f"`{p['aware']}` (budget-aware; promotions retrain), the same suite, budgets and seeds, "
                        f"objective {p['objective']}: IQM difference over seeds [95% bootstrap CI] and a two-sided "
                        "Mann-Whitney U test, Holm-corrected over the method x budget comparisons of each store; "
                        "'lower'/'higher': regret below/above random search's at corrected p < 0.05. A conclusion "
                        "holds when both designs give the same verdict, else it flips. Regret is against each table's "
                        "best seed mean at R (the same R column once the budget-aware table is complete; a partial "
                        "table holds fewer configurations)."))
        nums["pairs"].append({"unaware": p["unaware"], "aware": p["aware"], "objective": p["objective"],
                              "rows": frame.to_dict("records"), "winners": p["winners"]})
    return nums


def _rho_sentence(rho: list[dict], metric: str) -> str:
    d = pd.DataFrame(rho)
    d = d[d["metric"] == metric]
    if d.empty:
        return ""
    parts = []
    for r in sorted(d["rung"].unique()):
        g = d[d["rung"] == r].set_index("design")
        if not set(DESIGNS) <= set(g.index):
            continue
        u, a = g.loc["budget-unaware"], g.loc["budget-aware"]
        diff = g.loc["aware - unaware"] if "aware - unaware" in g.index else None
        sig = ("" if diff is None else
               " (difference " + f"{diff['rho']:+.2f} [{diff['lo']:+.2f}, {diff['hi']:+.2f}]"
               + (", excludes 0)" if diff["lo"] > 0 or diff["hi"] < 0 else ", includes 0)"))
        parts.append(f"rung {int(r)}: {u['rho']:.2f} [{u['lo']:.2f}, {u['hi']:.2f}] budget-unaware vs "
                     f"{a['rho']:.2f} [{a['lo']:.2f}, {a['hi']:.2f}] budget-aware{sig}")
    return f"For the {METRICS[metric]}, " + "; ".join(parts) + "."


def text(nums: dict | None, out: Path) -> str:
    """The section's generated text (tables read from ``out``); a line when nothing is measured yet."""
    if not nums or not nums.get("rho"):
        return ("*Budget-aware fidelity: not measured yet. It needs the budget-aware curves table "
                "(`results/curves/cpu-v2-budget.csv`, `bench record --profile cpu-v2-budget --budgets 1,3,9`, "
                "README \"Budget-aware fidelity\") and the sweeps replayed on it (`bench/suites/nvsbn-budget.toml`, "
                "`nvsbn-miou-budget.toml`).*")
    parts = [f"Rank correlation of each rung with R, on the {nums['configs']} configurations both tables hold "
             f"(seed means). {_rho_sentence(nums['rho'], 'val_loss')} {_rho_sentence(nums['rho'], 'val_miou')}",
             "![Rank correlation per rung under both designs](fidelity_rho.png)", landscape._read(out, "fidelity_rho.md")]
    for p in nums.get("pairs", []):
        rows = pd.DataFrame(p["rows"])
        if rows.empty:
            continue
        head = (f"**{p['unaware']} vs {p['aware']}** (objective {p['objective']}). ")
        sentences = []
        for _, r in rows.iterrows():
            u, a = r["verdict budget-unaware"], r["verdict budget-aware"]
            if u == a == "indistinguishable" or "is random search" in (u, a) and u == a:
                continue
            what = (f"`{r['method']}` at B = {r['B']} R: regret {_phrase(u)} under the budget-unaware design and "
                    f"{_phrase(a)} under the budget-aware design")
            sentences.append(f"{what}: **{'holds' if u == a else 'flips'}**.")
        same = rows[(rows["verdict budget-unaware"] == "indistinguishable")
                    & (rows["verdict budget-aware"] == "indistinguishable")]
        sentences.append(f"{len(same)} of {len(rows)} method x budget comparisons are indistinguishable from random "
                         "search under both designs (Holm-corrected).")
        win = p.get("winners", {})
        for b in sorted(set(win.get("budget-unaware", {})) | set(win.get("budget-aware", {})), key=float):
            nu, na = win.get("budget-unaware", {}).get(b, []), win.get("budget-aware", {}).get(b, [])
            sentences.append(f"Best successive-halving n at B = {b} R (median validation objective): "
                             f"{', '.join(map(str, nu)) or '—'} budget-unaware, {', '.join(map(str, na)) or '—'} "
                             f"budget-aware: **{'holds' if nu == na else 'flips'}**.")
        parts.append(head + " ".join(sentences) + "\n\n" + landscape._read(out, f"fidelity_{p['aware']}.md")
                     + f"\n![n vs B/n, budget-aware]({'nvsbn_' + p['aware']}.png)\n")
    return "\n\n".join(parts)


def _phrase(verdict: str) -> str:
    return {"lower": "lower than random search", "higher": "higher than random search",
            "indistinguishable": "indistinguishable from random search",
            "is random search": "identical to random search (the same algorithm)"}[verdict]


def summary(loaded: dict, bests: dict, out: Path) -> dict | None:
    """The section's numbers for every pair of stores (``pairs``), or None when there is none."""
    found = pairs(loaded)
    if not found:
        return None
    pair_results, tables_used = [], None
    for u, a in found:
        ru, ra = loaded[u], loaded[a]
        frame = side_by_side(comparisons(ru, bests[u]), comparisons(ra, bests[a]), ru.methods())
        pair_results.append({"unaware": u, "aware": a, "objective": ru.objective, "frame": frame,
                             "winners": {"budget-unaware": winners(ru), "budget-aware": winners(ra)}})
        tables_used = tables_used or (ru.curves, ra.curves)
    from bench.curves import resolve
    return write(resolve(tables_used[0]), resolve(tables_used[1]), pair_results, out)
