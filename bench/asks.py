"""What a tuner asks, as a digest, on a fixed cheap workload (the toy space and objective of ``bench.perf``).

``drive`` runs a tuner for ``n_jobs`` jobs: it asks up to ``batch`` jobs (fewer when the tuner
says WAIT or FINISHED) and tells them in reverse order with ``bench.perf.toy_loss``, so that
tuners that allow several outstanding jobs are exercised out of order too. ``ask_digest`` is the
SHA-256 of every job's (trial id, resource in epochs, resumed-from epochs, configuration) in ask
order, floats written with ``repr`` (exact). Two versions of a tuner ask the same thing on this
workload exactly when their digests are equal.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile

from methods import FINISHED, WAIT, make_tuner

from .perf import toy_loss, toy_space

MIN_BUDGET, MAX_BUDGET = 1, 27  # epochs, both inclusive (the default budgets)


def toy_candidates(n: int = 24, seed: int = 7) -> list[dict]:
    """``n`` configurations of the toy space, drawn with ``seed`` (a stand-in for a table's recorded ones)."""
    space = toy_space(seed=seed)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in dict(c).items()}
            for c in space.sample_configuration(n)]


def drive(tuner, n_jobs: int, batch: int = 3) -> list:
    """The first ``n_jobs`` jobs ``tuner`` asks (fewer if it finishes), told with the toy loss."""
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
            tuner.tell(job, toy_loss(job.config, job.resource))
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


def speedup_jobs(method: str, seed: int, n_jobs: int, speedups: bool, candidates: list[dict] | None = None) -> tuple:
    """(jobs, CPU seconds of this process) for ``method`` driven ``n_jobs`` jobs with or without its speed-ups."""
    import time

    from methods.skopt_gp import SkoptGP
    from methods.smac_tuners import SmacTuner
    o = dict(SPEEDUP_METHODS[method])
    max_budget = o.pop("max_budget")
    workdir = tempfile.mkdtemp(prefix="asks-")
    try:
        if method == "skopt-gp":
            tuner = SkoptGP(toy_space(), seed, MIN_BUDGET, max_budget, speedups=speedups, **o)
        else:
            tuner = SmacTuner(toy_space(), seed, MIN_BUDGET, max_budget, workdir=workdir, speedups=speedups,
                              multi_fidelity=method == "smac-hb", **o)
        if candidates is not None:
            tuner.set_candidates(candidates)
        t0 = time.process_time()
        jobs = drive(tuner, n_jobs)
        return jobs, time.process_time() - t0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def compare_speedups(n_jobs: int = 60, seeds=(0, 1), candidates: int = 0) -> int:
    """Print, per method, the CPU seconds of the same runs without and with the speed-ups (measured side by
    side in this process, alternating), their ratio, and whether every run asked the same jobs (digests)."""
    cands = toy_candidates(candidates) if candidates else None
    mode = f"choosing among {candidates} candidates" if candidates else "free"
    print(f"CPU seconds of {n_jobs} jobs per run (ask + tell, toy space, seeds {list(seeds)}, {mode}), library "
          f"as it ships vs with the speed-ups, in one process")
    print(f"{'method':>10} {'shipped s':>10} {'faster s':>10} {'ratio':>6}  same asks  digest (seed {seeds[0]})")
    same_all = True
    for method in SPEEDUP_METHODS:
        t = {False: 0.0, True: 0.0}
        digests = {False: [], True: []}
        for seed in seeds:
            for speedups in (False, True):
                jobs, secs = speedup_jobs(method, seed, n_jobs, speedups, cands)
                t[speedups] += secs
                digests[speedups].append(ask_digest(jobs))
        same = digests[False] == digests[True]
        same_all &= same
        print(f"{method:>10} {t[False]:10.1f} {t[True]:10.1f} {t[True] / t[False]:6.2f}  {str(same):>9}  "
              f"{digests[True][0][:16]}", flush=True)
    return 0 if same_all else 1


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(prog="python -m bench.asks",
                                 description="speed-ups of SMAC and skopt: time ratio and identical asks")
    ap.add_argument("--jobs", type=int, default=60, help="jobs per run (default 60)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="tuner seeds (default 0 1)")
    ap.add_argument("--candidates", type=int, default=0,
                    help="choose among this many toy-space configurations (set_candidates); 0: free (default)")
    a = ap.parse_args()
    if a.jobs < 1 or a.candidates < 0 or not all(0 <= s < 2 ** 32 for s in a.seeds):
        ap.error("--jobs must be >= 1, --candidates >= 0 and every seed in [0, 2**32 - 1]")
    raise SystemExit(compare_speedups(a.jobs, tuple(a.seeds), a.candidates))
