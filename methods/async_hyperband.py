"""Asynchronous Hyperband (Li et al., MLSys 2020, section 3.2), hand-written: ASHA brackets
chosen as Hyperband chooses them.

Hyperband's brackets s = s_max .. 0 (``methods.brackets``, Algorithm 1 or Table 1
convention) become ASHA brackets with the same rungs (bracket s starts at
floor(max_budget / eta^s) epochs and ends at max_budget, inclusive). Every new trial joins
one bracket, drawn with probability proportional to the number of configurations that
bracket starts in one synchronous Hyperband iteration (n_s), from an RNG seeded by the
tuner's seed, so over many trials the brackets get the mix synchronous Hyperband would
give them. A free worker is first given a promotion (ASHA's rule, brackets from the most
aggressive), else a new trial. ``max_brackets`` drops the most aggressive brackets, as in
``hyperband``.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from .asha import AshaBracket, _ask
from .base import Job, Tuner
from .brackets import CONVENTIONS, check_eta, hyperband_brackets
from .params import Integer, TunerParams, convention_field, eta_field, max_brackets_field


class AsyncHyperband(Tuner):
    def __init__(self, space, seed, min_budget, max_budget, *, eta: int = 3, convention: str = "algorithm1",
                 max_brackets: int | None = None, max_configs: int | None = None, workdir=None):
        super().__init__(space, seed, min_budget, max_budget, max_configs, workdir)
        self.eta = check_eta(eta)
        plan = hyperband_brackets(self.max_budget, self.eta, self.min_budget, convention, max_brackets)
        self.brackets = [AshaBracket(tuple(g.r for g in b.rungs), self.eta) for b in plan]
        self.s = [b.s for b in plan]
        weights = np.array([b.n_configs for b in plan], dtype=float)
        self.weights = weights / weights.sum()
        self._rng = np.random.default_rng(self.seed)
        self._configs: dict[int, dict] = {}

    def ask(self) -> Job:
        return _ask(self, self.brackets, lambda: int(self._rng.choice(len(self.brackets), p=self.weights)))

    def tell(self, job: Job, loss: float | None) -> None:
        job = self._take(job)
        self.brackets[job.info["bracket"]].record(job.trial_id, job.info["rung"], loss)

    def alive_trials(self) -> set[int]:
        return set().union(*(b.alive() for b in self.brackets))


class Params(TunerParams):
    """Parameters of ``async-hyperband``."""

    eta: Integer = eta_field()
    convention: Literal[CONVENTIONS] = convention_field()
    max_brackets: Integer | None = max_brackets_field()


def make(space, seed, min_budget, max_budget, **params) -> AsyncHyperband:
    """Factory for ``async-hyperband``; params: eta (3), convention, max_brackets, max_configs."""
    return AsyncHyperband(space, seed, min_budget, max_budget, **params)
