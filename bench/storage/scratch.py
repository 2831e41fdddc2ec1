"""Scratch folders that do not outlive their sweep (or suite check).

A sweep's scratch folders live in one folder named after the driver's process id,
``aerial-hpo-run-<pid>-*`` in the temp directory (:func:`scratch_root`; a suite check names its folder
the same way with ``PREFIX``). The driver removes it when it ends; a driver that was killed cannot, so
the next sitting removes every such folder whose driver is no longer alive (:func:`reap_stale`).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

PREFIX = "aerial-hpo-run-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def scratch_root() -> Path:
    """A new scratch folder for this driver's sweep, named after its process id."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))


def reap_stale(tmp: str | Path | None = None) -> list[Path]:
    """Remove scratch folders of sweeps whose driver is gone; returns them."""
    tmp = Path(tmp or tempfile.gettempdir())
    gone = []
    for p in tmp.glob(f"{PREFIX}*"):
        m = re.match(rf"{PREFIX}(\d+)-", p.name)
        if m and p.is_dir() and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p)
    return gone
