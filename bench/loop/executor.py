"""Where jobs run: in-process (serial, the default) or on a Dask cluster; replay runs on
simulated workers (``bench.loop.simworkers``).

``--workers N`` starts a ``LocalCluster`` of N single-threaded worker processes;
``--scheduler tcp://HOST:8786`` uses an existing cluster. Workers that advertise a
``GPU`` resource (``dask worker ... --resources GPU=1``) get one job at a time each. A job
whose worker dies is resubmitted by the scheduler up to ``allowed_failures`` times
(Dask's ``distributed.scheduler.allowed-failures``), then comes back as failed.

A job's result comes back with when and where it ran: ``started`` and ``finished``
(Unix time, seconds) and ``worker`` (the Dask worker's address, or host:pid in-process).

Several trials per GPU: on a machine that sees G CUDA devices, ``--workers N`` with N > G pins
worker k (its name in the ``LocalCluster``, 0..N-1) to device ``cuda:{k % G}`` (round-robin, by a
worker plugin, so a restarted worker gets its device back): each device trains ceil(N / G) or
floor(N / G) single-threaded trials at once, each in its own process. On a cluster, start K workers
per device instead (docs/running.md, "Parallel and on several machines"). Every executor says how many
trials could share one device in this sitting (``trials_per_device``: the most job slots on one
device, from each worker's device and slots), which the runner records per run.

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

DEVICE_ENV = "AERIAL_HPO_WORKER_DEVICE"  # the device a local cluster's worker is pinned to ("cuda:K")


def visible_gpus() -> int:
    """The CUDA devices this process sees (0 where torch has no CUDA)."""
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def worker_device() -> str | None:
    """The device this worker process is pinned to, if any (``DEVICE_ENV``)."""
    return os.environ.get(DEVICE_ENV) or None


def pin_device_plugin(devices: list[str]):
    """A Dask worker plugin (``bench.loop.pinning.PinDevice``) that pins worker k of a local cluster (its
    name, 0..N-1) to ``devices[k % len(devices)]``; imported only where a cluster is started."""
    from bench.loop.pinning import PinDevice
    return PinDevice(devices, DEVICE_ENV)


def _device_of() -> str:
    """Which device this worker trains on, as ``host/device``: its pinned device, else the first CUDA
    device it sees (by physical id when ``CUDA_VISIBLE_DEVICES`` names it), else ``host/cpu``."""
    host = socket.gethostname()
    if worker_device():
        return f"{host}/{worker_device()}"
    if visible_gpus():
        ids = [v for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
        return f"{host}/gpu{ids[0].strip()}" if ids else f"{host}/cuda:0"
    return f"{host}/cpu"


def trials_per_device(devices: dict[str, str], slots: dict[str, int]) -> int:
    """The most job slots of workers on one device: ``devices`` maps each worker to its device
    (``_device_of``), ``slots`` to how many jobs it trains at once."""
    per: dict[str, int] = {}
    for w, dev in devices.items():
        per[dev] = per.get(dev, 0) + int(slots.get(w, 1))
    return max(per.values(), default=1)


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
    trials_per_device = 1

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

    def __init__(self, workers: int | None = None, scheduler: str | None = None, allowed_failures: int = 2,
                 devices: list[str] | None = None):
        """``devices``: for a local cluster, the devices its workers are pinned to, round-robin (default:
        every visible CUDA device; none on a machine without CUDA)."""
        import dask
        from distributed import Client, LocalCluster

        dask.config.set({"distributed.scheduler.allowed-failures": int(allowed_failures)})
        self.cluster = None
        self.local_gpus = 0
        if scheduler:
            self.client = Client(scheduler)
        else:
            n = int(workers or 1)
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=40)
            self.client = Client(self.cluster)
            self.local_gpus = visible_gpus() if devices is None else len(devices)
            if devices is None:
                devices = [f"cuda:{i}" for i in range(self.local_gpus)]
            if devices:  # N workers round-robin over the G devices: several trials per GPU
                self.client.register_plugin(pin_device_plugin(list(devices)))
        info = self.client.scheduler_info()["workers"]
        gpus = sum(int(w.get("resources", {}).get("GPU", 0)) for w in info.values())
        self.resources = {"GPU": 1} if gpus else None
        self.capacity = gpus or sum(int(w.get("nthreads", 1)) for w in info.values()) or 1
        # CPU workers share this machine's cores; GPU workers use the GPU.
        on_gpus = gpus or (self.cluster is not None and self.local_gpus)
        self.threads = None if on_gpus else max(1, (os.cpu_count() or 1) // max(1, self.capacity))
        slots = {a: int(w.get("resources", {}).get("GPU", 0)) if gpus else int(w.get("nthreads", 1))
                 for a, w in info.items()}
        self.trials_per_device = trials_per_device(self.client.run(_device_of), slots)

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
