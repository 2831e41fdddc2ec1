"""A guard against runs that cannot make progress.

A trial that fails before training an epoch costs nothing, so a run whose every trial fails that way
(a job the backend cannot even start: a curves table with a hole, a checkpoint that cannot be read)
never reaches its budget, and a tuner that always has another configuration keeps asking for ever.
:class:`FailureGuard` counts, per run, the failed trials in a row that spent no epoch; at
:data:`MAX_FREE_FAILURES` it stops the sitting with :class:`RunStuck`, whose one-line message names
the run and the last error. Everything recorded so far stays in the store: once the cause is fixed,
the same command resumes the run.
"""
from __future__ import annotations

MAX_FREE_FAILURES = 50  # failed trials in a row, none of them training an epoch, before a run is stopped


class RunStuck(RuntimeError):
    """A run whose trials keep failing without spending budget; the message is one line."""


class FailureGuard:
    def __init__(self, limit: int = MAX_FREE_FAILURES):
        if limit < 1:
            raise ValueError(f"limit must be at least 1 trial, got {limit}")
        self.limit = limit
        self.streak: dict[str, int] = {}

    def note(self, run_key: str, status: str, epochs_trained: int, error: str | None = None) -> None:
        """Record a finished job of ``run_key``; raise :class:`RunStuck` at ``limit`` free failures in a row."""
        if status == "ok" or epochs_trained > 0:
            self.streak[run_key] = 0
            return
        n = self.streak.get(run_key, 0) + 1
        self.streak[run_key] = n
        if n >= self.limit:
            last = " ".join(str(error or "no error recorded").split())[:200]
            raise RunStuck(f"run {run_key}: {n} trials in a row failed without training an epoch (last: {last}); "
                           f"stopped so that it cannot ask for ever. Fix the cause and run the same command again "
                           f"to resume")
