"""The landscape a recorded curves table offers tuners: training-seed noise against the spread
between configurations, and how early the final ranking shows (rank correlations by epoch).

Reads one curves table (``results/curves/*.csv``, ``bench export-curves``; a table recorded
before training seeds counts as one seed, ``train_seed`` 0). Everything is validation: the
tuners' view (validation mIoU and validation cross-entropy); test metrics are not used here.

Definitions (at R, the table's last epoch; the same as the "The recipe" section of docs/task.md and
``bench recipe-report``, through ``bench.tables.recipe.seed_spread``):

* only configurations whose curves reach R under every training seed of the table count
  ("whole seed groups");
* **seed sd**: per configuration the standard deviation over training seeds (ddof 1) of the
  final value; its median over configurations, with a 95 % percentile bootstrap CI over
  configurations (``scipy.stats.bootstrap``, 2000 resamples, fixed seed);
* **IQR**: the interquartile range over configurations of the seed-mean final value;
* **ratio** = seed sd / IQR (smaller: configurations are easier to tell apart), with a paired
  bootstrap CI over configurations;
* **best minus median** of the seed means (mIoU: highest minus median; loss: median minus lowest);
* **seed-to-seed rho**: Spearman correlation over configurations between the final values of two
  training seeds, for every pair of seeds (how reproducible a ranking at R is);
* **rho by epoch**: Spearman correlation over configurations between the value after epoch e and
  after epoch R (e = 1 ... R, both inclusive), per training seed (a seed's curve against itself)
  and of the seed means.
"""
from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from bench.tables.recipe import seed_spread

METRICS = {"val_miou": "validation mIoU", "val_loss": "validation cross-entropy"}
BOOT = 2000
MEAN = "mean over seeds"


def profile_of(path: str | Path) -> str | None:
    """The profile a curves table was recorded under (its ``.meta.json``), None when unknown or mixed."""
    meta = Path(path).with_suffix(".meta.json")
    if not meta.is_file():
        return None
    names = {r.get("profile") for r in json.loads(meta.read_text()).get("runs", [])}
    return names.pop() if len(names) == 1 else None


def read_table(path: str | Path) -> pd.DataFrame:
    """The ``ok`` rows of a curves table, with ``train_seed`` (0 where the table has none). On a budget-aware
    table, the last epoch of each budget's own training (``bench.tables.curves.run_ends``): "epoch" e is then the
    value of the training whose schedule ended at e."""
    from bench.tables.curves import run_ends
    df = run_ends(pd.read_csv(path, float_precision="round_trip"))
    if "train_seed" not in df:
        df = df.assign(train_seed=0)
    return df[df["status"] == "ok"].reset_index(drop=True)


def whole_groups(ok: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """(the rows of the configurations whose curves reach R under every training seed of the
    table, R in epochs)."""
    R = int(ok["epoch"].max())
    seeds = ok["train_seed"].nunique()
    at_r = ok[ok["epoch"] == R]
    full = at_r.groupby("config_id")["train_seed"].nunique()
    keep = full.index[full == seeds]
    return ok[ok["config_id"].isin(keep)].reset_index(drop=True), R


def seed_means(ok: pd.DataFrame) -> pd.DataFrame:
    """One curve per configuration: the mean over training seeds of every numeric column at each
    epoch (whole seed groups only); the configuration columns are kept."""
    ok, _ = whole_groups(ok)
    cfg = [c for c in ok.columns if c.startswith("config.")]
    num = [c for c in ok.select_dtypes("number").columns if c not in ("epoch", "train_seed") and c not in cfg]
    means = ok.groupby(["config_id", "epoch"], as_index=False)[num].mean()
    return means.merge(ok.drop_duplicates("config_id")[["config_id"] + cfg], on="config_id").assign(status="ok")


def _spearman(a, b) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.spearmanr(a, b).statistic)


def _median_ci(x: np.ndarray) -> tuple[float, float]:
    if len(x) < 3 or np.all(x == x[0]):
        return float("nan"), float("nan")
    r = stats.bootstrap((x,), np.median, n_resamples=BOOT, confidence_level=0.95, method="percentile",
                        random_state=np.random.default_rng(0))
    return float(r.confidence_interval.low), float(r.confidence_interval.high)


def _ratio_ci(sd: np.ndarray, mean: np.ndarray) -> tuple[float, float]:
    if len(sd) < 3:
        return float("nan"), float("nan")

    def ratio(s, m, axis=-1):
        q75, q25 = np.quantile(m, [0.75, 0.25], axis=axis)
        iqr = q75 - q25
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(iqr > 0, np.median(s, axis=axis) / np.where(iqr > 0, iqr, 1), np.inf)

    with np.errstate(invalid="ignore"):  # a resample with IQR 0 has ratio inf (its standard error is not used)
        r = stats.bootstrap((sd, mean), ratio, paired=True, vectorized=True, n_resamples=BOOT, confidence_level=0.95,
                            method="percentile", random_state=np.random.default_rng(0))
    return float(r.confidence_interval.low), float(r.confidence_interval.high)


def noise(ok: pd.DataFrame, metric: str) -> dict:
    """Seed noise against configuration spread of ``metric`` at R (see the module docstring)."""
    ok, R = whole_groups(ok)
    final = ok[ok["epoch"] == R].rename(columns={"config_id": "config"})
    seeds = sorted(int(s) for s in final["train_seed"].unique())
    means = final.groupby("config")[metric].mean()
    out = {"metric": metric, "configs": int(final["config"].nunique()), "seeds": len(seeds), "R": R,
           "iqr": float(means.quantile(0.75) - means.quantile(0.25)),
           "best_minus_median": float(means.max() - means.median()) if metric == "val_miou"
           else float(means.median() - means.min())}
    if len(seeds) < 2 or out["configs"] < 2:
        return out
    out.update(seed_spread(final, metric))
    sd = final.groupby("config")[metric].std(ddof=1).loc[means.index].to_numpy()
    out["seed_sd_ci"] = _median_ci(sd)
    out["ratio_ci"] = _ratio_ci(sd, means.to_numpy())
    # the median of 3-seed sds understates the noise (a 3-seed sd is skewed): the pooled (root mean square)
    # seed sd is the one that estimates the typical sd; both are reported
    out["pooled_sd"] = float(np.sqrt(np.mean(sd ** 2)))
    out["pooled_ratio"] = out["pooled_sd"] / out["iqr"] if out["iqr"] > 0 else float("inf")
    wide = final.pivot(index="config", columns="train_seed", values=metric)
    out["seed_to_seed"] = {f"{a}-{b}": _spearman(wide[a], wide[b]) for a, b in itertools.combinations(seeds, 2)}
    return out


def rank_by_epoch(ok: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Long table: ``epoch`` (1 ... R), ``curve`` ("seed k" or "mean over seeds"), ``rho`` (Spearman
    over configurations of ``metric`` after that epoch vs after R), ``configs``."""
    ok, R = whole_groups(ok)
    seeds = sorted(int(s) for s in ok["train_seed"].unique())
    curves = {f"seed {s}": ok[ok["train_seed"] == s].pivot(index="config_id", columns="epoch", values=metric)
              for s in seeds}
    if len(seeds) > 1:
        curves[MEAN] = ok.groupby(["config_id", "epoch"])[metric].mean().unstack("epoch")
    rows = []
    for name, w in curves.items():
        for e in range(1, R + 1):
            if e not in w:
                continue
            both = pd.concat([w[e].rename("e"), w[R].rename("R")], axis=1).dropna()
            if len(both) > 3:
                rows.append({"epoch": e, "curve": name, "rho": _spearman(both["e"], both["R"]), "configs": len(both)})
    return pd.DataFrame(rows, columns=["epoch", "curve", "rho", "configs"])


def plot_rank_by_epoch(long: pd.DataFrame, ax, metric_name: str, R: int) -> None:
    """Pure: Spearman rho of epoch e vs R per training seed (thin) and of the seed means (thick)."""
    seeds = [c for c in dict.fromkeys(long["curve"]) if c != MEAN]
    colours = plt.get_cmap("tab10")
    for i, c in enumerate(seeds):
        d = long[long["curve"] == c]
        ax.plot(d["epoch"], d["rho"], color=colours(i), linewidth=1.0, alpha=0.8, marker="o", markersize=2, label=c)
    d = long[long["curve"] == MEAN]
    if len(d):
        ax.plot(d["epoch"], d["rho"], color="black", linewidth=2.2, label=MEAN)
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.set_ylim(min(-0.2, float(long["rho"].min()) - 0.05) if len(long) else -0.2, 1.02)
    ax.set_xlim(0.5, R + 0.5)
    ax.set_xlabel(f"epoch e (R = {R})")
    ax.set_ylabel(f"Spearman rho, epoch e vs epoch {R}")
    ax.set_title(metric_name)
    ax.legend(loc="lower right", fontsize=7)


def _fmt_ci(v: float, ci) -> str:
    return f"{v:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]" if ci and ci[0] == ci[0] else f"{v:.4f}"


def noise_table(rows: list[dict]) -> pd.DataFrame:
    out = []
    for n in rows:
        one = n["seeds"] < 2
        s2s = list(n.get("seed_to_seed", {}).values())
        out.append({
            "metric (at R)": METRICS[n["metric"]], "configurations x seeds": f"{n['configs']} x {n['seeds']}",
            "seed sd, median [95% CI]": "one training seed: no seed noise recorded" if one
            else _fmt_ci(n["seed_sd"], n["seed_sd_ci"]),
            "IQR of seed means": f"{n['iqr']:.4f}",
            "sd / IQR [95% CI]": "—" if one else (f"{n['ratio']:.2f} [{n['ratio_ci'][0]:.2f}, {n['ratio_ci'][1]:.2f}]"
                                                  if n["ratio_ci"][0] == n["ratio_ci"][0] else f"{n['ratio']:.2f}"),
            "pooled (RMS) seed sd": "—" if one or "pooled_sd" not in n else f"{n['pooled_sd']:.4f}",
            "pooled sd / IQR": "—" if one or "pooled_ratio" not in n else f"{n['pooled_ratio']:.2f}",
            "best - median": f"{n['best_minus_median']:.4f}",
            "seed-to-seed rho at R": "—" if not s2s else
            (f"{np.mean(s2s):.2f} (mean of {len(s2s)} pairs; {min(s2s):.2f} to {max(s2s):.2f})" if len(s2s) > 1
             else f"{s2s[0]:.2f}")})
    return pd.DataFrame(out)


def rank_table(by_metric: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows: epochs; columns: metric x curve (rho to two decimals)."""
    parts = []
    for metric, long in by_metric.items():
        if long.empty:
            continue
        w = long.pivot(index="epoch", columns="curve", values="rho")
        w = w[[c for c in dict.fromkeys(long["curve"])]]
        w.columns = [f"{METRICS[metric]}, {c}" for c in w.columns]
        parts.append(w)
    if not parts:
        return pd.DataFrame(columns=["epoch"])
    t = pd.concat(parts, axis=1).sort_index()
    return t.map(lambda v: "—" if v != v else f"{v:.2f}").reset_index()


def summary(path: Path, out: Path) -> dict:
    """Tables ``landscape_<stem>``, ``rank_by_epoch_<stem>`` and the figure ``rank_by_epoch_<stem>``
    under ``out``; returns the numbers the report quotes."""
    from . import tables
    from .style import save
    path = Path(path)
    ok = read_table(path)
    stem = path.stem
    groups, R = whole_groups(ok)
    nums = {"path": f"results/curves/{path.name}" if path.parent.name == "curves" else str(path),
            "configs_in_table": int(ok["config_id"].nunique()), "R": R,
            "seeds": sorted(int(s) for s in ok["train_seed"].unique()),
            "noise": {m: noise(ok, m) for m in METRICS}}
    meta = path.with_suffix(".meta.json")  # a table exported with --partial says so (older tables: no flag)
    nums["complete"] = json.loads(meta.read_text()).get("complete") if meta.is_file() else None
    by = {m: rank_by_epoch(ok, m) for m in METRICS}
    nums["rank_by_epoch"] = {m: {c: {str(int(e)): float(r) for e, r in zip(g["epoch"], g["rho"])}
                                 for c, g in long.groupby("curve", sort=False)} for m, long in by.items()}
    seeds = len(nums["seeds"])
    what = (f"{nums['noise']['val_miou']['configs']} configurations x {seeds} training seed{'s' if seeds > 1 else ''}"
            f", R = {R} epochs, validation split; `{nums['path']}`")
    tables.write_table(noise_table(list(nums["noise"].values())), out, f"landscape_{stem}", (
        f"Training-seed noise against the spread between configurations, at R ({what}). seed sd: per configuration "
        "the standard deviation over training seeds of the final value, median over configurations [95% percentile "
        f"bootstrap CI over configurations, {BOOT} resamples]; IQR: interquartile range over configurations of the "
        "seed-mean final value; sd / IQR: the recipe criterion of docs/task.md (smaller tells configurations apart) [paired "
        "bootstrap CI]; best - median: of the seed means (loss: median - lowest); seed-to-seed rho: Spearman "
        "correlation over configurations of two training seeds' final values."))
    tables.write_table(rank_table(by), out, f"rank_by_epoch_{stem}", (
        f"Spearman rank correlation over configurations of the value after epoch e with the value after epoch R "
        f"({what}): per training seed (a seed's curve with itself) and of the seed means."))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9), layout="constrained")
    for ax, (m, long) in zip(axes, by.items()):
        plot_rank_by_epoch(long, ax, METRICS[m], R)
    fig.suptitle(f"How early the final ranking shows ({what.replace('`', '')})")
    save(fig, out, f"rank_by_epoch_{stem}")
    return nums


def _stays_from(curve: dict, level: float, R: int) -> str:
    """The first epoch e < R from which rho stays >= ``level`` up to epoch R - 1 (inclusive)."""
    rho = {int(e): r for e, r in curve.items() if int(e) < R}
    start = None
    for e in sorted(rho):
        start = (start or e) if rho[e] >= level else None
    return f"from epoch {start} on" if start is not None else "at no epoch before R"


def text(landscape: dict | None, out: Path | None = None) -> str:
    """The generated paragraph: one per table (with its tables from ``out``), plus a line when no
    table has training seeds."""
    landscape = landscape or {}
    parts = []
    for stem, n in landscape.items():
        vm, vl = n["noise"]["val_miou"], n["noise"]["val_loss"]
        seeds = len(n["seeds"])
        head = (f"**`{n['path']}`** ({vm['configs']} configurations x {seeds} training seed{'s' if seeds > 1 else ''}"
                + (f" (the {vm['configs']} of its {n['configs_in_table']} configurations with every training seed at R)"
                   if vm["configs"] < n["configs_in_table"] else "") + f", R = {n['R']} epochs; validation"
                + ("; a partial recording, exported before it was whole" if n.get("complete") is False else "") + "). ")
        if seeds < 2:
            s = head + ("One training seed: no seed noise recorded. "
                        f"Across configurations the final validation mIoU has an interquartile range of {vm['iqr']:.4f} "
                        f"and the best is {vm['best_minus_median']:.4f} above the median (cross-entropy: IQR "
                        f"{vl['iqr']:.4f}, median minus lowest {vl['best_minus_median']:.4f}).")
            curve = "seed " + str(n["seeds"][0])
        else:
            s2s = list(vm["seed_to_seed"].values())
            s = head + (
                f"The training-seed standard deviation of final validation mIoU is {_fmt_ci(vm['seed_sd'], vm['seed_sd_ci'])} "
                f"(median over configurations, 95% bootstrap CI) against an interquartile range of {vm['iqr']:.4f} of the "
                f"configurations' seed means: sd / IQR = {vm['ratio']:.2f}"
                + (f" [{vm['ratio_ci'][0]:.2f}, {vm['ratio_ci'][1]:.2f}]" if vm["ratio_ci"][0] == vm["ratio_ci"][0] else "")
                + (f"; with the pooled (root-mean-square) seed sd, {vm['pooled_sd']:.4f}, the ratio is "
                   f"{vm['pooled_ratio']:.2f} (the median of 3-seed sds understates the typical sd)"
                   if "pooled_sd" in vm else "")
                + f"; the best seed mean is {vm['best_minus_median']:.4f} above the median. For validation cross-entropy: "
                f"seed sd {_fmt_ci(vl['seed_sd'], vl['seed_sd_ci'])}, IQR {vl['iqr']:.4f}, sd / IQR = {vl['ratio']:.2f}"
                + (f" [{vl['ratio_ci'][0]:.2f}, {vl['ratio_ci'][1]:.2f}]" if vl["ratio_ci"][0] == vl["ratio_ci"][0] else "")
                + (f", pooled seed sd {vl['pooled_sd']:.4f}, ratio {vl['pooled_ratio']:.2f}" if "pooled_sd" in vl else "")
                + ". "
                f"Two training seeds rank the configurations at R with Spearman rho {np.mean(s2s):.2f} (validation mIoU; "
                + (f"mean of {len(s2s)} seed pairs, {min(s2s):.2f} to {max(s2s):.2f}" if len(s2s) > 1 else "one pair")
                + ").")
            curve = MEAN
        r = n["rank_by_epoch"]
        if r.get("val_miou", {}).get(curve):
            m, l_ = r["val_miou"][curve], r["val_loss"].get(curve, {})
            s += (f" Rank correlation with epoch {n['R']} ({'seed means' if curve == MEAN else curve}): validation mIoU "
                  f"after epoch 1 {m.get('1', float('nan')):.2f}, epoch 3 {m.get('3', float('nan')):.2f}, epoch 9 "
                  f"{m.get('9', float('nan')):.2f}; validation cross-entropy after epoch 1 {l_.get('1', float('nan')):.2f}, "
                  f"epoch {n['R'] - 1} {l_.get(str(n['R'] - 1), float('nan')):.2f}. The mIoU ranking stays at rho >= 0.9 "
                  f"{_stays_from(m, 0.9, n['R'])}.")
        parts.append(s + f"\n\n![Rank correlation by epoch](rank_by_epoch_{stem}.png)\n\n"
                     + _read(out, f"landscape_{stem}.md") + _read(out, f"rank_by_epoch_{stem}.md"))
    if not any(len(n["seeds"]) > 1 for n in landscape.values()):
        parts.append("*Training-seed noise: not measured yet. No curves table with several training seeds is "
                     "committed (`results/curves/cpu-v2.csv`, 128 configurations x 3 training seeds, is written by "
                     "`python -m bench export-curves` once its recording is complete; docs/replay.md, \"The second "
                     "recording\").*")
    return "\n\n".join(parts)


def _read(out, name: str) -> str:
    if out is None:
        return ""
    p = Path(out) / name
    return p.read_text() + "\n" if p.is_file() else ""
