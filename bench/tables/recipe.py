"""Choosing the training recipe by numbers: seed noise against the spread between configurations.

Reads recording stores (``bench record`` with several ``--train-seeds``) of one or more
recipes (profile variants such as ``cpu-v2`` and ``cpu-v2+lr_schedule=constant``) and
reports, per recipe and per validation subset, from the final epoch R of every curve:

* ``seed_sd``: the median over configurations of the standard deviation over training
  seeds of the final validation metric (what a replayed result cannot average away);
* ``iqr``: the interquartile range over configurations of their seed-mean final metric
  (the signal a tuner is meant to find);
* ``ratio`` = ``seed_sd / iqr`` (smaller: configurations are easier to tell apart);
* ``boot_sd``: measurement noise of the validation split, the median over curves of the
  bootstrap standard deviation of final validation mIoU when the validation *images* are
  resampled with replacement (1,000 resamples, fixed seed);
* Spearman rank correlation of the configurations' seed-mean metric between two seeds'
  halves is not shown: with 3 seeds the per-configuration std is the direct measure.

Validation subsets come from the per-image confusion counts stored at epoch R: the whole
validation split of the recipe, and (where the split holds more than one image per tile)
each single image number, e.g. ``image 9 only`` reproduces the original split's
measurement on the same trained models. Only mIoU can be recomputed on a subset (the
cross-entropy is stored for the whole split); loss rows use the whole split.
Only configurations recorded under every training seed of their recording (its identity's
``train_seeds``) count; the shards of one recording are pooled.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from segmentation.metrics import scores

from bench.storage.packing import DB_NAME
from bench.storage.store import read_store


def final_curves(results: Path) -> tuple[str, pd.DataFrame]:
    """(profile, one row per finished curve: config index, train seed, val_loss, val_miou, per-image confusions)."""
    ident, df = _recording(results)
    return ident["profile"], df


def _recording(results: Path) -> tuple[dict, pd.DataFrame]:
    """(the recording's identity, its finished curves), whole seed groups only: a configuration counts
    once all the recording's ``train_seeds`` have finished it (one seed where the identity names none)."""
    path = Path(results) / DB_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no recording store at {path}")
    with read_store(path) as store:
        run, finals = store.record_finals()
    if run is None:
        raise ValueError(f"{path} holds no recording (bench record)")
    ident = dict(json.loads(run["identity"]), profile=run["profile"])
    rows = []
    for r in finals:
        info = json.loads(r["info"])
        rows.append({"config": r["trial_id"], "train_seed": info.get("train_seed", 0), "val_loss": r["val_loss"],
                     "val_miou": r["val_miou"],
                     "by_image": json.loads(r["val_confusion_by_image"]) if r["val_confusion_by_image"] else None})
    return ident, _whole_groups(pd.DataFrame(rows), len(ident.get("train_seeds") or [0]))


def _whole_groups(df: pd.DataFrame, n_seeds: int) -> pd.DataFrame:
    if not len(df):
        return df
    df = df.drop_duplicates(["config", "train_seed"]).sort_values(["config", "train_seed"], kind="stable")
    return df[df.groupby("config")["train_seed"].transform("nunique") == n_seeds].reset_index(drop=True)


def _miou(by_image: dict, images: list[str]) -> float:
    return scores(np.sum([np.asarray(by_image[i]) for i in images], axis=0))["miou"]


def _subsets(by_image: dict) -> dict[str, list[str]]:
    images = sorted(by_image)
    out = {f"all {len(images)} validation images": images}
    numbers = sorted({int(i) % 100 for i in images})
    if len(numbers) > 1:
        for n in numbers:
            out[f"image {n} of each tile only ({sum(int(i) % 100 == n for i in images)})"] = \
                [i for i in images if int(i) % 100 == n]
    return out


def seed_spread(values: pd.DataFrame, metric: str) -> dict:
    """The recipe criterion of one metric at R. ``values``: one row per (``config``, ``train_seed``)
    with the final value of ``metric``. ``seed_sd``: median over configurations of the standard
    deviation over training seeds (ddof 1); ``iqr``: interquartile range over configurations of
    the seed-mean value (pandas' linear quantiles); ``ratio`` = seed_sd / iqr; ``best_minus_median``
    of the seed means (mIoU: highest minus median; loss: median minus lowest)."""
    g = values.groupby("config")[metric]
    seed_sd = float(g.std(ddof=1).median())
    means = g.mean()
    iqr = float(means.quantile(0.75) - means.quantile(0.25))
    return {"configs": int(g.ngroups), "seeds": int(values["train_seed"].nunique()), "seed_sd": seed_sd,
            "iqr": iqr, "ratio": seed_sd / iqr if iqr > 0 else float("inf"),
            "best_minus_median": float(means.max() - means.median()) if metric == "val_miou"
            else float(means.median() - means.min())}


def _bootstrap_sd(by_image: dict, images: list[str], rng: np.random.Generator, n: int = 1000) -> float:
    confs = np.stack([np.asarray(by_image[i]) for i in images])
    draws = rng.integers(len(images), size=(n, len(images)))
    return float(np.std([scores(confs[d].sum(axis=0))["miou"] for d in draws], ddof=1))


def recipe_table(results: list[Path], n_boot: int = 1000) -> pd.DataFrame:
    """One row per (recipe, metric, validation subset), over the configurations (by index in the
    recording's sampling order) that every recipe holds under all its training seeds. The shards of
    one recording (same profile, sampling seed and training seeds) are pooled first, a curve found
    twice counting once; two recordings of one recipe that differ otherwise are refused (their
    configuration indices name different configurations). ``n_boot``: bootstrap resamples of the validation images per curve."""
    out = []
    # one recording = one (profile, sampling seed, training seeds); its shards hold disjoint configurations
    pooled: dict[tuple, list[pd.DataFrame]] = {}
    for res in results:
        ident, df = _recording(res)
        pooled.setdefault((ident["profile"], ident.get("seed"), tuple(ident.get("train_seeds") or [0])), []).append(df)
    loaded = []
    for (profile, _, seeds), dfs in pooled.items():
        dfs = [d for d in dfs if len(d)]
        loaded.append((profile, _whole_groups(pd.concat(dfs, ignore_index=True), len(seeds)) if dfs else pd.DataFrame()))
    if len({p for p, _ in loaded}) < len(loaded):
        raise ValueError("several recordings of one recipe with different sampling or training seeds: "
                         + ", ".join(f"{p} seed {s} train seeds {list(t)}" for p, s, t in pooled)
                         + "; compare recipes one recording each")
    common = set.intersection(*(set(df["config"]) if len(df) else set() for _, df in loaded)) if loaded else set()
    for profile, df in loaded:
        df = df[df["config"].isin(common)].reset_index(drop=True)
        if df.empty:
            continue
        out.append({"recipe": profile, "metric": "val_loss", "validation": "whole split",
                    **seed_spread(df, "val_loss"), "boot_sd": float("nan")})
        if df["by_image"].isna().any():
            out.append({"recipe": profile, "metric": "val_miou", "validation": "whole split",
                        **seed_spread(df, "val_miou"), "boot_sd": float("nan")})
            continue
        for name, images in _subsets(df["by_image"].iloc[0]).items():
            sub = df.assign(val_miou=[_miou(b, images) for b in df["by_image"]])
            rng = np.random.default_rng(0)
            boot = float(np.median([_bootstrap_sd(b, images, rng, n_boot) for b in df["by_image"]]))
            out.append({"recipe": profile, "metric": "val_miou", "validation": name, **seed_spread(sub, "val_miou"),
                        "boot_sd": boot})
    return pd.DataFrame(out)


def recipe_report(results: list[Path]) -> str:
    table = recipe_table(results)
    if table.empty:
        return ("no configuration has finished under every training seed in every recipe given yet "
                "(the recipes are compared on the configurations they share)")
    lines = ["| recipe | metric | validation | configs x seeds | seed sd (median) | IQR over configs | "
             "sd / IQR | best - median | bootstrap sd (val images) |", "|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        boot = "" if np.isnan(r["boot_sd"]) else f"{r['boot_sd']:.4f}"
        lines.append(f"| {r['recipe']} | {r['metric']} | {r['validation']} | {r['configs']} x {r['seeds']} | "
                     f"{r['seed_sd']:.4f} | {r['iqr']:.4f} | **{r['ratio']:.2f}** | {r['best_minus_median']:.4f} | "
                     f"{boot} |")
    return "\n".join(lines)
