"""The crash test's fork server (``python -m bench.instruments.crashserver SUITE...``).

Started twice by ``bench.instruments.crashtest`` (under two hash seeds); it imports the command line
once and forks a child per request that runs ``bench.cli.main``. Kept apart from the crash test so
that the command line (which offers ``bench crash-test``) and the crash test do not import each other.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path


def serve(suites: list[str]) -> None:
    """Fork server (``python -m bench.instruments.crashserver SUITE...``): import once (and load the suites'
    curves tables, so that replayed runs do not spend their time reading them), then for every JSON request
    on stdin ``{"argv": [...], "env": {...}, "log": path}`` fork a child that sets ``env``,
    writes its output to ``log`` and returns ``bench.cli.main(argv)``; answer
    ``{"rc": exit status, "signal": number or null}`` on stdout."""
    import bench.cli  # noqa: F401 - imported once, before any fork
    import bench.loop.runner  # noqa: F401
    import methods.skopt_gp  # noqa: F401
    import methods.smac_tuners  # noqa: F401
    import segmentation.space  # noqa: F401
    if any(_trains(path) for path in suites):  # a replayed run never loads torch: ~5 CPU s saved per server
        import torch  # noqa: F401 - imported, never used here: no thread pool exists before the forks
    for path in suites:
        _warm(path)
    for line in sys.stdin:
        req = json.loads(line)
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: a fresh process as far as the store and the run are concerned
            code = 1
            try:
                os.environ.update(req["env"])
                tempfile.tempdir = None  # TMPDIR may be the request's
                fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                from bench.cli import main
                code = main(req["argv"])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - reported through the log and the exit status
                import traceback
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        orphans = None
        if req.get("kill_after") is not None:  # a SIGKILL of the child's PID alone, at that moment
            deadline = t0 + float(req["kill_after"])
            done = 0
            while not done and time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if not done:
                    time.sleep(0.005)
            if not done:
                family = _descendants(pid)
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                orphans = _outliving(family, float(req.get("orphan_wait", 20.0)))
        else:
            _, status = os.waitpid(pid, 0)
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -sig
        sys.stdout.write(json.dumps({"rc": rc, "signal": sig, "seconds": time.monotonic() - t0,
                                     "orphans": orphans}) + "\n")
        sys.stdout.flush()


def _parents() -> dict[int, int]:
    """``{pid: parent pid}`` of every process (from /proc)."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                out[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return out


def _descendants(pid: int) -> list[tuple[int, str]]:
    """Every process below ``pid`` (children, grandchildren...), with its start time (to tell a pid reused)."""
    parents, out, frontier = _parents(), [], {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier}
        out += [(c, _start_time(c)) for c in frontier]
    return out


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _outliving(family: list[tuple[int, str]], wait: float) -> list[int]:
    """The processes of ``family`` still running (not zombies) ``wait`` seconds after their driver was killed."""
    deadline = time.monotonic() + wait
    while True:
        alive = []
        for pid, start in family:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and _start_time(pid) == start:
                alive.append(pid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _trains(suite_path: str) -> bool:
    """Whether the suite trains models (any backend but replay; True when it cannot be read)."""
    try:
        from bench.config.suite import load_suite
        return load_suite(suite_path).backend != "replay"
    except Exception:  # noqa: BLE001 - the run itself reports a bad suite
        return True


def _warm(suite_path: str) -> None:
    """Load a replay suite's curves table into this process's cache (a speed-up only)."""
    try:
        from bench.tables import curves
        from bench.config.suite import load_suite
        suite = load_suite(suite_path)
        if suite.backend == "replay":
            curves._table(str(curves.resolve(suite.curves)), suite.profile)
    except Exception:  # noqa: BLE001 - without the warm-up each run reads the table itself
        pass


if __name__ == "__main__":
    serve(sys.argv[1:])
