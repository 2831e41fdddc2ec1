"""scikit-optimize's ``Optimizer`` with a Gaussian process, every trial at ``max_budget``.

The ConfigSpace space is translated: float and integer ranges keep their log
scale (``prior="log-uniform"``), categoricals and ordinals become ``Categorical``.
Conditions and forbidden clauses are not supported (a ValueError says so).

Its GP crashes on NaN/inf, so a failed trial is told a large finite loss:
``failure_loss`` if given, else the worst finite loss seen so far plus the
spread of the losses seen (at least 1). The GP is sequential: while one job is
outstanding, ``ask()`` returns WAIT.

``n_restarts_optimizer``: extra L-BFGS starts when the GP's kernel is fitted (None: skopt's
own GP setting, 2). Fitting the kernel is nearly all of skopt's time at our sizes; its
bookkeeping and the one-hot encoding are cached (``methods.skopt_fast``: the same asks, faster).

Under ``set_candidates(configs)`` the optimizer is ``methods.skopt_candidates.CandidateOptimizer``:
it asks only those configurations, each exactly as given and at most once, the acquisition
minimised over the untold ones (``n_points`` is then unused; ``acq_func`` must be EI, PI or LCB),
and the tuner finishes when every candidate has been asked.
"""
from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from ConfigSpace import (CategoricalHyperparameter, Constant, OrdinalHyperparameter,
                         UniformFloatHyperparameter, UniformIntegerHyperparameter)
from pydantic import Field
from skopt import Optimizer
from skopt.space import Categorical, Integer, Real

from . import params as p
from .base import FINISHED, WAIT, Job, Tuner, is_failure
from .skopt_candidates import CandidateOptimizer
from .skopt_fast import LookupCategorical, cached_kernel

ACQ_FUNCS = ("EI", "PI", "LCB", "gp_hedge")  # skopt's acquisition functions that need no measured time


def to_skopt(space, categorical=Categorical) -> list:
    """The space as skopt dimensions; categoricals (and ordinals, constants) of class ``categorical``."""
    if space.conditions or space.forbidden_clauses:
        raise ValueError("skopt-gp cannot express ConfigSpace conditions or forbidden clauses")
    dims = []
    for hp in space.values():
        if isinstance(hp, UniformFloatHyperparameter):
            dims.append(Real(hp.lower, hp.upper, prior="log-uniform" if hp.log else "uniform", name=hp.name))
        elif isinstance(hp, UniformIntegerHyperparameter):
            dims.append(Integer(hp.lower, hp.upper, prior="log-uniform" if hp.log else "uniform", name=hp.name))
        elif isinstance(hp, CategoricalHyperparameter):
            dims.append(categorical(list(hp.choices), name=hp.name))
        elif isinstance(hp, OrdinalHyperparameter):
            dims.append(categorical(list(hp.sequence), name=hp.name))
        elif isinstance(hp, Constant):
            dims.append(categorical([hp.value], name=hp.name))
        else:
            raise ValueError(f"skopt-gp cannot translate hyperparameter {hp.name!r} of type {type(hp).__name__}")
    return dims


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


class SkoptGP(Tuner):
    own_sampler = True
    chooses_from_candidates = True  # see methods.skopt_candidates

    def __init__(self, space, seed, min_budget, max_budget, *, n_initial: int = 10, acq_func: str = "EI",
                 n_points: int = 1000, failure_loss: float | None = None, max_configs: int | None = None,
                 n_restarts_optimizer: int | None = None, workdir=None, speedups: bool = True):
        super().__init__(space, seed, min_budget, max_budget, max_configs, workdir)
        self.speedups = bool(speedups)  # methods.skopt_fast (same asks; False: skopt as it ships, for tests)
        self.dims = to_skopt(self.space, LookupCategorical if self.speedups else Categorical)
        if n_restarts_optimizer is not None:
            if int(n_restarts_optimizer) != n_restarts_optimizer or n_restarts_optimizer < 0:
                raise ValueError(f"n_restarts_optimizer must be a non-negative integer, got {n_restarts_optimizer!r}")
        self._settings = dict(n_initial_points=int(n_initial), acq_func=acq_func,
                              n_restarts_optimizer=n_restarts_optimizer)
        self.opt = self._optimizer(Optimizer, int(n_points))
        self.failure_loss = failure_loss
        self._x: dict[int, list] = {}
        self._seen: list[float] = []

    def _optimizer(self, cls, n_points: int):
        o = self._settings
        opt = cls(self.dims, base_estimator="GP", n_initial_points=o["n_initial_points"], acq_func=o["acq_func"],
                  acq_optimizer="sampling", acq_optimizer_kwargs={"n_points": n_points}, random_state=self.seed)
        if o["n_restarts_optimizer"] is not None:
            opt.base_estimator_.set_params(n_restarts_optimizer=int(o["n_restarts_optimizer"]))
        if self.speedups:
            opt.base_estimator_.set_params(kernel=cached_kernel(opt.base_estimator_.kernel))
        return opt

    def _choose_from(self, configs: list[dict]) -> None:
        # skopt's own proposal over random points, made at every tell, goes unused: one point, not n_points
        opt = self._optimizer(CandidateOptimizer, 1)
        opt.set_candidates([[c[d.name] for d in self.dims] for c in configs])
        self.opt = opt

    def _failure_value(self) -> float:
        if self.failure_loss is not None:
            return float(self.failure_loss)
        if not self._seen:
            return 1.0
        spread = max(self._seen) - min(self._seen)
        return max(self._seen) + max(1.0, spread)

    def ask(self):
        if self.pending:
            return WAIT
        if not self._can_sample():
            return FINISHED
        if self.candidates is not None and not self.opt.untold():
            return FINISHED  # every candidate has been asked (and told: the GP is sequential)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = self.opt.ask()
        config = {d.name: _py(v) for d, v in zip(self.dims, x)}
        for hp in self.space.values():  # guard against float round-off at the bounds
            if isinstance(hp, UniformFloatHyperparameter):
                config[hp.name] = float(min(hp.upper, max(hp.lower, config[hp.name])))
        trial_id = self.n_configs
        self.n_configs += 1
        job = self._job(trial_id, config, self.max_budget)
        self._x[job.job_id] = x
        return job

    def alive_trials(self) -> set[int]:
        return set()  # every trial is trained to max_budget at once

    def tell(self, job: Job, loss) -> None:
        self._take(job)
        x = self._x.pop(job.job_id)
        if is_failure(loss):
            y = self._failure_value()
        else:
            y = float(loss)
            self._seen.append(y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.opt.tell(x, y)


class Params(p.TunerParams):
    """Parameters of ``skopt-gp``."""

    n_initial: p.Integer = Field(10, ge=1, le=1000, description="configurations sampled at random before the GP")
    acq_func: Literal[ACQ_FUNCS] = Field("EI", description="skopt's acquisition function")
    n_points: p.Integer = Field(1000, ge=1, le=100_000, description="random candidates per acquisition search")
    failure_loss: p.Number | None = Field(None, allow_inf_nan=False,
                                          description="the loss a failed trial is told (absent: the worst loss "
                                                      "seen plus their spread)")
    n_restarts_optimizer: p.Integer | None = Field(None, ge=0, le=100, description="extra L-BFGS starts of the GP "
                                                                                   "kernel "
                                                                           "fit (absent: skopt's 2)")
    speedups: bool = Field(True, description="skopt's bookkeeping cached (methods.skopt_fast; the same asks); "
                                             "false: skopt as it ships")


def make(space, seed, min_budget, max_budget, **params) -> SkoptGP:
    """Factory for ``skopt-gp``; params: n_initial, acq_func, n_points, failure_loss, n_restarts_optimizer,
    max_configs."""
    return SkoptGP(space, seed, min_budget, max_budget, **params)
