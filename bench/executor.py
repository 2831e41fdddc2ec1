"""Where jobs run: in-process (serial, the default) or on a Dask cluster; replay runs on
simulated workers (``bench.simworkers``).

``--workers N`` starts a ``LocalCluster`` of N single-threaded worker processes;
``--scheduler tcp://HOST:8786`` uses an existing cluster. Workers that advertise a
``GPU`` resource (``dask worker ... --resources GPU=1``) get one job per GPU. A job
whose worker dies is resubmitted by the scheduler up to ``allowed_failures`` times
(Dask's ``distributed.scheduler.allowed-failures``), then comes back as failed.

A job's result comes back with when and where it ran: ``started`` and ``finished``
(Unix time, seconds) and ``worker`` (the Dask worker's address, or host:pid in-process).

Fault hook (for the worker-death test): with ``AERIAL_HPO_WORKER_EXIT=<folder>:<n>`` in the
environment, the first ``n`` jobs started on Dask workers (all workers together; one marker
file per death in ``<folder>`` counts them) end their worker process with ``os._exit(1)``
once the job has started.
"""
from __future__ import annotations

import os
import socket
import time
from concurrent.futures import Future


def _where() -> str:
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def timed(fn, *args, **kwargs) -> dict:
    """``fn(*args, **kwargs)`` (a dict), with ``started``, ``finished`` and ``worker`` added."""
    t0 = time.time()
    res = fn(*args, **kwargs)
    return {**res, "started": t0, "finished": time.time(), "worker": _where()}


class SerialExecutor:
    capacity = 1
    serial = True
    simulated = False
    threads = None

    def submit(self, fn, *args, **kwargs) -> Future:
        return self.submit_test(timed, fn, *args, **kwargs)

    def submit_test(self, fn, *args, **kwargs) -> Future:
        """Run now, untimed (a test job occupies no slot)."""
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(exc)
        return fut

    def wait_any(self, futures) -> list:
        return [f for f in futures if f.done()]

    def close(self) -> None:
        pass


def _on_worker(fn, *args, **kwargs):
    """What a Dask worker runs: ``fn(*args, **kwargs)``, after the worker-death fault hook."""
    hook = os.environ.get("AERIAL_HPO_WORKER_EXIT")
    if hook:
        folder, _, n = hook.rpartition(":")
        for i in range(int(n)):
            try:
                fd = os.open(os.path.join(folder, f"worker-exit-{i}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue
            os.close(fd)
            os._exit(1)  # the worker process dies with the job in hand
    return fn(*args, **kwargs)


class DaskExecutor:
    serial = False
    simulated = False

    def __init__(self, workers: int | None = None, scheduler: str | None = None, allowed_failures: int = 2):
        import dask
        from distributed import Client, LocalCluster

        dask.config.set({"distributed.scheduler.allowed-failures": int(allowed_failures)})
        self.cluster = None
        if scheduler:
            self.client = Client(scheduler)
        else:
            n = int(workers or 1)
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=40)
            self.client = Client(self.cluster)
        info = self.client.scheduler_info()["workers"]
        gpus = sum(int(w.get("resources", {}).get("GPU", 0)) for w in info.values())
        self.resources = {"GPU": 1} if gpus else None
        self.capacity = gpus or sum(int(w.get("nthreads", 1)) for w in info.values()) or 1
        # CPU workers share this machine's cores; GPU workers use the GPU.
        self.threads = None if gpus else max(1, (os.cpu_count() or 1) // max(1, self.capacity))

    def submit(self, fn, *args, **kwargs):
        return self.client.submit(_on_worker, timed, fn, *args, pure=False, resources=self.resources, **kwargs)

    def submit_test(self, fn, *args, **kwargs):
        return self.client.submit(_on_worker, fn, *args, pure=False, resources=self.resources, **kwargs)

    def wait_any(self, futures) -> list:
        from distributed import wait
        return list(wait(list(futures), return_when="FIRST_COMPLETED").done)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(workers: int | None = None, scheduler: str | None = None):
    if scheduler or workers:
        return DaskExecutor(workers, scheduler)
    return SerialExecutor()
