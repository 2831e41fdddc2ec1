"""The in-memory state of one run, and its incumbent.

The incumbent is the trial with the best objective (the suite's ``objective``:
validation loss by default, or validation mIoU, told as 1 - mIoU) at the highest
resource any trial reached (ties: the lower trial id). Test metrics are never told
to a tuner.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from bench.loop.ledger import Ledger
from bench.config.suite import RunSpec


@dataclass
class Best:
    resource: int
    loss: float                 # the objective told to the tuner (lower is better)
    trial_id: int
    job_id: int
    miou: float | None
    config: dict
    val_loss: float | None = None

    def beats(self, other: "Best | None") -> bool:
        return other is None or (self.resource, -self.loss, -self.trial_id) > (other.resource, -other.loss,
                                                                               -other.trial_id)


def objective(spec: RunSpec, status: str, val_loss, miou) -> float | None:
    """What the tuner is told (lower is better): the suite's objective, None for a failed job."""
    if status != "ok":
        return None
    return val_loss if spec.objective == "val_loss" else 1.0 - miou


@dataclass
class RunState:
    spec: RunSpec
    tuner: object
    backend: object             # bench.loop.backend.TrainBackend or ReplayBackend, chosen once for the run
    ledger: Ledger
    seq: int = 0                # next ask/tell sequence number
    stopped: bool = False       # no more asks: tuner finished or budget reached
    inflight: dict = field(default_factory=dict)    # job id -> Job
    submitted: set = field(default_factory=set)     # job ids handed to the executor
    ckpt_in: dict = field(default_factory=dict)     # job id -> what it continues (checkpoint), or None
    placed: dict = field(default_factory=dict)      # job id -> (worker, started) of a job in flight
    best: Best | None = None
    best_miou: float = float("nan")
    tested: dict | None = None
    testing: bool = False
    trials: set = field(default_factory=set)
    reached: dict = field(default_factory=dict)     # trial id -> epochs of its newest checkpoint
    tuner_seconds: float = 0.0
    eval_seconds: float = 0.0
    clock: float = 0.0          # replay: the simulated time of the last tell (seconds)
    started: float = field(default_factory=time.perf_counter)
    bar: object = None
    cuts: list = field(default_factory=list)        # smaller runs shadowing this one (bench.loop.prefix.Cut)

    def next_seq(self) -> int:
        seq, self.seq = self.seq, self.seq + 1
        return seq

    def account(self, job, status: str, told, val_loss, miou) -> None:
        """A told job's result: the trial's newest checkpoint, the incumbent, the best mIoU seen."""
        if status == "ok":
            self.reached[job.trial_id] = job.resource
            cand = Best(job.resource, told, job.trial_id, job.job_id, miou, job.config, val_loss)
            if cand.beats(self.best):
                self.best = cand
            if miou is not None and not self.best_miou >= miou:
                self.best_miou = miou
