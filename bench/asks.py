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
