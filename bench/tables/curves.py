"""Learning-curve tables: export them from a store, look configurations up, replay jobs.

A curves table (CSV or parquet, in ``results/curves/``) has one row per
(configuration, training seed, epoch): ``config_id``, ``train_seed``, one
``config.<name>`` column per hyperparameter, ``epoch``, ``status``, ``train_loss``,
``val_loss``, ``val_miou``, ``test_loss``, ``test_miou``, ``seconds`` (wall seconds
the epoch took when it was recorded) and, for one-thread CPU recordings, ``cpu_seconds``
(the recording process's CPU time for the epoch). A curve that ends in a failure has a last row
with status ``failed``. A table without ``train_seed`` (recorded before training seeds
existed) holds one seed per configuration. Replay's simulated clock charges each epoch
of a configuration the median of its recorded epoch seconds over all its seeds, CPU
seconds where the table has them (see ``CurveTable``).

Training-seed noise: with several seeds per configuration, each trial of a run
replays one of them, chosen from (run seed, trial id) by a hash, so the same run
seed always gets the same curve and a promotion continues the curve its trial
started on; two trials of one configuration may get different seeds, as two real
trainings would.

Replay maps every configuration a tuner asks for to a configuration of the table: the same
configuration when the table has it, else its nearest neighbour in the space
normalised to the unit cube (log-scaled ranges, ordinals by rank, categoricals
one-hot, so a differing category counts as distance 1). Every tuner keeps its own
sampler and model and only the answers come from the table; for random search,
successive halving and Hyperband this is sampling from the table (each recorded
configuration with the prior probability of its neighbourhood), and SMAC and
scikit-optimize search the real space while being answered by the table. A
tuner run against a table made from its own real run therefore asks exactly what
the real run asked.

Budget-aware tables (issue 23) have a ``budget`` column: the epoch r at which the curve's
learning-rate schedule reached zero (``bench record --budgets`` on a profile such as
``cpu-v2-budget``). Each (configuration, training seed, budget) is then a training of its own with
epochs 1..r, and the table holds the budgets the brackets use (for eta = 3, R = 27: 1, 3, 9 and
27; the r = R curves may come from the recording of the profile that trains identically at R,
``segmentation.profiles.fixed_horizon_twin``). A job at resource r is answered with the r-run's
epochs 1..r, its value the r-run's last epoch; a promotion to r' is a new training at r' and costs
r' epochs (an annealed run cannot be continued), so replay on such a table refuses a continued
checkpoint. A table without the column is budget-unaware: one training per (configuration, seed),
its epoch e the value at resource e.
"""
from __future__ import annotations

import hashlib
import json
import math
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from methods.base import config_to_dict

from bench.storage.packing import store_file
from bench.storage.store import ENDED, dumps, read_store

REPO = Path(__file__).resolve().parents[2]
METRICS = ("train_loss", "val_loss", "val_miou", "test_loss", "test_miou", "seconds")
CURVE_KEYS = ("config_id", "train_seed", "budget", "epoch")  # a row's key; "budget" on budget-aware tables only


def config_id(config: dict) -> str:
    return hashlib.sha1(dumps(config_to_dict(config)).encode()).hexdigest()[:12]


def resolve(path: str | Path) -> Path:
    """A curves path as given, else relative to the repository root."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else REPO / p


# -- export -------------------------------------------------------------------------
def curves_from_store(db_path: Path) -> tuple[pd.DataFrame, dict]:
    """Curves of every (configuration, training seed) in a store (first occurrence of each
    (config, seed, epoch) wins). The training seed is the job's ``train_seed`` (``bench record
    --train-seeds``), else the run's seed."""
    with read_store(db_path) as store:
        tests = store.curve_tests()
        seeds = store.train_seeds()
        budgets = store.job_budgets()
        rows, seen = [], set()
        # only jobs that ended: a configuration still being recorded (or in flight) has no whole curve yet
        for e in store.ended_evaluations():
            config = json.loads(e["config"])
            cid = config_id(config)
            tseed = seeds.get((e["run_key"], e["job_id"]), 0)
            budget = budgets.get((e["run_key"], e["job_id"]))
            if (cid, tseed, budget, e["epoch"]) in seen:
                continue
            seen.add((cid, tseed, budget, e["epoch"]))
            t = tests.get((e["run_key"], e["job_id"], e["epoch"]))
            rows.append({"config_id": cid, "train_seed": tseed, **({"budget": budget} if budget is not None else {}),
                         **{f"config.{k}": v for k, v in sorted(config.items())},
                         "epoch": e["epoch"], "status": e["status"], "train_loss": e["train_loss"],
                         "val_loss": e["val_loss"], "val_miou": e["val_miou"],
                         "test_loss": t["test_loss"] if t else None, "test_miou": t["test_miou"] if t else None,
                         "seconds": e["seconds"],
                         "cpu_seconds": e["cpu_seconds"] if "cpu_seconds" in e.keys() else None})
        runs = store.run_provenance()
    df = pd.DataFrame(rows)
    if len(df):
        df = df.sort_values([k for k in CURVE_KEYS if k in df.columns], kind="stable").reset_index(drop=True)
    for r in runs:
        r["versions"] = json.loads(r["versions"]) if r["versions"] else None
        r["identity"] = json.loads(r["identity"]) if r.get("identity") else None
    return df, {"source": str(db_path), "runs": runs}


def unfinished(sources: list[Path], metas: list[dict]) -> list[str]:
    """Why the stores do not hold a whole recording: each run that has not ended (``ENDED``: it is
    in progress, or was interrupted) and each shard of a sharded ``bench record`` that is not among
    them (a recording's shards share the identity apart from ``shard``). Empty: complete."""
    why = [f"{src}: {r['run_key']} has not finished (status {r['status']}: in progress or interrupted)"
           for src, m in zip(sources, metas) for r in m["runs"] if r["status"] not in ENDED]
    shards: dict[str, set[int]] = {}
    of: dict[str, int] = {}
    for m in metas:
        for r in m["runs"]:
            ident = r.get("identity") or {}
            if r.get("method") == "record" and ident.get("shard"):
                k, n = ident["shard"]
                key = dumps({a: b for a, b in ident.items() if a != "shard"})
                shards.setdefault(key, set()).add(int(k))
                of[key] = int(n)
    for key, ks in shards.items():
        missing = sorted(set(range(of[key])) - ks)
        if missing:
            rec = json.loads(key)
            why.append(f"recording {rec.get('profile')} seed {rec.get('seed')}: shard(s) "
                       + ", ".join(f"{k}/{of[key]}" for k in missing) + " not given")
    return why


def export_curves(results: Path | list[Path], out: Path, partial: bool = False) -> Path:
    """One curves table from the stores of one or several results directories (e.g. the shards of a
    recording; ``results.db``, or a packed ``results.db.xz``), all of one profile (recipe): stores
    of different profiles are refused (ValueError). Stores that do not hold a whole recording (a
    run that has not ended, or a shard of a sharded recording not given: ``unfinished``) are
    refused too, unless ``partial``: then only the curves that ended are exported and the table's
    ``.meta.json`` says ``"complete": false`` and why, which the paper prints beside the table. A
    directory given twice counts once."""
    given = [Path(r) for r in (results if isinstance(results, (list, tuple)) else [results])]
    sources = list({p.resolve(): p for p in given}.values())  # a store given twice counts once
    parts = [curves_from_store(store_file(r)) for r in sources]
    recipes = {str(src): sorted({r["profile"] for r in m["runs"] if r["profile"]}) for src, (_, m) in zip(sources, parts)}
    twin_r = _budget_aware_twin({p for ps in recipes.values() for p in ps})
    if len({p for ps in recipes.values() for p in ps}) > 1 and twin_r is None:  # one recipe: never mixed silently
        raise ValueError("the stores were recorded with different profiles (recipes): "
                         + "; ".join(f"{src}: {', '.join(ps)}" for src, ps in recipes.items())
                         + ". Export each recipe to its own table (a budget-aware profile may be joined with the "
                         "profile that trains as it does at r = R, e.g. cpu-v2-budget with cpu-v2)")
    if twin_r is not None:  # the twin's curves are the budget-aware table's r = R column
        twin, R = twin_r
        for (d, m), src in zip(parts, sources):
            if len(d) and "budget" not in d.columns and recipes[str(src)] == [twin]:
                d.insert(2, "budget", R)
    why = unfinished(sources, [m for _, m in parts])
    if why and not partial:
        raise ValueError("these stores do not hold a whole recording (" + "; ".join(why)
                         + "): finish the recording (it resumes) and give every shard, or pass --partial to "
                         "export only the curves that ended so far, marked as a partial table")
    if not any(len(d) for d, _ in parts):
        raise ValueError("no curve has ended yet in " + ", ".join(map(str, sources)) + ": nothing to export")
    df = pd.concat([d for d, _ in parts if len(d)], ignore_index=True)
    keys = [k for k in CURVE_KEYS if k in df.columns]
    df = (df.drop_duplicates(keys, keep="first").sort_values(keys, kind="stable").reset_index(drop=True))
    if "budget" in df.columns:
        if df["budget"].isna().any():
            raise ValueError("some stores hold budget-aware curves and others do not (a budget column with gaps); "
                             "export a budget-aware recording alone or with its r = R twin")
        df["budget"] = df["budget"].astype(int)
        # every (configuration, seed) answers every budget of the table, or none: replay never meets a hole
        budgets = sorted(int(b) for b in df["budget"].unique())
        held = df.groupby(["config_id", "train_seed"])["budget"].nunique()
        short = held[held < len(budgets)]
        if len(short):
            lack = f"{len(short)} (configuration, training seed) pair(s) lack some of the budgets {budgets} (epochs)"
            if not partial:
                raise ValueError(f"these stores do not hold every budget for every (configuration, training seed): "
                                 f"{lack}; finish the recording (it resumes) or pass --partial")
            why = why + [lack + " and were left out"]
            keep = ~df.set_index(["config_id", "train_seed"]).index.isin(short.index)
            df = df[keep].reset_index(drop=True)
    meta = {"source": [m["source"] for _, m in parts], "runs": [r for _, m in parts for r in m["runs"]],
            "complete": not why, "incomplete_because": why}
    if "budget" in df.columns:
        meta["budgets"] = sorted(int(b) for b in df["budget"].unique())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        df.to_parquet(out, index=False)
    else:
        df.to_csv(out, index=False)  # shortest round-trip floats: replay is exact
    meta.update({"rows": len(df), "configs": int(df["config_id"].nunique()) if len(df) else 0,
                 "curves": int(len(df.drop_duplicates(["config_id", "train_seed"]))) if len(df) else 0,
                 "max_epoch": int(df["epoch"].max()) if len(df) else 0})
    out.with_suffix(".meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out


def run_ends(df: pd.DataFrame) -> pd.DataFrame:
    """What a tuner is told at each resource, one row per (configuration, training seed, resource):
    on a budget-aware table the last epoch of each budget's own training (the row whose ``epoch``
    equals its ``budget``, so ``epoch`` reads "resource r"), the ``budget`` column dropped; a
    budget-unaware table unchanged (its epoch e is the value at resource e)."""
    if "budget" not in df.columns:
        return df
    return df[df["epoch"] == df["budget"]].drop(columns="budget").reset_index(drop=True)


def _budget_aware_twin(profiles: set[str]) -> tuple[str, int] | None:
    """(twin profile, R) when ``profiles`` is a budget-aware profile and the profile that trains as it
    does at r = R (``segmentation.profiles.fixed_horizon_twin``), else None."""
    if len(profiles) != 2:
        return None
    from segmentation.profiles import fixed_horizon_twin, get_profile
    for p in profiles:
        try:
            twin = fixed_horizon_twin(p)
        except ValueError:
            return None
        if twin is not None and profiles == {p, twin}:
            return twin, get_profile(p).max_epochs
    return None


# -- the table ------------------------------------------------------------------------
class CurveTable:
    """A curves table in memory: the recorded configurations, their curves and the replay clock.

    ``curves[config_id][train_seed]`` is the curve ``{epoch: row}`` a budget-unaware replay reads; on a
    budget-aware table (``budget_aware``; ``budgets``, the recorded budgets r in epochs) it is the
    largest budget's (the r = R run), and ``curve(cid, seed, budget)`` gives each budget's own run."""

    def __init__(self, df: pd.DataFrame, space):
        self.df = df
        self.space = space
        self.names = [hp.name for hp in space.values()]
        missing = [n for n in self.names if f"config.{n}" not in df.columns]
        if missing:
            raise ValueError(f"curves table lacks hyperparameter column(s) {missing}")
        first = df.drop_duplicates("config_id", keep="first")
        self.ids = list(first["config_id"])
        self.configs = [{n: _py(r[f"config.{n}"]) for n in self.names} for _, r in first.iterrows()]
        self.by_key = {dumps(c): cid for c, cid in zip(self.configs, self.ids)}
        self.matrix = np.stack([self._vector(c) for c in self.configs]) if self.configs else np.zeros((0, 0))
        if "train_seed" not in df.columns:  # a table from before training seeds: one seed each
            df = df.assign(train_seed=0)
        self.budget_aware = "budget" in df.columns
        self.budgets = sorted(int(b) for b in df["budget"].unique()) if self.budget_aware else None
        # runs[config_id][train_seed][budget][epoch] -> row (budget None on budget-unaware tables)
        self.runs = {cid: {int(t): ({int(b): _by_epoch(gb) for b, gb in gs.groupby("budget", sort=True)}
                                    if self.budget_aware else {None: _by_epoch(gs)})
                           for t, gs in g.groupby("train_seed", sort=True)}
                     for cid, g in df.groupby("config_id", sort=False)}
        # curves[config_id][train_seed][epoch] -> row: the one training, or the largest budget's run
        self.curves = {cid: {t: (runs[max(runs)] if self.budget_aware else runs[None]) for t, runs in c.items()}
                       for cid, c in self.runs.items()}
        self.seeds = {cid: sorted(c) for cid, c in self.curves.items()}
        # The simulated clock charges every epoch of a configuration the median of its recorded
        # epoch seconds: same data, same model, so one epoch costs the same in expectation, and
        # the median drops spikes from other work on the machine while it recorded. Where the
        # table has CPU seconds (one-thread CPU recordings), they are used: unlike wall seconds
        # they do not grow with other work sharing the machine.
        self.epoch_seconds = {cid: _median_seconds(g) for cid, g in df.groupby("config_id", sort=False)}
        self.max_epoch = int(df["epoch"].max()) if len(df) else 0

    @classmethod
    def load(cls, path: Path, space) -> "CurveTable":
        path = resolve(path)
        if not path.is_file():
            raise FileNotFoundError(f"curves table not found: {path}")
        from bench.tables.check import check_file  # a table replay cannot use: one line naming file, column and row
        df = check_file(path)
        return cls(df, space)

    def _vector(self, config: dict) -> np.ndarray:
        from ConfigSpace import (CategoricalHyperparameter, OrdinalHyperparameter, UniformFloatHyperparameter,
                                 UniformIntegerHyperparameter)
        out = []
        for hp in self.space.values():
            v = config[hp.name]
            if isinstance(hp, (UniformFloatHyperparameter, UniformIntegerHyperparameter)):
                lo, hi, x = float(hp.lower), float(hp.upper), float(v)
                if hp.log:
                    lo, hi, x = math.log(lo), math.log(hi), math.log(x)
                out.append((x - lo) / (hi - lo) if hi > lo else 0.0)
            elif isinstance(hp, OrdinalHyperparameter):
                seq = list(hp.sequence)
                out.append(seq.index(_match(seq, v)) / max(1, len(seq) - 1))
            elif isinstance(hp, CategoricalHyperparameter):
                choices = list(hp.choices)
                k = choices.index(_match(choices, v))
                out.extend((1 / math.sqrt(2)) * float(i == k) for i in range(len(choices)))
            else:
                raise ValueError(f"replay cannot normalise hyperparameter {hp.name!r} ({type(hp).__name__})")
        return np.array(out)

    def lookup(self, config: dict) -> str:
        """The config id of ``config`` in the table, or of its nearest neighbour (ties: table order)."""
        return self.match(config)[0]

    def match(self, config: dict) -> tuple[str, bool]:
        """(config id, whether the table holds ``config`` itself rather than a neighbour)."""
        key = dumps({n: config_to_dict(config)[n] for n in self.names})
        if key in self.by_key:
            return self.by_key[key], True
        d = np.linalg.norm(self.matrix - self._vector(config), axis=1)
        return self.ids[int(np.argmin(d))], False

    def seed_for(self, cid: str, run_seed: int | None, trial_id: int | None) -> int:
        """The training seed whose curve trial ``trial_id`` of a run with ``run_seed`` replays.

        A hash of (run seed, trial id) picks one of the configuration's recorded seeds; without
        them (or with one seed recorded) the first seed.
        """
        seeds = self.seeds[cid]
        if run_seed is None or trial_id is None or len(seeds) == 1:
            return seeds[0]
        return seeds[zlib.crc32(f"{int(run_seed)}:{int(trial_id)}".encode()) % len(seeds)]

    def curve(self, cid: str, train_seed: int, budget: int | None = None) -> dict:
        """``{epoch: row}`` of a recorded training: on a budget-aware table the run whose schedule ended at
        ``budget`` epochs (default: the largest budget); on others the one training (``budget`` ignored)."""
        if budget is None or not self.budget_aware:
            return self.curves[cid][train_seed]
        runs = self.runs[cid][train_seed]
        if int(budget) not in runs:
            raise UnrecordedBudget(f"the curves table has budgets {self.budgets} (epochs), not {budget}: a job at "
                                   f"resource {budget} cannot be answered on this budget-aware table")
        return runs[int(budget)]

    def candidates(self) -> list[dict]:
        """Every recorded configuration, in table order (for sampling from the table)."""
        return [dict(c) for c in self.configs]


class UnrecordedBudget(ValueError):
    """A job asked a budget-aware table for a budget it has not recorded: the suite, not the trial, is wrong."""


def _by_epoch(g: pd.DataFrame) -> dict:
    return {int(r["epoch"]): r for r in g.to_dict("records")}


def _median_seconds(g: pd.DataFrame) -> float:
    ok = g[g["status"] == "ok"]
    if "cpu_seconds" in ok.columns and ok["cpu_seconds"].notna().any():
        return float(ok["cpu_seconds"].dropna().median())
    return float(ok["seconds"].median()) if len(ok) else 0.0


def _py(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, str) and v in ("True", "False"):
        return v == "True"
    return v


def _match(options: list, v):
    for o in options:
        if o == v or str(o) == str(v):
            return o
    raise ValueError(f"value {v!r} is not one of {options}")


def best_config_ids(df: pd.DataFrame, objective: str, k: int) -> list[str]:
    """The ``k`` best configurations of a curves table (``df`` as read), best first: ranked by the mean over
    their training seeds with an ok row at R (the table's largest epoch; on a budget-aware table the r = R
    training) of the objective, lower is better: ``val_loss``, or ``1 - val_miou`` for ``"val_miou"``. A
    configuration without an ok row at R ranks after every one that has one; ties keep table order."""
    if k <= 0:
        return []
    ends = run_ends(df)
    R = int(ends["epoch"].max())
    ok = ends[(ends["status"] == "ok") & (ends["epoch"] == R)]
    means = ok.groupby("config_id", sort=False)[["val_loss", "val_miou"]].mean()
    score = means["val_loss"] if objective == "val_loss" else 1.0 - means["val_miou"]
    order = list(dict.fromkeys(df["config_id"]))  # table order, for ties and unranked configurations
    pos = {c: i for i, c in enumerate(order)}
    ranked = sorted(order, key=lambda c: (0, float(score[c]), pos[c]) if c in score.index and score[c] == score[c]
                    else (1, 0.0, pos[c]))
    return ranked[:k]


def without_best(df: pd.DataFrame, objective: str, k: int) -> pd.DataFrame:
    """``df`` without every row of its ``k`` best configurations (``best_config_ids``): the table a suite
    with ``drop_top = k`` replays. ``k = 0``: ``df`` itself."""
    if k <= 0:
        return df
    drop = set(best_config_ids(df, objective, k))
    return df[~df["config_id"].isin(drop)].reset_index(drop=True)


@lru_cache(maxsize=8)
def _table(path: str, profile: str, drop_top: int = 0, objective: str = "val_loss") -> CurveTable:
    """The curves table at ``path`` in ``profile``'s space; ``drop_top = k > 0``: without its k best
    configurations by ``objective`` (``without_best``), so replay neither samples nor answers with them."""
    from segmentation.profiles import get_profile
    from segmentation.space import search_space
    space = search_space(get_profile(profile))
    if not drop_top:
        return CurveTable.load(Path(path), space)
    full = _table(path, profile)
    return CurveTable(without_best(full.df, objective, int(drop_top)), space)


def _spec_table(spec: dict) -> CurveTable:
    """The table a replayed job or test reads: ``spec``'s curves, without its ``drop_top`` best (default 0)."""
    return _table(spec["curves"], spec["profile"], int(spec.get("drop_top") or 0), spec.get("objective", "val_loss"))


def table_hash(path: str | Path) -> str:
    return hashlib.sha256(resolve(path).read_bytes()).hexdigest()[:16]


# -- replayed jobs (same shapes as bench.loop.jobs) -----------------------------------------
def replay_job(spec: dict, on_epoch=None) -> dict:
    """Answer a job from the table: the recorded epochs (start, resource] of the nearest configuration,
    on the training seed its trial replays (``spec["run_seed"]``, ``spec["trial_id"]``; see
    ``CurveTable.seed_for``).

    ``seconds`` is the simulated time (the recorded epoch seconds), ``real_seconds`` what replay took;
    ``table_config``, ``train_seed`` and ``exact`` say which recorded curve answered.
    """
    import time
    t0 = time.perf_counter()
    table = _spec_table(spec)
    cid, exact = table.match(spec["config"])
    tseed = table.seed_for(cid, spec.get("run_seed"), spec.get("trial_id"))
    start = spec["resumes_from"] if spec.get("ckpt_in") else 0
    if table.budget_aware:  # the job's own training, annealed at its resource: never continued
        if start:
            raise ValueError("a budget-aware curves table cannot continue a checkpoint (each budget is a training "
                             "of its own): replay it with resume_promotions = false")
        curve = table.curve(cid, tseed, spec["resource"])
    else:
        curve = table.curve(cid, tseed)
    epochs, status, error, sim = [], "ok", None, 0.0
    for epoch in range(start + 1, spec["resource"] + 1):
        row = curve.get(epoch)
        if row is None:
            status, error = "failed", f"curve of config {cid} ends at epoch {max(curve)} (recorded), asked {epoch}"
            break
        sim += table.epoch_seconds[cid]
        if row["status"] != "ok":
            status, error = "failed", f"recorded failure of config {cid} at epoch {epoch}"
            break
        e = {"epoch": epoch, "train_loss": row["train_loss"], "val_loss": row["val_loss"],
             "val_miou": row["val_miou"], "val_iou": None, "val_precision": None, "val_recall": None,
             "seconds": table.epoch_seconds[cid], "test": None}
        epochs.append(e)
        if on_epoch is not None:
            on_epoch(e)
    trained = spec["resource"] - start if status == "ok" else min(spec["resource"] - start, len(epochs) + 1)
    return {"status": status, "epochs": epochs, "error": error, "epochs_trained": trained, "start": start,
            "seconds": sim, "real_seconds": time.perf_counter() - t0, "table_config": cid, "train_seed": tseed,
            "exact": exact}


def replay_test(spec: dict) -> dict:
    """The recorded test metrics of a configuration at an epoch, on the training seed its trial
    replayed (``spec["run_seed"]``, ``spec["trial_id"]``); NaN where the table has none."""
    table = _spec_table(spec)
    cid = table.lookup(spec["config"])
    seed = table.seed_for(cid, spec.get("run_seed"), spec.get("trial_id"))
    row = table.curve(cid, seed, spec["resource"] if table.budget_aware else None).get(spec["resource"], {})
    nan = float("nan")
    return {"loss": _num(row.get("test_loss")), "miou": _num(row.get("test_miou")), "iou": None,
            "precision": None, "recall": None, "pixel_accuracy": nan, "seconds": 0.0}


def _num(v) -> float:
    return float("nan") if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def replay_stats(configs: list[dict], curves: str | Path, profile: str, drop_top: int = 0,
                 objective: str = "val_loss") -> dict:
    """How a replayed run was answered: ``table_entries`` (distinct recorded configurations that
    answered its asks) and ``neighbour_share`` (share of its asks answered by a neighbour rather
    than by the configuration asked). ``configs``: the configurations of the run's asks;
    ``drop_top``, ``objective``: the table the run replayed (``_table``)."""
    table = _table(str(resolve(curves)), profile, drop_top, objective)
    matches = [table.match(c) for c in configs]
    return {"table_entries": len({cid for cid, _ in matches}),
            "neighbour_share": (sum(not exact for _, exact in matches) / len(matches)) if matches else None}
