"""Random search: every configuration gets the full resource ``max_budget``."""
from __future__ import annotations

from .base import FINISHED, Job, Tuner
from .params import TunerParams


class RandomSearch(Tuner):
    def ask(self):
        if not self._can_sample():
            return FINISHED
        trial_id = self.n_configs
        return self._job(trial_id, self._sample(), self.max_budget)

    def alive_trials(self) -> set[int]:
        return set()  # every trial is trained to max_budget at once

    def tell(self, job: Job, loss) -> None:
        self._take(job)


class Params(TunerParams):
    """Parameters of ``random-search``."""


def make(space, seed, min_budget, max_budget, **params) -> RandomSearch:
    """Factory for ``random-search``; params: max_configs."""
    return RandomSearch(space, seed, min_budget, max_budget, **params)
