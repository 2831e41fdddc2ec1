"""Asynchronous successive halving (ASHA; Li et al., "A System for Massively Parallel
Hyperparameter Tuning", MLSys 2020, Algorithm 2), hand-written.

Rungs k = 0 .. K of one bracket hold the trials that finished at resource r_k. Whenever a
worker asks, ``get_job`` looks from the second-highest rung down: the candidates of rung k
are its best ``floor(|rung k| / eta)`` finished trials (by loss; ties by trial id, failures
never count), and the best candidate not yet promoted goes on to rung k + 1 (continuing
its checkpoint from r_k). When no rung has one, a new configuration starts at rung 0.
Nothing ever waits for a rung to fill, so a worker is never idle for the tuner's sake.

Resources follow Hyperband's bracket maths (``methods.brackets``): with early-stopping
rate ``s`` and s_max = floor(log_eta(max_budget / min_budget)), the rungs are those of
Hyperband's bracket s_max - s: r_k = floor(max_budget / eta^(s_max - s - k)) epochs,
k = 0 .. s_max - s, so the top rung is max_budget (inclusive) even when max_budget is not
a power of eta (R = 27, eta = 2: 1, 3, 6, 13, 27 epochs).
"""
from __future__ import annotations

import math

from .base import FINISHED, WAIT, Job, Tuner, is_failure
from pydantic import Field

from .brackets import check_eta, s_max
from .params import Integer, TunerParams, eta_field


def asha_rungs(min_budget: int, max_budget: int, eta: int, s: int = 0) -> tuple[int, ...]:
    """Rung resources in epochs, lowest first, for early-stopping rate ``s`` (0 = most aggressive)."""
    top = s_max(max_budget, eta, min_budget)
    if not 0 <= s <= top:
        raise ValueError(f"early-stopping rate s must lie in [0, s_max] = [0, {top}] for min_budget={min_budget}, "
                         f"max_budget={max_budget}, eta={eta}; got {s!r}")
    depth = top - s
    return tuple(max_budget // eta ** (depth - k) for k in range(depth + 1))


class AshaBracket:
    """The rungs of one asynchronous bracket: who finished where, who was promoted.

    ``losses[k]``: trial id -> loss at rung k (inf for a failure); ``promoted[k]``: trials
    of rung k already sent to rung k + 1.
    """

    def __init__(self, rungs: tuple[int, ...], eta: int):
        self.rungs = rungs
        self.eta = eta
        self.losses: list[dict[int, float]] = [{} for _ in rungs]
        self.promoted: list[set[int]] = [set() for _ in rungs]
        self.running: set[int] = set()

    def promotable(self) -> tuple[int, int] | None:
        """(trial id, rung k it leaves) of the next promotion, or None; highest rung first."""
        for k in range(len(self.rungs) - 2, -1, -1):
            done = self.losses[k]
            ranked = sorted((t for t in done if math.isfinite(done[t])), key=lambda t: (done[t], t))
            for t in ranked[:len(done) // self.eta]:
                if t not in self.promoted[k]:
                    return t, k
        return None

    def record(self, trial_id: int, rung: int, loss: float | None) -> None:
        self.running.discard(trial_id)
        self.losses[rung][trial_id] = math.inf if is_failure(loss) else float(loss)

    def alive(self) -> set[int]:
        """Trials that may still be continued: finished below the top and not yet promoted, or running."""
        out = set(self.running)
        for k in range(len(self.rungs) - 1):
            out |= {t for t, v in self.losses[k].items() if math.isfinite(v) and t not in self.promoted[k]}
        return out


class Asha(Tuner):
    """ASHA with halving rate ``eta`` and minimum early-stopping rate ``s`` (0: first rung at min_budget)."""

    def __init__(self, space, seed, min_budget, max_budget, *, eta: int = 3, s: int = 0,
                 max_configs: int | None = None, workdir=None):
        super().__init__(space, seed, min_budget, max_budget, max_configs, workdir)
        self.eta = check_eta(eta)
        self.bracket = AshaBracket(asha_rungs(self.min_budget, self.max_budget, self.eta, s), self.eta)
        self._configs: dict[int, dict] = {}

    def ask(self) -> Job:
        return _ask(self, [self.bracket], lambda: 0)

    def tell(self, job: Job, loss: float | None) -> None:
        job = self._take(job)
        self.bracket.record(job.trial_id, job.info["rung"], loss)

    def alive_trials(self) -> set[int]:
        return self.bracket.alive()


def _ask(tuner: Tuner, brackets: list[AshaBracket], choose_bracket) -> Job:
    """ASHA's get_job over one or more brackets (promotions first, in bracket order), else a new trial
    in the bracket ``choose_bracket()`` names; WAIT or FINISHED once ``max_configs`` is reached."""
    for b, bracket in enumerate(brackets):
        found = bracket.promotable()
        if found is not None:
            trial, k = found
            bracket.promoted[k].add(trial)
            bracket.running.add(trial)
            return tuner._job(trial, tuner._configs[trial], bracket.rungs[k + 1], bracket.rungs[k],
                              bracket=b, rung=k + 1)
    if not tuner._can_sample():
        return WAIT if tuner.pending else FINISHED
    trial = len(tuner._configs)
    b = choose_bracket()
    tuner._configs[trial] = tuner._sample()
    brackets[b].running.add(trial)
    return tuner._job(trial, tuner._configs[trial], brackets[b].rungs[0], 0, bracket=b, rung=0)


class Params(TunerParams):
    """Parameters of ``asha``."""

    eta: Integer = eta_field()
    s: Integer = Field(0, ge=0, description="minimum early-stopping rate, 0 <= s <= s_max (0: first rung at "
                                            "min_budget)")


def make(space, seed, min_budget, max_budget, **params) -> Asha:
    """Factory for ``asha``; params: eta (3), s (0), max_configs."""
    return Asha(space, seed, min_budget, max_budget, **params)
