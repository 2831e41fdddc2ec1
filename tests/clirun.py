"""``python -m bench ARGS`` in a new process, without paying Python's imports in every one.

Starting Python with torch, segmentation-models-pytorch, SMAC and friends costs about 9 CPU seconds on
the test machine, more than most of the small runs the tests start. A fork server (``python -m
tests.clirun``, started once per test session by the ``bench_cli`` fixture in ``tests/conftest.py``)
imports them once, before any thread pool exists, and forks a child per command. Each child is a new
process: it takes the caller's working directory and environment as given, writes its own stdout and
stderr, runs ``bench.cli.main(argv)`` (what ``python -m bench`` runs) and can be SIGKILLed by the test
like any other. What a forked child cannot change is what the server fixed when it started: Python's
hash seed and the OpenMP and BLAS settings read when the libraries loaded (the session's, see
``conftest.py``), except torch's intra-op threads, which a child sets from the ``OMP_NUM_THREADS`` it is
given, as torch would on loading. Tests that need a hash seed of their own, or that check what ``python -m
bench`` imports, start Python themselves.

Protocol, one JSON line each way: ``{"id", "argv", "env", "cwd", "out", "err"}`` in; ``{"id", "pid"}``
when the child started, ``{"id", "rc"}`` when it ended (``rc`` as subprocess gives it: negative for a
signal).
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# -- the server ----------------------------------------------------------------------------
def _child(req: dict) -> None:
    code = 1
    try:
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        tempfile.tempdir = None  # found again from this environment (TMPDIR), as a new process would
        for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, req["out"], os.O_WRONLY | os.O_TRUNC),
                                (2, req["err"], os.O_WRONLY | os.O_TRUNC)):
            f = os.open(path, flags)
            os.dup2(f, fd)
            os.close(f)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if req["env"].get("OMP_NUM_THREADS", "").isdigit():  # read by torch when it loads, in a new process
            import torch
            torch.set_num_threads(max(1, int(req["env"]["OMP_NUM_THREADS"])))
        sys.argv = ["bench", *req["argv"]]
        from bench.cli import main
        code = main(req["argv"])
        code = 0 if code is None else code  # as raise SystemExit(main()) exits
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int) and exc.code is not None:
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - reported as python -m bench reports it: a traceback, exit 1
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        try:
            import atexit
            atexit._run_exitfuncs()  # what the interpreter runs at exit (Dask, multiprocessing, logging)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else 1)


def serve() -> None:
    """Import once, then fork a child per request (several may run at once); one thread throughout."""
    import bench.cli  # noqa: F401
    import bench.loop.backend  # noqa: F401
    import bench.loop.jobs  # noqa: F401
    import bench.loop.runner  # noqa: F401
    import methods  # noqa: F401
    from methods import REGISTRY
    for name in list(REGISTRY):  # every tuner's module and library (smac, skopt, optuna, dehb)
        try:
            REGISTRY[name]
        except Exception:  # noqa: BLE001 - a tuner that cannot load says so in its own child
            pass
    import segmentation.train  # noqa: F401 - torch, torchvision, segmentation-models-pytorch
    import torch  # noqa: F401 - imported, never used here: no thread pool exists before the forks
    out = sys.stdout.buffer
    children: dict[int, int] = {}  # pid -> request id
    pending = b""
    stdin_open = True
    while stdin_open or children:
        ready = select.select([0], [], [], 0.05)[0] if stdin_open else (time.sleep(0.05) or [])
        if ready:
            chunk = os.read(0, 65536)
            if not chunk:
                stdin_open = False
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                req = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(req)
                children[pid] = req["id"]
                out.write(json.dumps({"id": req["id"], "pid": pid}).encode() + b"\n")
                out.flush()
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            rid = children.pop(pid, None)
            if rid is None:
                continue
            rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            out.write(json.dumps({"id": rid, "rc": rc}).encode() + b"\n")
            out.flush()
    os._exit(0)  # nothing to clean up: skip the interpreter's teardown of torch and friends


# -- the client ----------------------------------------------------------------------------
class Proc:
    """One command in a forked child: ``pid``, ``poll()``, ``wait(timeout)``, ``kill()`` as for Popen."""

    def __init__(self, server: "BenchCLI", rid: int, pid: int, out: Path, err: Path, args: list):
        self.server, self.id, self.pid, self._out, self._err, self.args = server, rid, pid, out, err, args
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            self.server._pump(0)
            self.returncode = self.server._done.pop(self.id, None)
        return self.returncode

    def wait(self, timeout: float | None = None):
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self.server._pump(0.2 if left is None else min(0.2, left))
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def result(self, timeout: float | None = None) -> subprocess.CompletedProcess:
        try:
            self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.wait()
            raise
        out, err = self._out.read_text(errors="replace"), self._err.read_text(errors="replace")
        for p in (self._out, self._err):
            p.unlink(missing_ok=True)
        return subprocess.CompletedProcess(self.args, self.returncode, out, err)


class BenchCLI:
    """The client: ``run(args, env=, cwd=, timeout=)`` returns a ``subprocess.CompletedProcess`` (text
    stdout and stderr) as ``subprocess.run([python, "-m", "bench", *args], capture_output=True,
    text=True)`` would; ``start(...)`` returns a Popen-like ``Proc`` (output in files, read by
    ``proc.result()``)."""

    def __init__(self, tmp: Path):
        self.tmp = Path(tmp)
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.clirun"], cwd=REPO, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        self._next = 0
        self._buf = b""
        self._pids: dict[int, int] = {}
        self._done: dict[int, int] = {}

    def _pump(self, timeout: float) -> None:
        fd = self.proc.stdout.fileno()
        while select.select([fd], [], [], timeout)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"the bench fork server ended (exit {self.proc.poll()})")
            self._buf += chunk
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                msg = json.loads(line)
                if "pid" in msg:
                    self._pids[msg["id"]] = msg["pid"]
                else:
                    self._done[msg["id"]] = msg["rc"]
            timeout = 0

    def _file(self, prefix: str, suffix: str) -> Path:
        fd, path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=self.tmp)
        os.close(fd)
        return Path(path)

    def start(self, args, env: dict | None = None, cwd=REPO) -> Proc:
        self._next += 1
        rid = self._next
        out, err = (self._file(f"bench{rid}-", s) for s in (".out", ".err"))
        req = {"id": rid, "argv": [str(a) for a in args], "env": dict(os.environ if env is None else env),
               "cwd": str(cwd), "out": str(out), "err": str(err)}
        self.proc.stdin.write(json.dumps(req).encode() + b"\n")
        self.proc.stdin.flush()
        while rid not in self._pids:
            self._pump(1.0)
        return Proc(self, rid, self._pids.pop(rid), out, err, ["bench", *req["argv"]])

    def run(self, args, env: dict | None = None, cwd=REPO, timeout: float | None = None):
        return self.start(args, env, cwd).result(timeout)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=600)


if __name__ == "__main__":
    serve()
