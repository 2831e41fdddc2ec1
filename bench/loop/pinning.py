"""Pinning the workers of a local Dask cluster to devices, round-robin (several trials per GPU).

Kept apart from ``bench.loop.executor`` so that importing the executor does not import Dask's plugin
machinery; ``bench.loop.executor.pin_device_plugin`` builds the plugin where a cluster is started."""
from __future__ import annotations

import os

from distributed.diagnostics.plugin import WorkerPlugin


class PinDevice(WorkerPlugin):
    """Worker k (its name in a ``LocalCluster``: 0..N-1) trains on ``devices[k % len(devices)]``.

    Runs when a worker starts, and again when a dead worker is restarted under the same name, so the
    worker keeps its device: sets the environment variable ``env`` (``bench.loop.executor.DEVICE_ENV``), which jobs read (``bench.loop.jobs.job_device``), and, for
    a CUDA device where CUDA is available, makes it the process's current device."""

    name = "aerial-hpo-pin-device"
    idempotent = True

    def __init__(self, devices: list[str], env: str):
        if not devices:
            raise ValueError("PinDevice needs at least one device")
        self.devices = list(devices)
        self.env = env

    def setup(self, worker) -> None:
        device = self.devices[int(worker.name) % len(self.devices)]
        os.environ[self.env] = device
        if device.startswith("cuda"):
            import torch
            if torch.cuda.is_available():
                torch.cuda.set_device(torch.device(device))
