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
    """What makes stores one sweep: objective, budgets, seeds, table, R and how many of the table's best
    configurations were left out (``drop_top``; their names do not matter). Stores of different
    ``drop_top`` replayed different tables and are never compared with each other."""
    return (res.objective, tuple(res.budgets()), tuple(sorted(res.runs["seed"].unique().tolist())), str(best["path"]),
            res.max_budget, int(best.get("drop_top", 0)))


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
                row = {"store": n, "objective": objective, "drop_top": key[5], "algorithm": algo, "B": float(b),
                       "method": col, "answering": mode,
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
    df = pd.DataFrame(rows, columns=["store", "objective", "drop_top", "algorithm", "B", "method", "answering",
                                     "random_answering", "runs", "like_for_like", "iqm_diff", "lo", "hi", "effect_sd",
                                     "test_miou_diff", "p", "random_store"])
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
        "store": df["store"], "objective": df["objective"], "k left out": _k(df), "B": [f"{b:g}" for b in df["B"]],
        "method": df["method"],
        "answered (method / random)": [f"{a} / {b}" for a, b in zip(df["answering"], df["random_answering"])],
        "IQM regret difference [95% CI]": [cell(r) for _, r in df.iterrows()],
        "in seed sds": [f"{x:+.2f}" if x == x else "—" for x in df["effect_sd"]],
        "test mIoU difference (IQM)": [f"{x:+.4f}" if x == x else "—" for x in df["test_miou_diff"]],
        "p (Holm)": [f"{p:.3g}" if p == p else "—" for p in df["p_holm"]],
        "verdict": df["verdict"]})


def _k(df: pd.DataFrame) -> pd.Series:
    """Each comparison's ``drop_top`` (0 for rows from before the column existed)."""
    return (df["drop_top"] if "drop_top" in df else pd.Series(0, index=df.index)).fillna(0).astype(int)


def _same_comparison(df: pd.DataFrame, r, k: int) -> pd.Series | None:
    """The comparison of ``df`` that repeats row ``r`` with the table's ``k`` best configurations left out:
    same objective, B, algorithm and answering (so the same method against the same random search), or None."""
    if "algorithm" not in df:
        return None
    m = df[(_k(df) == k) & (df["objective"] == r["objective"]) & (df["B"] == r["B"])
           & (df["algorithm"] == r["algorithm"]) & (df["answering"] == r["answering"])
           & df["like_for_like"].astype(bool)]
    return m.iloc[0] if len(m) else None


def robustness(df: pd.DataFrame, r, k: int = 1) -> str:
    """What becomes of finding ``r`` (a row at k = 0) with the table's ``k`` best configurations left out:
    "holds" (the same verdict at corrected p < 0.05), "vanishes" (indistinguishable, same sign), "flips" (the
    IQM difference changes sign), or "not checked" (no such run)."""
    m = _same_comparison(df, r, k)
    if m is None:
        return "not checked"
    if m["verdict"] == r["verdict"]:
        return "holds"
    if np.sign(m["iqm_diff"]) != np.sign(r["iqm_diff"]):
        return "flips"
    return "vanishes"


def _robust_phrase(df: pd.DataFrame, r) -> str:
    """"It holds / vanishes / flips without the top configuration (k = 1: ...); it ... without the top 3 ..." for
    finding ``r``, or "it was not checked without ..." where no leave-top-k-out comparison exists."""
    out = []
    for k in (1, 3):
        m = _same_comparison(df, r, k)
        name = "the top configuration" if k == 1 else f"the top {k} configurations"
        if m is None:
            out.append(f"was not checked without {name}")
            continue
        out.append(f"**{robustness(df, r, k)} without {name}** (k = {k}: {m['iqm_diff']:+.4f} [{m['lo']:+.4f}, "
                   f"{m['hi']:+.4f}], Holm-corrected p = {m['p_holm']:.3g}, regret against the best remaining "
                   "configuration)")
    return "It " + "; it ".join(out) + "."


def text(df: pd.DataFrame | None) -> str:
    """The generated Findings: each corrected difference with the whole table (k = 0) and whether it survives
    leaving the table's best configuration (k = 1) and best three (k = 3) out, then what is indistinguishable and
    what was not tested. Holm's family is every tested comparison, at every k."""
    if df is None or df.empty:
        return "*Findings: no replayed sweep with a random-search column is stored.*"
    ks = _k(df)
    tested_all = df[df["like_for_like"].astype(bool)]
    tested = tested_all[_k(tested_all) == 0]
    found = tested[tested["verdict"].isin(["lower regret", "higher regret"])]
    lines = []
    for _, r in found.iterrows():
        what = "lower" if r["verdict"] == "lower regret" else "higher"
        lines.append(
            f"- `{r['method']}` at B = {r['B']:g} R ({r['store']}, objective {r['objective']}, it and random search answered by "
            f"{'the table' if r['answering'] == 'table' else 'the nearest-neighbour map'}): validation regret "
            f"{what} than random search's by {abs(r['iqm_diff']):.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}] (IQM difference, "
            f"95% CI; Holm-corrected p = {r['p_holm']:.3g}), {abs(r['effect_sd']):.2f} training-seed sds; "
            f"test mIoU {r['test_miou_diff']:+.4f}. {_robust_phrase(df, r)}")
    same = tested[tested["verdict"] == "indistinguishable"]
    untested = df[~df["like_for_like"].astype(bool) & (ks == 0)]
    dropped = tested_all[_k(tested_all) > 0]
    family = (f"{len(tested_all)} comparisons with random search answered alike (the family Holm's correction covers: "
              f"{len(tested)} on the whole table, {len(dropped)} with its best "
              f"{' or '.join(str(k) for k in sorted(set(_k(dropped))))} configuration(s) left out)"
              if len(dropped) else f"{len(tested)} comparisons with random search answered alike (the family Holm's "
              "correction covers)")
    lines.append(f"- Of {family}, {len(found)} differ at corrected p < 0.05 with the whole table and {len(same)} are "
                 "indistinguishable from random search.")
    if len(dropped):
        new = dropped[dropped["verdict"].isin(["lower regret", "higher regret"])]
        lines.append(f"- With the table's best configurations left out, {len(new)} of {len(dropped)} comparisons differ "
                     "at corrected p < 0.05" + (": " + "; ".join(
                         f"`{r['method']}` at B = {r['B']:g} R, k = {int(r['drop_top'])}, "
                         f"{'lower' if r['verdict'] == 'lower regret' else 'higher'} regret ({r['iqm_diff']:+.4f})"
                         for _, r in new.iterrows()) if len(new) else "") + ".")
    if len(untested):
        methods = sorted(set(untested["method"]))
        lines.append(f"- {len(untested)} comparison(s) were not tested because no random-search run of the sweep was "
                     f"answered as the method was (or a store did not record how): {', '.join(f'`{m}`' for m in methods)}. "
                     "Their like-for-like runs (table candidates for the model-based tuners, `bench/suites/nvsbn-"
                     "candidates.toml`, or random search through the nearest-neighbour map, `nvsbn-neighbour.toml`) "
                     "are what would test them.")
    if not len(dropped):
        lines.append("- Not yet checked: whether each finding survives removing the table's best configuration "
                     "(no leave-top-k-out store, `bench/suites/nvsbn-drop1.toml`, was given).")
    lines.append(f"- {seeds_phrase(tested_all)}")
    return "\n".join(lines)


def seeds_phrase(tested: pd.DataFrame) -> str:
    """How many seeds (runs of the method per cell) the tested comparisons rest on, with the whole table and
    with its best configurations left out: "Seeds per comparison: 30 with the whole table; 21-22 with ..."."""
    def span(v) -> str:
        v = sorted(set(int(x) for x in v))
        return "none" if not v else str(v[0]) if v[0] == v[-1] else f"{v[0]}-{v[-1]}"
    ks = _k(tested)
    out = f"Seeds per comparison (runs of the method per cell): {span(tested.loc[ks == 0, 'runs'])} with the whole table"
    if (ks > 0).any():
        out += (f"; {span(tested.loc[ks > 0, 'runs'])} with its best "
                f"{' or '.join(str(k) for k in sorted(set(ks[ks > 0])))} configuration(s) left out")
    return out + "."


def leave_out(df: pd.DataFrame) -> pd.DataFrame:
    """The leave-top-k-out table: for every (objective, B, algorithm, answering) compared with the table's best
    configurations left out (k > 0), its comparison with random search at each k (k = 0: the whole table), as
    "IQM regret difference [95% CI]" and the Holm-corrected p of the family, regret against the best configuration
    that remains at that k. Columns: objective, B, method, answered, then ``k=<k>`` and ``p (k=<k>)`` per k."""
    if df is None or df.empty or "drop_top" not in df:
        return pd.DataFrame()
    ks = _k(df)
    lf = df[df["like_for_like"].astype(bool)]
    dropped = lf[_k(lf) > 0]
    if dropped.empty:
        return pd.DataFrame()
    levels = [0] + sorted(set(_k(dropped)))
    keys = dropped[["objective", "B", "algorithm", "answering"]].drop_duplicates()
    rows = []
    for _, key in keys.iterrows():
        row = {"objective": key["objective"], "B": f"{key['B']:g}", "answered": key["answering"]}
        name = None
        for k in levels:
            m = _same_comparison(df, key, k)
            if m is None:
                row[f"k={k}"], row[f"p (k={k})"] = "—", "—"
                continue
            name = name if k else m["method"]  # the k = 0 store's column name (it may merge labels)
            name = name or m["method"]
            row[f"k={k}"] = f"{m['iqm_diff']:+.4f} [{m['lo']:+.4f}, {m['hi']:+.4f}]"
            row[f"p (k={k})"] = f"{m['p_holm']:.3g}"
        row["method"] = name or key["algorithm"]
        rows.append(row)
    out = pd.DataFrame(rows)
    del ks
    return out[["objective", "B", "method", "answered"] + [c for k in levels for c in (f"k={k}", f"p (k={k})")]]


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
