"""What every run records about where it ran: git commit, package versions, device, host."""
from __future__ import annotations

import platform
import socket
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("torch", "torchvision", "segmentation-models-pytorch", "smac", "scikit-optimize", "ConfigSpace",
            "numpy", "pandas", "dask", "distributed", "scikit-learn")


@lru_cache(maxsize=1)
def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@lru_cache(maxsize=1)
def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@lru_cache(maxsize=8)
def device_string(device: str | None = None) -> str:
    """The device a process trains on; asked once per process (CUDA's probe took ~0.2 s, once per run
    of a replayed sweep before)."""
    import torch

    if (device or "").startswith("cuda") or (device is None and torch.cuda.is_available()):
        idx = int(device.split(":")[1]) if device and ":" in device else 0
        return f"cuda:{idx} {torch.cuda.get_device_name(idx)}"
    n = torch.get_num_threads()
    return f"cpu {platform.machine()} ({n} thread{'s' if n != 1 else ''})"


def replay_device() -> str:
    """Where a replayed run ran: nothing trains, so no training device (and no torch import) is asked."""
    return f"replay: cpu {platform.machine()}"


def host() -> str:
    return socket.gethostname()
