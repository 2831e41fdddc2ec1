"""The resolution ladder (issue 28): does the table's ranking of configurations survive doubling the resolution?

Two curves tables form a rung pair when their recordings' profiles differ only in resolution (``scale`` and
``patch``; ``cpu-v2`` at 1/8 scale, 32 px and ``cpu-v2-64px`` at 1/4 scale, 64 px): the same configuration
sample, recipe, images and R. Chosen by what the tables' ``.meta.json`` record, never by file names.

Compute (pure): ``ladder`` gives, per metric (validation loss and mIoU at R, the last epoch), the Spearman rho
over the configurations both tables hold under the training seeds both recorded (their seed mean), with a 95%
percentile bootstrap CI over configurations (2000 resamples, seed 0). Render: ``write`` saves the table and the
scatter figure; ``text`` the paper's paragraph, which says where the lower CI bound is below 0.5 that the
conclusions are restricted to the low-resolution task.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import landscape

BOOT = 2000
METRICS = {"val_loss": "validation cross-entropy", "val_miou": "validation mIoU"}
RHO_FLOOR = 0.5  # below this lower CI bound the ranking is not shown to survive the higher resolution


def rung_pairs(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(lower, higher resolution) table pairs whose profiles differ in scale and patch only."""
    from segmentation.profiles import PROFILES
    prof = {p: PROFILES.get(landscape.profile_of(p) or "") for p in paths}
    out = []
    for lo, plo in prof.items():
        for hi, phi in prof.items():
            if plo and phi and lo != hi and phi.scale > plo.scale and \
                    replace(phi, name=plo.name, scale=plo.scale, patch=plo.patch) == plo:
                out.append((lo, hi))
    return sorted(out)


def ladder(low: pd.DataFrame, high: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, dict, pd.Index]:
    """(frame, values at R per side, common configurations). Frame per metric: ``rho`` [``lo``, ``hi``], ``configs``,
    ``seeds`` (training seeds both recorded) between the two
    tables' values at their last epoch (``ok`` rows as ``landscape.read_table`` gives them)."""
    seeds = sorted(set(low["train_seed"]) & set(high["train_seed"]))
    rows = []
    at = {}
    for name, df in (("low", low), ("high", high)):
        R = int(df["epoch"].max())
        d = df[(df["epoch"] == R) & df["train_seed"].isin(seeds)]
        full = d.groupby("config_id")["train_seed"].nunique()
        d = d[d["config_id"].isin(full.index[full == len(seeds)])]
        at[name] = d.groupby("config_id")[list(METRICS)].mean()
    common = at["low"].index.intersection(at["high"].index).sort_values()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(common), size=(BOOT, len(common))) if len(common) > 2 else None
    for metric in METRICS:
        x, y = at["low"].loc[common, metric].to_numpy(), at["high"].loc[common, metric].to_numpy()
        rho = landscape._spearman(x, y) if len(common) > 2 else np.nan
        lo = hi = np.nan
        if idx is not None:
            boots = np.array([landscape._spearman(x[i], y[i]) for i in idx])
            lo, hi = np.nanpercentile(boots, [2.5, 97.5])
        rows.append({"metric": metric, "rho": rho, "lo": float(lo), "hi": float(hi), "configs": len(common),
                     "seeds": len(seeds)})
    return pd.DataFrame(rows, columns=["metric", "rho", "lo", "hi", "configs", "seeds"]), at, common


def plot_ladder(at: dict, common, axes, labels: tuple[str, str]) -> None:
    """Pure: one scatter per metric of the low- against the high-resolution value at R."""
    for ax, metric in zip(axes, METRICS):
        ax.scatter(at["low"].loc[common, metric], at["high"].loc[common, metric], s=18, color="#0072B2")
        ax.set_xlabel(f"{METRICS[metric]} at R, {labels[0]}")
        ax.set_ylabel(f"... {labels[1]}")


def write(low_path: Path, high_path: Path, out: Path) -> dict:
    """Compute and render one rung pair; the numbers ``text`` renders."""
    import matplotlib.pyplot as plt

    from .style import save
    from .tables import write_table
    low, high = landscape.read_table(low_path), landscape.read_table(high_path)
    df, at, common = ladder(low, high)
    names = (Path(low_path).stem, Path(high_path).stem)
    meta = json.loads(Path(high_path).with_suffix(".meta.json").read_text())
    shown = df.assign(metric=df["metric"].map(METRICS),
                      rho=[f"{r:.2f} [{a:.2f}, {b:.2f}]" for r, a, b in zip(df["rho"], df["lo"], df["hi"])])
    write_table(shown[["metric", "rho", "configs", "seeds"]], out, "ladder", (
        f"Spearman rho over configurations between the value at R of `{names[0]}` and of `{names[1]}` (twice the "
        "resolution, otherwise the same recipe), seed means over the training seeds both recorded, [95% percentile "
        f"bootstrap CI over configurations, {BOOT} resamples]."
        + ("" if meta.get("complete", True) else " The higher-resolution table is a partial export.")))
    if len(common):
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
        plot_ladder(at, common, axes, names)
        fig.suptitle(f"Resolution ladder: {len(common)} configurations at R")
        save(fig, out, "ladder")
    return {"low": names[0], "high": names[1], "complete": bool(meta.get("complete", True)),
            "rows": df.to_dict("records")}


def summary(curves: list[Path], out: Path) -> list[dict]:
    """Every rung pair among the paper's curves tables."""
    return [write(lo, hi, out) for lo, hi in rung_pairs([Path(p) for p in curves])]


def text(nums: list[dict] | None, out: Path) -> str:
    """The section's paragraph(s); a line when no ladder has been recorded."""
    if not nums:
        return ("*Resolution ladder: not measured yet (it needs `results/curves/cpu-v2-64px.csv`: "
                "`python -m bench record --profile cpu-v2-64px --configs 16 --train-seeds 0`, then `export-curves`).*")
    parts = []
    for n in nums:
        rows = {r["metric"]: r for r in n["rows"]}
        said = "; ".join(f"{METRICS[m]}: rho = {r['rho']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}]" for m, r in rows.items())
        weak = [METRICS[m] for m, r in rows.items() if not r["lo"] >= RHO_FLOOR]
        k = next(iter(rows.values()))
        verdict = (f"The ranking by {' and '.join(weak)} is not shown to survive doubling the resolution (lower CI "
                   f"bound below {RHO_FLOOR}): conclusions drawn from `{n['low']}` are restricted to its resolution."
                   if weak else f"The ranking survives doubling the resolution (both lower CI bounds at least "
                   f"{RHO_FLOOR}).")
        parts.append(f"`{n['low']}` against `{n['high']}` ({k['configs']} configurations, {k['seeds']} training "
                     f"seed(s){'' if n['complete'] else ', a partial recording'}): {said}. {verdict}\n\n"
                     + landscape._read(out, "ladder.md") + "\n\n![Resolution ladder](ladder.png)")
    return "\n\n".join(parts)
