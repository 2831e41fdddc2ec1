"""Hyperband (Li et al., JMLR 2018), hand-written, and its single-bracket baseline.

``hyperband`` runs iterations of all brackets s = s_max .. 0 again and again
until the caller stops asking (or ``max_configs`` is reached at a bracket
boundary). Brackets run one after another (``parallel_brackets = true``: a worker the
waiting rung cannot use starts the next bracket); within a bracket a whole rung may be
outstanding at once. Promotions continue the same trial to the higher resource.

``hyperband-bracket`` runs one bracket ``s`` alone, repeated: the paper's
"bracket s" baselines.
"""
from __future__ import annotations

from typing import Literal

from ConfigSpace import ConfigurationSpace
from pydantic import Field

from .base import FINISHED, WAIT, Job, Tuner
from .bracket_run import BracketRun
from .brackets import Bracket, hyperband_brackets, s_max
from .params import CONVENTIONS, Integer, TunerParams, convention_field, eta_field, max_brackets_field


class BracketTuner(Tuner):
    """Cycles through a fixed list of brackets; subclasses choose the list.

    ``parallel_brackets``: False (Algorithm 1 as written): one bracket at a time; while its rung
    waits for results, ``ask`` returns WAIT. True (as HpBandSter's master does with idle workers):
    a worker that the waiting rung cannot use starts the next bracket; brackets started earlier
    hand out their jobs first. With one worker nobody ever waits, so both ask the same jobs."""

    def __init__(self, space, seed, min_budget, max_budget, brackets: list[Bracket], max_configs=None, workdir=None,
                 parallel_brackets: bool = False):
        super().__init__(space, seed, min_budget, max_budget, max_configs, workdir)
        if not brackets:
            raise ValueError("no brackets to run")
        if not isinstance(parallel_brackets, bool):
            raise ValueError(f"parallel_brackets must be true or false, got {parallel_brackets!r}")
        self.brackets = brackets
        self.parallel = parallel_brackets
        self.index = 0        # position in self.brackets of the next bracket to start
        self.iteration = 0    # completed passes over self.brackets
        self.active: list[BracketRun] = []  # started and not done, oldest first
        self._trials = 0
        self._runs: dict[int, BracketRun] = {}  # job id -> the bracket run it belongs to
        self.finished = False  # no further bracket can start (max_configs)

    def _new_trial(self) -> tuple[int, dict]:
        tid = self._trials
        self._trials += 1
        return tid, self._sample()

    def ask(self) -> Job:
        while True:
            for run in self.active:  # oldest bracket first
                job = run.next_job()
                if job is not None:
                    self._runs[job.job_id] = run
                    return job
            self.active = [r for r in self.active if not r.done]
            if self.active and not self.parallel:
                return WAIT
            if self.finished:
                return WAIT if self.active else FINISHED
            bracket = self.brackets[self.index]
            if not self._can_sample(bracket.n_configs):
                self.finished = True
                continue
            self.active.append(BracketRun(bracket, self._new_trial, self._job,
                                          iteration=self.iteration, bracket_index=self.index))
            self.index += 1
            if self.index == len(self.brackets):
                self.index = 0
                self.iteration += 1

    def tell(self, job: Job, loss: float | None) -> None:
        self._take(job)
        self._runs.pop(job.job_id).record(job, loss)

    def alive_trials(self) -> set[int]:
        return set().union(*(r.alive() for r in self.active)) if self.active else set()


class Hyperband(BracketTuner):
    def __init__(self, space: ConfigurationSpace, seed: int, min_budget: int, max_budget: int, *, eta: int = 3,
                 convention: str = "algorithm1", max_brackets: int | None = None, bracket: int | None = None,
                 max_configs: int | None = None, workdir=None, parallel_brackets: bool = False):
        brackets = hyperband_brackets(max_budget, eta, min_budget, convention, max_brackets)
        if bracket is not None:
            chosen = [b for b in brackets if b.s == bracket]
            if not chosen:
                raise ValueError(f"bracket must be one of s = {[b.s for b in brackets]} for "
                                 f"max_budget={max_budget}, min_budget={min_budget}, eta={eta}; got {bracket!r}")
            brackets = chosen
        self.eta = eta
        super().__init__(space, seed, min_budget, max_budget, brackets, max_configs, workdir, parallel_brackets)


class Params(TunerParams):
    """Parameters of ``hyperband``."""

    eta: Integer = eta_field()
    convention: Literal[CONVENTIONS] = convention_field()
    max_brackets: Integer | None = max_brackets_field()
    parallel_brackets: bool = Field(False, description="a worker the waiting rung cannot use starts the next "
                                                       "bracket (as HpBandSter)")


class BracketParams(Params):
    """Parameters of ``hyperband-bracket``."""

    s: Integer | None = Field(None, ge=0, description="the bracket run alone, 0 <= s <= s_max (absent: s_max, "
                                                      "the most aggressive)")


def make(space, seed, min_budget, max_budget, **params) -> Hyperband:
    """Factory for ``hyperband``; params: eta, convention, max_brackets, max_configs, parallel_brackets."""
    if "bracket" in params:
        raise ValueError("'bracket' is a parameter of 'hyperband-bracket', not of 'hyperband'")
    return Hyperband(space, seed, min_budget, max_budget, **params)


def make_bracket(space, seed, min_budget, max_budget, *, s: int | None = None, **params) -> Hyperband:
    """Factory for ``hyperband-bracket``: bracket ``s`` alone, repeated (default: s_max, the most
    aggressive); params as ``hyperband``."""
    if s is None:
        s = s_max(max_budget, params.get("eta", 3), min_budget)
    return Hyperband(space, seed, min_budget, max_budget, bracket=s, **params)
