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


@lru_cache(maxsize=1)
def replay_device() -> str:
    """Where a replayed run ran: nothing trains, so no training device (and no torch import) is asked. It names
    the CPU model and the widest instruction set numpy dispatches its vectorised maths to: the model-based
    tuners' asks can differ between CPUs through the last bits of that maths (``tests/test_tuner_asks.py``),
    so a store says where it can be reproduced exactly."""
    return f"replay: cpu {platform.machine()} {_cpu_model()} (numpy {_simd()})"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown model"


def _simd() -> str:
    """The widest of numpy's dispatch targets this CPU has (e.g. AVX512_SKX, AVX2), or "baseline"."""
    try:
        from numpy.core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # another numpy layout: say so rather than guess
        return "dispatch unknown"
    for name in ("AVX512_SPR", "AVX512_ICL", "AVX512_CNL", "AVX512_CLX", "AVX512_SKX", "AVX512F", "AVX2", "AVX",
                 "SSE42", "ASIMD", "NEON", "VSX4", "VSX3", "VSX2", "VX"):
        if features.get(name):
            return name
    return "baseline"


def host() -> str:
    return socket.gethostname()
