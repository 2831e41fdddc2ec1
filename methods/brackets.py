"""Bracket math of Hyperband and successive halving: pure functions, exact integers.

Notation of Li et al., "Hyperband: a novel bandit-based approach to hyperparameter
optimization" (JMLR 18(185), 2018), Algorithm 1. Resources are integer epochs:
``min_budget`` is the least a configuration gets, ``max_budget`` the most, and
``R = max_budget / min_budget`` counts resource in units of ``min_budget``.

* ``s_max = floor(log_eta R)``, computed with integers (``math.log(243, 3)`` is
  4.999..., so float code builds one bracket too few);
* ``B = (s_max + 1) R``;
* bracket ``s``: ``n = ceil((B/R) eta^s / (s+1))`` configurations (convention
  ``algorithm1``) or ``floor((s_max+1)/(s+1)) eta^s`` (convention ``table1``, the
  paper's printed Table 1, also HpBandSter and DEHB);
* rung ``i = 0..s``: ``n_i = floor(n eta^-i)`` configurations at ``r_i = R eta^(i-s)``
  (in epochs ``floor(max_budget / eta^(s-i))``); the best ``floor(n_i/eta)`` go on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

CONVENTIONS = ("algorithm1", "table1")
COSTS = ("restart", "resume")  # how a bracket is charged: promotions retrain, or continue a checkpoint


@dataclass(frozen=True)
class Rung:
    n: int  # configurations in the rung
    r: int  # epochs each of them has reached at the end of the rung


@dataclass(frozen=True)
class Bracket:
    s: int
    rungs: tuple[Rung, ...]

    @property
    def n_configs(self) -> int:
        return self.rungs[0].n

    @property
    def cost_restart(self) -> int:
        """Epochs if every promotion retrains from scratch: sum of n_i * r_i."""
        return sum(g.n * g.r for g in self.rungs)

    @property
    def cost_resume(self) -> int:
        """Epochs if every promotion continues from its checkpoint: sum of n_i * (r_i - r_{i-1})."""
        prev, total = 0, 0
        for g in self.rungs:
            total += g.n * (g.r - prev)
            prev = g.r
        return total


def _as_int(name: str, value, rule: str) -> int:
    if isinstance(value, bool) or not (isinstance(value, Integral) or (isinstance(value, float) and value.is_integer())):
        raise ValueError(f"{name} must be an integer ({rule}), got {value!r}")
    return int(value)


def check_budgets(min_budget, max_budget) -> tuple[int, int]:
    """Validated integer (min_budget, max_budget) in epochs: 1 <= min_budget <= max_budget."""
    lo = _as_int("min_budget", min_budget, "epochs, at least 1")
    hi = _as_int("max_budget", max_budget, "epochs, at least min_budget")
    if lo <= 0:
        raise ValueError(f"min_budget must be > 0 epochs, got {min_budget!r}")
    if hi < lo:
        raise ValueError(f"max_budget must be >= min_budget, got max_budget={max_budget!r} < min_budget={min_budget!r}")
    return lo, hi


def check_eta(eta) -> int:
    e = _as_int("eta", eta, "the halving rate, at least 2")
    if e < 2:
        raise ValueError(f"eta must be >= 2, got {eta!r}")
    return e


def s_max(max_budget: int, eta: int, min_budget: int = 1) -> int:
    """floor(log_eta(max_budget / min_budget)) in exact integer arithmetic."""
    lo, hi = check_budgets(min_budget, max_budget)
    eta = check_eta(eta)
    s, reach = 0, lo * eta
    while reach <= hi:
        s += 1
        reach *= eta
    return s


def optuna_bracket_count(min_budget: int, max_budget: int, eta: int) -> int:
    """The number of brackets Optuna's HyperbandPruner builds (its own float formula; ``s_max`` + 1
    is the exact count, which it can miss by one)."""
    return math.floor(math.log(max_budget / min_budget, eta)) + 1


def hyperband_brackets(max_budget: int, eta: int = 3, min_budget: int = 1, convention: str = "algorithm1",
                       max_brackets: int | None = None) -> list[Bracket]:
    """The brackets of one Hyperband iteration, s = s_max .. 0, most aggressive first.

    ``max_brackets`` caps the number of brackets at K by using ``s_max = min(s_max, K-1)``:
    the most aggressive brackets (smallest r_0, largest n) are dropped, and B shrinks to match.
    """
    lo, hi = check_budgets(min_budget, max_budget)
    eta = check_eta(eta)
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    top = s_max(hi, eta, lo)
    if max_brackets is not None:
        k = _as_int("max_brackets", max_brackets, "at least 1")
        if k < 1:
            raise ValueError(f"max_brackets must be >= 1, got {max_brackets!r}")
        top = min(top, k - 1)
    out = []
    for s in range(top, -1, -1):
        if convention == "algorithm1":
            num, den = (top + 1) * eta ** s, s + 1
            n = -(-num // den)  # ceil
        else:
            n = ((top + 1) // (s + 1)) * eta ** s
        rungs = tuple(Rung(n // eta ** i, hi // eta ** (s - i)) for i in range(s + 1))
        out.append(Bracket(s, rungs))
    return out


def _sh_rungs(n: int, eta: int, r_min: int, max_budget: int) -> tuple[Rung, ...]:
    """Rungs of one bracket: the first at ``r_min`` epochs, the last always at ``max_budget``.

    While r_min * eta^i is below max_budget and at least one configuration is left, rung i
    has floor(n / eta^i) configurations at r_min * eta^i epochs. When the configurations run
    out of halvings first (s = floor(log_eta n) halvings with r_min * eta^s < max_budget),
    rungs 1..s follow Hyperband's geometry r_i = floor(max_budget / eta^(s-i)) instead, so the
    bracket still ends at max_budget (R = 27, eta = 2, n = 16: 16@1, 8@3, 4@6, 2@13, 1@27).
    Fewer than eta configurations cannot be halved: one rung, all of them at max_budget.
    """
    halvings = 0
    while n // eta ** (halvings + 1) >= 1:
        halvings += 1
    steps = 0  # halvings until r_min * eta^steps reaches max_budget
    while r_min * eta ** steps < max_budget:
        steps += 1
    s = min(halvings, steps)
    if s == 0:  # fewer than eta configurations: no halving, all of them at max_budget
        rs = [max_budget]
    elif r_min * eta ** s >= max_budget:
        rs = [min(max_budget, r_min * eta ** i) for i in range(s + 1)]
    else:  # n runs out first: r_min <= floor(max_budget / eta^s), so the rungs still increase
        rs = [r_min] + [max_budget // eta ** (s - i) for i in range(1, s + 1)]
    return tuple(Rung(n // eta ** i, r) for i, r in enumerate(rs))


def ladder(eta: int, max_budget: int, min_budget: int = 1) -> list[int]:
    """Hyperband's rung budgets floor(max_budget / eta^k) (epochs) that are at least ``min_budget``, ascending
    (R = 27, eta = 3: 1, 3, 9, 27): the budgets a budget-aware curves table records."""
    lo, hi = check_budgets(min_budget, max_budget)
    eta = check_eta(eta)
    out, k = [], 0
    while hi // eta ** k >= lo:
        out.append(hi // eta ** k)
        k += 1
    return sorted(set(out))


def successive_halving_bracket(n: int, eta: int, max_budget: int, min_budget: int = 1, *,
                               r_min: int | None = None, budget: int | None = None,
                               cost: str = "restart", on_ladder: bool = False) -> Bracket:
    """One synchronous successive-halving bracket of ``n`` configurations.

    Give either ``r_min`` (epochs at the first rung) or ``budget`` (epochs the bracket
    may cost), from which ``r_min`` follows as the largest value that fits; ``cost`` says
    how a bracket is charged: ``"restart"`` (every promotion retrains, sum n_i r_i) or
    ``"resume"`` (promotions continue their checkpoint, sum n_i (r_i - r_{i-1})). Rung i has
    floor(n/eta^i) configurations; the bracket always ends at a rung at max_budget (see
    ``_sh_rungs`` for the epochs of each rung). ``on_ladder``: every rung must be one of
    ``ladder(eta, max_budget, min_budget)`` (a budget-aware table records those budgets only):
    ``budget`` then picks the largest fitting ``r_min`` among those whose rungs all lie on it,
    and a given ``r_min`` whose rungs leave it is refused.
    """
    lo, hi = check_budgets(min_budget, max_budget)
    eta = check_eta(eta)
    n = _as_int("n", n, "configurations per bracket, at least 1")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    if (r_min is None) == (budget is None):
        raise ValueError("give exactly one of r_min (epochs at the first rung) or budget (epochs per bracket)")
    if r_min is not None:
        r0 = _as_int("r_min", r_min, "epochs")
        if not lo <= r0 <= hi:
            raise ValueError(f"r_min must lie in [min_budget, max_budget] = [{lo}, {hi}], got {r_min!r}")
    else:
        b = _as_int("budget", budget, "epochs per bracket")
        if cost not in COSTS:
            raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")
        charge = (lambda r: getattr(Bracket(0, _sh_rungs(n, eta, r, hi)), f"cost_{cost}"))
        allowed = [r for r in range(lo, hi + 1) if not on_ladder or _on_ladder(_sh_rungs(n, eta, r, hi), eta, hi, lo)]
        fits = [r for r in allowed if charge(r) <= b]
        if not fits:
            cheapest = min(allowed, key=charge)
            raise ValueError(f"budget={budget!r} epochs is less than the cheapest bracket of n={n} "
                             f"(r_min={cheapest} costs {charge(cheapest)} epochs when promotions {cost}"
                             + (", rungs on Hyperband's ladder" if on_ladder else "") + ")")
        r0 = max(fits)
    rungs = _sh_rungs(n, eta, r0, hi)
    if on_ladder and not _on_ladder(rungs, eta, hi, lo):
        raise ValueError(f"r_min={r0} gives rungs {[g.r for g in rungs]} epochs, not all on Hyperband's ladder "
                         f"{ladder(eta, hi, lo)}")
    return Bracket(len(rungs) - 1, rungs)


def _on_ladder(rungs, eta: int, max_budget: int, min_budget: int) -> bool:
    return {g.r for g in rungs} <= set(ladder(eta, max_budget, min_budget))


def plan_summary(brackets: list[Bracket]) -> dict:
    """The planner's numbers for one Hyperband iteration."""
    return {
        "brackets": [{"s": b.s, "rungs": [{"n": g.n, "r": g.r} for g in b.rungs]} for b in brackets],
        "cost_restart": sum(b.cost_restart for b in brackets),
        "cost_resume": sum(b.cost_resume for b in brackets),
        "n_configs": sum(b.n_configs for b in brackets),
    }


def planned_use(brackets: list[Bracket], budget: int, cost: str = "resume") -> dict:
    """How a tuner cycling through ``brackets`` (one after another, as Hyperband and a repeated
    bracket do) spends ``budget`` epochs, each bracket charged ``cost`` ("resume" or "restart").

    Returns ``complete`` (brackets that finish, i.e. reach their last rung at R), ``used``
    (epochs in them) and ``left`` (epochs after the last complete bracket: a bracket cut off
    before R, plus what no job fits into), all exact integers."""
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")
    charges = [getattr(b, f"cost_{cost}") for b in brackets]
    complete = used = 0
    while used + charges[complete % len(charges)] <= budget:
        used += charges[complete % len(charges)]
        complete += 1
    return {"complete": complete, "used": used, "left": budget - used}
