"""Synchronous successive halving (Jamieson & Talwalkar 2016; Li et al. 2018), hand-written.

One bracket, repeated: ``n`` configurations, halving rate ``eta``, and either
``r_min`` (epochs at the first rung) or ``bracket_budget`` (epochs one bracket may
cost when every promotion restarts), from which ``r_min`` follows. This is the
"n vs B/n" knob the benchmark sweeps.
"""
from __future__ import annotations

from .brackets import check_eta, s_max, successive_halving_bracket
from .hyperband import BracketTuner


class SuccessiveHalving(BracketTuner):
    """Defaults: ``n = eta**s_max`` and ``r_min = min_budget``, i.e. Hyperband's most aggressive bracket."""

    def __init__(self, space, seed, min_budget, max_budget, *, n: int | None = None, eta: int = 3,
                 r_min: int | None = None, bracket_budget: int | None = None, max_configs: int | None = None,
                 workdir=None):
        if n is None:
            n = check_eta(eta) ** s_max(max_budget, eta, min_budget)
        if r_min is None and bracket_budget is None:
            r_min = min_budget
        bracket = successive_halving_bracket(n, eta, max_budget, min_budget, r_min=r_min, budget=bracket_budget)
        self.eta = eta
        super().__init__(space, seed, min_budget, max_budget, [bracket], max_configs, workdir)


def make(space, seed, min_budget, max_budget, **params) -> SuccessiveHalving:
    """Factory for ``successive-halving``; params: n, eta, r_min or bracket_budget, max_configs."""
    return SuccessiveHalving(space, seed, min_budget, max_budget, **params)
