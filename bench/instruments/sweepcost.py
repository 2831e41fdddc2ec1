"""What a replayed sweep costs, two ways side by side, and whether both store the same results.

``python -m bench.instruments.sweepcost SUITE [--seeds 0 1 2] [--before TREE] [--processes P]``
replays ``SUITE`` (optionally on a subset of its seeds) twice at the same time, into fresh stores
under ``--work``: side "before" is ``bench run --no-prefix-reuse`` in this tree, or plain ``bench run``
in another checkout ``TREE`` (its own code; e.g. a ``git worktree`` of an older commit); side "after"
is plain ``bench run`` here. Both start together, so they share the machine's load; each side's CPU
time is its process tree's user + system seconds (``os.wait4``). It prints both, their ratio, and a
SHA-256 digest of every decided column of every stored row (``DECIDED``: everything but the
wall-clock columns, in a fixed order) for each side: equal digests mean the two ways stored the same
asks, tells and results.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Every column a run decides (the rest are measured wall-clock values: when, how long, which process).
DECIDED = {
    "runs": ("run_key", "suite", "suite_hash", "label", "method", "params", "budget", "budget_epochs", "seed",
             "profile", "identity", "versions", "device", "status", "epochs_spent", "epochs_restart", "overshoot",
             "peak_disk_bytes", "eval_seconds", "error", "table_entries", "neighbour_share", "family", "eta",
             "r_max", "bracket_s", "bracket_n", "brackets", "algorithm", "workers", "trials_per_device",
             "data_hash"),
    "jobs": ("run_key", "job_id", "trial_id", "config", "resource", "resumes_from", "info", "ask_seq", "tell_seq",
             "status", "loss", "val_miou", "epochs_trained", "error", "attempts", "overshoot", "started",
             "finished", "worker"),
    "evaluations": ("run_key", "job_id", "trial_id", "epoch", "resource", "epochs_trained", "cum_epochs",
                    "train_loss", "val_loss", "val_miou", "val_iou", "val_precision", "val_recall", "seconds",
                    "status", "error"),
    "incumbents": ("run_key", "trial_id", "job_id", "config", "resource", "val_loss", "val_miou", "test_loss",
                   "test_miou", "test_iou", "test_precision", "test_recall", "test_pixel_accuracy", "seconds"),
}


def decided_rows(db: str | Path) -> dict[str, set[tuple]]:
    """Every ``DECIDED`` column of every row of a store, per table, as a set of tuples."""
    from bench.storage.store import read_store
    with read_store(db) as s:
        return {t: set(s.table_rows(t, cols)) for t, cols in DECIDED.items()}


def digest(db: str | Path) -> tuple[str, int]:
    """SHA-256 of the decided rows (sorted, floats by ``repr``) and how many rows there are."""
    rows = decided_rows(db)
    h, n = hashlib.sha256(), 0
    for table in DECIDED:
        for r in sorted(rows[table], key=repr):
            h.update(repr((table, r)).encode())
            n += 1
    return h.hexdigest(), n


def _subset(suite: Path, seeds: list[int] | None, work: Path) -> Path:
    """The suite, with its ``seeds`` line replaced when ``seeds`` is given (a copy under ``work``)."""
    text = suite.read_text(encoding="utf-8")
    if seeds is not None:
        text, n = re.subn(r"(?m)^seeds\s*=.*$", f"seeds = {json.dumps(seeds)}", text)
        if n != 1:
            raise ValueError(f"{suite}: expected one top-level 'seeds = [...]' line to replace, found {n}")
    out = work / suite.name
    out.write_text(text, encoding="utf-8")
    return out


def _start(tree: Path, suite: Path, results: Path, extra: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "bench", "run", str(suite), "--results", str(results), "--no-progress", *extra]
    return subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.instruments.sweepcost", description=__doc__.split("\n\n")[0])
    p.add_argument("suite", type=Path, help="a replayed suite TOML file")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="replay only these seeds (default: the suite's)")
    p.add_argument("--before", type=Path, default=None,
                   help="another checkout to run plain `bench run` in (default: this tree with --no-prefix-reuse)")
    p.add_argument("--processes", type=int, default=None, help="--processes P on both sides")
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new temporary one)")
    args = p.parse_args(argv)
    if not args.suite.is_file():
        print(f"error: {args.suite}: suite file not found", file=sys.stderr)
        return 2
    if args.before is not None and not (args.before / "bench" / "__main__.py").is_file():
        print(f"error: --before {args.before}: not a checkout of this project (no bench/__main__.py)", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="sweepcost-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        suite = _subset(args.suite.resolve(), args.seeds, work)
    except (ValueError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    extra = ["--processes", str(args.processes)] if args.processes else []
    sides = {"before": (args.before.resolve() if args.before else REPO,
                        extra + ([] if args.before else ["--no-prefix-reuse"])),
             "after": (REPO, extra)}
    procs = {}
    t0 = time.perf_counter()
    for name, (tree, more) in sides.items():
        procs[name] = _start(tree, suite, work / name, more, work / f"{name}.log")
    out = {}
    for name, proc in procs.items():
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out[name] = {"cpu_s": ru.ru_utime + ru.ru_stime, "wall_s": time.perf_counter() - t0, "rc": proc.returncode}
        if proc.returncode != 0:
            print(f"error: the {name} side exited {proc.returncode}; see {work / (name + '.log')}", file=sys.stderr)
            return 2
    for name in sides:
        out[name]["digest"], out[name]["rows"] = digest(work / name / "results.db")
    b, a = out["before"], out["after"]
    print(f"suite {args.suite} seeds {args.seeds or 'all'}{' --processes ' + str(args.processes) if args.processes else ''}")
    for name, r in out.items():
        print(f"{name:>6}: {r['cpu_s']:8.1f} CPU s (user + sys), {r['rows']} rows, digest {r['digest']}")
    print(f" ratio: {a['cpu_s'] / b['cpu_s']:.3f} (after / before); digests {'equal' if a['digest'] == b['digest'] else 'DIFFER'}")
    return 0 if a["digest"] == b["digest"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
