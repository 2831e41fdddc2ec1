"""Command-line values, declared once and checked before a command starts.

argparse checks the type of a value (an integer, one of some choices); :data:`RULES` declares what
each option may be beyond its type (a range, a device this machine has, a directory that can be
written) for the commands that take it, and :func:`check_args` applies them to the parsed
arguments, so that a bad value is one line naming the option, what was expected and what was given
(exit status 2), before anything is loaded, trained or written. :class:`OneLineParser` makes
argparse's own errors (an unknown option, a value that is not an integer) one line too.
Ranges are inclusive.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

MAX_SEED = 2 ** 32 - 1
SCHEDULER_SCHEMES = ("tcp", "tls", "ucx", "ws", "wss")


class OneLineParser(argparse.ArgumentParser):
    """argparse, with every usage error on one line (``error: python -m bench run: ...``), exit status 2."""

    def error(self, message: str):  # noqa: D401 (argparse's hook)
        print(f"error: {self.prog}: {' '.join(message.split())} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


class ArgError(ValueError):
    """A command-line value out of its declaration; the message is one line."""


@dataclass(frozen=True)
class Rule:
    option: str                       # as typed, e.g. "--workers"
    commands: tuple[str, ...]         # the commands whose option this is
    expected: str                     # what the option takes, in words
    check: Callable[[object], bool]   # True when a (non-None) value is acceptable
    each: bool = False                # the option takes a list: check every element

    @property
    def dest(self) -> str:
        return self.option.lstrip("-").replace("-", "_")


def _int_at_least(lo: int) -> Callable[[object], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _seed(v) -> bool:
    return isinstance(v, int) and 0 <= v <= MAX_SEED


def _profile(v) -> bool:
    from segmentation.profiles import get_profile
    try:
        get_profile(v)
    except (ValueError, KeyError, TypeError):
        return False
    return True


def _method(v) -> bool:
    from methods import REGISTRY
    return v in REGISTRY


def device_problem(text: str) -> str | None:
    """Why ``text`` is not a device this machine has (None: it is one): ``cpu``, ``cuda``, ``cuda:N``
    with N below the number of CUDA devices, ``mps`` where PyTorch has it."""
    kind, sep, index = text.partition(":")
    if kind == "cpu" and not sep:
        return None
    if kind not in ("cuda", "mps") or (sep and not index.isdigit()):
        return "cpu, cuda or cuda:N (N a device index)"
    import torch
    if kind == "mps":
        ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        return None if ok and not sep else "cpu, cuda or cuda:N (this machine has no MPS device)"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        return "cpu (this machine has no CUDA device)"
    if sep and int(index) >= count:
        return f"cpu, cuda or cuda:0 ... cuda:{count - 1} (this machine has {count} CUDA device(s))"
    return None


def _device(v) -> bool:
    return device_problem(v) is None


def dir_problem(text: str) -> str | None:
    """Why a directory cannot be created or written at ``text`` (None: it can)."""
    if not text or "\0" in text:
        return "a directory path"
    p = Path(text)
    if p.exists() and not p.is_dir():
        return "a directory (this is a file)" if p.is_file() else "a directory (this is not one)"
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"a directory that can be created ({probe} is a file)"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"a directory this user can write ({probe} is not writable)"
    return None


def file_problem(text: str) -> str | None:
    """Why a file cannot be written at ``text`` (None: it can)."""
    if not text or "\0" in text:
        return "a file path"
    p = Path(text)
    if p.is_dir():
        return "a file to write (this is a directory)"
    if p.exists() and not os.access(p, os.W_OK):
        return "a file this user can write (it is read-only)"
    probe = p.parent
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        return f"a file whose folder can be created ({probe} is a file)"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"a file whose folder this user can write ({probe} is not writable)"
    return None


def scheduler_problem(text: str) -> str | None:
    """Why ``text`` is not the address of a Dask scheduler that answers (None: one answers)."""
    expected = f"a Dask scheduler address such as tcp://HOST:8786 (schemes {', '.join(SCHEDULER_SCHEMES)})"
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError:
        return expected
    if url.scheme not in SCHEDULER_SCHEMES or not url.hostname or port is None:
        return expected
    try:
        with socket.create_connection((url.hostname, port), timeout=5):
            pass
    except OSError as exc:
        return f"a scheduler that answers (connecting to {url.hostname}:{port} failed: {exc.strerror or exc})"
    return None


def _checked_by(problem: Callable[[str], str | None]) -> Callable[[object], bool]:
    return lambda v: problem(v) is None


RULES: tuple[Rule, ...] = (
    Rule("--workers", ("run", "record"), "a positive integer (worker processes)", _int_at_least(1)),
    Rule("--processes", ("run", "compare"), "a positive number of processes", _int_at_least(1)),
    Rule("--threads", ("record", "perf-task"), "an integer >= 0 (torch threads; 0 = torch's default)",
         _int_at_least(0)),
    Rule("--configs", ("record",), "a positive integer (configurations)", _int_at_least(1)),
    Rule("--chunk", ("record",), "a positive integer (epochs between checkpoints)", _int_at_least(1)),
    Rule("--epochs", ("train", "record", "perf-task", "perf-threads"), "a positive integer (epochs)",
         _int_at_least(1)),
    Rule("--jobs", ("crash-test", "perf-threads"), "a positive integer", _int_at_least(1)),
    Rule("--stop-after", ("crash-test",), "a positive integer (store writes)", _int_at_least(1)),
    Rule("--random-kills", ("crash-test",), "a positive integer (kills)", _int_at_least(1)),
    Rule("--processes", ("crash-test",), "a positive integer (processes)", _int_at_least(1)),
    Rule("--repeats", ("perf-tuners",), "a positive integer", _int_at_least(1)),
    Rule("--points", ("perf-tuners",), "positive integers (told points)", _int_at_least(1), each=True),
    Rule("--methods", ("perf-tuners",), "registered methods (python -m bench methods)", _method, each=True),
    Rule("--seed", ("train", "record", "gpu-check", "crash-test"), f"an integer from 0 to 2**32 - 1 = {MAX_SEED}", _seed),
    Rule("--set", ("train",), "KEY=VALUE (a hyperparameter of the profile's space and its value)",
         lambda v: isinstance(v, str) and "=" in v and v.partition("=")[0].strip() != "", each=True),
    Rule("--train-seeds", ("record",), f"integers from 0 to 2**32 - 1 = {MAX_SEED}", _seed, each=True),
    Rule("--budgets", ("record",), "positive integers (epochs)", _int_at_least(1), each=True),
    Rule("--profile", ("train", "record", "perf-task", "perf-threads"),
         "a task profile such as smoke, cpu, cpu-v2, gpu (or BASE+field=value)", _profile),
    Rule("--device", ("train", "run", "record", "perf-task", "gpu-check"), "a device this machine has", _device),
    Rule("--results", ("run", "record", "compare"), "a directory that can be created or written", _checked_by(dir_problem)),
    Rule("--checkpoints", ("run",), "a directory that can be created or written", _checked_by(dir_problem)),
    Rule("--work", ("crash-test",), "a directory that can be created or written", _checked_by(dir_problem)),
    Rule("--out", ("export", "export-curves"), "a file that can be written", _checked_by(file_problem)),
    Rule("--scheduler", ("run",), "a Dask scheduler address", _checked_by(scheduler_problem)),
)

_DETAIL = {"--device": device_problem, "--results": dir_problem, "--checkpoints": dir_problem, "--work": dir_problem,
           "--out": file_problem, "--scheduler": scheduler_problem}


def check_args(args: argparse.Namespace) -> None:
    """Apply :data:`RULES` to the parsed ``args`` of ``args.command``; raise :class:`ArgError` (one line)
    for the first value out of its declaration."""
    for rule in RULES:
        if args.command not in rule.commands or getattr(args, rule.dest, None) is None:
            continue
        value = getattr(args, rule.dest)
        if rule.each and not value and rule.option != "--set":  # e.g. "--points" with no value after it
            raise ArgError(f"{rule.option}: expected {rule.expected}, at least one, got none")
        for v in (value if rule.each else [value]):
            if not rule.check(v):
                detail = _DETAIL.get(rule.option)
                expected = detail(v) if detail is not None else rule.expected
                raise ArgError(f"{rule.option}: expected {expected or rule.expected}, got {v!r}")
