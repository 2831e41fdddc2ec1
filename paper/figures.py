"""Pure plot functions: each draws stored results (DataFrames) onto a matplotlib Axes."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from segmentation.palette import CLASSES, COLOURS

from .style import method_style


def _grid_median(df: pd.DataFrame, xmax: float, points: int = 160, xmin: float | None = None):
    """Median and interquartile range over seeds of step functions (x, best) on a common grid
    (geometric from ``xmin`` when given, else linear from 0).

    A run with no result yet at x counts as the worst value (not as missing): otherwise, on a
    seconds axis where runs start at different times, the median of the few runs already
    started would jump around. Quantiles are taken without interpolation (inverted CDF), so
    a statistic is drawn only from the x where that share of the runs has a result."""
    grid = np.geomspace(xmin, xmax, points) if xmin else np.linspace(0, xmax, points)
    curves = []
    for _, g in df.groupby("run_key"):
        x, y = g["x"].to_numpy(), g["best"].to_numpy()
        idx = np.searchsorted(x, grid, side="right") - 1
        curves.append(np.where(idx >= 0, y[np.clip(idx, 0, None)], np.nan))
    arr = np.where(np.isnan(np.array(curves)), -np.inf, np.array(curves))
    med, lo, hi = (np.quantile(arr, q, axis=0, method="inverted_cdf") for q in (0.5, 0.25, 0.75))
    med, lo, hi = (np.where(np.isfinite(v), v, np.nan) for v in (med, lo, hi))
    return grid, med, lo, hi, len(curves)


def plot_anytime(df: pd.DataFrame, ax, order: list[str], xmax: float, xlabel: str,
                 xmin: float | None = None) -> None:
    """Best-so-far validation mIoU against cumulative epochs (or seconds): median over seeds, IQR band.

    With ``xmin`` the x axis is logarithmic from ``xmin`` (first results sit at a few epochs;
    a linear axis squeezes them into the left edge at large budgets)."""
    for label in order:
        g = df[df["label"] == label]
        if g.empty:
            continue
        x, med, lo, hi, n = _grid_median(g, xmax, xmin=xmin)
        st = method_style(label, order)
        ax.plot(x, med, color=st["color"], linestyle=st["linestyle"], marker=st["marker"], markevery=20,
                markersize=4, label=f"{label} (n={n})")
        ax.fill_between(x, lo, hi, color=st["color"], alpha=0.15, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("best validation mIoU so far")
    if xmin:
        ax.set_xscale("log")
        ax.set_xlim(xmin, xmax)
    else:
        ax.set_xlim(0, xmax)


def plot_heatmap(cells: pd.DataFrame, ax, value: str, title: str, brackets: dict[int, int] | None = None,
                 vmin=None, vmax=None, cmap="viridis"):
    """Successive halving over (n, B): median ``value`` per cell; log-spaced n, B axes.

    ``cells`` has columns n, budget, value, winner (bool), infeasible (bool) and optionally
    single_rung (bool: every configuration trained to R, no halving, i.e. random search).
    Winners (all of them when tied) get a star, infeasible cells a cross, single-rung cells
    "no halving"; ``brackets`` maps Hyperband bracket s to its n, drawn as dashed vertical
    lines labelled above the axes.
    """
    ns = sorted(cells["n"].unique())
    bs = sorted(cells["budget"].unique())
    grid = np.full((len(bs), len(ns)), np.nan)
    for _, c in cells.iterrows():
        grid[bs.index(c["budget"]), ns.index(c["n"])] = c[value]
    xe = _edges(ns)
    ye = _edges(bs)
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, shading="flat")
    for _, c in cells.iterrows():
        x, y = c["n"], c["budget"]
        if c["infeasible"]:
            ax.text(x, y, "×", ha="center", va="center", color="0.5", fontsize=11)
        elif not math.isnan(c[value]):
            colour = "white" if (vmax is None or c[value] < (vmin + vmax) / 2) else "black"
            ax.text(x, y, f"{c[value]:.3f}", ha="center", va="center", fontsize=6.5, color=colour)
            if c.get("single_rung", False):
                ax.text(x, y / 1.2, "no halving", ha="center", va="center", fontsize=5, color=colour)
        if c["winner"]:
            ax.plot(x, y * 1.18, marker="*", color="#D55E00", markersize=9, markeredgecolor="white")
    for s, n in sorted((brackets or {}).items()):
        ax.axvline(n, color="white", linestyle="--", linewidth=1)
        ax.text(n, ye[-1] * 1.03, f"s={s}\nn={n}", va="bottom", ha="center", color="0.25", fontsize=6.5)
    ax.set_xscale("log")
    ax.set_yscale("log", base=2)
    ax.set_xticks(ns, [str(int(n)) for n in ns])
    ax.set_yticks(bs, [f"{b:g}" for b in bs])
    ax.minorticks_off()
    ax.set_xlabel("n, configurations per bracket (successive halving)")
    ax.set_ylabel("total budget B (multiples of R epochs)")
    ax.set_title(title, pad=24 if brackets else None)
    ax.grid(False)
    return mesh


def _edges(values) -> np.ndarray:
    v = np.log(np.asarray(values, dtype=float))
    mids = (v[1:] + v[:-1]) / 2
    first = v[0] - (mids[0] - v[0]) if len(v) > 1 else v[0] - 0.5
    last = v[-1] + (v[-1] - mids[-1]) if len(v) > 1 else v[0] + 0.5
    return np.exp(np.concatenate([[first], mids, [last]]))


def plot_versus_budget(df: pd.DataFrame, ax, order: list[str], value: str, ylabel: str) -> None:
    """Median ``value`` of the incumbent against the budget B, interquartile error bars, one line per method.

    Methods are dodged sideways a little so that identical results stay visible.
    """
    for k, label in enumerate(order):
        g = df[df["label"] == label].dropna(subset=[value])
        if g.empty:
            continue
        agg = g.groupby("budget")[value].agg([("med", "median"), ("lo", lambda s: s.quantile(0.25)),
                                              ("hi", lambda s: s.quantile(0.75))]).reset_index()
        st = method_style(label, order)
        dodge = 2 ** (0.06 * (k - (len(order) - 1) / 2))
        ax.errorbar(agg["budget"] * dodge, agg["med"], yerr=[agg["med"] - agg["lo"], agg["hi"] - agg["med"]],
                    color=st["color"], marker=st["marker"], linestyle=st["linestyle"], capsize=2, markersize=4,
                    label=label)
    ax.set_xscale("log", base=2)
    budgets = sorted(df["budget"].unique())
    ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel("total budget B (multiples of R epochs)")
    ax.set_ylabel(ylabel)


def palette_legend(ax) -> None:
    """The dataset's class colours as a legend filling ``ax`` (an otherwise empty axes)."""
    ax.axis("off")
    ax.legend(handles=[Patch(color=np.array(c) / 255, label=n) for n, c in zip(CLASSES, COLOURS)],
              loc="lower center", ncol=6, bbox_to_anchor=(0.5, -0.02), frameon=False, fontsize=8)


def plot_losses(curve: pd.DataFrame, ax, title: str) -> None:
    """Training and validation loss of one trial against epochs."""
    ax.plot(curve["epoch"], curve["train_loss"], marker="o", markersize=3, color="#0072B2", label="training loss")
    ax.plot(curve["epoch"], curve["val_loss"], marker="s", markersize=3, color="#D55E00",
            label="validation loss (pixel cross-entropy)")
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    last = int(curve["epoch"].max()) if len(curve) else 1
    ax.set_xlim(0.5, max(last, 2) + 0.5)  # a one-epoch incumbent still gets a readable integer axis
    ax.set_xlabel(f"epoch (trained for {last})")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()


def plot_per_class(table: pd.DataFrame, ax, title: str) -> None:
    """Grouped bars: per-class IoU, precision and recall (columns) for each class (rows).

    An undefined score (a class neither present nor predicted) is written "n/a", not drawn as 0."""
    x = np.arange(len(table))
    colours = {"IoU": "#0072B2", "precision": "#E69F00", "recall": "#009E73"}
    for k, (col, c) in enumerate(colours.items()):
        ax.bar(x + (k - 1) * 0.27, table[col].fillna(0), width=0.27, color=c, label=col)
        for xi, v in zip(x, table[col]):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                ax.text(xi + (k - 1) * 0.27, 0.01, "n/a", rotation=90, ha="center", va="bottom", fontsize=6)
    ax.set_xticks(x, table.index, rotation=0)
    ax.set_ylim(0, 1.15)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("score on the test split (Tile 5)")
    ax.set_title(title)
    ax.legend(ncol=3, loc="upper center", frameon=False)


# -- statistical figures (seaborn) -----------------------------------------------------------
def step_grid(trace: pd.DataFrame, clock: str, grid: np.ndarray, value: str = "value") -> pd.DataFrame:
    """Each run's incumbent value as a step function of ``clock`` sampled at ``grid``: long rows
    (run_key, label, x, value); NaN before the run's first incumbent. Runs in the order they first
    appear in ``trace``; one frame built at the end, not one per run."""
    if not len(trace):
        return pd.DataFrame(columns=["run_key", "label", "x", value])
    codes, keys = pd.factorize(trace["run_key"])
    order = np.argsort(codes, kind="stable")  # each run's rows together, in their order
    xs = trace[clock].to_numpy(dtype=float)[order]
    ys = trace[value].to_numpy(dtype=float)[order]
    labels = trace["label"].to_numpy(dtype=object)[order]
    bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=len(keys)))]
    values, first = [], []
    for k in range(len(keys)):
        x, y = xs[bounds[k]:bounds[k + 1]], ys[bounds[k]:bounds[k + 1]]
        idx = np.searchsorted(x, grid, side="right") - 1
        values.append(np.where(idx >= 0, y[np.clip(idx, 0, None)], np.nan))
        first.append(labels[bounds[k]])
    n = len(grid)
    return pd.DataFrame({"run_key": np.repeat(np.asarray(keys, dtype=object), n),
                         "label": np.repeat(np.array(first, dtype=object), n),
                         "x": np.tile(np.asarray(grid, dtype=float), len(keys)), value: np.concatenate(values)})


def median_band(long: pd.DataFrame, boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per label and x: the median over runs and its 95 % percentile bootstrap CI (runs resampled
    with replacement, all x at once), kept only where every run of the label has a value (earlier,
    the median would be over the runs that happen to have an incumbent)."""
    rng = np.random.default_rng(seed)
    out = []
    for label, g in long.groupby("label", sort=False):
        arr = g.pivot(index="run_key", columns="x", values="value")
        keep = arr.notna().all(axis=0).to_numpy()
        if not keep.any():
            continue
        a = arr.to_numpy()[:, keep]
        idx = rng.integers(0, len(a), (boot, len(a)))
        meds = _medians(a, idx)
        lo, hi = np.quantile(meds, [0.025, 0.975], axis=0)
        out.append(pd.DataFrame({"label": label, "x": arr.columns.to_numpy()[keep], "median": np.median(a, axis=0),
                                 "lo": lo, "hi": hi}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["label", "x", "median", "lo", "hi"])


def _medians(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``np.median(a[idx], axis=1)`` (``a``: runs x grid points, no NaN; ``idx``: resamples x runs), the
    same values, computed with the resampled runs on the last, contiguous axis: the middle value, or the
    two middle values' mean (their sum / 2, as ``np.median`` takes it) for an even number of runs. Grid
    points whose runs' values are bit for bit those of another (no incumbent changed between them) are
    resampled once."""
    a = np.ascontiguousarray(a, dtype=float)
    _, first, inv = np.unique(a.view(np.int64), axis=1, return_index=True, return_inverse=True)
    s = np.sort(a[:, first].T[:, idx], axis=2)  # distinct grid points x resamples x runs
    n = idx.shape[1]
    mid = s[..., n // 2] if n % 2 else (s[..., n // 2 - 1] + s[..., n // 2]) / 2
    return mid.T[:, np.ravel(inv)]


def plot_anytime_bands(long: pd.DataFrame, ax, order: list[str], ylabel: str, xlabel: str, log_x: bool) -> None:
    """Incumbent value against cumulative epochs or seconds: median over seeds (seaborn lines) and
    its 95 % bootstrap CI over seeds (band). A method is drawn from the first x at which every one
    of its runs has an incumbent."""
    import seaborn as sns
    d = median_band(long)
    present = [lab for lab in order if lab in set(d["label"])]
    if not present:
        return
    styles = {lab: method_style(lab, order) for lab in present}
    dashes = {lab: {"-": "", "--": (4, 2), ":": (1, 2), "-.": (4, 2, 1, 2)}[styles[lab]["linestyle"]]
              for lab in present}
    n = long.groupby("label")["run_key"].nunique()
    d = d.assign(method=[f"{lab} (n={n[lab]})" for lab in d["label"]])
    names = {lab: f"{lab} (n={n[lab]})" for lab in present}
    sns.lineplot(data=d, x="x", y="median", hue="method", style="method", hue_order=[names[x] for x in present],
                 style_order=[names[x] for x in present], palette={names[x]: styles[x]["color"] for x in present},
                 dashes={names[x]: dashes[x] for x in present}, errorbar=None, ax=ax, legend="brief",
                 drawstyle="steps-post")
    for lab in present:
        g = d[d["label"] == lab]
        ax.fill_between(g["x"], g["lo"], g["hi"], color=styles[lab]["color"], alpha=0.15, linewidth=0, step="post")
    if log_x:
        ax.set_xscale("log")
    # first-rung incumbents (one epoch) can be orders of magnitude worse than final ones
    # the first rungs' bands can reach orders of magnitude above every median: clip them there
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
    top = float(np.nanmax(d["median"]))
    if len(d) and float(np.nanmin(d["lo"])) > 0:
        ax.set_yscale("log")
        ax.set_ylim(float(np.nanmin(d["lo"])) / 1.5, top * 3)
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0), numticks=8))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:  # a regret of zero or below (the best configuration itself, or a low rung's value beating every value at R)
        bottom = float(np.nanmin(d["lo"]))
        positive = d["median"][d["median"] > 1e-9 * top]  # not a rounding error's 1e-16 above zero
        if len(positive) and top / float(positive.min()) > 100:
            # medians over orders of magnitude (a one-epoch incumbent whose seeds diverged) above zero:
            # a symmetric log axis, linear below the smallest positive median's decade
            lin = 10.0 ** math.floor(math.log10(float(positive.min())))
            ax.set_yscale("symlog", linthresh=lin)
            ax.set_ylim(min(bottom * 1.5, -0.2 * lin), top * 3)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        else:
            ax.set_ylim(bottom - 0.05 * (top - bottom), top + 0.3 * (top - bottom))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def plot_iqm(points: pd.DataFrame, ax, order: list[str], ylabel: str) -> None:
    """IQM over seeds per method and B with its 95 % bootstrap CI, as computed for the IQM table
    (``points``: label, budget, iqm, lo, hi), drawn with seaborn's objects interface, methods
    dodged side by side within each B."""
    import seaborn.objects as so
    d = points.dropna(subset=["iqm"])
    present = [lab for lab in order if lab in set(d["label"])]
    if not present:
        return
    d = d.assign(B=d["budget"].map(lambda b: f"{b:g}"), lo=d["lo"].fillna(d["iqm"]), hi=d["hi"].fillna(d["iqm"]))
    colours = {lab: method_style(lab, order)["color"] for lab in present}
    (so.Plot(d, x="B", y="iqm", ymin="lo", ymax="hi", color="label")
     .add(so.Range(linewidth=1.2), so.Dodge(empty="drop"))
     .add(so.Dot(pointsize=4), so.Dodge(empty="drop"))
     .scale(color=so.Nominal(colours, order=present), x=so.Nominal(order=[f"{b:g}" for b in
                                                                          sorted(d["budget"].unique())]))
     .label(x="total budget B (multiples of R epochs)", y=ylabel, color="")
     .on(ax).plot())


def plot_regret_distribution(fin: pd.DataFrame, ax, order: list[str], value: str, ylabel: str) -> None:
    """Every run's final ``value`` (points) over a box of its quartiles, per method, for one B."""
    import seaborn as sns
    d = fin.dropna(subset=[value])
    present = [lab for lab in order if lab in set(d["label"])]
    if not present:
        return
    pal = {lab: method_style(lab, order)["color"] for lab in present}
    import warnings
    with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.11 a deprecated keyword (vert)
        warnings.simplefilter("ignore", DeprecationWarning)
        sns.boxplot(data=d, y="label", x=value, order=present, hue="label", hue_order=present, palette=pal,
                    fliersize=0, width=0.6, boxprops={"alpha": 0.35}, ax=ax, legend=False)
    state = np.random.get_state()  # seaborn jitters with numpy's global generator: same figure every build
    np.random.seed(0)
    try:
        sns.stripplot(data=d, y="label", x=value, order=present, hue="label", hue_order=present, palette=pal,
                      size=2.5, jitter=0.2, ax=ax, legend=False)
    finally:
        np.random.set_state(state)
    ax.set_ylabel("")
    ax.set_xlabel(ylabel)
