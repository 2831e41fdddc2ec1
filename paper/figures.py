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
