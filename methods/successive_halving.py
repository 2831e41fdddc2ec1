"""Synchronous successive halving (Jamieson & Talwalkar 2016; Li et al. 2018), hand-written.

One bracket, repeated: ``n`` configurations, halving rate ``eta``, and either
``r_min`` (epochs at the first rung) or ``bracket_budget`` (epochs one bracket may
cost), from which ``r_min`` follows; ``on_ladder`` keeps every rung at one of Hyperband's
budgets floor(max_budget / eta^k) (those a budget-aware curves table records). ``cost`` says how the bracket is charged, and
must match how the run charges it: ``"restart"`` (every promotion retrains) or
``"resume"`` (promotions continue their checkpoint; suites with
``resume_promotions = true``). This is the "n vs B/n" knob the benchmark sweeps.
Every bracket ends at a rung at ``max_budget`` (see ``methods.brackets._sh_rungs``).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .brackets import COSTS, hyperband_brackets, successive_halving_bracket
from .hyperband import BracketTuner
from .params import Integer, TunerParams, eta_field


class SuccessiveHalving(BracketTuner):
    """Defaults: with none of ``n``, ``r_min``, ``bracket_budget``, Hyperband's most aggressive
    bracket (s = s_max, convention algorithm1 with one bracket: n = eta^s_max); with only ``n``,
    ``r_min = min_budget``."""

    def __init__(self, space, seed, min_budget, max_budget, *, n: int | None = None, eta: int = 3,
                 r_min: int | None = None, bracket_budget: int | None = None, cost: str = "restart",
                 on_ladder: bool = False, max_configs: int | None = None, workdir=None):
        if n is None and r_min is None and bracket_budget is None:
            bracket = hyperband_brackets(max_budget, eta, min_budget, max_brackets=None)[0]
        else:
            if n is None:
                n = hyperband_brackets(max_budget, eta, min_budget)[0].n_configs
            if r_min is None and bracket_budget is None:
                r_min = min_budget
            bracket = successive_halving_bracket(n, eta, max_budget, min_budget, r_min=r_min, budget=bracket_budget,
                                                 cost=cost, on_ladder=bool(on_ladder))
        self.eta = eta
        super().__init__(space, seed, min_budget, max_budget, [bracket], max_configs, workdir)


class Params(TunerParams):
    """Parameters of ``successive-halving``."""

    n: Integer | None = Field(None, ge=1, description="configurations per bracket (absent: Hyperband's most "
                                                      "aggressive bracket)")
    eta: Integer = eta_field()
    r_min: Integer | None = Field(None, ge=1, description="epochs at the first rung, within [min_budget, "
                                                          "max_budget] (give r_min or bracket_budget)")
    bracket_budget: Integer | None = Field(None, ge=1, description='epochs one bracket may cost ("$B": the '
                                                                   "run's budget B * R)")
    cost: Literal[COSTS] = Field("restart", description="how a bracket is charged: every promotion retrains, or "
                                                        "continues its checkpoint (resume_promotions = true)")
    on_ladder: bool = Field(False, description="every rung one of Hyperband's budgets floor(max_budget / eta^k), "
                                               "as a budget-aware curves table records them")


def make(space, seed, min_budget, max_budget, **params) -> SuccessiveHalving:
    """Factory for ``successive-halving``; params: n, eta, r_min or bracket_budget, cost, max_configs."""
    return SuccessiveHalving(space, seed, min_budget, max_budget, **params)
