"""A replayed suite's runs side by side in several processes (``bench run SUITE --processes P``).

A replayed run is seconds of one core's work (the tuner's own time, mostly), so a sweep of
thousands of runs is bound by one process; this spreads whole runs over ``P`` processes.
Each run is driven by the same :class:`bench.loop.runner.Runner` as in one process, into a
scratch store of its own; when it ends, the parent copies its rows into the suite's store
in one transaction (:meth:`bench.storage.store.Store.add_run_rows`), in the order they are driven
(the suite's; runs that differ in B alone go to one child together and are stored together: ``bench.loop.prefix``).
So the suite's store only ever holds whole runs from a process: a crash (of the parent or
of a child) loses at most the runs in flight, which are redone from their start on the
next ``bench run``, and never a decided row of a stored run. Runs a single-process
sitting left unfinished are resumed first, in this process, as ``bench run`` would.

The asks, tells and results of every run are those of the one-process runner (tested);
wall-clock columns differ, and a run's ``wall_seconds`` is its own process's, which
shares the machine with ``P - 1`` others. Children are started with ``spawn`` (no
inherited threads or locks) and pay Python's imports once each; their numerical
libraries run on one thread, as every replay does (``bench.loop.runner``).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from bench.loop import dataguard, prefix
from bench.loop.lifeline import die_with_parent
from bench.storage.scratch import reap_stale, scratch_root
from bench.storage.packing import DB_NAME, PACKED, unpack
from bench.storage.store import ENDED, Store, read_store
from bench.config.suite import Suite, check_unchanged

log = logging.getLogger("bench.loop.sweep")

_SUITE: Suite | None = None  # a child's suite, set once by _init
_SCRATCH: Path | None = None  # the driver's scratch folder (bench.storage.scratch), set once by _init
_REUSE = True  # prefix reuse (bench.loop.prefix), set once by _init


def _init(suite: Suite, level: int, parent: int | None = None, scratch: Path | None = None,
          reuse: bool = True) -> None:
    global _SUITE, _SCRATCH, _REUSE
    if parent is not None:  # a killed driver takes its pool with it
        die_with_parent(parent)
    _SUITE, _SCRATCH, _REUSE = suite, scratch, reuse
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for name in ("bench.run", "bench.loop.backend"):  # a run's "done ..." line is the parent's to say
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def _run_bundle(keys: list[str]) -> list[dict]:
    """In a child: run ``keys`` (one run, or a run and the smaller ones cut from it: ``bench.loop.prefix``)
    into a scratch store; return each run's rows (``Store.run_rows``) in the order the store holds them."""
    from bench.loop.runner import Runner

    scratch = Path(tempfile.mkdtemp(prefix="aerial-hpo-run-", dir=_SCRATCH))
    try:
        Runner(_SUITE, scratch, progress=False, prefix_reuse=_REUSE).run(keys=set(keys))
        with read_store(scratch / DB_NAME) as store:
            return [store.run_rows(r["run_key"]) for r in store.runs()]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_in_processes(suite: Suite, results: Path, processes: int, progress: bool = True,
                     prefix_reuse: bool = True) -> int:
    """Run (or resume) a replay suite with ``processes`` (>= 1) worker processes; returns 0. With
    ``prefix_reuse`` the runs that differ in B alone go to one process together (``bench.loop.prefix``)."""
    from bench.loop.runner import Runner

    if suite.backend != "replay":
        raise ValueError("--processes is for replayed suites; train in parallel with --workers or --scheduler")
    if processes < 1:
        raise ValueError(f"--processes must be at least 1, got {processes}")
    results = Path(results)
    if not (results / DB_NAME).exists() and (results / PACKED).is_file():
        log.info("unpacking %s to resume from it", results / PACKED)
        unpack(results)
    store = Store(results / DB_NAME, lock=True)
    try:
        dataguard.check_store(suite, store)  # runs answered from other data: refused (one line)
        dataguard.check_unchanged_since(suite, suite.curves_hash)
        check_unchanged(suite, store)
        runs = suite.runs()
        rows = {s.key: store.run(s.key) for s in runs}
    finally:
        store.close()
    reap_stale()  # scratch folders of killed drivers (also when this sitting only resumes)
    partial = {k for k, r in rows.items() if r is not None and r["status"] not in ENDED}
    fresh = [s.key for s in runs if rows[s.key] is None]
    if len(runs) > len(partial) + len(fresh):
        log.info("%d of %d run(s) already done in %s: skipped", len(runs) - len(partial) - len(fresh), len(runs),
                 results / DB_NAME)
    if partial:  # a one-process sitting's unfinished runs: resumed here, by re-telling their logs
        log.info("resuming %d unfinished run(s) in this process first", len(partial))
        Runner(suite, results, progress=progress, prefix_reuse=prefix_reuse).run(keys=partial)
    if not fresh:
        return 0
    fresh_set = set(fresh)
    bundles = (prefix.groups([s for s in runs if s.key in fresh_set], fresh_set) if prefix_reuse
               else [[k] for k in fresh])
    # AERIAL_HPO_KILL_SWEEP_AFTER=k (tests): SIGKILL this process group once k runs are stored
    kill_after = int(os.environ.get("AERIAL_HPO_KILL_SWEEP_AFTER", "0") or "0")
    store = Store(results / DB_NAME, lock=True)
    ctx = multiprocessing.get_context("spawn")
    scratch = scratch_root()  # the children's scratch stores, removed with it below
    bar = tqdm(total=len(fresh), desc=suite.name, unit="run", dynamic_ncols=True, disable=None if progress else True)
    stored = 0
    try:
        with ProcessPoolExecutor(max_workers=min(processes, len(bundles)), mp_context=ctx, initializer=_init,
                                 initargs=(suite, logging.getLogger().getEffectiveLevel(), os.getpid(),
                                           scratch, prefix_reuse)) as pool:
            try:
                for keys, bundle in zip(bundles, pool.map(_run_bundle, bundles)):  # in the order they are driven
                    for run_rows in bundle:
                        store.add_run_rows(run_rows)
                        stored += 1
                        bar.update(1)
                        if stored == kill_after:  # fault injection: the whole process group dies, children mid-run
                            os.killpg(os.getpgid(0), signal.SIGKILL)
                    log.debug("stored %s", ", ".join(keys))
            except BaseException:  # an error, Ctrl-C, SIGTERM: the runs in flight are given up (redone next time)
                _stop(pool)
                raise
    finally:
        bar.close()
        store.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _stop(pool: ProcessPoolExecutor) -> None:
    """End a pool's workers now (SIGTERM, then SIGKILL after 30 s) and wait for them, so that none
    writes into the scratch folder after it is removed; runs in flight are lost from the scratch
    stores only (the suite's store holds whole runs)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=10)
