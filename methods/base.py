"""The ask/tell interface every tuner implements.

A tuner sees a ConfigSpace space, a seed, a minimum and maximum resource in
integer epochs (both inclusive), and the losses it is told. It never trains,
times, prints or writes files (a wrapped library that insists on writing gets a
directory from the caller, ``workdir``).

* ``ask()`` returns a :class:`Job`, or :data:`WAIT` ("nothing until more results
  arrive") or :data:`FINISHED`. Several jobs may be outstanding at once.
* ``tell(job, loss)`` reports a job's loss (lower is better); ``loss=None`` or a
  non-finite value means the trial failed.
"""
from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
from ConfigSpace import Configuration, ConfigurationSpace

from .brackets import check_budgets


@dataclass(frozen=True)
class Job:
    """One piece of work: bring trial ``trial_id`` (configuration ``config``) to ``resource`` epochs.

    ``resumes_from`` is the resource the same trial already reached (0 for a new
    trial); a harness may continue its checkpoint or retrain from scratch.
    ``info`` holds bookkeeping such as iteration, bracket and rung.
    """

    job_id: int
    trial_id: int
    config: dict
    resource: int
    resumes_from: int = 0
    info: dict = field(default_factory=dict, compare=False)

    @property
    def is_promotion(self) -> bool:
        return self.resumes_from > 0


class _Signal:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


WAIT = _Signal("WAIT")
FINISHED = _Signal("FINISHED")


def config_to_dict(config: Configuration | dict) -> dict:
    """A configuration as a plain dict of Python scalars."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in dict(config).items()}


def is_failure(loss) -> bool:
    return loss is None or not math.isfinite(float(loss))


class Tuner(ABC):
    """Base class: validates budgets, hands out job ids, tracks outstanding jobs.

    ``max_configs``: sample at most this many configurations, then return FINISHED once
    the work in hand is done (None: never stop). Bracket-based tuners start a bracket
    only when all of its configurations fit.
    ``workdir``: a directory the tuner may write to; only wrapped libraries that insist
    on writing files use it. The harness always passes one.

    Choosing from a finite set (a tabular benchmark's recorded configurations, HPOBench's
    tabular protocol): ``set_candidates(configs)`` before the first ``ask()``. A tuner that
    samples through the base class then has ``_sample()`` draw uniformly, with replacement,
    from ``configs`` with an RNG seeded by ``seed``. A tuner whose library proposes
    configurations itself (``own_sampler = True``) accepts it only where that library can be
    made to choose among given points (``chooses_from_candidates = True``: SMAC's and skopt's
    acquisition maximised over ``configs``, see ``_choose_from``); it then asks only
    configurations of ``configs``, each exactly as given, and never one twice. The others
    (DEHB, Optuna's TPE) refuse it with a ValueError that says why.
    """

    own_sampler = False  # True where a wrapped library proposes configurations (SMAC, skopt, DEHB, Optuna)
    chooses_from_candidates = False  # True where that library can choose among set_candidates()'s configurations
    no_candidates_reason = "its library proposes configurations itself"  # why an own sampler refuses candidates
    # True where the protocol reads the intermediate epochs of one continued training (a trial reports every
    # epoch and is pruned on them): it cannot be answered by budget-aware curves, where each budget is a
    # training of its own whose schedule ends at that budget.
    needs_one_training = False

    def __init__(self, space: ConfigurationSpace, seed: int, min_budget: int, max_budget: int,
                 max_configs: int | None = None, workdir=None):
        self.min_budget, self.max_budget = check_budgets(min_budget, max_budget)
        if max_configs is not None and (int(max_configs) != max_configs or max_configs < 1):
            raise ValueError(f"max_configs must be a positive integer or None, got {max_configs!r}")
        self.space = copy.deepcopy(space)
        self.space.seed(int(seed))
        self.seed = int(seed)
        self.max_configs = max_configs
        self.workdir = workdir
        self.n_configs = 0
        self._next_job = 0
        self.pending: dict[int, Job] = {}
        self.candidates: list[dict] | None = None

    def set_candidates(self, configs: list[dict]) -> None:
        """Choose only among ``configs`` (each a configuration of the space): draw from them uniformly
        (base-class sampling) or, for a library with its own sampler, have it choose among them."""
        if self.own_sampler and not self.chooses_from_candidates:
            raise ValueError(f"{type(self).__name__} proposes configurations with its own library and cannot "
                             f"choose from a fixed set: {self.no_candidates_reason}")
        if self._next_job:
            raise ValueError("set_candidates() must come before the first ask()")
        configs = [config_to_dict(c) for c in configs]
        if not configs:
            raise ValueError("set_candidates() needs at least one configuration")
        for c in configs:
            Configuration(self.space, values=c).check_valid_configuration()
        self.candidates = configs
        self._candidate_rng = np.random.default_rng(self.seed)
        if self.own_sampler:
            self._choose_from(configs)

    def _choose_from(self, configs: list[dict]) -> None:
        """Make the wrapped library choose only among ``configs`` (validated plain dicts); tuners
        with ``chooses_from_candidates = True`` implement it."""
        raise NotImplementedError

    # -- helpers for subclasses -------------------------------------------------
    def _sample(self) -> dict:
        self.n_configs += 1
        if self.candidates is not None:
            return dict(self.candidates[int(self._candidate_rng.integers(len(self.candidates)))])
        return config_to_dict(self.space.sample_configuration())

    def _can_sample(self, k: int = 1) -> bool:
        return self.max_configs is None or self.n_configs + k <= self.max_configs

    def _job(self, trial_id: int, config: dict, resource: int, resumes_from: int = 0, **info) -> Job:
        job = Job(self._next_job, trial_id, config, int(resource), int(resumes_from), info)
        self._next_job += 1
        self.pending[job.job_id] = job
        return job

    def _take(self, job: Job) -> Job:
        if job.job_id not in self.pending:
            raise ValueError(f"job {job.job_id} (trial {job.trial_id}) is not outstanding; told twice or never asked")
        return self.pending.pop(job.job_id)

    # -- the interface ------------------------------------------------------------
    @abstractmethod
    def ask(self) -> Job | _Signal:
        ...

    @abstractmethod
    def tell(self, job: Job, loss: float | None) -> None:
        ...

    def alive_trials(self) -> set[int] | None:
        """Trials that may still be asked to continue (so a harness keeps their checkpoints).

        An empty set: no trial will be continued. None: unknown, keep everything.
        """
        return None
