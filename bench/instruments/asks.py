"""What a tuner asks, as a digest, on a fixed cheap workload (the toy space and objective of ``bench.instruments.perf``).

``drive`` runs a tuner for ``n_jobs`` jobs: it asks up to ``batch`` jobs (fewer when the tuner
says WAIT or FINISHED) and tells them in reverse order with ``bench.instruments.perf.toy_loss``, so that
tuners that allow several outstanding jobs are exercised out of order too. ``ask_digest`` is the
SHA-256 of every job's (trial id, resource in epochs, resumed-from epochs, configuration) in ask
order, floats written with ``repr`` (exact). Two versions of a tuner ask the same thing on this
workload exactly when their digests are equal.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

from methods import FINISHED, WAIT, make_tuner

from bench.instruments.perf import toy_loss, toy_space

MIN_BUDGET, MAX_BUDGET = 1, 27  # epochs, both inclusive (the default budgets)


def toy_candidates(n: int = 24, seed: int = 7) -> list[dict]:
    """``n`` configurations of the toy space, drawn with ``seed`` (a stand-in for a table's recorded ones)."""
    space = toy_space(seed=seed)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in dict(c).items()}
            for c in space.sample_configuration(n)]


def drive(tuner, n_jobs: int, batch: int = 3, loss=toy_loss) -> list:
    """The first ``n_jobs`` jobs ``tuner`` asks (fewer if it finishes), told ``loss(config, resource)``
    (default: the toy loss)."""
    seen = []
    while len(seen) < n_jobs:
        jobs = []
        for _ in range(batch):
            job = tuner.ask()
            if job is WAIT or job is FINISHED:
                break
            jobs.append(job)
        if not jobs:
            break
        for job in reversed(jobs):
            tuner.tell(job, loss(job.config, job.resource))
        seen += jobs
    return seen[:n_jobs]


def job_key(job) -> list:
    return [job.trial_id, job.resource, job.resumes_from, sorted(job.config.items())]


def ask_digest(jobs) -> str:
    text = json.dumps([job_key(j) for j in jobs], default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def method_jobs(method: str, seed: int, n_jobs: int, candidates: list[dict] | None = None,
                max_budget: int = MAX_BUDGET, **params) -> list:
    """Drive a fresh ``method`` tuner (seed ``seed``, toy space, budgets 1..``max_budget`` epochs, inclusive)
    for ``n_jobs`` jobs; with ``candidates``, ``set_candidates(candidates)`` first."""
    workdir = tempfile.mkdtemp(prefix="asks-")
    try:
        tuner = make_tuner(method, toy_space(), seed, MIN_BUDGET, max_budget, workdir=workdir, **params)
        if candidates is not None:
            tuner.set_candidates(candidates)
        return drive(tuner, n_jobs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


SPEEDUP_METHODS = {  # the tuners with speed-ups (methods.smac_fast, methods.skopt_fast): budgets 1..max_budget
    "smac-bo": dict(max_budget=27, n_initial=10),
    "smac-hb": dict(max_budget=27, n_initial=10),
    "skopt-gp": dict(max_budget=27, n_initial=10),
}


NVSBN_PARAMS = {  # the sweeps' settings (bench/suites/nvsbn.toml), for the table workload
    "smac-bo": dict(n_initial=5, retrain_after=8, local_search_iterations=2),
    "smac-hb": dict(n_initial=5, retrain_after=8, eta=3, local_search_iterations=2),
    "skopt-gp": dict(n_initial=5, n_restarts_optimizer=0),
}


def table_workload(name: str):
    """(space, loss, max_budget) of a curves table: the task's space and, for a job, the seed-mean
    validation loss of the asked configuration's nearest recorded one after ``resource`` epochs."""
    from bench.tables.table import load_table
    table = load_table(name)

    def loss(config, resource):
        return table.query(config, int(resource), nearest=True)["val_loss"]
    return table.space, loss, table.max_epoch


def speedup_jobs(method: str, seed: int, n_jobs: int, speedups: bool, candidates: list[dict] | None = None,
                 workload=None) -> tuple:
    """(jobs, CPU seconds of this process) for ``method`` driven ``n_jobs`` jobs with or without its speed-ups;
    ``workload``: ``table_workload(...)`` (nvsbn's parameters) instead of the toy space and loss."""
    import time

    from methods.skopt_gp import SkoptGP
    from methods.smac_tuners import SmacTuner
    if workload is None:
        o = dict(SPEEDUP_METHODS[method])
        space, loss, max_budget = toy_space(), toy_loss, o.pop("max_budget")
    else:
        (space, loss, max_budget), o = workload, dict(NVSBN_PARAMS[method])
    workdir = tempfile.mkdtemp(prefix="asks-")
    try:
        if method == "skopt-gp":
            tuner = SkoptGP(space, seed, MIN_BUDGET, max_budget, speedups=speedups, **o)
        else:
            tuner = SmacTuner(space, seed, MIN_BUDGET, max_budget, workdir=workdir, speedups=speedups,
                              multi_fidelity=method == "smac-hb", **o)
        if candidates is not None:
            tuner.set_candidates(candidates)
        t0 = time.process_time()
        jobs = drive(tuner, n_jobs, loss=loss)
        return jobs, time.process_time() - t0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def compare_speedups(n_jobs: int = 60, seeds=(0, 1), candidates: int = 0, table: str | None = None) -> int:
    """Print, per method, the CPU seconds of the same runs without and with the speed-ups (measured side by
    side in this process, alternating), their ratio, and whether every run asked the same jobs (digests).
    ``table``: the task's space and a curves table's losses (nvsbn's parameters; ``candidates`` > 0: the
    table's recorded configurations) instead of the toy space and loss."""
    workload = table_workload(table) if table else None
    if not candidates:
        cands = None
    elif table:
        from bench.tables.table import load_table
        cands = load_table(table).configs()
    else:
        cands = toy_candidates(candidates)
    mode = (f"choosing among {len(cands)} candidates" if cands else "free") + \
        (f", table {table} with nvsbn's parameters" if table else ", toy space")
    print(f"CPU seconds of {n_jobs} jobs per run (ask + tell, seeds {list(seeds)}, {mode}), library "
          f"as it ships vs with the speed-ups, in one process")
    print(f"{'method':>10} {'shipped s':>10} {'faster s':>10} {'ratio':>6}  same asks  digest (seed {seeds[0]})")
    same_all = True
    for method in SPEEDUP_METHODS:
        t = {False: 0.0, True: 0.0}
        digests = {False: [], True: []}
        for seed in seeds:
            for speedups in (False, True):
                jobs, secs = speedup_jobs(method, seed, n_jobs, speedups, cands, workload)
                t[speedups] += secs
                digests[speedups].append(ask_digest(jobs))
        same = digests[False] == digests[True]
        same_all &= same
        print(f"{method:>10} {t[False]:10.1f} {t[True]:10.1f} {t[True] / t[False]:6.2f}  {str(same):>9}  "
              f"{digests[True][0][:16]}", flush=True)
    return 0 if same_all else 1


def compare_store(results: str, suffix: str = "-shipped") -> int:
    """For every run of a label ending in ``suffix`` in the store under ``results`` (e.g. the
    ``tuner-speedups`` suite's), the run of the label without it and the same budget and seed: whether
    both asked the same jobs (configuration, resource, resumed-from, status and loss of every job, in
    order) and their tuner seconds (time in ``ask``/``tell``, measured by the harness). Prints one line
    per method and the totals; exit status 1 if any pair differs."""
    from bench.storage.packing import DB_NAME
    from bench.storage.store import read_store
    store = read_store(Path(results) / DB_NAME)
    try:
        runs = {r["run_key"]: r for r in store.runs()}
        pairs: dict[str, list] = {}
        for key in sorted(runs):
            label, rest = key.split("/", 1)
            if label.endswith(suffix) and f"{label[:-len(suffix)]}/{rest}" in runs:
                pairs.setdefault(label[:-len(suffix)], []).append((key, f"{label[:-len(suffix)]}/{rest}"))
        fields = ("config", "resource", "resumes_from", "status", "loss")
        same_all = True
        print(f"tuner seconds per method, summed over its runs: as shipped vs with the speed-ups ({results})")
        print(f"{'method':>12} {'runs':>5} {'jobs':>6} {'shipped s':>10} {'faster s':>10} {'ratio':>6}  same jobs")
        for method, keys in pairs.items():
            shipped = sum(runs[a]["tuner_seconds"] or 0.0 for a, _ in keys)
            faster = sum(runs[b]["tuner_seconds"] or 0.0 for _, b in keys)
            jobs = [[tuple(j[f] for f in fields) for j in store.jobs(k)] for pair in keys for k in pair]
            same = all(jobs[i] == jobs[i + 1] and jobs[i] for i in range(0, len(jobs), 2))
            same_all &= same
            print(f"{method:>12} {len(keys):5d} {sum(map(len, jobs[::2])):6d} {shipped:10.2f} {faster:10.2f} "
                  f"{faster / shipped if shipped else float('nan'):6.2f}  {same}")
        if not pairs:
            print(f"no pair of labels X{suffix} and X in {results}")
            return 1
        return 0 if same_all else 1
    finally:
        store.close()


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(prog="python -m bench.instruments.asks",
                                 description="speed-ups of SMAC and skopt: time ratio and identical asks")
    ap.add_argument("--jobs", type=int, default=60, help="jobs per run (default 60)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="tuner seeds (default 0 1)")
    ap.add_argument("--candidates", type=int, default=0,
                    help="choose among this many toy-space configurations (set_candidates; with --table, any "
                         "number > 0: the table's recorded ones); 0: free (default)")
    ap.add_argument("--table", metavar="NAME",
                    help="drive the tuners on this curves table (e.g. cpu-v2) with nvsbn's parameters")
    ap.add_argument("--store", metavar="RESULTS",
                    help="instead: compare the X-shipped and X runs stored under RESULTS (the tuner-speedups suite)")
    a = ap.parse_args()
    if a.store:
        if not (Path(a.store) / "results.db").is_file():
            ap.error(f"--store {a.store}: no results.db there (run bench/suites/tuner-speedups.toml into it first)")
        from bench.storage.store import StoreError
        try:
            raise SystemExit(compare_store(a.store))
        except StoreError as exc:  # not a store of this project, a newer schema, damaged: one line
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    if a.jobs < 1 or a.candidates < 0 or not all(0 <= s < 2 ** 32 for s in a.seeds):
        ap.error("--jobs must be >= 1, --candidates >= 0 and every seed in [0, 2**32 - 1]")
    raise SystemExit(compare_speedups(a.jobs, tuple(a.seeds), a.candidates, a.table))
