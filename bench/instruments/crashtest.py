"""Exhaustive crash testing: kill a suite's run at every store write, resume it, compare.

For k = 1, 2, ...: in a fresh results directory, ``bench run SUITE`` is started with
``AERIAL_HPO_KILL_AT_WRITE=k``, which SIGKILLs the process inside its k-th store write
(after the statement, before its COMMIT: the store's fault hook); then the same command,
in another fresh process, resumes it to the end. The store must then hold exactly what an
uninterrupted run wrote: the same jobs (configuration, resource, status, loss, ask/tell
order), the same evaluated epochs with the same metrics, the same epochs spent, overshoot
and status per run, the same incumbent and its test metrics, and pass ``integrity_check``.
Wall-clock columns (``seconds``, times, pids) are not compared. The sweep ends at the
first k that the run survives (it made fewer than k writes), so every write is hit.

Counts reported: ``kills`` (runs killed), ``writes`` (the uninterrupted run's store
writes), ``rows`` (rows compared over all kills), ``lost`` (rows of the uninterrupted run
missing after the resume), ``doubled`` (rows the uninterrupted run does not have: a job
asked or an epoch trained once too often), ``differing`` (same key, other values).

Processes: starting Python with torch, SMAC and ConfigSpace costs seconds, most of a small
replayed run, so the processes come from two fork servers that imported everything once
(nothing else: no store, no run; torch only when a suite trains, since replay never loads it). Killed
runs are forked from a server started with
``PYTHONHASHSEED=1``, resumes (and the reference run) from one with ``PYTHONHASHSEED=2``,
so every resume also checks that the asks do not depend on Python's hash seed. Each forked
child is a new process that runs ``python -m bench``'s ``main`` and is killed by a real
SIGKILL. ``bench crash-test`` (see ``python -m bench crash-test -h``) runs a sweep.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What must be equal: per table, the key columns and the compared columns.
TABLES = {
    "runs": (("run_key",), ("status", "budget_epochs", "epochs_spent", "epochs_restart", "overshoot", "error")),
    "jobs": (("run_key", "job_id"), ("trial_id", "config", "resource", "resumes_from", "info", "ask_seq",
                                     "tell_seq", "status", "loss", "val_miou", "epochs_trained", "error")),
    "evaluations": (("run_key", "job_id", "epoch"), ("trial_id", "config", "resource", "epochs_trained",
                                                     "cum_epochs", "train_loss", "val_loss", "val_miou", "val_iou",
                                                     "val_precision", "val_recall", "status", "error")),
    "incumbents": (("run_key",), ("trial_id", "job_id", "config", "resource", "val_loss", "val_miou", "test_loss",
                                  "test_miou", "test_iou", "test_precision", "test_recall", "test_pixel_accuracy")),
}


def snapshot(db_path: Path) -> dict:
    """``{table: {key: values}}`` of the compared columns, and ``"integrity"``."""
    from bench.storage.store import StoreError, read_store
    try:
        with read_store(db_path) as store:
            out = {"integrity": store.integrity()}
            for table, (keys, cols) in TABLES.items():
                out[table] = {r[:len(keys)]: r[len(keys):] for r in store.table_rows(table, keys + cols)}
    except StoreError as exc:  # a damaged store: every row counts as lost, the check says why
        return {"integrity": str(exc), **{table: {} for table in TABLES}}
    return out


def compare(want: dict, got: dict) -> dict:
    """Rows compared, lost, doubled and differing (see the module docstring), with examples."""
    out = {"rows": 0, "lost": 0, "doubled": 0, "differing": 0, "examples": []}
    if got.get("integrity") != "ok":
        out["differing"] += 1
        out["examples"].append(f"integrity_check: {got.get('integrity')}")
    for table in TABLES:
        w, g = want[table], got[table]
        out["rows"] += len(w)
        for key in w.keys() - g.keys():
            out["lost"] += 1
            out["examples"].append(f"{table} {key}: lost")
        for key in g.keys() - w.keys():
            out["doubled"] += 1
            out["examples"].append(f"{table} {key}: not in the uninterrupted run")
        for key in w.keys() & g.keys():
            if not _same(w[key], g[key]):
                out["differing"] += 1
                out["examples"].append(f"{table} {key}: {w[key]} != {g[key]}")
    return out


def _same(a: tuple, b: tuple) -> bool:
    return all(x == y or (isinstance(x, float) and isinstance(y, float) and x != x and y != y) for x, y in zip(a, b))


# -- the fork servers (their code: bench.instruments.crashserver) -----------------------------
class _Server:
    def __init__(self, hash_seed: int, suites: list[str]):
        env = dict(os.environ, PYTHONHASHSEED=str(hash_seed))
        env.pop("AERIAL_HPO_KILL_AT_WRITE", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.instruments.crashserver", *suites], cwd=REPO, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def run(self, argv: list[str], log: Path, env: dict | None = None, kill_after: float | None = None) -> dict:
        req = {"argv": argv, "env": env or {}, "log": str(log), "kill_after": kill_after}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"crash-test fork server ended unexpectedly (exit {self.proc.poll()})")
        return json.loads(line)

    def close(self) -> None:
        """End the server (its work is done): at the end of its input, or killed when it takes longer
        than 60 s to exit (a loaded machine)."""
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the sweep --------------------------------------------------------------------------------
@dataclass
class Report:
    suite: str
    writes: int = 0
    kills: int = 0
    rows: int = 0
    lost: int = 0
    doubled: int = 0
    differing: int = 0
    errors: list = field(default_factory=list)     # (k, what went wrong)
    examples: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.differing or self.errors) and self.kills > 0

    def line(self) -> str:
        return (f"{self.suite}: {self.kills} kills (store writes 1-{self.writes}), {self.rows} rows compared, "
                f"{self.lost} lost, {self.doubled} doubled, {self.differing} differing, {len(self.errors)} errors")


def crash_test(suite: Path, work: Path, jobs: int = 2, extra_args: list[str] | None = None,
               stop_after: int | None = None, progress=None, start_at: int = 1) -> Report:
    """Kill ``suite``'s run at every store write k (``start_at`` ... its last, or ``stop_after``,
    both inclusive), resume each
    in a fresh process and compare with an uninterrupted run. ``work``: a scratch folder (emptied).
    ``jobs``: kills run side by side. ``progress(k, text)`` is called after each k."""
    suite, work = Path(suite).resolve(), Path(work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    args = ["--no-progress", *(extra_args or [])]
    pairs = [(_Server(1, [str(suite)]), _Server(2, [str(suite)])) for _ in range(max(1, jobs))]
    report = Report(str(suite))
    try:
        ref = work / "reference"
        res = pairs[0][1].run(["run", str(suite), "--results", str(ref), *args], work / "reference.log")
        if res["rc"] != 0:
            raise RuntimeError(f"the uninterrupted run failed (exit {res['rc']}); see {work / 'reference.log'}")
        want = snapshot(ref / "results.db")
        ref1 = work / "reference-hashseed1"  # the same run in a process of another hash seed
        res = pairs[0][0].run(["run", str(suite), "--results", str(ref1), *args], work / "reference-hashseed1.log")
        other = compare(want, snapshot(ref1 / "results.db")) if res["rc"] == 0 else None
        if other is None or other["lost"] or other["doubled"] or other["differing"]:
            report.errors.append((0, "the uninterrupted run differs between PYTHONHASHSEED 1 and 2: "
                                     + ("; ".join(other["examples"][:3]) if other else f"exit {res['rc']}")))
        last = [10 ** 9]  # the first k the run survived
        nxt = [max(1, int(start_at))]
        lock = threading.Lock()

        def worker(killer: _Server, resumer: _Server):
            while True:
                with lock:
                    k, nxt[0] = nxt[0], nxt[0] + 1
                if k > last[0] or (stop_after and k > stop_after):
                    return
                out = work / f"k{k}"
                res = killer.run(["run", str(suite), "--results", str(out), *args], work / f"k{k}-killed.log",
                                 {"AERIAL_HPO_KILL_AT_WRITE": str(k)})
                if res["signal"] != signal.SIGKILL:
                    with lock:
                        if res["rc"] == 0:
                            last[0] = min(last[0], k)
                        else:
                            report.errors.append((k, f"killed run ended with exit {res['rc']}, not SIGKILL"))
                    shutil.rmtree(out, ignore_errors=True)
                    continue
                res = resumer.run(["run", str(suite), "--results", str(out), *args], work / f"k{k}-resumed.log")
                with lock:
                    report.kills += 1
                    if res["rc"] != 0:
                        report.errors.append((k, f"resume exited {res['rc']}: "
                                                 f"{_tail(work / f'k{k}-resumed.log')}"))
                    else:
                        c = compare(want, snapshot(out / "results.db"))
                        for name in ("rows", "lost", "doubled", "differing"):
                            setattr(report, name, getattr(report, name) + c[name])
                        report.examples += [f"k={k}: {e}" for e in c["examples"][:3]]
                    if progress:
                        progress(k, report.line())
                if not report.errors and not report.examples:
                    shutil.rmtree(out, ignore_errors=True)

        threads = [threading.Thread(target=worker, args=p) for p in pairs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        report.writes = last[0] - 1 if last[0] < 10 ** 9 else (stop_after or 0)
        # kills past the last write (a parallel worker may have started one) are not kills
    finally:
        for killer, resumer in pairs:
            killer.close()
            resumer.close()
    return report


@dataclass
class AttackReport:
    suite: str
    args: list
    kills: int = 0           # SIGKILLs that landed on a running driver
    survived: int = 0        # runs that ended before their kill moment (not counted as kills)
    stores: int = 0          # killed stores resumed to the end and compared
    rows: int = 0
    lost: int = 0
    doubled: int = 0
    differing: int = 0
    orphans: int = 0         # processes of a killed driver still running after it (should be none)
    scratch: int = 0         # aerial-hpo-run-* folders left in the temp directory after the last resume
    reference_seconds: float = 0.0
    errors: list = field(default_factory=list)
    examples: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not (self.lost or self.doubled or self.differing or self.orphans or self.scratch or self.errors)
                and self.kills > 0)

    def line(self) -> str:
        extra = f" with {' '.join(self.args)}" if self.args else ""
        return (f"{self.suite}{extra}: {self.kills} kills at random moments ({self.stores} stores, "
                f"{self.survived} runs ended before their moment), {self.rows} rows compared, {self.lost} lost, "
                f"{self.doubled} doubled, {self.differing} differing, {self.orphans} orphan processes, "
                f"{self.scratch} scratch folders left, {len(self.errors)} errors")


def random_attack(suite: Path, work: Path, kills: int, jobs: int = 2, extra_args: list[str] | None = None,
                  seed: int = 0, progress=None) -> AttackReport:
    """SIGKILL ``suite``'s run at random moments until ``kills`` kills have landed, resume, compare.

    Unlike :func:`crash_test` the moment is not a store write: each store is started in a process of
    hash seed 1 and its driver's PID alone is SIGKILLed after a time drawn uniformly from (0, T), T the
    uninterrupted run's seconds; its resume (hash seed 3) is SIGKILLed again at another such moment
    when it is still running then; a last resume (hash seed 2, as the uninterrupted run) takes it to
    the end, and every row is compared with the uninterrupted run (:func:`compare`). ``extra_args``
    (e.g. ``["--processes", "2"]``) go to every ``bench run``; each store has its own TMPDIR, so
    that scratch folders left behind are counted, and the processes below a killed driver
    (pool workers, resource tracker) must be gone 20 s after it (``orphans``).
    ``seed``: the moments' random generator (the same seed draws the same moments)."""
    suite, work = Path(suite).resolve(), Path(work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    args = ["--no-progress", *(extra_args or [])]
    servers = [(_Server(1, [str(suite)]), _Server(3, [str(suite)]), _Server(2, [str(suite)]))
               for _ in range(max(1, jobs))]
    report = AttackReport(str(suite), list(extra_args or []))
    try:
        ref = work / "reference"
        res = servers[0][2].run(["run", str(suite), "--results", str(ref), *args], work / "reference.log")
        if res["rc"] != 0:
            raise RuntimeError(f"the uninterrupted run failed (exit {res['rc']}); see {work / 'reference.log'}")
        want, span = snapshot(ref / "results.db"), res["seconds"]
        report.reference_seconds = span
        ref1 = work / "reference-hashseed1"
        res = servers[0][0].run(["run", str(suite), "--results", str(ref1), *args], work / "reference-hashseed1.log")
        other = compare(want, snapshot(ref1 / "results.db")) if res["rc"] == 0 else None
        if other is None or other["lost"] or other["doubled"] or other["differing"]:
            report.errors.append((0, "the uninterrupted run differs between PYTHONHASHSEED 1 and 2: "
                                     + ("; ".join(other["examples"][:3]) if other else f"exit {res['rc']}")))
        lock = threading.Lock()
        nxt = [0]

        def worker(first: _Server, second: _Server, last: _Server):
            while True:
                with lock:
                    if report.kills >= kills or report.errors:
                        return
                    i, nxt[0] = nxt[0], nxt[0] + 1
                rng = random.Random(f"{seed}:{i}")
                out, tmp = work / f"s{i}", work / f"s{i}-tmp"
                tmp.mkdir()
                env = {"TMPDIR": str(tmp)}
                landed = 0
                for n, (server, tag) in enumerate(((first, "killed"), (second, "killed-again"))):
                    moment = rng.uniform(0.0, span)
                    res = server.run(["run", str(suite), "--results", str(out), *args], work / f"s{i}-{tag}.log",
                                     env, kill_after=moment)
                    with lock:
                        if res["signal"] == signal.SIGKILL:
                            landed += 1
                            report.kills += 1
                            report.orphans += len(res["orphans"] or [])
                            if res["orphans"]:
                                report.examples.append(f"s{i}: processes {res['orphans']} outlived the "
                                                       f"driver killed at {moment:.2f} s")
                        elif res["rc"] == 0:
                            report.survived += 1
                        else:
                            report.errors.append((i, f"{tag} run ended with exit {res['rc']}: "
                                                     f"{_tail(work / f's{i}-{tag}.log')}"))
                    if res["signal"] != signal.SIGKILL:
                        break
                if not landed:
                    shutil.rmtree(out, ignore_errors=True)
                    shutil.rmtree(tmp, ignore_errors=True)
                    continue
                res = last.run(["run", str(suite), "--results", str(out), *args], work / f"s{i}-resumed.log", env)
                left = [p.name for p in tmp.iterdir()]
                with lock:
                    report.stores += 1
                    report.scratch += len(left)
                    if left:
                        report.examples.append(f"s{i}: left in the temp directory: {left[:3]}")
                    if res["rc"] != 0:
                        report.errors.append((i, f"resume exited {res['rc']}: {_tail(work / f's{i}-resumed.log')}"))
                    else:
                        c = compare(want, snapshot(out / "results.db"))
                        for name in ("rows", "lost", "doubled", "differing"):
                            setattr(report, name, getattr(report, name) + c[name])
                        report.examples += [f"s{i}: {e}" for e in c["examples"][:3]]
                    clean = not report.errors and not report.examples
                    if progress:
                        progress(i, report.line())
                if clean:
                    shutil.rmtree(out, ignore_errors=True)
                    shutil.rmtree(tmp, ignore_errors=True)

        threads = [threading.Thread(target=worker, args=s) for s in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for trio in servers:
            for server in trio:
                server.close()
    return report


def _tail(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return lines[-1][:300] if lines else "(empty log)"

