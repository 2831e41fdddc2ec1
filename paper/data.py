"""Reading stored results (never training): a results directory's store as pandas tables."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from bench.storage.packing import store_file
from bench.storage.store import read_store
from methods.roles import COLUMNS as ROLE_COLUMNS
from methods.roles import role

EVAL_COLUMNS = ("run_key", "job_id", "trial_id", "epoch", "resource", "epochs_trained", "cum_epochs", "train_loss",
                "val_loss", "val_miou", "seconds", "status")


@dataclass
class Results:
    """One results directory: its runs, jobs, evaluations and incumbents, read-only.

    The evaluations (one row per epoch: a replayed sweep has about a million) are read from ``store`` on
    first use of ``evals`` when ``load`` gave None: the paper's replayed sections need only each job's
    summed seconds (``job_seconds``), which ``load`` reads in their place."""

    name: str
    path: Path
    runs: pd.DataFrame
    jobs: pd.DataFrame
    _evals: pd.DataFrame | None  # the evaluations frame, or None: read from ``store`` on first use
    incumbents: pd.DataFrame
    cache: dict = field(default_factory=dict, repr=False)  # derived tables computed once per load
    store: Path | None = None  # the store file (an unpacked copy for a packed store)

    @property
    def evals(self) -> pd.DataFrame:
        """The evaluations (``EVAL_COLUMNS``) of the runs, ordered by run, job and epoch."""
        if self._evals is None:
            with read_store(self.store) as store:
                self._evals = _of_runs(store.evaluations_frame(EVAL_COLUMNS), self.runs)
        return self._evals

    @property
    def backend(self) -> str:
        """'replay' or 'train' (real training), from the runs' recorded identity."""
        kinds = {json.loads(i).get("backend", "train") for i in self.runs["identity"]} if len(self.runs) else set()
        return "replay" if kinds == {"replay"} else "train"

    @property
    def max_budget(self) -> int:
        return int(max(json.loads(i)["max_budget"] for i in self.runs["identity"]))

    @property
    def objective(self) -> str:
        """The suite's objective: ``val_loss`` (default) or ``val_miou`` (told as 1 - mIoU)."""
        kinds = {json.loads(i).get("objective", "val_loss") for i in self.runs["identity"]}
        if len(kinds) > 1:
            raise ValueError(f"{self.path}: runs with different objectives {sorted(kinds)}")
        return kinds.pop() if kinds else "val_loss"

    @property
    def drop_top(self) -> int:
        """k of a leave-top-k-out store (the suite's ``drop_top``): its runs replayed the table without its k
        best configurations by the objective, so their regret is measured against the best that remains;
        0 for every other store. Runs of different k in one store are refused (ValueError)."""
        kinds = {int(json.loads(i).get("drop_top", 0)) for i in self.runs["identity"]}
        if len(kinds) > 1:
            raise ValueError(f"{self.path}: runs that left different numbers of the table's best configurations "
                             f"out (drop_top {sorted(kinds)}); a store holds one")
        return kinds.pop() if kinds else 0

    @property
    def curves(self) -> str | None:
        """The recorded curves table the runs replayed (as the suite named it), None for real training."""
        names = {json.loads(i).get("curves") for i in self.runs["identity"]} - {None}
        return sorted(names)[0] if names else None

    def role(self, label: str, budget: float | None = None) -> pd.Series:
        """The role columns (``methods.roles``) of a label, at one budget or its first run."""
        r = self.runs[self.runs["label"] == label]
        if budget is not None and (r["budget"] == budget).any():
            r = r[r["budget"] == budget]
        return r.iloc[0][list(ROLE_COLUMNS)]

    def methods(self) -> list[str]:
        """Method labels in the order the suite lists them."""
        return list(dict.fromkeys(self.runs["label"]))

    def budgets(self) -> list[float]:
        return sorted(self.runs["budget"].unique())

    def worker_counts(self) -> list[int]:
        """The simulated worker counts of the runs (the store's ``workers``), ascending."""
        return sorted(int(n) for n in self.runs["workers"].unique())


def load(path: str | Path) -> Results:
    """A results directory's store as frames; the evaluations are read when first used (``Results.evals``),
    each job's summed evaluation seconds now (``job_seconds``)."""
    path = Path(path)
    file = store_file(path)  # results.db, or the packed results.db.xz unpacked into the cache
    with read_store(file) as store:
        runs = store.runs_frame(skip_method="record")
        jobs = store.jobs_frame()
        seconds = store.evaluations_frame(("run_key", "job_id", "seconds"))
        inc = store.incumbents_frame()
    runs = with_workers(with_roles(runs))
    jobs, seconds, inc = (_of_runs(df, runs) for df in (jobs, seconds, inc))
    res = Results(path.name, path, runs, jobs, None, inc, store=file)
    res.cache["job_seconds"] = _summed(seconds)
    return res


def _of_runs(df: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``df`` that belong to ``runs`` (a recording's runs are left out), renumbered."""
    return df[df["run_key"].isin(set(runs["run_key"]))].reset_index(drop=True)


def _summed(evals: pd.DataFrame) -> pd.DataFrame:
    return evals.groupby(["run_key", "job_id"], as_index=False)["seconds"].sum()


def job_seconds(res: Results) -> pd.DataFrame:
    """Per job (run_key, job_id): its evaluations' summed ``seconds`` (simulated in replay), as
    ``evals.groupby(["run_key", "job_id"])["seconds"].sum()`` gives them."""
    if "job_seconds" not in res.cache:
        res.cache["job_seconds"] = _summed(res.evals)
    return res.cache["job_seconds"]


def with_roles(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with the role columns filled: as stored, or (stores made before the columns
    existed) derived from each run's method and parameters with ``methods.roles.role``."""
    runs = runs.copy()
    for c in ROLE_COLUMNS:
        if c not in runs:
            runs[c] = None
    missing = runs["algorithm"].isna()
    for i in runs.index[missing]:
        ident = json.loads(runs.at[i, "identity"])
        derived = role(runs.at[i, "method"], json.loads(runs.at[i, "params"]), ident.get("min_budget", 1),
                       ident["max_budget"])
        for c in ROLE_COLUMNS:
            runs.at[i, c] = derived[c]
    for c in ("eta", "r_max", "bracket_s", "bracket_n"):  # stored or derived: the same nullable integers
        runs[c] = pd.to_numeric(runs[c]).astype("Int64")
    return runs


def with_workers(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with ``workers`` (the run's workers: simulated in replay) filled: as stored, or (stores made
    before the column existed) from the run's identity, where a run of one worker has none (1)."""
    runs = runs.copy()
    stored = runs["workers"] if "workers" in runs else pd.Series(None, index=runs.index, dtype=object)
    derived = [json.loads(i).get("workers", 1) for i in runs["identity"]]
    runs["workers"] = [int(d) if pd.isna(v) else int(v) for v, d in zip(stored, derived)]
    return runs


def objective_values(df: pd.DataFrame, objective: str, split: str = "val", suffix: str = "") -> pd.Series:
    """The tuner's objective (lower is better) of rows with ``<split>_loss<suffix>`` /
    ``<split>_miou<suffix>`` columns: the loss itself, or 1 - mIoU for ``objective = "val_miou"``."""
    return df[f"{split}_loss{suffix}"] if objective == "val_loss" else 1.0 - df[f"{split}_miou{suffix}"]


def incumbent_trace(res: Results) -> pd.DataFrame:
    """Per finished run, the incumbent after every tell, as the runner defines it.

    The incumbent is the trial with the best objective at the highest resource any trial has
    reached so far (ties: the lower trial id), so it can get worse when a trial reaches a higher
    rung. Columns: run_key, label, budget, seed, workers (the run's simulated workers),
    ``epochs`` (cumulative epochs trained, inclusive of the told job), ``seconds`` (cumulative
    training seconds, simulated in replay, plus the tuner's own seconds spread evenly over its
    jobs), ``finished`` (the told job's recorded finish: replay, simulated seconds since the run
    began, the wall clock of its N workers without the tuner's decision time; real training,
    Unix time), ``trial_id`` and ``resource`` (epochs) of the incumbent, ``value`` (its
    objective, lower is better). Rows start at the first successful job.

    On a replayed store whose table has several training seeds per configuration (``seeded``),
    ``value`` is the incumbent configuration's mean over its recorded seeds at its resource and
    ``value_drawn`` what the tuner was told (the one seed its trial drew); the incumbent itself
    is chosen on the drawn values, as the tuner saw them.
    """
    if "trace" in res.cache:
        return res.cache["trace"].copy()
    done = set(res.runs.loc[res.runs["status"] == "done", "run_key"])
    jobs = res.jobs[res.jobs["run_key"].isin(done) & res.jobs["tell_seq"].notna()]
    secs = job_seconds(res)
    jobs = jobs.merge(secs, on=["run_key", "job_id"], how="left").sort_values(["run_key", "tell_seq"], kind="stable")
    runs = res.runs.set_index("run_key")
    obj = res.objective
    # whole columns once (the jobs are sorted by run, so each run is one slice), one frame at the end
    keys = jobs["run_key"].to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, dtype=int)
    ends = np.r_[starts[1:], len(keys)]
    trained_all = jobs["epochs_trained"].fillna(0).to_numpy(dtype=float)
    secs_all = jobs["seconds"].fillna(0).to_numpy(dtype=float)
    finished_all = (pd.to_numeric(jobs["finished"]).to_numpy(dtype=float) if "finished" in jobs  # older stores: none
                    else np.full(len(jobs), np.nan))
    val_all = (jobs["loss"] if obj == "val_loss" else 1.0 - jobs["val_miou"]).to_numpy(dtype=float)
    resource_all, tid_all = jobs["resource"].to_numpy(), jobs["trial_id"].to_numpy()
    ok_all = (jobs["status"] == "ok").to_numpy() & np.isfinite(val_all)
    cols: dict[str, list] = {c: [] for c in ("epochs", "seconds", "finished", "trial_id", "resource", "value")}
    per_run: list[tuple] = []  # (run key, rows) of the runs with an incumbent, in run order
    for a, z in zip(starts, ends):
        key = keys[a]
        tuner = float(runs.at[key, "tuner_seconds"] or 0.0) / max(1, z - a)
        epochs = np.cumsum(trained_all[a:z])
        seconds = np.cumsum(secs_all[a:z] + tuner)
        finished, val, resource, tid, ok = finished_all[a:z], val_all[a:z], resource_all[a:z], tid_all[a:z], ok_all[a:z]
        best, n = None, 0
        for k in range(z - a):
            if ok[k]:
                cand = (int(resource[k]), -val[k], -int(tid[k]))
                if best is None or cand > best:
                    best = cand
            if best is not None:
                cols["epochs"].append(epochs[k])
                cols["seconds"].append(seconds[k])
                cols["finished"].append(finished[k])
                cols["trial_id"].append(-best[2])
                cols["resource"].append(best[0])
                cols["value"].append(-best[1])
                n += 1
        if n:
            per_run.append((key, n))
    if per_run:
        r = runs.loc[[k for k, _ in per_run], ["label", "budget", "seed", "workers"]]
        counts = [n for _, n in per_run]
        trace = pd.DataFrame({"run_key": np.repeat(np.array(r.index, dtype=object), counts),
                              **{c: np.repeat(r[c].to_numpy(), counts) for c in ("label", "budget", "seed", "workers")},
                              "epochs": np.array(cols["epochs"], dtype=float),
                              "seconds": np.array(cols["seconds"], dtype=float),
                              "finished": np.array(cols["finished"], dtype=float),
                              "trial_id": np.array(cols["trial_id"], dtype=np.int64),
                              "resource": np.array(cols["resource"], dtype=np.int64),
                              "value": np.array(cols["value"], dtype=float)})
    else:
        trace = pd.DataFrame(columns=["run_key", "label", "budget", "seed", "workers", "epochs", "seconds", "finished",
                                      "trial_id", "resource", "value"])
    seeded = seeded_table(res)
    if seeded is not None and len(trace):
        first = res.jobs.drop_duplicates(["run_key", "trial_id"])[["run_key", "trial_id", "config"]]
        configs = trace[["run_key", "trial_id"]].astype({"trial_id": "int64"}).merge(
            first.astype({"trial_id": "int64"}), on=["run_key", "trial_id"], how="left")["config"].tolist()
        trace["value_drawn"] = trace["value"]
        trace["value"] = seeded.objective(configs, trace["resource"], obj, "val")
    res.cache["trace"] = trace
    return res.cache["trace"].copy()


def best_so_far(res: Results, clock: str = "epochs") -> pd.DataFrame:
    """Per run, the best validation mIoU seen so far against cumulative epochs or seconds.

    Only finished runs count. Rows are in the order the runs recorded them; ``x`` is the
    cumulative epochs trained, or seconds of training (simulated in replay) plus the tuner's
    decision time spread evenly over the run's evaluations. With one worker the seconds add
    up; a replayed run on several simulated workers (the suite's ``workers``) puts each epoch
    at its job's simulated start plus the job's seconds up to that epoch (its jobs overlap).
    """
    done = set(res.runs.loc[res.runs["status"] == "done", "run_key"])  # interrupted runs are partial
    ev = res.evals[(res.evals["status"] == "ok") & res.evals["run_key"].isin(done)].copy()
    runs = res.runs.set_index("run_key")
    parallel = {k for k, i in runs["identity"].items() if json.loads(i).get("workers", 1) > 1}
    started = (res.jobs.set_index(["run_key", "job_id"])["started"] if parallel and "started" in res.jobs
               else None)
    out = []
    for key, g in ev.groupby("run_key", sort=False):
        g = g.sort_values(["cum_epochs", "job_id", "epoch"], kind="stable")
        if clock == "epochs":
            x = g["cum_epochs"].to_numpy(dtype=float)
        elif key in parallel:
            g = g.assign(x=[started[(key, j)] for j in g["job_id"]] + g.groupby("job_id")["seconds"].cumsum())
            g = g.sort_values(["x", "job_id", "epoch"], kind="stable")
            tuner = float(runs.at[key, "tuner_seconds"] or 0.0)
            x = g["x"].to_numpy(dtype=float) + tuner / max(1, len(g)) * np.arange(1, len(g) + 1)
        else:
            tuner = float(runs.at[key, "tuner_seconds"] or 0.0)
            x = np.cumsum(g["seconds"].to_numpy(dtype=float) + tuner / max(1, len(g)))
        y = np.maximum.accumulate(g["val_miou"].to_numpy(dtype=float))
        r = runs.loc[key]
        out.append(pd.DataFrame({"run_key": key, "label": r["label"], "budget": r["budget"], "seed": r["seed"],
                                 "x": x, "best": y}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(
        columns=["run_key", "label", "budget", "seed", "x", "best"])


def final_table(res: Results, drawn: bool = False) -> pd.DataFrame:
    """One row per run (computed once per load): status, incumbent test and validation mIoU, epochs spent, the incumbent's
    resource (epochs) and its objective on validation and test (``val_obj``, ``test_obj``: the
    suite's objective, lower is better: the loss, or 1 - mIoU).

    On a replayed store whose table has several training seeds per configuration (``seeded_table``)
    the incumbent is scored as benchmarks with seeds score it (NAS-Bench-201): ``val_*``,
    ``test_*``, ``val_obj`` and ``test_obj`` are its configuration's means over the recorded seeds
    at its resource (``mean_over``: how many), and the ``*_drawn`` columns keep the values of the one
    seed its trial drew. ``drawn=True`` returns the drawn values in the main columns (like for like
    with real training, where an incumbent is one trained model)."""
    key = "final_drawn" if drawn else "final"
    if key in res.cache:
        return res.cache[key].copy()
    inc = res.incumbents.set_index("run_key")
    rows = []
    for _, r in res.runs.iterrows():
        has = r["run_key"] in inc.index
        rows.append({"run_key": r["run_key"], "label": r["label"], "method": r["method"], "budget": r["budget"],
                     "seed": r["seed"], "status": r["status"] if (has or r["status"] != "done") else "no incumbent",
                     "test_miou": inc.at[r["run_key"], "test_miou"] if has else np.nan,
                     "val_miou": inc.at[r["run_key"], "val_miou"] if has else np.nan,
                     "val_loss": inc.at[r["run_key"], "val_loss"] if has else np.nan,
                     "test_loss": inc.at[r["run_key"], "test_loss"] if has else np.nan,
                     "resource": inc.at[r["run_key"], "resource"] if has else np.nan,
                     "epochs": r["epochs_spent"], "params": r["params"], "algorithm": r["algorithm"]})
    df = pd.DataFrame(rows)
    seeded = None if drawn else seeded_table(res)
    if seeded is not None and len(df):
        configs = [inc.at[k, "config"] if k in inc.index else None for k in df["run_key"]]
        for c in METRICS:
            df[f"{c}_drawn"] = df[c]
            df[c] = seeded.mean(configs, df["resource"], c)
        df["mean_over"] = seeded.count(configs, df["resource"])
    if len(df):
        df["val_obj"] = objective_values(df, res.objective, "val").astype(float)
        df["test_obj"] = objective_values(df, res.objective, "test").astype(float)
        if seeded is not None:
            df["val_obj_drawn"] = objective_values(df, res.objective, "val", "_drawn").astype(float)
            df["test_obj_drawn"] = objective_values(df, res.objective, "test", "_drawn").astype(float)
    res.cache[key] = df
    return df.copy()


METRICS = ("val_loss", "val_miou", "test_loss", "test_miou")


@dataclass
class SeedMeans:
    """A seeded curves table's per-configuration means over training seeds, by (config id, epoch)."""

    table: object  # bench.tables.curves.CurveTable
    means: pd.DataFrame  # index (config_id, epoch), columns METRICS: means over the seeds with an ok row
    counts: pd.Series  # index (config_id, epoch): seeds with an ok row
    ids: dict = field(default_factory=dict)  # config JSON -> the table entry that answers it

    def entry(self, config) -> str | None:
        """The table entry that replay answered ``config`` (JSON text or dict) with: itself or its
        nearest recorded neighbour (``bench.tables.curves.CurveTable.match``)."""
        if config is None or (isinstance(config, float) and np.isnan(config)):
            return None
        k = config if isinstance(config, str) else json.dumps(config, sort_keys=True)
        if k not in self.ids:
            self.ids[k] = self.table.match(json.loads(k))[0]
        return self.ids[k]

    def _at(self, configs, resources, series: pd.Series) -> np.ndarray:
        cids = [self.entry(c) for c in configs]
        epochs = [int(r) if not pd.isna(r) else -1 for r in resources]
        idx = pd.MultiIndex.from_arrays([cids, epochs], names=series.index.names)
        return series.reindex(idx).to_numpy(dtype=float)  # NaN where the entry has no ok row at that epoch

    def mean(self, configs, resources, metric: str) -> np.ndarray:
        """Per (config, resource): ``metric``'s mean over the entry's recorded seeds at that epoch."""
        return self._at(configs, resources, self.means[metric])

    def count(self, configs, resources) -> np.ndarray:
        return self._at(configs, resources, self.counts.astype(float))

    def objective(self, configs, resources, objective: str, split: str) -> np.ndarray:
        """The mean of the suite's objective (the loss, or 1 - mIoU) over the seeds."""
        if objective == "val_loss":
            return self.mean(configs, resources, f"{split}_loss")
        return 1.0 - self.mean(configs, resources, f"{split}_miou")


def replayed_table(res: Results):
    """The ``bench.tables.curves.CurveTable`` a replayed store's runs replayed: its curves table, or for a
    leave-top-k-out store the table without its k best configurations (``bench.tables.curves.without_best``).
    Loaded once per process: every store of one table (whatever its objective, which only a reduced table
    depends on) shares the object ``bench.tables.curves._table`` caches."""
    from bench.tables.curves import _table, resolve
    path, profile = str(resolve(res.curves)), str(res.runs["profile"].iloc[0])
    if not res.drop_top:
        return _table(path, profile)  # the key _table itself uses for the full table of a reduced one
    return _table(path, profile, res.drop_top, res.objective)


@lru_cache(maxsize=8)
def _seed_means(table) -> SeedMeans:
    """The seed means of ``table`` (a ``CurveTable``, by identity), computed once per table and process."""
    from bench.tables.curves import run_ends
    ok = run_ends(table.df[table.df["status"] == "ok"])  # budget-aware: each resource's own run
    g = ok.groupby(["config_id", "epoch"])
    return SeedMeans(table, g[list(METRICS)].mean(), g.size())


class TableChanged(ValueError):
    """A store's runs replayed another version of their curves table than the file now on disk."""


def seeded_table(res: Results) -> SeedMeans | None:
    """The seed means of the curves table a replayed store replayed (for a leave-top-k-out store, the table
    without its k best configurations: incumbents map to, and hit rates rank among, what remained), when that
    table has several training seeds for some configuration; None for real training, one-seed tables, or a table
    that is not on disk (``paper.stats.table_best`` then says it is missing).

    Raises ``TableChanged`` when the file's hash is not the one every run recorded
    (``curves_hash``): its seed means would score the runs against curves they never met."""
    if "seeded" in res.cache:
        return res.cache["seeded"]
    out = None
    if res.backend == "replay" and res.curves and len(res.runs):
        from bench.tables.curves import resolve, table_hash
        path = resolve(res.curves)
        if path.is_file():
            table = replayed_table(res)
            if any(len(s) > 1 for s in table.seeds.values()):
                recorded = {json.loads(i).get("curves_hash") for i in res.runs["identity"]}
                now = table_hash(path)
                if recorded != {now}:
                    raise TableChanged(
                        f"{res.path}: its runs replayed {res.curves} with hash {', '.join(sorted(map(str, recorded)))}, "
                        f"but the file now has hash {now}; re-run the suite on this table (bench run --fresh) "
                        "or restore the table it replayed")
                out = _seed_means(table)
    res.cache["seeded"] = out
    return out
