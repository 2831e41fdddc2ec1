"""Child processes that do not outlive their driver, and drivers that end on SIGTERM as on Ctrl-C.

* :func:`die_with_parent`: in a child, have the kernel SIGKILL it when its parent dies (Linux
  ``PR_SET_PDEATHSIG``), however the parent dies (SIGKILL included), so that a killed driver leaves
  no worker computing on (and holding memory) for good; where that is not available, a child whose
  parent is already gone ends at once.
* Scratch folders that do not outlive their sweep: ``bench.storage.scratch``.
* :func:`terminate_as_interrupt`: SIGTERM raises :class:`Terminated` (a KeyboardInterrupt), so that a
  driver stopped by ``kill`` (or a batch system) ends as on Ctrl-C: its ``finally`` blocks run (the
  store folded, the pool's workers ended, the scratch folder removed), exit status 143.
"""
from __future__ import annotations

import os
import signal


def die_with_parent(parent: int) -> None:
    """In a child process: be SIGKILLed when ``parent`` (the process that started it) dies."""
    import ctypes
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (see :func:`terminate_as_interrupt`)."""


def _raise_terminated(signum, frame):
    raise Terminated()


def terminate_as_interrupt() -> None:
    """From now on SIGTERM raises :class:`Terminated` in the main thread (does nothing elsewhere)."""
    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
