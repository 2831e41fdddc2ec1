"""Build every figure and table, and the report, from stored results (nothing is trained)."""
from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
import numpy as np
import pandas as pd
from scipy import stats

from bench.storage.store import ENDED
from methods.brackets import hyperband_brackets

from . import fidelity, figures, findings, gpu, ladder, landscape, realcheck, replaystats, sections, stats as st, tables
from .data import Results, final_table, incumbent_trace, load, seeded_table
from .style import save, setup

log = logging.getLogger("paper")
# the real-training store of bench/suites/realcheck.toml and its replayed twin (docs/replay.md, "Replay checked against real training")
REALCHECK = (Path("results/realcheck"), Path("results/realcheck-replay"))


def _main_methods(res: Results) -> list[str]:
    """Methods for the anytime figure: all but the n vs B/n grid and the single brackets (by the
    registered method the store names, never by label)."""
    keep = res.runs.drop_duplicates("label")
    return [r["label"] for _, r in keep.iterrows()
            if r["method"] not in ("successive-halving", "hyperband-bracket")] or res.methods()


def _objective_name(res: Results) -> str:
    return "validation cross-entropy" if res.objective == "val_loss" else "1 - validation mIoU"


def _kind(res: Results) -> str:
    if res.backend != "replay":
        return "real training"
    seeded = seeded_table(res)
    if seeded is None:
        return "replayed curves"
    k = max(len(s) for s in seeded.table.seeds.values())
    return f"replayed curves; incumbents scored by their configuration's mean over its recorded training seeds (up to {k})"


def anytime(res: Results, out: Path, clock: str, best: dict | None = None) -> list[Path]:
    """The incumbent as the runner defines it (best objective at the highest resource reached so
    far) against cumulative epochs or seconds, in the tuner's objective and, with a curves table,
    as validation regret; median over seeds with a 95 % bootstrap band (seaborn)."""
    trace = incumbent_trace(res)
    order = _main_methods(res)
    budgets = res.budgets()
    measures = [("value", f"incumbent's {_objective_name(res)}")]
    if best is not None:
        trace["regret"] = trace["value"] - best["val"]
        measures.append(("regret", "incumbent's validation regret"))
    fig, axes = plt.subplots(len(measures), len(budgets), figsize=(4.3 * len(budgets), 3.4 * len(measures)),
                             squeeze=False, layout="constrained")
    for j, b in enumerate(budgets):
        d = trace[(trace["budget"] == b) & trace["label"].isin(order)]
        xmax = b * res.max_budget if clock == "epochs" else max(float(d[clock].max()) if len(d) else 1.0, 1.0)
        xmin = 1.0 if clock == "epochs" else max(float(d[clock].min()) if len(d) else xmax / 100, xmax / 1e4)
        log_x = xmax / xmin > 10  # a log axis only where it spans more than a decade
        grid = np.geomspace(xmin, xmax, 120) if log_x else np.linspace(xmin, xmax, 120)
        scale = "; log scale" if log_x else ""
        xlabel = (f"epochs trained (cumulative{scale})" if clock == "epochs" else "seconds (cumulative; "
                  + ("simulated" if res.backend == "replay" else "wall") + f"{scale})")
        for i, (col, ylabel) in enumerate(measures):
            ax = axes[i][j]
            long = figures.step_grid(d.assign(value=d[col]), clock, grid)
            figures.plot_anytime_bands(long, ax, order, ylabel, xlabel, log_x)
            ax.set_xlim(xmin, xmax)
            if i == 0:
                ax.set_title(f"B = {b:g} R ({int(b * res.max_budget + 1e-9)} epochs)")
            if ax.get_legend() is not None:
                if (i, j) == (0, 0):
                    ax.legend(loc="upper right", fontsize=7, title=None)
                else:
                    ax.get_legend().remove()
    fig.suptitle(f"Anytime: the incumbent (best {_objective_name(res)} at the highest resource reached so far; "
                 f"lower is better), median over seeds and 95% bootstrap CI of the median (clipped at the top)\n"
                 f"({res.name}, {_kind(res)}; "
                 "a line starts once every seed has an incumbent)")
    return save(fig, out, f"anytime_{clock}_{res.name}")


def _merged(fin: pd.DataFrame, order: list[str], stable: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """``fin`` with one label per distinct algorithm in each budget (named together, e.g.
    "random = sh-n1"), and the names in suite order. ``stable``: name each merged column after one
    of its labels instead, the same at every budget (for a figure's legend, where a name that
    changes with the budget would get a new colour): the label with results at the most budgets,
    ties to the later one in suite order (the baseline a suite lists after the brackets)."""
    budgets_of = fin.dropna(subset=["val_obj"]).groupby("label")["budget"].nunique()
    parts, names = [], []
    for b, g in fin.groupby("budget"):
        for name, labels in st.columns(g, order).items():
            if stable and len(labels) > 1:
                name = max(labels, key=lambda lab: (budgets_of.get(lab, 0), order.index(lab)))
            parts.append(g[g["label"] == labels[0]].assign(label=name))
            names.append(name)
    if not parts:
        return fin.iloc[0:0], []
    return pd.concat(parts, ignore_index=True), list(dict.fromkeys(names))


def statistics(res: Results, out: Path, best: dict) -> dict:
    """Regret, IQM with bootstrap CIs, critical differences, wasted budget, speed-up: tables,
    figures and the numbers the report quotes."""
    order = res.methods()
    fin = st.final_regret(res, best)
    budgets = res.budgets()
    nums: dict = {"table_best": best}
    tables.write_table(st.iqm_table(fin, order, budgets, "val_regret"), out, f"iqm_{res.name}", (
        f"Validation regret of the incumbent ({res.name}, {_kind(res)}; {_objective_name(res)} minus the best "
        f"value at R = {best['R']} in the recorded table, {best['val']:.4f}): interquartile mean over seeds "
        "[95% stratified bootstrap CI, percentile, 2000 resamples]; last column pooled over budgets, stratified "
        "by budget. Labels that are the same algorithm in a cell are one row, named together."))
    rows = []
    for name in _merged(fin, order)[1]:
        for b in budgets:
            cols = st.columns(fin[fin["budget"] == b], order)
            if name not in cols:
                continue
            g = fin[(fin["budget"] == b) & (fin["label"] == cols[name][0])]
            v, t = g["val_regret"].dropna(), g["test_regret"].dropna()
            rows.append({"method": name, "B": f"{b:g}", "runs": f"{len(v)}/{len(g)}",
                         "validation regret, median [IQR]": _quartiles(v),
                         "test regret, median [IQR]": _quartiles(t),
                         "test regret, IQM [95% CI]": st._ci_cell(*st.iqm_ci([t.to_numpy()]), len(t)),
                         **({"validation regret of the drawn seed, median [IQR]": _quartiles(
                             g["val_regret_drawn"].dropna())} if "val_regret_drawn" in g else {}),
                         **replaystats.cell(res, cols[name][0], b)})
    tables.write_table(pd.DataFrame(rows), out, f"regret_{res.name}", (
        f"Regret of the incumbent at the end of the run ({res.name}, {_kind(res)}): its {_objective_name(res)} "
        f"minus the best in the recorded table at R (validation {best['val']:.4f}; test split, the same objective "
        f"on Tile 5, {best['test']:.4f}). runs: with an incumbent / asked. Distinct entries: recorded configurations "
        "that answered a run; neighbour share: its asks answered by a nearest neighbour (medians over seeds; n/a: "
        "store made before runs stored them)."
        + (" On this table of several training seeds, regret is of the incumbent configuration's seed mean at its "
           "resource; the drawn seed's column is the regret of the one seed the run was told."
           if "val_regret_drawn" in fin else "")))
    tables.write_table(st.wasted_table(res), out, f"wasted_{res.name}", (
        f"Budget that fits ({res.name}): per method and B, the mean share of B spent in brackets that never "
        "reached R + the mean share of B left unspent because the next job did not fit; (k/N): runs whose "
        "incumbent was trained to R. After the last bracket that reached R the incumbent cannot change (later "
        "jobs are at lower rungs), so the results at B are the results at the last completed bracket."))
    w = st.wasted(res)
    nums["wasted_max"] = {f"{b:g}": float((g["wasted"] / g["budget_epochs"]).groupby(g["label"]).mean().max())
                          for b, g in w.groupby("budget")}
    nums["wasted_worst"] = {f"{b:g}": str((g["wasted"] / g["budget_epochs"]).groupby(g["label"]).mean().idxmax())
                            for b, g in w.groupby("budget")}
    nums["incumbents_below_R"] = int((~w["incumbent_at_R"]).sum())
    tables.write_table(st.speedup(res), out, f"speedup_{res.name}", (
        f"Speed-up over random search ({res.name}, {_kind(res)}): target = the upper quartile (0.75 quantile, lower) over seeds of random search's "
        f"final incumbent {_objective_name(res)} (incumbents trained to R); a run reaches it when its incumbent is "
        "trained to R and at least as good. Ratio of random search's median epochs to the target to the method's "
        "[95% percentile bootstrap CI over both sets of runs] (runs reaching it / runs). 'not reached (k/N)': fewer "
        "than half of the runs reach it; a lower bound 'never': over 2.5% of the resamples have a median of never; "
        "an upper bound ∞: the same for random search's own runs."))
    merged, names = _merged(fin, order, stable=True)
    names = [n for n in order if n in names]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    figures.plot_iqm(st.iqm_points(merged, "val_regret"), axes[0], names, "validation regret (IQM over seeds)")
    figures.plot_iqm(st.iqm_points(merged, "test_regret"), axes[1], names, "test regret (IQM over seeds)")
    del fig.legends[1:]  # seaborn.objects adds one legend per axes; one is enough
    fig.suptitle(f"Interquartile mean of the incumbent's regret and 95% bootstrap CI over seeds ({res.name}, "
                 f"{_kind(res)}; {_objective_name(res)}, lower is better)\nmethods identical in a budget are drawn "
                 f"once, under one of their names (the IQM table lists each group)")
    save(fig, out, f"iqm_{res.name}")
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.6 * len(budgets), 0.28 * len(names) + 1.6),
                             squeeze=False, layout="constrained", sharex=True)
    for ax, b in zip(axes[0], budgets):
        figures.plot_regret_distribution(merged[merged["budget"] == b], ax, names, "val_regret",
                                         "validation regret")
        ax.set_title(f"B = {b:g} R")
    fig.suptitle(f"Final validation regret of every run ({res.name}, {_kind(res)}): points are seeds, boxes quartiles")
    save(fig, out, f"regret_dist_{res.name}")
    nums["critical_difference"] = _cd_figure(fin, order, budgets, out, res)
    nums["findings"] = _findings(fin, order, budgets)
    return nums


def _quartiles(v: pd.Series) -> str:
    if v.empty:
        return "—"
    q1, m, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    return f"{m:.4f} [{q1:.4f}, {q3:.4f}]"


def _cd_figure(fin: pd.DataFrame, order: list[str], budgets: list[float], out: Path, res: Results) -> dict:
    """One critical-difference diagram per B (Friedman + Nemenyi over the distinct columns, the
    seeds of that B as blocks)."""
    from autorank import plot_stats
    results = {}
    for b in budgets:
        w = st.wide(fin[fin["budget"] == b], order, "val_regret")
        r = st.critical_difference(w)
        if r is not None:
            results[b] = (r, w.dropna().shape)
    nums = {}
    if not results:
        return nums
    fig, axes = plt.subplots(len(results), 1, figsize=(9, 2.6 * len(results)), squeeze=False)
    for ax, (b, (r, shape)) in zip(axes[:, 0], results.items()):
        if r.posthoc == "nemenyi":
            with contextlib.redirect_stdout(io.StringIO()):  # autorank prints its tables
                plot_stats(r, allow_insignificant=True, ax=ax)
        ax.set_title(f"B = {b:g} R: Friedman p = {r.pvalue:.3g}, {shape[1]} distinct methods, {shape[0]} seeds, "
                     f"CD = {r.cd:.2f}" if r.cd is not None else f"B = {b:g} R: p = {r.pvalue:.3g}", fontsize=9)
        nums[f"{b:g}"] = {"pvalue": float(r.pvalue), "cd": None if r.cd is None else float(r.cd),
                          "methods": list(r.rankdf.index), "mean_ranks": {k: float(v) for k, v in
                                                                          r.rankdf["meanrank"].items()},
                          "blocks": int(shape[0])}
    fig.suptitle(f"Critical differences of validation regret ({res.name}; Friedman + Nemenyi, alpha = 0.05; rank 1 = "
                 "lowest regret; methods joined by a bar are not significantly different)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))  # room for the suptitle
    save(fig, out, f"cd_{res.name}")
    return nums


def _findings(fin: pd.DataFrame, order: list[str], budgets: list[float]) -> dict:
    """Per B: the column with the lowest IQM validation regret, and its IQM difference to random
    search on validation and test regret with 95% bootstrap CIs."""
    out = {}
    for b in budgets:
        fb = fin[fin["budget"] == b]
        cols = st.columns(fb, order)
        if not cols:
            continue
        vals = {n: fb[fb["label"] == labels[0]] for n, labels in cols.items()}
        ref = next((n for n, labels in cols.items()
                    if str(fb[fb["label"] == labels[0]]["algorithm"].iloc[0]).startswith("random-search R=")), None)
        best = min(vals, key=lambda n: st.iqm(vals[n]["val_regret"].dropna().to_numpy()))
        f = {"best": best, "best_iqm": float(st.iqm(vals[best]["val_regret"].dropna().to_numpy())),
             "random": ref, "columns": len(cols)}
        if ref is not None:
            for split in ("val", "test"):
                d, lo, hi = st.iqm_difference_ci(vals[best][f"{split}_regret"].to_numpy(),
                                                 vals[ref][f"{split}_regret"].to_numpy())
                f[f"{split}_diff"], f[f"{split}_lo"], f[f"{split}_hi"] = d, lo, hi
        out[f"{b:g}"] = f
    return out


def nvsbn(res: Results, out: Path) -> tuple[list[Path], pd.DataFrame]:
    cells = tables.nvsbn_cells(res)
    if cells.empty or cells["val_miou"].isna().all():  # no successive-halving run had an incumbent
        return [], cells
    hb = res.runs[res.runs["family"] == "hyperband"]
    eta = int(hb["eta"].iloc[0]) if len(hb) else int(res.runs.loc[res.runs["method"] == "successive-halving", "eta"].iloc[0])
    brackets = {b.s: b.n_configs for b in hyperband_brackets(res.max_budget, eta)}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    lo = np.nanmin(cells[["test_miou", "val_miou"]].to_numpy())
    hi = np.nanmax(cells[["test_miou", "val_miou"]].to_numpy())
    figures.plot_heatmap(cells, axes[0], "test_miou", "incumbent test mIoU (Tile 5), median over seeds",
                         brackets, lo, hi)
    mesh = figures.plot_heatmap(cells, axes[1], "val_miou", "incumbent validation mIoU, median over seeds",
                                brackets, lo, hi)
    fig.colorbar(mesh, ax=axes, label="mIoU (median over seeds)", shrink=0.9)
    fig.suptitle(f"n vs B/n: successive halving with n configurations in total budget B ({res.name})\n"
                 f"{_kind(res)}\n"
                 f"★ best n per B on validation (ties: every tied n); ×: n configurations do not fit into B;\n"
                 f"'no halving': all n trained to R (random search); dashed: n of Hyperband's brackets (eta = {eta})")
    return save(fig, out, f"nvsbn_{res.name}"), cells


def brackets(res: Results, out: Path) -> list[Path]:
    fin = final_table(res)
    first = res.runs.drop_duplicates("label")
    labels = list(first.loc[first["method"] == "hyperband-bracket", "label"])
    hb = list(first.loc[first["family"] == "hyperband", "label"])
    rs = list(first.loc[first["method"] == "random-search", "label"])
    if not labels or not rs:
        return []
    rs2 = fin[fin["label"] == rs[0]].copy()
    rs2["budget"] = rs2["budget"] / 2  # random search with twice the budget, plotted at B
    rs2["label"] = f"{rs[0]} (2x budget)"
    df = pd.concat([fin, rs2[rs2["budget"].isin(res.budgets())]])
    order = labels + hb + [rs[0], f"{rs[0]} (2x budget)"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for ax, value, name in ((axes[0], "test_miou", "incumbent test mIoU (Tile 5)"),
                            (axes[1], "val_miou", "incumbent validation mIoU")):
        figures.plot_versus_budget(df, ax, order, value, name)
    axes[0].legend(loc="lower right")
    fig.suptitle(f"Each Hyperband bracket alone ({', '.join(labels)}), full Hyperband and random search ({res.name}); "
                 f"median and interquartile range over seeds\n{_kind(res)}")
    return save(fig, out, f"brackets_{res.name}")


def report_figures(res: Results, out: Path, data_root=None) -> tuple[list[Path], dict]:
    """Tile 5 predictions of the incumbents, the Hyperband incumbent's losses and per-class scores."""
    from segmentation.data import load_scaled_image
    from segmentation.palette import CLASSES, class_to_rgb
    from segmentation.profiles import get_profile
    from PIL import Image

    profile = get_profile(res.runs["profile"].iloc[0])
    pred_root = res.path / "predictions"

    def picks(budget) -> dict:
        """Per method label, its lowest-seed run at ``budget`` that has an incumbent with predictions."""
        out = {}
        for label in res.methods():
            r = res.runs[(res.runs["label"] == label) & (res.runs["budget"] == budget)].sort_values("seed")
            r = r[r["run_key"].isin(res.incumbents["run_key"])]
            r = r[[(pred_root / _safe(k)).is_dir() for k in r["run_key"]]]
            if len(r):
                out[label] = r["run_key"].iloc[0]
        return out

    def hyperband_of(pick: dict):
        return next((lab for lab in pick if res.runs[res.runs["label"] == lab]["method"].iloc[0] == "hyperband"),
                    None)

    # the largest budget at which a Hyperband run has an incumbent, and every method's run there
    top = next((b for b in sorted(res.budgets(), reverse=True) if hyperband_of(picks(b))), None)
    if top is None:
        return [], {}
    pick = picks(top)
    hb = hyperband_of(pick)
    order = [hb] + [lab for lab in pick if lab != hb]
    images = [(t, i) for t, i in profile.selected() if profile.split_of(t, i) == "test"]
    images = images[::max(1, len(images) // 3)][:3]
    cols = 2 + len(order)
    fig, axes = plt.subplots(len(images), cols, figsize=(1.9 * cols, 1.9 * len(images) + 0.9), squeeze=False,
                             gridspec_kw={"wspace": 0.04, "hspace": 0.12})
    for row, (tile, image) in enumerate(images):
        img, cls = load_scaled_image(profile, tile, image, data_root)
        panels = [("image", img), ("ground truth", class_to_rgb(cls))]
        for lab in order:
            p = pred_root / _safe(pick[lab]) / f"tile{tile}_image{image:03d}.png"
            panels.append((lab, np.asarray(Image.open(p).convert("RGB")) if p.is_file() else None))
        for ax, (title, arr) in zip(axes[row], panels):
            ax.axis("off")
            if arr is not None:
                ax.imshow(arr, interpolation="nearest")
            if row == 0:
                ax.set_title(title, fontsize=8)
        axes[row][0].text(-0.05, 0.5, f"Tile {tile}\nimage {image:03d}", transform=axes[row][0].transAxes,
                          ha="right", va="center", fontsize=7)
    fig.subplots_adjust(top=0.9, bottom=0.08)
    figures.palette_legend(fig.add_axes([0, 0, 1, 0.04], frameon=False))
    fig.suptitle(f"Test split (Tile 5): incumbents of B = {top:g}, seed {res.runs[res.runs['run_key'] == pick[hb]]['seed'].iloc[0]}"
                 f" ({res.name}, {profile.name} profile, {profile.patch} px patches at scale {profile.scale:g})")
    paths = save(fig, out, f"tile5_{res.name}")

    inc = res.incumbents.set_index("run_key").loc[pick[hb]]
    ev = res.evals[(res.evals["run_key"] == pick[hb]) & (res.evals["trial_id"] == inc["trial_id"])
                   & (res.evals["status"] == "ok")].sort_values("epoch")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    figures.plot_losses(ev, ax, f"Hyperband incumbent ({pick[hb]}, trial {int(inc['trial_id'])})")
    paths += save(fig, out, f"incumbent_losses_{res.name}")

    per_class = pd.DataFrame({"IoU": json.loads(inc["test_iou"]), "precision": json.loads(inc["test_precision"]),
                              "recall": json.loads(inc["test_recall"])}, index=list(CLASSES))
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    figures.plot_per_class(per_class, ax, f"Hyperband incumbent on Tile 5 ({pick[hb]})")
    paths += save(fig, out, f"per_class_{res.name}")
    table = per_class.reset_index().rename(columns={"index": "class"}).round(3)
    paths += tables.write_table(table, out, f"per_class_{res.name}",
                                f"Per-class scores of the Hyperband incumbent ({pick[hb]}) on Tile 5.")
    return paths, {"tile5_runs": pick, "hb_incumbent": pick[hb], "hb_test_miou": float(inc["test_miou"])}


def _safe(key: str) -> str:
    import re
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key)


def _rank_correlation_by_epoch(ok: pd.DataFrame, final: pd.DataFrame, metric: str, R: int) -> dict[int, float]:
    """Spearman correlation of ``metric`` after epoch e with ``metric`` after epoch R, for e < R
    (epochs where fewer than four configurations have both are left out)."""
    out = {}
    for e in range(1, R):
        early = ok[ok["epoch"] == e].set_index("config_id")[metric]
        both = pd.concat([early, final[metric]], axis=1, join="inner").dropna()
        if len(both) > 3:
            out[e] = float(stats.spearmanr(both.iloc[:, 0], both.iloc[:, 1]).statistic)
    return out


def curves_summary(path: Path, out: Path) -> tuple[list[Path], dict]:
    """The recorded learning curves: spread of final validation mIoU, epoch-1 vs final rank correlation
    (on a budget-aware table, each budget's own training's last epoch: ``bench.tables.curves.run_ends``)."""
    from bench.tables.curves import run_ends
    raw = pd.read_csv(path, float_precision="round_trip")
    every = raw[raw["status"] == "ok"]  # every recorded epoch (what the recording cost)
    cpu = "cpu_seconds" in raw and raw["cpu_seconds"].notna().any()  # one-thread recordings: the replay's clock
    epoch_seconds = float((every["cpu_seconds"] if cpu else every["seconds"]).median())
    cpu_sum = (float(every["cpu_seconds"].sum()), int(every["cpu_seconds"].notna().sum()), int(len(every))) if cpu else None
    df = run_ends(raw)
    ok = df[df["status"] == "ok"]
    seeds = int(df["train_seed"].nunique()) if "train_seed" in df else 1
    if seeds > 1:  # several training seeds: one curve per configuration, their mean (whole seed groups)
        ok = landscape.seed_means(ok)
        df = ok
    R = int(ok["epoch"].max())
    final = ok[ok["epoch"] == R].set_index("config_id")
    nums = {"configs": int(df["config_id"].nunique()), "complete": int(len(final)), "R": R, "train_seeds": seeds,
            "final_val_miou": {q: float(final["val_miou"].quantile(v)) for q, v in
                               (("min", 0), ("q25", .25), ("median", .5), ("q75", .75), ("max", 1))},
            "final_test_miou_median": float(final["test_miou"].median()) if "test_miou" in final else None}
    by_epoch = {m: _rank_correlation_by_epoch(ok, final, m, R) for m in ("val_loss", "val_miou")}
    rho = {e: by_epoch["val_loss"][e] for e in sorted({1, 3, 9, R // 3} - {R}) if e in by_epoch["val_loss"]}
    nums["spearman_val_loss_vs_final"] = rho
    if "config.loss" in final:
        nums["final_by_training_loss"] = {
            str(k): {"configs": int(len(g)), "val_loss_median": float(g["val_loss"].median()),
                     "val_miou_median": float(g["val_miou"].median())}
            for k, g in final.groupby("config.loss")}
    nums["spearman_final_val_loss_vs_val_miou"] = float(stats.spearmanr(final["val_loss"], final["val_miou"]).statistic)
    if final["test_miou"].notna().sum() > 3:
        nums["spearman_final_val_miou_vs_test_miou"] = float(
            stats.spearmanr(final["val_miou"], final["test_miou"], nan_policy="omit").statistic)
    meta_path = path.with_suffix(".meta.json")
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        nums["recording_seconds"] = float(sum(r.get("wall_seconds") or 0 for r in meta["runs"]))
        nums["recording_processes"] = len(meta["runs"])
        # a table exported with --partial says so; older tables: complete when every recording run had ended
        nums["recording_complete"] = bool(meta.get("complete", all(r.get("status") in ENDED for r in meta["runs"])))
        nums["recording_incomplete_because"] = meta.get("incomplete_because") or (
            [] if nums["recording_complete"] else [f"{r['run_key']}: status {r.get('status')}" for r in meta["runs"]
                                                   if r.get("status") not in ENDED])
        nums["recording_curves"] = meta.get("curves")
        if cpu_sum:  # wall time counts pauses and a shared machine; the epochs' CPU seconds do not
            nums["recording_cpu_seconds"], nums["recording_cpu_epochs"], nums["recording_epochs"] = cpu_sum
        nums["recording_device"] = sorted({r.get("device") for r in meta["runs"]})
        nums["recording_commit"] = sorted({r.get("git_commit") for r in meta["runs"]})
        nums["epoch_seconds_median"] = epoch_seconds
        nums["epoch_seconds_kind"] = "CPU" if cpu else "wall"
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), layout="constrained")
    for cid, g in ok.groupby("config_id"):
        axes[0].plot(g["epoch"], g["val_miou"], color="#0072B2", alpha=0.35, linewidth=0.8)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("validation mIoU")
    axes[0].set_title(f"{nums['configs']} recorded configurations, R = {R}"
                      + (f" (mean of {seeds} training seeds)" if seeds > 1 else ""))
    e1 = ok[ok["epoch"] == 1].set_index("config_id")["val_loss"]
    both = pd.concat([e1.rank(), final["val_loss"].rank()], axis=1, join="inner").dropna()
    axes[1].scatter(both.iloc[:, 0], both.iloc[:, 1], s=12, color="#D55E00")
    axes[1].set_xlabel("rank of validation loss after epoch 1 (1 = lowest)")
    axes[1].set_ylabel(f"rank of validation loss after epoch {R}")
    axes[1].set_title(f"epoch 1 vs epoch {R}: Spearman rho = {rho.get(1, float('nan')):.2f}")
    for metric, colour, marker, name in (("val_loss", "#D55E00", "o", "validation loss"),
                                         ("val_miou", "#0072B2", "s", "validation mIoU")):
        axes[2].plot(list(by_epoch[metric]), list(by_epoch[metric].values()), color=colour, marker=marker,
                     markersize=3, label=name)
    axes[2].axhline(0, color="0.5", linewidth=0.8)
    axes[2].set_ylim(-0.2, 1)
    axes[2].set_xlabel("epoch e")
    axes[2].set_ylabel(f"Spearman rho, epoch e vs epoch {R}")
    axes[2].set_title("How early the final ranking shows")
    axes[2].legend(loc="lower right")
    axes[0].set_xlabel(f"epoch (R = {R})")
    paths = save(fig, out, f"curves_{path.stem}")
    return paths, nums


def workers_anytime(res: Results, out: Path, best: dict) -> list[Path]:
    """The workers study's figure: the incumbent's validation regret against simulated wall-clock
    (the told job's simulated finish), one panel per worker count N (columns) and budget (rows),
    median over seeds with a 95% bootstrap band; the x axis is shared along a row so the panels
    compare N."""
    trace = incumbent_trace(res)
    trace["regret"] = trace["value"] - best["val"]
    order = res.methods()
    budgets, counts = res.budgets(), res.worker_counts()
    fig, axes = plt.subplots(len(budgets), len(counts), figsize=(4.4 * len(counts), 3.5 * len(budgets)),
                             squeeze=False, layout="constrained", sharey="row")
    for i, b in enumerate(budgets):
        row = trace[(trace["budget"] == b) & trace["finished"].notna()]
        if row.empty:
            continue
        xmin, xmax = max(float(row["finished"].min()), 1.0), float(row["finished"].max())
        grid = np.geomspace(xmin, xmax, 160)
        # top: where the median lines start (the runs' first incumbents, median over runs); the
        # first rungs' bands above it are clipped
        top = 1.5 * float(row.groupby("run_key")["regret"].first().median())
        for j, n in enumerate(counts):
            ax = axes[i][j]
            d = row[row["workers"] == n]
            long = figures.step_grid(d.assign(value=d["regret"]), "finished", grid)
            figures.plot_anytime_bands(long, ax, order, "incumbent's validation regret" if j == 0 else "",
                                       "simulated wall-clock (s since the run began; log scale)", True)
            ax.set_xlim(xmin, xmax)
            # the first rungs' regret is orders of magnitude above the final one, which can be 0 (the
            # table's best found): linear below 0.01, logarithmic above
            ax.set_yscale("symlog", linthresh=0.01, linscale=0.5)
            ax.set_ylim(-0.003, top)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.set_title(f"N = {n} worker{'s' if n > 1 else ''}, B = {b:g} R ({int(b * res.max_budget + 1e-9)} "
                         "epochs)")
            if ax.get_legend() is not None:
                if (i, j) == (0, 0):  # one legend for the figure, below the panels
                    handles, labels = ax.get_legend_handles_labels()
                    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 8), fontsize=8)
                ax.get_legend().remove()
    fig.suptitle(f"Workers study ({res.name}, {_kind(res)} of one recording): the incumbent's validation regret "
                 f"({_objective_name(res)} minus the table's best at R, {best['val']:.4f}; lower is better) against "
                 "simulated wall-clock on N workers;\nmedian over seeds and 95% bootstrap CI of the median; a line "
                 "starts once every seed has an incumbent; the tuners' own decision time is not on this clock")
    return save(fig, out, f"workers_anytime_{res.name}")


def workers_study(res: Results, out: Path, best: dict) -> dict:
    """A store whose runs have several simulated worker counts: the incumbent against simulated
    wall-clock per N, worker utilisation and final regret per method and N, and the numbers the
    text quotes (``stats.workers_findings``)."""
    workers_anytime(res, out, best)
    seeds = tables.expected_seeds(res)
    tables.write_table(st.workers_table(res, "share"), out, f"workers_utilisation_{res.name}", (
        f"Worker utilisation ({res.name}, {_kind(res)}; {seeds} seeds per cell): the busy share of the N simulated "
        "workers, summed job durations / (N x the run's makespan), median [interquartile range] over seeds. "
        "1 = no worker ever idle. Durations are the recorded epoch seconds of the replayed configurations."))
    tables.write_table(st.workers_table(res, "makespan"), out, f"workers_makespan_{res.name}", (
        f"Makespan ({res.name}): simulated hours from the run's start until its last job finished (B spent), "
        "median [interquartile range] over seeds."))
    tables.write_table(st.workers_table(res, "val_regret", best), out, f"workers_regret_{res.name}", (
        f"Final validation regret of the incumbent per method and N ({res.name}, {_kind(res)}): its "
        f"{_objective_name(res)} minus the best at R = {best['R']} in the recorded table ({best['val']:.4f}); "
        "interquartile mean over seeds [95% percentile bootstrap CI, 2000 resamples]."))
    table = pd.read_csv(st.REPO / best["path"] if not Path(best["path"]).is_absolute() else best["path"],
                        usecols=["config_id", "epoch"])
    curves_per_config = int(table[table["epoch"] == table["epoch"].min()].groupby("config_id").size().max())
    return {"table_best": best, "seeds": seeds, "worker_counts": res.worker_counts(),
            "curves_per_config": curves_per_config, "findings": st.workers_findings(res, best)}


def build(results_dirs: list[Path], out: Path, curves: list[Path] = (), data_root=None,
          gpu_check: Path | None = None, realcheck_dirs: tuple[Path, Path] | None = None) -> dict:
    """``gpu_check``: the folder of ``python -m bench gpu-check`` results (``results/gpu-check``), if any;
    ``realcheck_dirs``: (real-training store, its replayed twin) for ``paper.realcheck``; ``python -m paper``
    passes ``REALCHECK`` unless told otherwise; absent stores (or None) give a "not measured yet" line."""
    setup()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    numbers: dict = {"results": {}, "curves": {}, "landscape": {}, "gpu_check": gpu.summary(gpu_check, out)}
    for path in curves:
        _, nums = curves_summary(Path(path), out)
        numbers["curves"][Path(path).stem] = nums
        numbers["landscape"][Path(path).stem] = landscape.summary(Path(path), out)
    numbers["ladder"] = ladder.summary(list(curves), out)
    loaded, bests = {}, {}  # replayed stores with their table's best, for the fidelity section
    held: set[str] = set()  # every registered method the stores hold: the title names them
    contents: dict[str, dict] = {}  # what each store holds, for the paper.md section it fills (paper.sections)
    for path in results_dirs:
        res = load(path)
        held |= set(res.runs["method"])
        numbers["methods_held"] = sorted(held)
        contents[res.name] = sections.features(res)
        if len(res.worker_counts()) > 1:  # the workers study: its runs compare across N, not pooled by label
            n = {"backend": res.backend, "runs": int(len(res.runs)), "methods": res.methods(),
                 "profile": str(res.runs["profile"].iloc[0]), "objective": res.objective, "budgets": res.budgets(),
                 "R": res.max_budget, "curves": res.curves,
                 "wall_seconds": float(res.runs["wall_seconds"].fillna(0).sum()),
                 "tuner_seconds": float(res.runs["tuner_seconds"].fillna(0).sum()),
                 "devices": sorted(res.runs["device"].dropna().unique()),
                 "commits": sorted(res.runs["git_commit"].dropna().unique())}
            if res.curves:
                n["workers_study"] = workers_study(res, out, st.table_best(res.curves, res.objective, res.drop_top))
            numbers["workers"] = numbers.get("workers", {}) | {res.name: n}
            continue
        hb = res.runs[res.runs["family"] == "hyperband"]
        n: dict = {"backend": res.backend, "runs": int(len(res.runs)), "methods": res.methods(),
                   "profile": str(res.runs["profile"].iloc[0]), "objective": res.objective,
                   "hyperband_eta": int(hb["eta"].iloc[0]) if len(hb) else None,
                   "budgets": res.budgets(), "R": res.max_budget, "seeds": tables.expected_seeds(res),
                   "wall_seconds": float(res.runs["wall_seconds"].fillna(0).sum()),
                   "eval_seconds": float(res.runs["eval_seconds"].fillna(0).sum()),
                   "tuner_seconds": float(res.runs["tuner_seconds"].fillna(0).sum()),
                   "devices": sorted(res.runs["device"].dropna().unique()),
                   "commits": sorted(res.runs["git_commit"].dropna().unique()),
                   "versions": json.loads(res.runs["versions"].dropna().iloc[0]) if res.runs["versions"].notna().any() else {}}
        best = st.table_best(res.curves, res.objective, res.drop_top) if res.curves else None
        if best is not None:
            loaded[res.name], bests[res.name] = res, best
        anytime(res, out, "epochs", best)
        anytime(res, out, "seconds", best)
        if best is not None:
            n["statistics"] = statistics(res, out, best)
            n["neighbour_share"] = tables.neighbour_share(res, best["path"])
        final = tables.final_results(res)
        tables.write_table(final, out, f"final_{res.name}", (
            f"Test mIoU (Tile 5) of the incumbent, mean ± std over seeds ({res.name}, {_kind(res)}); (k/N): runs "
            "with an incumbent out of N asked. Comparisons between methods: the IQM, regret and critical-difference "
            "results."))
        if res.backend == "replay":
            n["replay_stats"] = replaystats.write(res, out)
        cov = tables.coverage(res)
        tables.write_table(cov, out, f"coverage_{res.name}",
                           f"Runs per method and budget ({res.name}): with an incumbent, failed, infeasible, missing.")
        n["missing_or_failed"] = int((cov["failed"] + cov["missing"]).sum())
        tables.write_table(tables.speed(res), out, f"speed_{res.name}", (
            f"Speed ({res.name}, finished runs): wall seconds, seconds of training"
            f"{' (simulated from the recorded epoch seconds)' if res.backend == 'replay' else ''}, their ratio, "
            "epochs evaluated and jobs (one ask and tell each) per wall second, and the tuner's own decision "
            "seconds (inside the wall time)."))
        if best is None and (res.runs["family"] == "random-search").any():  # real training: no table, no regret
            tables.write_table(st.speedup(res), out, f"speedup_{res.name}", (
                f"Speed-up over random search ({res.name}, {_kind(res)}): target = the upper quartile (0.75 quantile, lower) over seeds of random "
                f"search's final incumbent {_objective_name(res)}; ratio of random search's median epochs to the "
                "target to the method's [95% bootstrap CI] (runs reaching it / runs); 'not reached (k/N)' when fewer "
                "than half of the runs reach it."))
        paths, cells = nvsbn(res, out)
        if len(cells):
            tables.write_table(cells.round(4), out, f"nvsbn_{res.name}",
                               f"Successive halving over (n, B), medians over seeds ({res.name}).")
            n["nvsbn_winners"] = {f"{b:g}": [int(x) for x in g.loc[g['winner'], 'n']]
                                  for b, g in cells.groupby("budget") if g["winner"].any()}
        brackets(res, out)
        if res.backend == "train":
            _, extra = report_figures(res, out, data_root)
            n.update(extra)
        numbers["results"][res.name] = n
    for name, section in sections.assign(contents).items():  # by content, never by the folder's name
        (numbers["results"].get(name) or numbers["workers"][name])["section"] = section
    numbers["fidelity"] = fidelity.summary(loaded, bests, out, list(curves))
    family = findings.compute(loaded, bests)
    tables.write_table(findings.table(family), out, "findings", (
        "Every comparison with random search the paper reports (store, objective, B, method column): final validation "
        "regret, IQM difference over seeds [95% bootstrap CI], in training-seed sds (the table's pooled seed sd at R) "
        "and the IQM difference of the incumbents' test mIoU; two-sided Mann-Whitney U, Holm-corrected over every "
        "comparison answered alike; a comparison whose method and random search were answered differently (table vs "
        "nearest-neighbour map) is not tested."))
    numbers["findings"] = family.to_dict("records")
    # the findings as the README quotes them (python -m paper.readme), written where the tables are
    (out / "findings-summary.md").write_text(findings.text(family if len(family) else None).rstrip() + "\n")
    leave = findings.leave_out(family)
    if len(leave):
        tables.write_table(leave, out, "leave_out", (
            "Leave-top-k-out: each method's comparison with random search answered the same way (the table) on the "
            "whole table (k = 0) and on the table without its k best configurations by the seed mean at R of the "
            "objective (k = 1, 3: `bench/suites/nvsbn-drop1.toml`, `nvsbn-drop3.toml`, `drop_top = k`). IQM difference "
            "of final validation regret over seeds [95% bootstrap CI], regret measured against the best configuration "
            "that remains at that k; p: two-sided Mann-Whitney U, Holm-corrected over the Findings family (every k). "
            "Runs of different k are never compared with each other."))
    numbers["leave_out"] = leave.to_dict("records")
    hits = [findings.hit_rates(loaded[n], bests[n]).assign(store=n, k=loaded[n].drop_top) for n in loaded]
    hits = pd.concat([h for h in hits if len(h)], ignore_index=True) if any(len(h) for h in hits) else pd.DataFrame()
    if len(hits):
        hits = hits[hits["B"] == hits.groupby("store")["B"].transform("max")]  # the largest budget of each store
        tables.write_table(hits[["store", "k", "label", "B", "runs", "top1", "top5", "top10"]].round(3), out, "hits", (
            "Hit rates at each store's largest B: the share of runs whose incumbent is the table's best configuration "
            "(top1) or among its best 5 / 10, by the seed mean at R of the store's objective (the incumbent's table entry "
            "is the configuration replay answered it with). k: the table's best configurations left out of the store's "
            "runs (leave-top-k-out); for k > 0 the ranks are those of the reduced table the runs replayed (top1: its best "
            "remaining configuration). A method's regret advantage that rests on hitting one configuration shows here."))
    numbers["realcheck"] = (realcheck.summary(*realcheck_dirs, out) if realcheck_dirs
                            else {"missing": [str(p) for p in REALCHECK]})
    (out / "numbers.json").write_text(json.dumps(numbers, indent=2, sort_keys=True, default=str) + "\n")
    return numbers
