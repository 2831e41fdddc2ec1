"""Running a suite: the main loop. Tuners ask, a backend answers, the store records.

A run is one (method label, B, seed). It asks its tuner for jobs whenever a worker
is free and it has fewer than its ``workers`` jobs in flight (the suite's worker count per
run: simulated in replay; in real training a cap, which the sitting's workers must be able to
hold; with ``workers = 1`` a run on a Dask cluster asks one job at a time, as the same run
replayed does, and the other workers train other runs), until the tuner is finished or the next job would overshoot B * R epochs
(``bench.loop.ledger``: that job is recorded as ``skipped`` with its overshoot, and the
run stops cleanly). Its jobs are answered by its backend (``bench.loop.backend``: real
training, or "replay" from recorded curves), chosen once per run. Real training runs
in-process or on Dask (``bench.loop.executor``); replay runs on ``workers`` simulated
workers (``bench.loop.simworkers``). A run that did not finish is resumed by re-telling
its log to a fresh tuner (``bench.loop.retell``); checkpoints are kept and pruned by
``bench.loop.checkpoints``; the rows written are built in ``bench.loop.rows``. When a run ends
its incumbent (``bench.loop.runstate``) is evaluated on the test split.
"""
from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from pathlib import Path

from methods import FINISHED, WAIT, make_tuner
from methods.base import Job
from segmentation.data import DatasetError

from bench.loop import dataguard, prefix, rows
from bench.loop.backend import make_backend
from bench.loop.checkpoints import safe_name
from bench.tables.curves import UnrecordedBudget
from bench.loop.executor import make_executor
from bench.loop.guard import FailureGuard, RunStuck
from bench.storage.scratch import reap_stale
from bench.loop.ledger import Ledger
from bench.storage.packing import DB_NAME, PACKED, unpack
from bench.loop.retell import ResumeError, retell
from bench.loop.runstate import RunState, objective
from bench.loop.simworkers import SimulatedWorkers
from bench.storage.store import ENDED, Store, now
from bench.config.suite import RunSpec, Suite, SuiteChanged, SuiteError, check_unchanged

log = logging.getLogger("bench.run")

__all__ = ["Runner", "SuiteChanged", "ResumeError", "RunStuck", "fresh_start"]


def _progress_logging(progress: bool):
    """Log lines printed above the progress bars (tqdm's redirect) when there are bars; nothing otherwise."""
    if not progress:
        return contextlib.nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm
    return logging_redirect_tqdm()


class Runner:
    def __init__(self, suite: Suite, results: Path, workers: int | None = None, scheduler: str | None = None,
                 data: str | None = None, device: str | None = None, checkpoints: Path | None = None,
                 progress: bool = True, prefix_reuse: bool = True):
        self.suite = suite
        self.results = Path(results)
        if not (self.results / DB_NAME).exists() and (self.results / PACKED).is_file():
            log.info("unpacking %s to resume from it", self.results / PACKED)
            unpack(self.results)
        self.store = Store(self.results / DB_NAME, lock=True)  # one driver per store (StoreLocked)
        self.ckroot = Path(checkpoints) if checkpoints else self.results / "checkpoints"
        self.workers, self.scheduler = workers, scheduler
        self.data, self.device = data, device
        self.progress = progress
        self.executor = None
        self.futures: dict = {}   # future -> (RunState, Job, or None for the incumbent's test)
        self.guard = FailureGuard()  # stops a run whose trials keep failing without spending budget
        self.data_hash: str | None = None  # the data this sitting answers from (bench.loop.dataguard), set by check_suite
        # replay on simulated workers: runs that differ in B alone are replayed once (bench.loop.prefix)
        self.prefix_reuse = prefix_reuse and suite.backend == "replay" and not (workers or scheduler)
        self.cuts: dict[str, list[RunSpec]] = {}  # driven run's key -> the smaller runs cut from it

    def check_suite(self) -> None:
        """Refuse a store whose runs were answered from other data (``bench.loop.dataguard``), then one whose
        runs the suite would now change (``SuiteChanged``)."""
        now = dataguard.check_store(self.suite, self.store, self.data)
        # replay: the table's hash when the suite was loaded (in a --processes child, by its driver)
        self.data_hash = self.suite.curves_hash if self.suite.backend == "replay" else now
        dataguard.check_unchanged_since(self.suite, self.data_hash, self.data)
        check_unchanged(self.suite, self.store)

    def _executor(self):
        """Replay runs on the suite's simulated workers unless a Dask cluster is asked for (each run
        gets its own count when it starts: ``SimulatedWorkers.reset``)."""
        if self.suite.backend == "replay" and not (self.workers or self.scheduler):
            return SimulatedWorkers(max(self.suite.worker_counts))
        return make_executor(self.workers, self.scheduler)

    def _check_capacity(self) -> None:
        """Real training: a run's ``workers`` (jobs in flight) must fit the sitting's workers, or the
        store would say it had workers it never had."""
        need = max(self.suite.worker_counts)
        if self.suite.backend != "replay" and need > self.executor.capacity:
            raise SuiteError(f"{self.suite.path}: key 'workers': expected at most the {self.executor.capacity} "
                             f"worker(s) this sitting has (start as many with --workers N or a --scheduler "
                             f"cluster), got {need}")

    # -- the loop ---------------------------------------------------------------------
    def run(self, keys: set[str] | None = None) -> int:
        """Run (or resume) the suite's runs that are not done; ``keys``: only these runs."""
        reap_stale()  # temp folders of killed drivers (a kill while the suite was checked leaves one)
        try:
            self.check_suite()
            runs = [s for s in self.suite.runs() if keys is None or s.key in keys]
            stored = {s.key: self.store.run(s.key) for s in runs}
            todo = [s for s in runs if stored[s.key] is None or stored[s.key]["status"] not in ENDED]
            if self.ckroot.is_dir():  # a kill between "done" and the deletion of its checkpoints leaves them
                left = {s.key for s in todo}
                for s in runs:
                    if s.key not in left and (self.ckroot / safe_name(s.key)).is_dir():
                        shutil.rmtree(self.ckroot / safe_name(s.key), ignore_errors=True)
            if len(runs) > len(todo):
                log.info("%d of %d run(s) already done in %s: skipped", len(runs) - len(todo), len(runs),
                         self.store.path)
            if self.prefix_reuse:
                todo, self.cuts = prefix.plan(todo, {s.key for s in todo if stored[s.key] is None})
            self.executor = self._executor()
            try:
                self._check_capacity()
            except SuiteError:
                self.executor.close()
                raise
            with _progress_logging(self.progress), _library_threads(self.suite.backend):
                self._loop([], todo)
        finally:  # also on an error: the store is folded and its driver lock let go
            self.store.close()
        return 0

    def _loop(self, active: list[RunState], todo: list[RunSpec]) -> None:
        try:
            while todo or active:
                self._fill(active, todo)
                if not self.futures:
                    if active or todo:
                        raise RuntimeError("no job in flight and no run can go on: "
                                           + ", ".join(st.spec.key for st in active))
                    break
                for fut in self.executor.wait_any(self.futures):
                    st, job = self.futures.pop(fut)
                    if job is None:
                        self._tested(st, fut)
                    else:
                        self._done(st, job, fut)
        finally:
            for st in active:
                if st.bar is not None:
                    st.bar.close()
            self.executor.close()

    def _fill(self, active: list[RunState], todo: list[RunSpec]) -> None:
        """Hand out work until every worker is busy or no run has work to hand out."""
        moved = True
        while moved:
            moved = False
            for st in list(active):
                if st.stopped and not st.inflight and not st.testing:
                    if st.best is not None and st.tested is None:
                        st.testing = True
                        self.futures[st.backend.submit_test(self.executor, st.best)] = (st, None)
                    else:
                        self._finish(st, active)
                    moved = True
                    continue
                for job in list(st.inflight.values()):  # jobs to redo after a resume
                    if job.job_id not in st.submitted and self._free() > 0:
                        self._submit(st, job)
                while self._free() > 0 and not st.stopped and len(st.inflight) < st.spec.workers:
                    job = self._ask(st)
                    if job is None:
                        break
                    self._submit(st, job)
                    moved = True
                if st.stopped and not st.inflight and not st.testing:
                    moved = True  # its test or its end comes next round
            # serial: one run at a time, so each run's wall clock is its own; parallel: start another
            # run whenever every active one is stopped or waiting on work in flight
            ready = not active if self.executor.serial else all(st.stopped or st.inflight for st in active)
            if self._free() > 0 and todo and ready:
                st = self._start(todo.pop(0))
                if st is not None:
                    active.append(st)
                moved = True

    def _free(self) -> int:
        return self.executor.capacity - sum(1 for _, j in self.futures.values() if j is not None)

    # -- a run's start and end ---------------------------------------------------------
    def _start(self, spec: RunSpec) -> RunState | None:
        from segmentation.profiles import get_profile
        from segmentation.space import search_space

        dataguard.check_unchanged_since(self.suite, self.data_hash, self.data)  # edited while the suite ran
        backend = make_backend(spec, self.ckroot, self.results, self.data, self.device)
        backend.prepare()
        workdir = self.ckroot / safe_name(spec.key) / "tuner"  # for tuners that insist on writing files
        try:
            tuner = make_tuner(spec.method, search_space(get_profile(spec.profile)), spec.seed, spec.min_budget,
                               spec.max_budget, workdir=workdir, **spec.params)
            # recorded configurations only: "table" for base-class samplers, "candidates" for every method
            # (a library that cannot choose from a set refuses: the run is infeasible, with its reason)
            if spec.sampling == "candidates" or (spec.sampling == "table" and not tuner.own_sampler):
                tuner.set_candidates(backend.candidates())
        except ValueError as exc:  # e.g. n = 81 configurations cannot fit into B = 27 epochs
            tuner, infeasible = None, str(exc)
        else:
            infeasible = None
        st = RunState(spec, tuner, backend, Ledger(spec.budget_epochs))
        cut_specs = self.cuts.pop(spec.key, [])
        prov = dict(rows.provenance(self.device, replay=spec.backend == "replay"), data_hash=self.data_hash)
        if spec.backend != "replay":  # real training: how many trials this sitting's workers put on one device
            prov["trials_per_device"] = self.executor.trials_per_device
        if infeasible is not None:
            prov.update(status="infeasible", error=infeasible, ended=now())
            log.warning("%s is infeasible: %s", spec.key, infeasible)
            shutil.rmtree(workdir.parent, ignore_errors=True)
        row = self.store.run(spec.key)
        if row is None:
            with self.store.batch():
                self.store.add_run(rows.run_row(self.suite, spec, prov))
                if infeasible is not None:  # the same tuner, the same refusal at every B
                    for c in cut_specs:
                        self.store.add_run(rows.run_row(self.suite, c, prov))
            st.cuts = prefix.shadows(cut_specs)
        elif infeasible is not None:
            self.store.update_run(spec.key, **prov)
        else:
            st.tuner_seconds, st.eval_seconds = row["tuner_seconds"] or 0.0, row["eval_seconds"] or 0.0
            st.started -= row["wall_seconds"] or 0.0  # wall time adds up over sittings
            self.store.update_run(spec.key, **prov)
            retell(st, self.store.jobs(spec.key))
        if infeasible is not None:
            return None
        if self.executor.simulated:
            self.executor.reset(st.clock, spec.workers)
        if self.progress:
            from tqdm import tqdm  # progress bars only: a run without them never imports tqdm
            st.bar = tqdm(total=spec.budget_epochs, desc=spec.key, unit="ep", dynamic_ncols=True,
                          disable=None)  # None: only on a terminal
            st.bar.update(st.ledger.spent)
            self._postfix(st)
        return st

    def _tested(self, st: RunState, fut) -> None:
        try:
            res = fut.result()
        except DatasetError:
            raise
        except Exception as exc:  # e.g. its checkpoint is unreadable: recorded, and the run ends untested
            error = f"incumbent test failed: {type(exc).__name__}: {exc}"
            log.warning("%s: %s", st.spec.key, error)
            self.store.update_run(st.spec.key, error=error)
            st.tested, st.testing = {"failed": error}, False
            return
        self.store.set_incumbent(rows.incumbent_row(st.spec, st.best, res))
        st.eval_seconds += res["seconds"]
        st.tested, st.testing = res, False

    def _finish(self, st: RunState, active: list[RunState]) -> None:
        for cut in list(st.cuts):  # not reached when the tuner finishes first (written at its FINISHED)
            self._write_cut(st, cut)
        if st.best is None:
            log.warning("%s: no trial succeeded, so there is no incumbent", st.spec.key)
        st.backend.checkpoints.keep_incumbent(st.best, self.results / "incumbents")  # see .gitignore
        wall = time.perf_counter() - st.started
        answered = {}
        if st.backend.name == "replay":  # how the table answered this run's asks
            answered = st.backend.stats([json.loads(j["config"]) for j in self.store.jobs(st.spec.key)
                                         if j["status"] != "skipped"])
        self.store.update_run(st.spec.key, **dict(rows.totals(st), status="done", ended=now(),
                                                  overshoot=st.ledger.overshoot, wall_seconds=wall, **answered))
        # only now: a kill before the run is recorded done leaves its resume the checkpoints it needs
        shutil.rmtree(self.ckroot / safe_name(st.spec.key), ignore_errors=True)
        if st.bar is not None:
            st.bar.close()
        active.remove(st)
        test = f"{st.tested['miou']:.4f}" if st.tested and "miou" in st.tested else "n/a"
        log.info("done %s: %d/%d epochs (%d if every promotion had restarted), %d trials, overshoot %s, "
                 "best val mIoU %.4f, incumbent test mIoU %s, peak checkpoint disk %.1f MB, tuner %.2f s, "
                 "wall %.1f s", st.spec.key, st.ledger.spent, st.spec.budget_epochs, st.ledger.restart,
                 len(st.trials), st.ledger.overshoot, st.best_miou, test,
                 st.backend.checkpoints.peak_disk / 1e6, st.tuner_seconds, wall)

    # -- one job: ask, submit, done ------------------------------------------------------
    def _ask(self, st: RunState) -> Job | None:
        t0 = time.perf_counter()
        job = st.tuner.ask()
        st.tuner_seconds += time.perf_counter() - t0
        if job is WAIT:
            if not st.inflight:
                raise RuntimeError(f"run {st.spec.key}: the tuner waits with nothing in flight")
            return None
        if job is FINISHED:
            st.stopped = True
            for cut in list(st.cuts):  # the smaller runs' tuners finish here too
                self._write_cut(st, cut)
            return None
        seq = st.next_seq()
        st.trials.add(job.trial_id)
        ck = st.backend.checkpoints.continues(job)
        for cut in list(st.cuts):  # a smaller run whose budget this job overshoots ends here
            if not cut.ledger.admit(job, ck is not None):
                self._write_cut(st, cut, job, seq, ck is not None)
        if not st.ledger.admit(job, ck is not None):
            st.stopped = True
            with self.store.batch():
                self._skip(st.spec.key, job, seq, st.ledger, ck is not None)
            return None
        worker, started = self.executor.slot() if self.executor.simulated else (None, None)
        self.store.add_job(st.spec.key, job, seq, started=started, worker=None if worker is None else str(worker))
        st.inflight[job.job_id] = job
        st.ckpt_in[job.job_id] = ck
        st.placed[job.job_id] = (worker, started, seq)
        return job

    def _submit(self, st: RunState, job: Job) -> None:
        ck = st.ckpt_in.get(job.job_id)
        st.submitted.add(job.job_id)
        where = {}
        if self.executor.simulated:
            worker, started, order = st.placed[job.job_id]
            if started is None or not str(worker).isdigit():  # asked under Dask, redone here: start now
                worker, started = self.executor.slot()
            where = {"worker": int(worker), "started": float(started), "order": order}
        on_epoch = None
        if self.executor.serial and st.backend.checkpoints.keeps_files:  # rows go to the store as epochs end
            start, spent = (job.resumes_from if ck else 0), st.ledger.spent
            on_epoch = lambda e: self.store.add_evaluation(rows.epoch_row(st.spec, job, e, start, spent))  # noqa
        self.futures[st.backend.submit(self.executor, job, ck, on_epoch, **where)] = (st, job)

    def _done(self, st: RunState, job: Job, fut) -> None:
        try:
            res = fut.result()
        except DatasetError:  # the data, not the trial: stop the suite with nothing marked done
            raise
        except UnrecordedBudget as exc:  # the suite asks what the table cannot answer: stop, in one line
            raise SuiteError(f"{self.suite.path}: {st.spec.key}: {exc}") from None
        except Exception as exc:  # the worker died more often than allowed, or the job could not start
            res = {"status": "failed", "epochs": [], "error": f"{type(exc).__name__}: {exc}",
                   "epochs_trained": 0, "start": 0, "seconds": 0.0}
        if res["status"] == "ok" and not res["epochs"]:
            res["status"], res["error"] = "failed", "no epoch trained: the checkpoint was already at the resource"
        ok = res["status"] == "ok"
        loss = res["epochs"][-1]["val_loss"] if ok else None
        miou = res["epochs"][-1]["val_miou"] if ok else None
        # rows already written (serial training) are ignored by the store
        evals = [rows.epoch_row(st.spec, job, e, res["start"], st.ledger.spent) for e in res["epochs"]]
        failed = None if ok else rows.failure_row(st.spec, job, res, st.ledger.spent)
        if not ok:
            log.warning("%s trial %d failed: %s", st.spec.key, job.trial_id, (res["error"] or "").splitlines()[0])
        seq = st.next_seq()
        st.ledger.settle(job, res["epochs_trained"])
        for cut in st.cuts:
            cut.ledger.settle(job, res["epochs_trained"])
        st.eval_seconds += res["seconds"]
        del st.inflight[job.job_id]
        st.ckpt_in.pop(job.job_id, None)
        st.placed.pop(job.job_id, None)
        told = objective(st.spec, res["status"], loss, miou)
        t0 = time.perf_counter()
        st.tuner.tell(job, told)
        st.tuner_seconds += time.perf_counter() - t0
        st.account(job, res["status"], told, loss, miou)
        with self.store.batch():  # the job's epochs, its outcome and the run's totals: all or none
            self.store.add_evaluations(evals)
            if failed is not None:
                self.store.add_evaluation(failed)
            self.store.finish_job(st.spec.key, job.job_id, res["status"], loss, seq, res["epochs_trained"],
                                  res["error"], miou, started=res.get("started"), finished=res.get("finished"),
                                  worker=res.get("worker"))
            self.store.update_run(st.spec.key, **rows.totals(st))
        if st.backend.checkpoints.keeps_files:
            st.backend.checkpoints.prune(st.inflight.values(), st.ckpt_in.values(), st.best, st.reached,
                                         st.tuner.alive_trials())
        if st.bar is not None:
            st.bar.update(res["epochs_trained"])
            self._postfix(st)
        self.guard.note(st.spec.key, res["status"], res["epochs_trained"], res["error"])  # RunStuck: no livelock

    def _skip(self, key: str, job: Job, seq: int, ledger, continues: bool) -> None:
        """The job a run's budget refuses, recorded ``skipped`` with its overshoot (inside the caller's batch)."""
        cost, left = ledger.cost(job, continues), ledger.left
        self.store.add_job(key, job, seq)
        self.store.finish_job(key, job.job_id, "skipped", None, None, 0,
                              f"budget: needs {cost} epochs, {left} left; overshoot {ledger.overshoot}",
                              overshoot=ledger.overshoot)

    def _write_cut(self, st: RunState, cut: prefix.Cut, job: Job | None = None, seq: int | None = None,
                   continues: bool = False) -> None:
        """A smaller run cut from ``st`` (``bench.loop.prefix``), written whole in one transaction: the
        driven run's jobs and epochs so far under its key, ``job`` (the first its budget refuses, asked
        as ``seq``; None when the tuner finished first) recorded skipped, its incumbent's test and its
        totals, as its own run would have written them."""
        st.cuts.remove(cut)
        spec, driven = cut.spec, self.store.run(st.spec.key)
        copied = self.store.run_rows(st.spec.key)
        tested, error = None, None
        if st.best is not None:
            try:
                tested = st.backend.submit_test(self.executor, st.best).result()
            except DatasetError:
                raise
            except Exception as exc:  # as ``_tested`` records it
                error = f"incumbent test failed: {type(exc).__name__}: {exc}"
        row = rows.run_row(self.suite, spec, {c: driven[c] for c in rows.PROVENANCE if c in driven.keys()})
        row["started"] = driven["started"]
        jcols, jrows = copied["jobs"]
        answered = st.backend.stats([json.loads(r[jcols.index("config")]) for r in jrows
                                     if r[jcols.index("status")] != "skipped"])
        totals = dict(rows.totals(st), epochs_spent=cut.ledger.spent, epochs_restart=cut.ledger.restart,
                      eval_seconds=st.eval_seconds + (tested["seconds"] if tested else 0.0))
        with self.store.batch():
            self.store.add_run(row)
            self.store.add_run_rows({t: _rekey(copied[t], spec.key) for t in ("jobs", "evaluations")})
            if job is not None:
                self._skip(spec.key, job, seq, cut.ledger, continues)
            if tested is not None:
                self.store.set_incumbent(rows.incumbent_row(spec, st.best, tested))
            self.store.update_run(spec.key, **dict(totals, status="done", ended=now(), overshoot=cut.ledger.overshoot,
                                                   **({"error": error} if error else {}), **answered))
        log.info("done %s (cut from %s): %d/%d epochs, overshoot %s", spec.key, st.spec.key, cut.ledger.spent,
                 spec.budget_epochs, cut.ledger.overshoot)

    def _postfix(self, st: RunState) -> None:
        if st.bar is not None:
            st.bar.set_postfix(trials=len(st.trials), best_val_mIoU=f"{st.best_miou:.3f}", refresh=False)


def _rekey(table: tuple[tuple[str, ...], list[tuple]], key: str) -> tuple[tuple[str, ...], list[tuple]]:
    """A table's rows (``Store.run_rows``) with their ``run_key`` set to ``key``."""
    cols, values = table
    i = cols.index("run_key")
    return cols, [v[:i] + (key,) + v[i + 1:] for v in values]


def _library_threads(backend: str):
    """Replay: numerical libraries (the GP's and the forest's BLAS and OpenMP) on one thread.
    Their thread start-up cost more than it bought at these sizes (skopt's GP, profiled in
    issue 12: 864 ms per ask and tell on the default threads, 120 ms on one)."""
    if backend != "replay":
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=1)


def fresh_start(results: Path) -> Path | None:
    """Move an existing store and its checkpoints aside (never deleted); returns where to."""
    results = Path(results)
    if not (results / DB_NAME).exists() and not (results / PACKED).exists():
        return None
    dest = results / f"old-{time.strftime('%Y%m%d-%H%M%S')}"
    dest.mkdir(parents=True)
    for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", PACKED, "checkpoints"):
        if (results / name).exists():
            shutil.move(str(results / name), dest / name)
    return dest
