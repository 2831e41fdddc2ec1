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

import json
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
COSTS = ("promotions resumed", "promotions restarted")  # the two arms of the cost comparison
METRICS = {"val_loss": "validation cross-entropy", "val_miou": "validation mIoU"}


# -- which stores pair up --------------------------------------------------------------------
def budget_aware(curves: str | Path | None) -> bool:
    """Whether a curves table is budget-aware (has a ``budget`` column)."""
    if not curves:
        return False
    from bench.config.fidelity import table_budgets
    from bench.tables.curves import resolve
    return resolve(curves).is_file() and table_budgets(curves) is not None


def _signature(res) -> tuple:
    return (res.objective, tuple(res.budgets()), tuple(sorted(res.runs["seed"].unique().tolist())),
            tuple(sorted(res.runs["label"].unique())), res.max_budget)


def resumes(res) -> bool | None:
    """Whether the store's runs continued promotions from checkpoints (the suite's resume_promotions);
    None when its runs disagree."""
    kinds = {json.loads(i).get("resume", True) for i in res.runs["identity"]}
    return kinds.pop() if len(kinds) == 1 else None


def _split(loaded: dict) -> tuple[dict, dict]:
    aware = {n: r for n, r in loaded.items() if r.backend == "replay" and budget_aware(r.curves) and r.drop_top == 0}
    unaware = {n: r for n, r in loaded.items() if r.backend == "replay" and r.curves and n not in aware
               and r.drop_top == 0}  # a leave-top-k-out store replayed another table
    return unaware, aware


def pairs(loaded: dict) -> list[tuple[str, str]]:
    """(budget-unaware store, budget-aware store) name pairs: replayed stores with the same objective,
    budgets, seeds, labels and R, one on a budget-unaware table, the other on a budget-aware one. Where
    several budget-unaware stores match, the one that charges promotions as the budget-aware store does
    (restarts: ``nvsbn-restart``) is taken, so the pair differs in the schedule alone."""
    unaware, aware = _split(loaded)
    out = []
    for a, ra in sorted(aware.items()):
        match = [u for u, ru in sorted(unaware.items()) if _signature(ru) == _signature(ra)]
        match.sort(key=lambda u: resumes(unaware[u]) != resumes(ra))  # stable: same cost first, then by name
        if match:
            out.append((match[0], a))
    return out


def cost_pairs(loaded: dict) -> list[tuple[str, str]]:
    """(resumed, restarted) store pairs on one budget-unaware table: the same objective, budgets, seeds,
    labels and R and the same table, promotions continued from checkpoints in one and retrained (charged
    their full resource) in the other: what charging restarts alone changes."""
    unaware, _ = _split(loaded)
    out = []
    for r, rr in sorted(unaware.items()):
        if resumes(rr) is not False:
            continue
        match = [u for u, ru in sorted(unaware.items()) if resumes(ru) is True and ru.curves == rr.curves
                 and _signature(ru) == _signature(rr)]
        if match:
            out.append((match[0], r))
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


def side_by_side(unaware: pd.DataFrame, aware: pd.DataFrame, labels: list[str],
                 names: tuple[str, str] = DESIGNS) -> pd.DataFrame:
    """One row per (label, budget): each arm's verdict, IQM difference [CI] and Holm p; ``holds``. The arms
    are named ``names`` (default the two designs; the cost comparison names them by promotion cost)."""
    rows = []
    nu, na = names
    for b in sorted(set(unaware["budget"]) | set(aware["budget"])):
        for label in labels:
            u, a = _verdict_of(unaware, label, b), _verdict_of(aware, label, b)
            if u is None and a is None:
                continue
            vu = u["verdict"] if u else "is random search"
            va = a["verdict"] if a else "is random search"
            rows.append({"method": label, "B": f"{b:g}", nu: _cell(u), na: _cell(a),
                         f"verdict {nu}": vu, f"verdict {na}": va, "conclusion": "holds" if vu == va else "flips"})
    return pd.DataFrame(rows, columns=["method", "B", nu, na, f"verdict {nu}", f"verdict {na}", "conclusion"])


def _cell(r: dict | None) -> str:
    if r is None:
        return "(random search)"
    return (f"{r['verdict']}: {r['iqm_diff']:+.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}], p_Holm = {r['p_holm']:.3g}"
            if r["p_holm"] == r["p_holm"] else f"{r['verdict']}: {r['iqm_diff']:+.4f}")


def winners(res) -> dict[str, list[int]]:
    """Per B, the successive-halving n with the best median validation mIoU of the incumbents
    (``tables.nvsbn_cells``' winners; ties: all)."""
    from . import tables
    cells = tables.nvsbn_cells(res)
    if cells.empty:
        return {}
    return {f"{b:g}": [int(x) for x in g.loc[g["winner"], "n"]] for b, g in cells.groupby("budget") if g["winner"].any()}


def near_best(res) -> dict[str, list[int]]:
    """Per B, every successive-halving n whose incumbents' validation mIoU is not distinguishable from the best
    n's: the n of highest median (the winner of ``tables.nvsbn_cells`` and the n vs B/n figure; ties: the
    smaller n), and each n whose two-sided Mann-Whitney U test against it over the seeds has Holm-corrected
    p >= 0.05 (Holm over that B's other n). Infeasible and empty cells take no part."""
    from .data import final_table
    fin = final_table(res)
    sh = fin[(fin["method"] == "successive-halving") & fin["val_miou"].notna()].copy()
    if sh.empty:
        return {}
    sh["n"] = [json.loads(p)["n"] for p in sh["params"]]
    out = {}
    for b, g in sh.groupby("budget"):
        vals = {int(n): h["val_miou"].to_numpy(dtype=float) for n, h in g.groupby("n")}
        best = min(vals, key=lambda n: (-np.median(vals[n]), n))
        others = [n for n in sorted(vals) if n != best]
        ps = [float(stats.mannwhitneyu(vals[n], vals[best], alternative="two-sided").pvalue) for n in others]
        holm = multipletests(ps, alpha=ALPHA, method="holm")[1] if ps else []
        out[f"{b:g}"] = sorted([best] + [n for n, p in zip(others, holm) if p >= ALPHA])
    return out


def choice_verdict(best_u: list[int], best_a: list[int], near_u: list[int] | None, near_a: list[int] | None) -> str:
    """What becomes of "the best n" between two arms: "holds" (the same best n), "holds within noise"
    (different best n, but each arm's best is indistinguishable from the other arm's best in that other arm),
    "flips" (some arm's best is distinguishably worse than the best in the other arm). Without the
    near-best sets (older numbers), "holds" or "differs"."""
    if set(best_u) == set(best_a):
        return "holds"
    if near_u is None or near_a is None:
        return "differs"
    if set(best_a) & set(near_u) and set(best_u) & set(near_a):
        return "holds within noise"
    return "flips"


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
    meta = Path(aware_path).with_suffix(".meta.json")
    complete = bool(json.loads(meta.read_text()).get("complete", True)) if meta.is_file() else True
    nums: dict = {"unaware_table": str(unaware_path), "aware_table": str(aware_path), "aware_complete": complete,
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
                              "rows": frame.to_dict("records"), "winners": p["winners"], "near": p.get("near")})
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


NOT_MEASURED = ("*Budget-aware fidelity: not measured yet. It needs the budget-aware curves table "
                "(`results/curves/cpu-v2-budget.csv`, `bench record --profile cpu-v2-budget --budgets 1,3,9`, "
                "docs/replay.md, \"Budget-aware fidelity\") and the sweeps replayed on it "
                "(`bench/suites/nvsbn-budget.toml`, `nvsbn-miou-budget.toml`).*")


def _verdict_sentences(rows: pd.DataFrame, winners_: dict, names: tuple[str, str], phrases: tuple[str, str],
                       near: dict | None = None) -> list:
    """Holds/flips sentences for one side-by-side frame: every comparison not indistinguishable in both
    arms, the count of those that are, and the best successive-halving n per B (``near``: per arm and B the
    n within noise of the best, ``near_best``; its verdict by ``choice_verdict``)."""
    nu, na = names
    sentences = []
    for _, r in rows.iterrows():
        u, a = r[f"verdict {nu}"], r[f"verdict {na}"]
        if u == a == "indistinguishable" or "is random search" in (u, a) and u == a:
            continue
        sentences.append(f"`{r['method']}` at B = {r['B']} R: regret {_phrase(u)} {phrases[0]} and {_phrase(a)} "
                         f"{phrases[1]}: **{'holds' if u == a else 'flips'}**.")
    same = rows[(rows[f"verdict {nu}"] == "indistinguishable") & (rows[f"verdict {na}"] == "indistinguishable")]
    sentences.append(f"{len(same)} of {len(rows)} method x budget comparisons are indistinguishable from random "
                     f"search {phrases[0]} and {phrases[1]} (Holm-corrected).")
    for b in sorted(set(winners_.get(nu, {})) | set(winners_.get(na, {})), key=float):
        wu, wa = winners_.get(nu, {}).get(b, []), winners_.get(na, {}).get(b, [])
        nu_, na_ = (near.get(nu, {}).get(b) if near else None), (near.get(na, {}).get(b) if near else None)
        fmt = lambda w, n: (", ".join(map(str, w)) or "—") + (  # noqa: E731
            f" (within noise of it: {', '.join(map(str, n))})" if n else "")
        sentences.append(f"Best successive-halving n at B = {b} R (highest median validation mIoU of the incumbents, "
                         f"as in the n vs B/n figure; within noise: "
                         f"Holm-corrected Mann-Whitney p >= 0.05 against it): {fmt(wu, nu_)} {phrases[0]}, "
                         f"{fmt(wa, na_)} {phrases[1]}: **{choice_verdict(wu, wa, nu_, na_)}**.")
    return sentences


def text(nums: dict | None, out: Path) -> str:
    """The section's generated text (tables read from ``out``); a line for what is not measured yet."""
    nums = nums or {}
    parts = []
    if nums.get("rho"):
        partial = ("" if nums.get("aware_complete", True) else
                   f" **The budget-aware table is a partial export of a recording under way: these are the first "
                   f"{nums['configs']} configurations, not the 128 of the finished table.**")
        parts += [f"Rank correlation of each rung with R, on the {nums['configs']} configurations both tables hold "
                  f"(seed means). {_rho_sentence(nums['rho'], 'val_loss')} {_rho_sentence(nums['rho'], 'val_miou')}"
                  + partial,
                  "![Rank correlation per rung under both designs](fidelity_rho.png)",
                  landscape._read(out, "fidelity_rho.md")]
    else:
        parts.append(NOT_MEASURED)
    if nums.get("rho") and not nums.get("pairs"):
        parts.append("*The sweeps replayed on the budget-aware table (`bench/suites/nvsbn-budget.toml`, "
                     "`nvsbn-miou-budget.toml`) are not run yet: they wait for the complete table.*")
    for p in nums.get("pairs", []):
        rows = pd.DataFrame(p["rows"])
        if rows.empty:
            continue
        sentences = _verdict_sentences(rows, p.get("winners", {}), DESIGNS,
                                       ("under the budget-unaware design", "under the budget-aware design"),
                                       p.get("near"))
        parts.append(f"**{p['unaware']} vs {p['aware']}** (objective {p['objective']}). " + " ".join(sentences)
                     + "\n\n" + landscape._read(out, f"fidelity_{p['aware']}.md")
                     + f"\n![n vs B/n, budget-aware]({'nvsbn_' + p['aware']}.png)\n")
    for c in nums.get("costs", []):
        rows = pd.DataFrame(c["rows"])
        if rows.empty:
            continue
        sentences = _verdict_sentences(rows, c.get("winners", {}), COSTS,
                                       ("with promotions resumed", "with promotions restarted"), c.get("near"))
        parts.append(f"**The cost of a promotion alone: {c['resumed']} vs {c['restarted']}** (one budget-unaware "
                     f"table, objective {c['objective']}; the schedule is the same in both). " + " ".join(sentences)
                     + "\n\n" + landscape._read(out, f"fidelity_cost_{c['restarted']}.md"))
    return "\n\n".join(parts)


def _phrase(verdict: str) -> str:
    return {"lower": "lower than random search", "higher": "higher than random search",
            "indistinguishable": "indistinguishable from random search",
            "is random search": "identical to random search (the same algorithm)"}[verdict]


def table_twins(curves: list[Path]) -> tuple[Path, Path] | None:
    """(budget-unaware, budget-aware) curves tables among ``curves`` whose recordings' profiles are twins
    (``segmentation.profiles.fixed_horizon_twin``): the rung correlations need only these, not the sweeps."""
    from segmentation.profiles import fixed_horizon_twin, get_profile
    for aware in sorted(Path(p) for p in curves):
        if not budget_aware(aware):
            continue
        meta = aware.with_suffix(".meta.json")  # a budget-aware table joins its own recording and its twin's
        names = {r.get("profile") for r in json.loads(meta.read_text()).get("runs", [])} if meta.is_file() else set()
        twins = {fixed_horizon_twin(n) for n in names if n and get_profile(n).budget_aware} - {None}
        unaware = [Path(u) for u in sorted(curves) if Path(u) != aware and landscape.profile_of(u) in twins]
        if unaware:
            return unaware[0], aware
    return None


def summary(loaded: dict, bests: dict, out: Path, curves: list[Path] = ()) -> dict | None:
    """The section's numbers: the rung correlations of the twin tables among ``curves`` (or of the tables the
    first design pair replayed), every design pair (``pairs``) and every cost pair (``cost_pairs``); None when
    there is none of these."""
    found, costs, twins = pairs(loaded), cost_pairs(loaded), table_twins(list(curves))
    if not found and not costs and not twins:
        return None
    nums: dict = write(*twins, [], out) if twins and not found else {}
    if found:
        pair_results, tables_used = [], None
        for u, a in found:
            ru, ra = loaded[u], loaded[a]
            frame = side_by_side(comparisons(ru, bests[u]), comparisons(ra, bests[a]), ru.methods())
            pair_results.append({"unaware": u, "aware": a, "objective": ru.objective, "frame": frame,
                                 "winners": {"budget-unaware": winners(ru), "budget-aware": winners(ra)},
                                 "near": {"budget-unaware": near_best(ru), "budget-aware": near_best(ra)}})
            tables_used = tables_used or (ru.curves, ra.curves)
        from bench.tables.curves import resolve
        nums = write(resolve(tables_used[0]), resolve(tables_used[1]), pair_results, out)
    nums["costs"] = [_cost_pair(loaded, bests, resumed, restarted, out) for resumed, restarted in costs]
    return nums


def _cost_pair(loaded: dict, bests: dict, resumed: str, restarted: str, out: Path) -> dict:
    """Compute and write one cost comparison (table ``fidelity_cost_<restarted store>``); its numbers."""
    from .tables import write_table
    r1, r2 = loaded[resumed], loaded[restarted]
    frame = side_by_side(comparisons(r1, bests[resumed]), comparisons(r2, bests[restarted]), r1.methods(), COSTS)
    write_table(frame[["method", "B", *COSTS, "conclusion"]], out, f"fidelity_cost_{restarted}", (
        f"Final validation regret against random search on one budget-unaware table (`{r1.curves}`), promotions "
        f"continued from checkpoints (`{resumed}`) beside promotions retrained and charged their full resource "
        f"(`{restarted}`): the same suite otherwise, objective {r1.objective}; statistics as in the design "
        "table. What changes here is the cost of a promotion alone, not the schedule."))
    return {"resumed": resumed, "restarted": restarted, "objective": r1.objective, "rows": frame.to_dict("records"),
            "winners": {COSTS[0]: winners(r1), COSTS[1]: winners(r2)},
            "near": {COSTS[0]: near_best(r1), COSTS[1]: near_best(r2)}}
