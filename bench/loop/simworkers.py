"""Simulated parallel workers for replay: N workers on an event clock.

As in Syne Tune's simulator backend, a replayed job runs at once in real time but
occupies a simulated worker for its simulated duration: its epochs times its
configuration's recorded seconds per epoch (``replay_job``'s ``seconds``). The
runner asks its tuner whenever a worker is free; ``wait_any`` hands back the job
that finishes first in simulated time, and the clock jumps to its finish. Ties
(equal finish times) go in ask order. A job starts at the simulated time it was
asked on the free worker with the lowest index; a run's clock starts at 0 s.

``workers = 1`` is the one-job-at-a-time replay (each job starts when the previous
one finished): the asks and tells are those of the serial harness.
"""
from __future__ import annotations

import heapq
from concurrent.futures import Future


class SimulatedWorkers:
    serial = True       # in-process: one run at a time, so every run has a clock of its own
    simulated = True
    threads = None

    def __init__(self, n: int):
        if int(n) < 1:
            raise ValueError(f"simulated workers: expected at least 1, got {n!r}")
        self.capacity = int(n)
        self.reset()

    def reset(self, now: float = 0.0, capacity: int | None = None) -> None:
        """A new run's clock (or a resumed one's, at the simulated time of its last tell), with
        ``capacity`` workers when given (a suite with several worker counts: each run its own)."""
        if capacity is not None:
            if int(capacity) < 1:
                raise ValueError(f"simulated workers: expected at least 1, got {capacity!r}")
            self.capacity = int(capacity)
        self.now = float(now)
        self.busy: dict[int, Future] = {}   # worker -> the future it works on
        self._heap: list = []               # (finish, order, worker, future)

    def slot(self) -> tuple[int, float]:
        """Where and when the next job starts: the free worker with the lowest index, now."""
        return min(w for w in range(self.capacity) if w not in self.busy), self.now

    def submit(self, fn, *args, worker: int, started: float, order: int, **kwargs) -> Future:
        """Run ``fn`` now in real time; it occupies ``worker`` from ``started`` for the ``seconds`` it
        returns (a job redone after a resume keeps its recorded worker and start)."""
        if worker in self.busy:
            raise RuntimeError(f"simulated worker {worker} is busy")
        fut: Future = Future()
        try:
            res = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(exc)
            finished = started
        else:
            finished = started + float(res["seconds"])
            fut.set_result({**res, "started": started, "finished": finished, "worker": str(worker)})
        self.busy[worker] = fut
        heapq.heappush(self._heap, (finished, order, worker, fut))
        return fut

    def submit_test(self, fn, *args, **kwargs) -> Future:
        """A replayed test takes no simulated time and no worker."""
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001
            fut.set_exception(exc)
        return fut

    def wait_any(self, futures) -> list:
        """The job among ``futures`` that finishes first in simulated time (the clock moves to its
        finish), or a test, which waits on nothing."""
        for f in futures:
            if not any(f is h[3] for h in self._heap):
                return [f]
        finished, _, worker, fut = heapq.heappop(self._heap)
        self.now = max(self.now, finished)
        del self.busy[worker]
        return [fut]

    def close(self) -> None:
        pass
