"""The budget ledger of one run: B * R epochs, counted as trained.

Every rule about what a job costs and when a run must stop for its budget lives here:

* A job costs ``resource - resumes_from`` epochs when it continues its trial's
  checkpoint (``continues``), else ``resource`` (it trains from scratch).
* A job is admitted only if its cost fits into what is left: the budget minus the
  epochs trained by finished jobs (``spent``) minus the epochs held for jobs in flight
  (``reserved``). The first job that does not fit stops the run; the epochs it would
  have overshot are kept (``overshoot``).
* When a job ends, its hold is released and the epochs it actually trained are charged
  (a failed job is charged the epochs it ran, the failing one included).
* ``restart`` adds up ``resource`` of every finished job: the cost had every promotion
  restarted from scratch.

Resume (``bench.loop.retell``) rebuilds a ledger from the log with ``charge`` and
``reserve``; nothing else changes its numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Ledger:
    budget: int                 # B * R epochs (inclusive: spending exactly the budget is allowed)
    spent: int = 0              # epochs trained by finished jobs
    restart: int = 0            # epochs had every promotion restarted
    reserved: int = 0           # epochs held for jobs in flight
    overshoot: int | None = None  # epochs the first job that did not fit would have overshot
    held: dict = field(default_factory=dict)  # job id -> epochs held for it

    @staticmethod
    def cost(job, continues: bool) -> int:
        """Epochs ``job`` will train: only the missing ones when it continues a checkpoint."""
        return job.resource - job.resumes_from if continues else job.resource

    @property
    def left(self) -> int:
        return self.budget - self.spent - self.reserved

    def admit(self, job, continues: bool) -> bool:
        """Hold the job's cost if it fits; else record the overshoot and refuse (the run stops)."""
        cost = self.cost(job, continues)
        if cost > self.left:
            self.overshoot = cost - self.left
            return False
        self.reserve(job, continues)
        return True

    def reserve(self, job, continues: bool) -> None:
        """Hold a job's cost without the budget check (a job in flight when a run was interrupted)."""
        cost = self.cost(job, continues)
        self.held[job.job_id] = cost
        self.reserved += cost

    def settle(self, job, trained: int) -> None:
        """A job in flight ended after training ``trained`` epochs: release its hold, charge them."""
        self.reserved -= self.held.pop(job.job_id)
        self.charge(job, trained)

    def charge(self, job, trained: int) -> None:
        """Charge the epochs a finished job trained (also used when re-telling the log)."""
        self.spent += trained
        self.restart += job.resource
