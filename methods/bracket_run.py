"""Running one synchronous successive-halving bracket, shared by Hyperband and SH.

Rung by rung: hand out every trial of the rung, wait for all results, then
promote the best ``n_{i+1}`` by loss (ties broken by the lower trial id, i.e. the
one sampled first). Failed trials rank last and are never promoted, so a rung
whose trials mostly failed promotes fewer.
"""
from __future__ import annotations

import math
from typing import Callable

from .base import Job, is_failure
from .brackets import Bracket


class BracketRun:
    def __init__(self, bracket: Bracket, new_trial: Callable[[], tuple[int, dict]],
                 make_job: Callable[..., Job], **info):
        self.bracket = bracket
        self._new_trial = new_trial
        self._make_job = make_job
        self.info = info
        self.rung = 0
        self.todo: list[tuple[int, dict, int]] = []   # (trial id, config, resumes_from)
        self.sampled = 0
        self.pending = 0
        self.losses: dict[int, float] = {}
        self.configs: dict[int, dict] = {}
        self.done = False
        self._handed: set[int] = set()  # trials handed out at the current rung

    def next_job(self) -> Job | None:
        """The next job of the current rung, or None when the rung waits for results (or is done)."""
        if self.done:
            return None
        rung = self.bracket.rungs[self.rung]
        if self.rung == 0 and not self.todo and self.sampled < rung.n:
            trial_id, config = self._new_trial()
            self.configs[trial_id] = config
            self.sampled += 1
            self.todo.append((trial_id, config, 0))
        if not self.todo:
            return None
        trial_id, config, prev = self.todo.pop(0)
        self.pending += 1
        self._handed.add(trial_id)
        return self._make_job(trial_id, config, rung.r, prev, bracket=self.bracket.s, rung=self.rung, **self.info)

    def record(self, job: Job, loss: float | None) -> None:
        self.pending -= 1
        self.losses[job.trial_id] = math.inf if is_failure(loss) else float(loss)
        rung = self.bracket.rungs[self.rung]
        if self.pending or self.todo or (self.rung == 0 and self.sampled < rung.n):
            return
        self._promote()

    def alive(self) -> set[int]:
        """Trials of the current rung while a later rung can still take them."""
        if self.done or self.rung + 1 >= len(self.bracket.rungs):
            return set()
        return {t for t, _, _ in self.todo} | set(self.losses) | self._handed

    def ranking(self) -> list[int]:
        """Trial ids of the current rung, best first; failures last; ties by trial id."""
        return sorted(self.losses, key=lambda t: (self.losses[t], t))

    def _promote(self) -> None:
        if self.rung + 1 >= len(self.bracket.rungs):
            self.done = True
            return
        nxt = self.bracket.rungs[self.rung + 1]
        r_now = self.bracket.rungs[self.rung].r
        survivors = [t for t in self.ranking() if math.isfinite(self.losses[t])][:nxt.n]
        self.rung += 1
        self.losses = {}
        self._handed = set()
        if not survivors:
            self.done = True
            return
        self.todo = [(t, self.configs[t], r_now) for t in survivors]
