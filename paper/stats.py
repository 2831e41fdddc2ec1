"""Statistics the field uses, from stored results: regret, IQM with stratified bootstrap CIs,
critical differences, wasted budget, time to a target.

Conventions:

* **Columns.** Labels that are the same algorithm in a cell (equal ``algorithm`` role in the
  store: e.g. random search, successive halving that trains every configuration to R, and
  Hyperband's bracket s = 0) are one column, named together ("random = sh-n1 = hb-s0"), so no
  statistic counts one algorithm twice.
* **Blocks.** The seed of a run seeds its tuner whatever B is, so the runs of one seed at
  different budgets share a random stream (random search at 2B starts with the runs of B). Tests
  across methods therefore use the seeds of one budget as blocks, never (B, seed) pairs pooled.
* **Regret** of an incumbent: its objective minus the best objective any configuration of the
  recorded curves table has at R (validation, and the same on the test split), in the suite's
  objective (cross-entropy, or 1 - mIoU). An incumbent picked at a rung below R can have a
  negative validation regret (a value at a low rung below every value at R).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .data import Results, final_table, incumbent_trace, objective_values

BOOT = 2000
LEVEL = 0.95
REPO = Path(__file__).resolve().parents[1]


# -- regret -------------------------------------------------------------------------------
def table_best(curves: str | Path, objective: str, drop_top: int = 0) -> dict:
    """The best objective (lower is better) over the configurations of a recorded curves table at
    R (its last epoch): ``val`` on validation, ``test`` on test, with ``R`` and ``configs``.

    A table with several training seeds per configuration is judged by each configuration's mean
    over its seeds (what a configuration is expected to give), not by its luckiest seed, and so
    are replayed incumbents (``paper.data.final_table``): regret compares seed means with seed
    means, and the regret of the one seed a run drew is kept beside it (``*_regret_drawn``).

    ``drop_top = k > 0`` (a leave-top-k-out store, ``bench.tables.curves.without_best``): the best of the
    configurations that remain once the table's k best by the objective are left out, the table those
    runs replayed; their regret is measured against the best configuration they could have found,
    never against a removed one (``configs`` counts the remaining ones)."""
    path = Path(curves)
    if not path.is_absolute() and not path.exists():
        path = REPO / path
    df = pd.read_csv(path, float_precision="round_trip")
    if drop_top:
        from bench.tables.curves import without_best
        df = without_best(df, objective, int(drop_top))
    ok = df[df["status"] == "ok"]
    R = int(ok["epoch"].max())
    at_r = ok[ok["epoch"] == R]
    seeded = "train_seed" in at_r.columns and at_r["train_seed"].nunique() > 1

    def best(split: str) -> float:
        if seeded:  # the objective of the seed means, computed as paper.data.SeedMeans computes an incumbent's
            means = at_r.groupby("config_id")[[f"{split}_loss", f"{split}_miou"]].mean()
            return float(objective_values(means, objective, split).min())
        return float(objective_values(at_r, objective, split).min())

    return {"val": best("val"), "test": best("test"), "R": R, "configs": int(df["config_id"].nunique()),
            "path": str(curves), "seed_mean": seeded, "drop_top": int(drop_top)}


def final_regret(res: Results, best: dict) -> pd.DataFrame:
    """``final_table`` with ``val_regret`` and ``test_regret`` of each run's incumbent (on a seeded
    table: of its configuration's seed mean; ``val_regret_drawn``, ``test_regret_drawn``: of the
    seed the run drew)."""
    fin = final_table(res)
    fin["val_regret"] = fin["val_obj"] - best["val"]
    fin["test_regret"] = fin["test_obj"] - best["test"]
    if "val_obj_drawn" in fin:
        fin["val_regret_drawn"] = fin["val_obj_drawn"] - best["val"]
        fin["test_regret_drawn"] = fin["test_obj_drawn"] - best["test"]
    return fin


# -- columns: one per distinct algorithm in a cell ----------------------------------------
def columns(fin: pd.DataFrame, order: list[str]) -> dict[str, list[str]]:
    """Per budget rows of ``fin`` (one budget): column name -> the labels merged into it, for the
    labels with at least one result; labels with equal ``algorithm`` are merged, named together in
    suite order."""
    if not len(fin):  # (an empty final table has no objective column)
        return {}
    first: dict[str, object] = {}  # label -> the algorithm of its first row
    with_result: set[str] = set()  # labels with a validation objective in some row
    for label, algorithm, ok in zip(fin["label"].to_numpy(dtype=object), fin["algorithm"].to_numpy(dtype=object),
                                    fin["val_obj"].notna().to_numpy()):
        first.setdefault(label, algorithm)
        if ok:
            with_result.add(label)
    groups: dict[str, list[str]] = {}
    for label in order:
        if label in with_result:
            groups.setdefault(first[label], []).append(label)
    return {" = ".join(labels): labels for labels in groups.values()}


def wide(fin: pd.DataFrame, order: list[str], value: str) -> pd.DataFrame:
    """At one budget: rows = seeds, columns = distinct algorithms (``columns``), values of the
    first label of each column (the others are the same algorithm, so the same values)."""
    cols = columns(fin, order)
    out = {name: fin[fin["label"] == labels[0]].set_index("seed")[value] for name, labels in cols.items()}
    return pd.DataFrame(out)


# -- IQM with stratified bootstrap CIs ------------------------------------------------------
def iqm(x, axis=-1):
    """Interquartile mean: the mean of the middle 50 % (scipy.stats.trim_mean, 25 % cut each side)."""
    return stats.trim_mean(x, 0.25, axis=axis)


def iqm_ci(strata: list[np.ndarray], seed: int = 0) -> tuple[float, float, float]:
    """IQM of all values pooled, and its 95 % percentile CI from a stratified bootstrap (Agarwal et
    al. 2021, rliable): each stratum (e.g. one budget's seeds) is resampled with replacement on its
    own, the IQM taken over the pooled resample; ``scipy.stats.bootstrap`` with one sample per
    stratum. (nan, nan) bounds when a stratum has fewer than two values."""
    strata = [np.asarray(s, dtype=float)[np.isfinite(np.asarray(s, dtype=float))] for s in strata]
    strata = [s for s in strata if len(s)]
    if not strata:
        return math.nan, math.nan, math.nan
    pooled = np.concatenate(strata)
    point = float(iqm(pooled))
    if np.ptp(pooled) == 0:
        return point, point, point
    if min(len(s) for s in strata) < 2:
        return point, math.nan, math.nan

    def stat(*samples, axis=-1):
        return iqm(np.concatenate(samples, axis=axis), axis=axis)

    r = stats.bootstrap(strata, stat, n_resamples=BOOT, confidence_level=LEVEL, method="percentile",
                        vectorized=True, random_state=np.random.default_rng(seed))
    return point, float(r.confidence_interval.low), float(r.confidence_interval.high)


def iqm_difference_ci(a, b, seed: int = 0) -> tuple[float, float, float]:
    """IQM(a) - IQM(b) for two independent sets of runs, with a 95 % percentile bootstrap CI
    (each set resampled on its own)."""
    a, b = (np.asarray(v, dtype=float) for v in (a, b))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return (float(iqm(a) - iqm(b)) if len(a) and len(b) else math.nan), math.nan, math.nan
    d = float(iqm(a) - iqm(b))
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return d, d, d
    r = stats.bootstrap((a, b), lambda x, y, axis=-1: iqm(x, axis=axis) - iqm(y, axis=axis), n_resamples=BOOT,
                        confidence_level=LEVEL, method="percentile", vectorized=True,
                        random_state=np.random.default_rng(seed))
    return d, float(r.confidence_interval.low), float(r.confidence_interval.high)


def iqm_table(fin: pd.DataFrame, order: list[str], budgets: list[float], value: str) -> pd.DataFrame:
    """Per distinct column and budget: IQM of ``value`` over seeds [95 % CI], and over all budgets
    (stratified by budget). Columns are merged per budget; a label set merged at one budget and
    not at another is listed under each of its names."""
    per_budget = {b: columns(fin[fin["budget"] == b], order) for b in budgets}
    names = list(dict.fromkeys(n for b in budgets for n in per_budget[b]))
    rows = []
    for name in names:
        row = {"method": name}
        strata = []
        for b in budgets:
            labels = per_budget[b].get(name)
            if labels is None:
                row[f"B={b:g}"] = "—"
                continue
            v = fin[(fin["budget"] == b) & (fin["label"] == labels[0])][value].dropna().to_numpy()
            strata.append(v)
            row[f"B={b:g}"] = _ci_cell(*iqm_ci([v]), len(v))
        row["all B (stratified)"] = _ci_cell(*iqm_ci(strata), sum(len(s) for s in strata)) \
            if len(strata) == len(budgets) else "—"
        rows.append(row)
    return pd.DataFrame(rows)


def iqm_points(merged: pd.DataFrame, value: str) -> pd.DataFrame:
    """Per label and B of ``merged`` (one label per distinct algorithm): IQM of ``value`` over seeds
    and its 95 % bootstrap CI (the numbers of ``iqm_table``)."""
    rows = []
    for (label, b), g in merged.groupby(["label", "budget"], sort=False):
        p, lo, hi = iqm_ci([g[value].dropna().to_numpy()])
        rows.append({"label": label, "budget": b, "iqm": p, "lo": lo, "hi": hi})
    return pd.DataFrame(rows, columns=["label", "budget", "iqm", "lo", "hi"])


def _ci_cell(point, lo, hi, n) -> str:
    if not np.isfinite(point):
        return "—"
    if not np.isfinite(lo):
        return f"{point:.4f} (n={n})"
    return f"{point:.4f} [{lo:.4f}, {hi:.4f}]"


# -- critical differences --------------------------------------------------------------------
def critical_difference(w: pd.DataFrame, alpha: float = 0.05):
    """Friedman test and Nemenyi post-hoc (``autorank``, non-parametric forced) over the columns of
    ``w`` (rows: the seeds of one budget, the blocks; values: lower is better). Returns autorank's
    result, or None with fewer than 3 columns or 5 complete blocks."""
    from autorank import autorank
    w = w.dropna(axis=0, how="any")
    if w.shape[1] < 3 or len(w) < 5:
        return None
    import contextlib
    import io
    import warnings
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # autorank prints a note
        warnings.simplefilter("ignore")
        return autorank(w, alpha=alpha, verbose=False, order="ascending", force_mode="nonparametric")


# -- wasted budget ----------------------------------------------------------------------------
def wasted(res: Results) -> pd.DataFrame:
    """Per finished run: epochs of B trained in brackets that never reached R (``wasted``), epochs
    of B never trained because the next job did not fit (``unused``), and whether the incumbent
    was trained to R.

    A bracket is one (iteration, bracket index) of a bracket tuner's jobs (their ``info``); it
    reached R when one of its jobs ended successfully at R epochs. For tuners without brackets the
    wasted epochs are those trained after the last successful job at R (tell order)."""
    if "wasted" in res.cache:  # computed once per load: the table and the numbers both read it
        return res.cache["wasted"].copy()
    R = res.max_budget
    runs = res.runs.set_index("run_key")
    inc = res.incumbents.set_index("run_key")
    rows = []
    done = res.runs.loc[res.runs["status"] == "done", "run_key"]
    jobs = res.jobs[res.jobs["run_key"].isin(set(done)) & res.jobs["tell_seq"].notna()]
    # runs in the order they first appear, each run's jobs in tell order: one slice per run
    codes = pd.factorize(jobs["run_key"])[0]
    jobs = jobs.iloc[np.lexsort((jobs["tell_seq"].to_numpy(), codes))]
    keys = jobs["run_key"].to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, dtype=int)
    ends = np.r_[starts[1:], len(keys)]
    # a job's bracket instance (iteration, bracket index), or None: each distinct info text decoded once
    texts = jobs["info"].to_numpy(dtype=object)
    decoded = {}
    for t in set(texts):
        i = json.loads(t)
        decoded[t] = (i["iteration"], i["bracket_index"]) if "iteration" in i and "bracket_index" in i else None
    inst_all = [decoded[t] for t in texts]
    trained_all = jobs["epochs_trained"].fillna(0).to_numpy(dtype=float)
    at_r_all = ((jobs["status"] == "ok") & (jobs["resource"] >= R)).to_numpy()
    for a, z in zip(starts, ends):
        key = keys[a]
        inst, trained, at_r = inst_all[a:z], trained_all[a:z], at_r_all[a:z]
        if all(b is not None for b in inst):
            reached = {b for b, hit in zip(inst, at_r) if hit}
            w = float(sum(t for b, t in zip(inst, trained) if b not in reached))
        else:
            last = np.flatnonzero(at_r)
            w = float(trained[last[-1] + 1:].sum()) if len(last) else float(trained.sum())
        r = runs.loc[key]
        B = float(r["budget_epochs"])
        rows.append({"run_key": key, "label": r["label"], "budget": r["budget"], "seed": r["seed"],
                     "budget_epochs": B, "spent": float(r["epochs_spent"]), "wasted": w,
                     "unused": B - float(r["epochs_spent"]),
                     "incumbent_at_R": bool(key in inc.index and inc.at[key, "resource"] >= R)})
    res.cache["wasted"] = pd.DataFrame(rows, columns=["run_key", "label", "budget", "seed", "budget_epochs", "spent",
                                                      "wasted", "unused", "incumbent_at_R"])
    return res.cache["wasted"].copy()


def wasted_table(res: Results) -> pd.DataFrame:
    """Per label and B: mean share of B wasted (brackets cut off before R), mean share unused, and
    the runs whose incumbent reached R (k/N)."""
    w = wasted(res)
    rows = []
    for label in res.methods():
        row = {"method": label}
        for b in res.budgets():
            g = w[(w["label"] == label) & (w["budget"] == b)]
            if g.empty:
                row[f"B={b:g}"] = "—"
                continue
            share, unused = (g["wasted"] / g["budget_epochs"]).mean(), (g["unused"] / g["budget_epochs"]).mean()
            row[f"B={b:g}"] = f"{share:.0%} + {unused:.0%} ({int(g['incumbent_at_R'].sum())}/{len(g)})"
        rows.append(row)
    return pd.DataFrame(rows)


# -- speed-up ----------------------------------------------------------------------------------
def time_to_target(trace: pd.DataFrame, target: float, R: int, clock: str = "epochs") -> pd.Series:
    """Per run of ``trace`` (``incumbent_trace`` rows): the first ``clock`` value at which the
    incumbent is trained to R and its objective is at most ``target`` (inf: never)."""
    keys = pd.unique(trace["run_key"])  # the runs in their order in ``trace``
    hit = trace[(trace["resource"] >= R) & (trace["value"] <= target + 1e-12)].drop_duplicates("run_key")
    first = dict(zip(hit["run_key"], hit[clock].astype(float)))  # each run's first row that hits
    return pd.Series([first.get(k, math.inf) for k in keys], index=keys, dtype=float)


def speedup(res: Results, reference_algorithm: str | None = None, quantile: float = 0.75, seed: int = 0) -> pd.DataFrame:
    """Speed-up over random search per distinct column and B, on the incumbent's objective at R.

    Target: the ``quantile`` (lower) of random search's final incumbent objective over its seeds
    at B; the default 0.75 is a value random search itself reaches in about 3/4 of its runs, so
    that its own median time to the target is stable under resampling (with the median as target,
    only half of its runs reach it and the reference time is "never" in many resamples). Ratio: random search's (lower) median epochs to the target divided
    by the column's (lower) median epochs to it (runs that never reach it count as never), with a 95 %
    percentile bootstrap CI (both sets of runs resampled). "not reached (k/N)" when fewer than half
    of the column's runs reach the target; a CI bound is "never" when over 2.5 % of the
    resamples have a median of never."""
    R = res.max_budget
    fin = final_table(res)
    trace = incumbent_trace(res)
    if reference_algorithm is None:
        reference_algorithm = f"random-search R={R}"
    order = res.methods()
    rows: dict[str, dict] = {}
    for b in res.budgets():
        fb = fin[fin["budget"] == b]
        cols = columns(fb, order)
        ref = next((labels for labels in cols.values() if fb[fb["label"] == labels[0]]["algorithm"].iloc[0]
                    == reference_algorithm), None)
        for name, labels in cols.items():
            row = rows.setdefault(name, {"method": name})
            if ref is None:
                row[f"B={b:g}"] = "—"
                continue
            ref_runs = fb[fb["label"] == ref[0]]
            finals = ref_runs[ref_runs["resource"] >= R]["val_obj"].dropna().to_numpy()
            if not len(finals):
                row[f"B={b:g}"] = "—"
                continue
            target = float(np.quantile(finals, quantile, method="lower"))
            tb = trace[trace["budget"] == b]
            t_ref = time_to_target(tb[tb["label"] == ref[0]], target, R).to_numpy()
            t_m = time_to_target(tb[tb["label"] == labels[0]], target, R).to_numpy()
            t_m = np.concatenate([t_m, np.full(int((fb["label"] == labels[0]).sum() - len(t_m)), math.inf)])
            row[f"B={b:g}"] = _ratio_cell(t_ref, t_m, seed)
    out = pd.DataFrame(list(rows.values()))
    return out.fillna("—")


def _ratio_cell(t_ref: np.ndarray, t_m: np.ndarray, seed: int) -> str:
    k, n = int(np.isfinite(t_m).sum()), len(t_m)
    # lower medians: "reached" means at least half of the runs reach the target
    med_ref, med = np.quantile(t_ref, 0.5, method="lower"), np.quantile(t_m, 0.5, method="lower")
    if not np.isfinite(med):
        return f"not reached ({k}/{n})"
    rng = np.random.default_rng(seed)
    br = np.quantile(rng.choice(t_ref, (BOOT, len(t_ref))), 0.5, axis=1, method="lower")
    bm = np.quantile(rng.choice(t_m, (BOOT, len(t_m))), 0.5, axis=1, method="lower")
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(np.isfinite(bm), br / bm, -np.inf)  # -inf: the method's median is never
    ratio = np.where(np.isfinite(br), ratio, np.inf)
    lo, hi = np.quantile(ratio, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], method="inverted_cdf")
    fmt = (lambda v: "never" if v == -np.inf else "∞" if v == np.inf else f"{v:.2f}")
    return f"{med_ref / med:.2f}× [{fmt(lo)}, {fmt(hi)}] ({k}/{n})"


# -- the workers study ----------------------------------------------------------------------
def utilisation(res: Results) -> pd.DataFrame:
    """Per finished run: how busy its simulated workers were.

    ``busy``: the summed durations (``finished - started``, simulated seconds) of the jobs that ran
    (ended ``ok`` or ``failed``; a job skipped for the budget never ran); ``makespan``: the last
    job's finish (the run's clock starts at 0 s), i.e. the simulated wall-clock the run took;
    ``share`` = busy / (workers x makespan), in [0, 1] (1: no worker ever idle). The tuner's own
    decision time is not on this clock."""
    if "utilisation" in res.cache:  # computed once per load: three tables and the findings read it
        return res.cache["utilisation"].copy()
    done = res.runs[res.runs["status"] == "done"].set_index("run_key")
    jobs = res.jobs[res.jobs["run_key"].isin(done.index) & res.jobs["status"].isin(("ok", "failed"))]
    jobs = jobs.assign(duration=pd.to_numeric(jobs["finished"]) - pd.to_numeric(jobs["started"]))
    g = jobs.groupby("run_key").agg(busy=("duration", "sum"), makespan=("finished", "max"), jobs=("job_id", "size"))
    rows = []
    for key, r in g.iterrows():
        run = done.loc[key]
        n = int(run["workers"])
        span = float(r["makespan"])
        rows.append({"run_key": key, "label": run["label"], "budget": run["budget"], "seed": run["seed"],
                     "workers": n, "jobs": int(r["jobs"]), "busy": float(r["busy"]), "makespan": span,
                     "share": float(r["busy"]) / (n * span) if span > 0 else math.nan})
    res.cache["utilisation"] = pd.DataFrame(rows, columns=["run_key", "label", "budget", "seed", "workers", "jobs",
                                                           "busy", "makespan", "share"])
    return res.cache["utilisation"].copy()


def _median_iqr(v, fmt: str = "{:.0%}") -> str:
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return "—"
    q1, m, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    return f"{fmt.format(m)} [{fmt.format(q1)}, {fmt.format(q3)}]"


def workers_columns(res: Results) -> dict[tuple[float, int], dict[str, list[str]]]:
    """Per (B, N): the distinct columns (``columns``: labels that are one algorithm merged)."""
    fin = final_table(res).merge(res.runs[["run_key", "workers"]], on="run_key")
    order = res.methods()
    return {(b, n): columns(g, order) for (b, n), g in fin.groupby(["budget", "workers"])}


def workers_table(res: Results, value: str, best: dict | None = None) -> pd.DataFrame:
    """Rows: distinct methods; columns: each (B, N). ``value``: ``share`` (worker utilisation, median
    [IQR] over seeds), ``makespan`` (simulated hours to spend B, median [IQR]) or ``val_regret``
    (the final incumbent's validation regret against ``best``, IQM [95% bootstrap CI] over seeds)."""
    if value == "val_regret":
        data = final_regret(res, best).merge(res.runs[["run_key", "workers"]], on="run_key")
    else:
        data = utilisation(res)
    cols = workers_columns(res)
    names = list(dict.fromkeys(n for c in cols.values() for n in c))
    rows = []
    for name in names:
        row = {"method": name}
        for (b, n), c in sorted(cols.items()):
            head = f"B={b:g}, N={n}"
            if name not in c:
                row[head] = "—"
                continue
            v = data[(data["budget"] == b) & (data["workers"] == n) & (data["label"] == c[name][0])][value]
            v = v.dropna().to_numpy(dtype=float)
            if value == "share":
                row[head] = _median_iqr(v)
            elif value == "makespan":
                row[head] = _median_iqr(v / 3600, "{:.2f}")
            else:
                row[head] = _ci_cell(*iqm_ci([v]), len(v))
        rows.append(row)
    return pd.DataFrame(rows)


def workers_findings(res: Results, best: dict) -> dict:
    """The numbers the workers section quotes, per B and N: each column's utilisation (IQM over
    seeds with its 95% bootstrap CI), median makespan (simulated seconds) and final validation
    regret (IQM, CI); and per B and N, synchronous Hyperband against each asynchronous
    Hyperband (role ``family`` asha / async-hyperband, read from the store) as IQM differences
    with 95% bootstrap CIs. ``epochs_per_job``: the median over seeds of epochs trained per job
    (a tuner that asks one epoch at a time can fill a free worker at any moment)."""
    util = utilisation(res)
    fin = final_regret(res, best).merge(res.runs[["run_key", "workers"]], on="run_key")
    family = dict(zip(res.runs["label"], res.runs["family"]))
    out: dict = {}
    for (b, n), cols in sorted(workers_columns(res).items()):
        cell: dict = {}
        for name, labels in cols.items():
            u = util[(util["budget"] == b) & (util["workers"] == n) & (util["label"] == labels[0])]
            f = fin[(fin["budget"] == b) & (fin["workers"] == n) & (fin["label"] == labels[0])]
            spent = res.runs.set_index("run_key").loc[u["run_key"], "epochs_spent"].to_numpy(dtype=float)
            cell[name] = {"family": family.get(labels[0]), "runs": int(len(u)),
                          "share": iqm_ci([u["share"].to_numpy()]),
                          "epochs_per_job": float(np.median(spent / u["jobs"].to_numpy())) if len(u) else math.nan,
                          "makespan_median": float(u["makespan"].median()) if len(u) else math.nan,
                          "val_regret": iqm_ci([f["val_regret"].to_numpy()])}
        sync = [m for m, c in cell.items() if c["family"] == "hyperband"]
        versus = {}
        for s in sync:
            us = util[(util["budget"] == b) & (util["workers"] == n) & (util["label"] == cols[s][0])]
            fs = fin[(fin["budget"] == b) & (fin["workers"] == n) & (fin["label"] == cols[s][0])]
            for a in (m for m, c in cell.items() if c["family"] in ("asha", "async-hyperband")):
                ua = util[(util["budget"] == b) & (util["workers"] == n) & (util["label"] == cols[a][0])]
                fa = fin[(fin["budget"] == b) & (fin["workers"] == n) & (fin["label"] == cols[a][0])]
                versus[f"{s} - {a}"] = {
                    "share": iqm_difference_ci(us["share"].to_numpy(), ua["share"].to_numpy()),
                    "makespan_ratio": float(us["makespan"].median() / ua["makespan"].median()),
                    "val_regret": iqm_difference_ci(fs["val_regret"].to_numpy(), fa["val_regret"].to_numpy())}
        out[f"{b:g}/{n}"] = {"budget": float(b), "workers": int(n), "columns": cell, "sync_vs_async": versus}
    out["same_at_every_n"] = {f"{b:g}": same_at_every_n(fin[fin["budget"] == b]) for b in res.budgets()}
    return out


def same_at_every_n(fin: pd.DataFrame) -> list[str]:
    """Labels of one budget whose every seed ends with the same incumbent (trial, resource and
    validation objective) at every worker count: their decisions do not depend on N, only their
    timing does (``fin``: ``final_table`` rows with ``workers``)."""
    out = []
    for label, g in fin.groupby("label", sort=False):
        told = "val_obj_drawn" if "val_obj_drawn" in g else "val_obj"  # what the tuner saw, not a seed mean
        if g["workers"].nunique() < 2 or g[told].isna().any():
            continue
        if all(len(set(zip(s["resource"], s[told]))) == 1 for _, s in g.groupby("seed")):
            out.append(str(label))
    return out
