"""Child processes that do not outlive their driver, and scratch folders that do not outlive their sweep.

* :func:`die_with_parent`: in a child, have the kernel SIGKILL it when its parent dies (Linux
  ``PR_SET_PDEATHSIG``), however the parent dies (SIGKILL included), so that a killed driver leaves
  no worker computing on (and holding memory) for good; where that is not available, a child whose
  parent is already gone ends at once.
* :func:`scratch_root` / :func:`reap_stale`: a sweep's scratch folders live in one folder named after
  the driver's process id, ``aerial-hpo-run-<pid>-*`` in the temp directory. The driver removes it
  when it ends; a driver that was killed cannot, so the next sweep removes every such folder whose
  driver is no longer alive.
* :func:`terminate_as_interrupt`: SIGTERM raises :class:`Terminated` (a KeyboardInterrupt), so that a
  driver stopped by ``kill`` (or a batch system) ends as on Ctrl-C: its ``finally`` blocks run (the
  store folded, the pool's workers ended, the scratch folder removed), exit status 143.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

PREFIX = "aerial-hpo-run-"


def die_with_parent(parent: int) -> None:
    """In a child process: be SIGKILLed when ``parent`` (the process that started it) dies."""
    import ctypes
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


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


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (see :func:`terminate_as_interrupt`)."""


def _raise_terminated(signum, frame):
    raise Terminated()


def terminate_as_interrupt() -> None:
    """From now on SIGTERM raises :class:`Terminated` in the main thread (does nothing elsewhere)."""
    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
