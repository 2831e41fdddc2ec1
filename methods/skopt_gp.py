"""scikit-optimize's ``Optimizer`` with a Gaussian process, every trial at ``max_budget``.

The ConfigSpace space is translated: float and integer ranges keep their log
scale (``prior="log-uniform"``), categoricals and ordinals become ``Categorical``.
Conditions and forbidden clauses are not supported (a ValueError says so).

Its GP crashes on NaN/inf, so a failed trial is told a large finite loss:
``failure_loss`` if given, else the worst finite loss seen so far plus the
spread of the losses seen (at least 1). The GP is sequential: while one job is
outstanding, ``ask()`` returns WAIT.

``n_restarts_optimizer``: extra L-BFGS starts when the GP's kernel is fitted (None: skopt's
own GP setting, 2). Fitting the kernel is nearly all of skopt's time at our sizes.
"""
from __future__ import annotations

import warnings

import numpy as np
from ConfigSpace import (CategoricalHyperparameter, Constant, OrdinalHyperparameter,
                         UniformFloatHyperparameter, UniformIntegerHyperparameter)
from skopt import Optimizer
from skopt.space import Categorical, Integer, Real

from .base import FINISHED, WAIT, Job, Tuner, is_failure


def to_skopt(space) -> list:
    if space.conditions or space.forbidden_clauses:
        raise ValueError("skopt-gp cannot express ConfigSpace conditions or forbidden clauses")
    dims = []
    for hp in space.values():
        if isinstance(hp, UniformFloatHyperparameter):
            dims.append(Real(hp.lower, hp.upper, prior="log-uniform" if hp.log else "uniform", name=hp.name))
        elif isinstance(hp, UniformIntegerHyperparameter):
            dims.append(Integer(hp.lower, hp.upper, prior="log-uniform" if hp.log else "uniform", name=hp.name))
        elif isinstance(hp, CategoricalHyperparameter):
            dims.append(Categorical(list(hp.choices), name=hp.name))
        elif isinstance(hp, OrdinalHyperparameter):
            dims.append(Categorical(list(hp.sequence), name=hp.name))
        elif isinstance(hp, Constant):
            dims.append(Categorical([hp.value], name=hp.name))
        else:
            raise ValueError(f"skopt-gp cannot translate hyperparameter {hp.name!r} of type {type(hp).__name__}")
    return dims


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


class SkoptGP(Tuner):
    own_sampler = True

    def __init__(self, space, seed, min_budget, max_budget, *, n_initial: int = 10, acq_func: str = "EI",
                 n_points: int = 1000, failure_loss: float | None = None, max_configs: int | None = None,
                 n_restarts_optimizer: int | None = None, workdir=None):
        super().__init__(space, seed, min_budget, max_budget, max_configs, workdir)
        self.dims = to_skopt(self.space)
        self.opt = Optimizer(self.dims, base_estimator="GP", n_initial_points=int(n_initial), acq_func=acq_func,
                             acq_optimizer="sampling", acq_optimizer_kwargs={"n_points": int(n_points)},
                             random_state=self.seed)
        if n_restarts_optimizer is not None:
            if int(n_restarts_optimizer) != n_restarts_optimizer or n_restarts_optimizer < 0:
                raise ValueError(f"n_restarts_optimizer must be a non-negative integer, got {n_restarts_optimizer!r}")
            self.opt.base_estimator_.set_params(n_restarts_optimizer=int(n_restarts_optimizer))
        self.failure_loss = failure_loss
        self._x: dict[int, list] = {}
        self._seen: list[float] = []

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


def make(space, seed, min_budget, max_budget, **params) -> SkoptGP:
    """Factory for ``skopt-gp``; params: n_initial, acq_func, n_points, failure_loss, n_restarts_optimizer,
    max_configs."""
    return SkoptGP(space, seed, min_budget, max_budget, **params)
