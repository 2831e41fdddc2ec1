"""scikit-optimize choosing only among given points (HPOBench's tabular protocol), as a thin ``Optimizer``
subclass.

:class:`CandidateOptimizer` is skopt's ``Optimizer`` with one method replaced, ``_ask`` (what
``ask()`` returns): during the initial phase a point drawn uniformly from the candidates not yet
told, with the optimizer's own seeded RNG; afterwards the untold candidate that minimises skopt's
acquisition function (its ``_gaussian_acquisition``, the function its own ``_tell`` uses, on the
GP that ``_tell`` fitted last, with the same ``y_opt``, ``acq_func`` and ``acq_func_kwargs``), the
first in the candidates' order on a tie: the acquisition is optimised over the finite set instead
of over ``n_points`` random points. Fitting the GP (``tell``) is skopt's, unchanged. ``gp_hedge``
(which mixes three acquisitions through the gains of skopt's own random-point proposals) and the
time-aware ``EIps``/``PIps`` are refused.
"""
from __future__ import annotations

import numpy as np
from skopt import Optimizer
from skopt.acquisition import _gaussian_acquisition

CANDIDATE_ACQ_FUNCS = ("EI", "PI", "LCB")


class CandidatesExhausted(Exception):
    """Every candidate has been told."""


class CandidateOptimizer(Optimizer):
    """skopt's ``Optimizer`` that asks only points of ``set_candidates(points)`` (each a list in the
    order of the optimizer's dimensions), each at most once."""

    candidate_points: list[list] | None = None

    def set_candidates(self, points: list[list]) -> None:
        if self.acq_func not in CANDIDATE_ACQ_FUNCS:
            raise ValueError(f"choosing among candidates needs acq_func in {list(CANDIDATE_ACQ_FUNCS)}, "
                             f"not {self.acq_func!r}")
        if self.Xi:
            raise ValueError("set_candidates() must come before the first tell()")
        self.candidate_points = [list(p) for p in points]
        self._candidate_X = self.space.transform(self.candidate_points)  # transformed once

    def untold(self) -> list[int]:
        """Indices of the candidates not yet told, in the candidates' order."""
        told = {tuple(x) for x in self.Xi}
        return [i for i, p in enumerate(self.candidate_points) if tuple(p) not in told]

    def _ask(self):
        if self.candidate_points is None:
            return super()._ask()
        free = self.untold()
        if not free:
            raise CandidatesExhausted("every candidate has been told")
        if self._n_initial_points > 0 or self.base_estimator_ is None or not self.models:
            return list(self.candidate_points[free[self.rng.randint(len(free))]])
        values = _gaussian_acquisition(X=self._candidate_X[free], model=self.models[-1], y_opt=np.min(self.yi),
                                       acq_func=self.acq_func, acq_func_kwargs=self.acq_func_kwargs)
        return list(self.candidate_points[free[int(np.argmin(values))]])
