"""The paper's Findings: every comparison with random search that the paper reports, answered alike and
Holm-corrected over the whole family (issue 24).

A comparison is one (store, objective, B, method column) against the random-search column of the same
store and budget, on the final validation regret of the incumbent (seed-mean scoring on a seeded table).
It is *like for like* only when both were answered the same way: every run of both replays the table's own
configurations (neighbour share 0: table sampling, or table candidates for a model-based tuner), or both
go through the nearest-neighbour map (share > 0). A comparison answered differently is not tested and is
listed as such; a store made before runs recorded their neighbour share cannot tell, and is not tested
either.

For every tested comparison: the IQM difference of validation regret [95% bootstrap CI], a two-sided
Mann-Whitney U test over the seeds, Holm's correction over the family (every tested comparison of every
store: methods x budgets x objectives x answering modes x designs), the effect in training-seed sds of the
objective (the table's pooled, root-mean-square seed sd at R) and the IQM difference of the incumbents'
test mIoU. A finding is stated only when its corrected p < 0.05 (the CI is printed beside it); everything
else reads "indistinguishable from random search".

``compute`` is pure (frames in, frame out); ``text`` renders the section.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from . import replaystats
from . import stats as st

ALPHA = 0.05


def answering(res, label: str, budget: float) -> str:
    """How a cell was answered: "table" (every run's neighbour share 0), "neighbour" (some share > 0), or
    "unknown" (no run stored it)."""
    d = replaystats.per_run(res)
    s = d[(d["label"] == label) & (d["budget"] == budget)]["neighbour_share"].dropna()
    if s.empty:
        return "unknown"
    return "table" if float(s.max()) == 0.0 else "neighbour"


def pooled_seed_sd(curves, objective: str) -> float:
    """The table's pooled (root-mean-square) training-seed sd at R of the objective's metric (NaN for a
    one-seed table)."""
    from . import landscape
    ok = landscape.read_table(st.REPO / curves if not str(curves).startswith("/") else curves)
    metric = "val_loss" if objective == "val_loss" else "val_miou"
    n = landscape.noise(ok, metric)
    return float(n.get("pooled_sd", np.nan))


def _sweep(res, best) -> tuple:
    """What makes stores one sweep: objective, budgets, seeds, table and R (their names do not matter)."""
    return (res.objective, tuple(res.budgets()), tuple(sorted(res.runs["seed"].unique().tolist())), str(best["path"]),
            res.max_budget)


def compute(loaded: dict, bests: dict) -> pd.DataFrame:
    """One row per comparison with random search (``loaded``: name -> Results, ``bests``: name ->
    ``stats.table_best``). Stores of one sweep (``_sweep``) are read together: a method column is compared
    with the random-search column answered the same way, from whichever store of the sweep holds it (e.g.
    ``nvsbn`` for table answering, ``nvsbn-neighbour`` for the nearest-neighbour map); an algorithm answered
    the same way in two stores of a sweep is counted once."""
    groups: dict[tuple, list[str]] = {}
    for name, res in loaded.items():
        groups.setdefault(_sweep(res, bests[name]), []).append(name)
    rows = []
    for key, names in groups.items():
        objective, budgets = key[0], key[1]
        fins = {n: st.final_regret(loaded[n], bests[n]) for n in names}
        sd = pooled_seed_sd(bests[names[0]]["path"], objective)
        for b in budgets:
            cells = []  # (store, column, its rows, answering, algorithm)
            for n in names:
                fb = fins[n][fins[n]["budget"] == b]
                for col, labels in st.columns(fb, loaded[n].methods()).items():
                    g = fb[fb["label"] == labels[0]]
                    cells.append((n, col, g, answering(loaded[n], labels[0], b), str(g["algorithm"].iloc[0])))
            refs: dict[str, tuple] = {}
            for c in cells:
                if c[4].startswith("random-search R=") and c[3] not in refs:
                    refs[c[3]] = c
            seen = set()
            for n, col, g, mode, algo in cells:
                if algo.startswith("random-search R=") or (algo, mode) in seen:
                    continue
                seen.add((algo, mode))
                ref = refs.get(mode)
                row = {"store": n, "objective": objective, "B": float(b), "method": col, "answering": mode,
                       "random_answering": ref[3] if ref else "none", "runs": int(g["val_regret"].notna().sum()),
                       "like_for_like": ref is not None and mode != "unknown"}
                if row["like_for_like"]:
                    base = ref[2]
                    v, r = g["val_regret"].dropna().to_numpy(), base["val_regret"].dropna().to_numpy()
                    d, lo, hi = st.iqm_difference_ci(v, r)
                    t, _, _ = st.iqm_difference_ci(g["test_miou"].dropna().to_numpy(), base["test_miou"].dropna().to_numpy())
                    row.update(iqm_diff=d, lo=lo, hi=hi, effect_sd=d / sd if sd == sd and sd > 0 else np.nan,
                               test_miou_diff=t, random_store=ref[0],
                               p=float(stats.mannwhitneyu(v, r, alternative="two-sided").pvalue) if len(v) and len(r)
                               else np.nan)
                rows.append(row)
    df = pd.DataFrame(rows, columns=["store", "objective", "B", "method", "answering", "random_answering", "runs",
                                     "like_for_like", "iqm_diff", "lo", "hi", "effect_sd", "test_miou_diff", "p"])
    df["p_holm"] = np.nan
    tested = df["like_for_like"].astype(bool) & df["p"].notna()
    if tested.any():
        df.loc[tested, "p_holm"] = multipletests(df.loc[tested, "p"].to_numpy(dtype=float), method="holm")[1]
    df["verdict"] = [("not tested (no random search answered alike)" if not lf else
                      ("lower regret" if d < 0 else "higher regret") if ph == ph and ph < ALPHA
                      else "indistinguishable")
                     for lf, d, ph in zip(df["like_for_like"], df["iqm_diff"], df["p_holm"])]
    return df


def table(df: pd.DataFrame) -> pd.DataFrame:
    """The family as a table (one row per comparison)."""
    def cell(r):
        if not r["like_for_like"]:
            return "—"
        return f"{r['iqm_diff']:+.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}]"
    return pd.DataFrame({
        "store": df["store"], "objective": df["objective"], "B": [f"{b:g}" for b in df["B"]], "method": df["method"],
        "answered (method / random)": [f"{a} / {b}" for a, b in zip(df["answering"], df["random_answering"])],
        "IQM regret difference [95% CI]": [cell(r) for _, r in df.iterrows()],
        "in seed sds": [f"{x:+.2f}" if x == x else "—" for x in df["effect_sd"]],
        "test mIoU difference (IQM)": [f"{x:+.4f}" if x == x else "—" for x in df["test_miou_diff"]],
        "p (Holm)": [f"{p:.3g}" if p == p else "—" for p in df["p_holm"]],
        "verdict": df["verdict"]})


def text(df: pd.DataFrame | None) -> str:
    """The generated Findings: each corrected difference, then what is indistinguishable and what was not tested."""
    if df is None or df.empty:
        return "*Findings: no replayed sweep with a random-search column is stored.*"
    tested = df[df["like_for_like"].astype(bool)]
    found = tested[tested["verdict"].isin(["lower regret", "higher regret"])]
    lines = []
    for _, r in found.iterrows():
        what = "lower" if r["verdict"] == "lower regret" else "higher"
        lines.append(
            f"- `{r['method']}` at B = {r['B']:g} R ({r['store']}, objective {r['objective']}, it and random search answered by "
            f"{'the table' if r['answering'] == 'table' else 'the nearest-neighbour map'}): validation regret "
            f"{what} than random search's by {abs(r['iqm_diff']):.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}] (IQM difference, "
            f"95% CI; Holm-corrected p = {r['p_holm']:.3g}), {abs(r['effect_sd']):.2f} training-seed sds; "
            f"test mIoU {r['test_miou_diff']:+.4f}.")
    same = tested[tested["verdict"] == "indistinguishable"]
    untested = df[~df["like_for_like"].astype(bool)]
    lines.append(f"- Of {len(tested)} comparisons with random search answered alike (the family Holm's correction "
                 f"covers), {len(found)} differ at corrected p < 0.05 and {len(same)} are indistinguishable from "
                 "random search.")
    if len(untested):
        methods = sorted(set(untested["method"]))
        lines.append(f"- {len(untested)} comparison(s) were not tested because no random-search run of the sweep was "
                     f"answered as the method was (or a store did not record how): {', '.join(f'`{m}`' for m in methods)}. "
                     "Their like-for-like runs (table candidates for the model-based tuners, `bench/suites/nvsbn-"
                     "candidates.toml`, or random search through the nearest-neighbour map, `nvsbn-neighbour.toml`) "
                     "are what would test them.")
    lines.append("- Not yet checked: whether each finding survives removing the table's best configuration "
                 "(issue 24's leave-top-k-out runs).")
    return "\n".join(lines)


def hit_rates(res, best: dict, tops: tuple[int, ...] = (1, 5, 10)) -> pd.DataFrame:
    """Per label and B: the share of runs whose incumbent is among the table's best k configurations (by the
    seed mean at R of the store's objective; the incumbent's table entry is the configuration replay answered it
    with). Columns ``label``, ``B``, ``runs`` and ``top<k>`` (shares in [0, 1])."""
    from .data import seeded_table
    seeded = seeded_table(res)
    if seeded is None:
        return pd.DataFrame(columns=["label", "B", "runs", *(f"top{k}" for k in tops)])
    R = int(best["R"])
    means = seeded.means.xs(R, level="epoch")
    score = means["val_loss"] if res.objective == "val_loss" else 1.0 - means["val_miou"]
    rank = score.rank(method="min")  # 1 = the best configuration of the table
    inc = res.incumbents.set_index("run_key")
    rows = []
    for (label, b), g in res.runs.groupby(["label", "budget"], sort=False):
        entries = [seeded.entry(inc.at[k, "config"]) if k in inc.index else None for k in g["run_key"]]
        ranks = np.array([rank.get(e, np.inf) if e is not None else np.inf for e in entries])
        rows.append({"label": label, "B": float(b), "runs": len(ranks),
                     **{f"top{k}": float(np.mean(ranks <= k)) if len(ranks) else np.nan for k in tops}})
    return pd.DataFrame(rows)
