"""Running a suite: tuners ask, jobs train, the store records, budgets are kept.

A run is one (method label, B, seed). It asks its tuner for jobs until the tuner
is finished or the next job would overshoot B * R epochs (that job is recorded as
``skipped`` with the overshoot, and the run stops cleanly). Epochs are counted as
trained: a promotion that continues a checkpoint costs ``resource - resumes_from``.
The cost had every promotion restarted (the sum of ``resource``) is recorded too.

Resume: the jobs table is the log. A run that did not finish is rebuilt by
replaying its asks and tells, in their recorded order, into a fresh tuner (each
replayed ask must equal the recorded one); jobs that were in flight are redone
from their trial's last checkpoint. Finished runs are skipped.

Checkpoints live in ``<checkpoints>/<run>/t<trial>-e<epoch>.pt``. One that no job
can continue any more, and that is not the incumbent's, is deleted as soon as the
tuner has decided its rung; the run's folder goes when the run is done, except the
incumbent's weights (``<results>/incumbents/<run>.pt``) and its colour-mask
predictions of the test images (``<results>/predictions/<run>/``).

The incumbent is the trial with the best objective (the suite's ``objective``:
validation loss by default, or validation mIoU) at the highest resource any trial
reached (ties: the lower trial id); its checkpoint is evaluated on the test split
when the run ends. Test metrics are never told to a tuner.
"""
from __future__ import annotations

import difflib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from methods import FINISHED, WAIT, make_tuner
from methods.base import Job
from methods.roles import role

from . import meta
from .curves import replay_job, replay_test, resolve
from .executor import make_executor
from .jobs import test_job, train_job, trial_seed
from .packing import DB_NAME, PACKED, unpack
from .store import Store, dumps, now
from .suite import RunSpec, Suite

log = logging.getLogger("bench.run")


REPLAYED = "replayed"  # stands for a checkpoint in replay, where there are none


class SuiteChanged(RuntimeError):
    """The suite differs from the one that produced runs already in the store."""


@dataclass
class Best:
    resource: int
    loss: float                 # the objective told to the tuner (lower is better)
    trial_id: int
    job_id: int
    miou: float | None
    config: dict
    val_loss: float | None = None

    def beats(self, other: "Best | None") -> bool:
        return other is None or (self.resource, -self.loss, -self.trial_id) > (other.resource, -other.loss,
                                                                               -other.trial_id)


@dataclass
class RunState:
    spec: RunSpec
    tuner: object
    ckdir: Path
    seq: int = 0                # next ask/tell sequence number
    spent: int = 0              # epochs trained by finished jobs
    restart: int = 0            # epochs had every promotion restarted
    reserved: int = 0           # epochs of jobs in flight
    stopped: bool = False       # no more asks: tuner finished or budget reached
    overshoot: int | None = None
    inflight: dict = field(default_factory=dict)    # job id -> Job
    submitted: set = field(default_factory=set)     # job ids handed to the executor
    ckpt_in: dict = field(default_factory=dict)     # job id -> checkpoint it continues, or None
    best: Best | None = None
    best_miou: float = float("nan")
    tested: dict | None = None
    testing: bool = False
    trials: set = field(default_factory=set)
    reached: dict = field(default_factory=dict)     # trial id -> epochs of its newest checkpoint
    peak_disk: int = 0
    tuner_seconds: float = 0.0
    eval_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    bar: tqdm | None = None


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key)


class Runner:
    def __init__(self, suite: Suite, results: Path, workers: int | None = None, scheduler: str | None = None,
                 data: str | None = None, device: str | None = None, checkpoints: Path | None = None,
                 progress: bool = True):
        self.suite = suite
        self.results = Path(results)
        if not (self.results / DB_NAME).exists() and (self.results / PACKED).is_file():
            log.info("unpacking %s to resume from it", self.results / PACKED)
            unpack(self.results)
        self.store = Store(self.results / DB_NAME)
        self.ckroot = Path(checkpoints) if checkpoints else self.results / "checkpoints"
        self.workers, self.scheduler = workers, scheduler
        self.data, self.device = data, device
        self.progress = progress
        self.executor = None
        self.futures: dict = {}   # future -> (RunState, Job, or None for the incumbent's test)

    # -- set-up -------------------------------------------------------------------
    def check_suite(self) -> None:
        """Refuse when a run already in the store would now mean something else."""
        changed = []
        for spec in self.suite.runs():
            row = self.store.run(spec.key)
            if row is not None and row["identity"] != dumps(spec.identity()):
                old, new = json.loads(row["identity"]), spec.identity()
                fields = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                changed.append((spec.key, fields, row["suite_text"]))
        if changed:
            diff = "".join(difflib.unified_diff(changed[0][2].splitlines(True), self.suite.text.splitlines(True),
                                                "recorded suite", str(self.suite.path)))
            runs = "\n".join(f"  {k}: {', '.join(f)} changed" for k, f, _ in changed[:10])
            raise SuiteChanged(
                f"{self.suite.path} changed in a way that alters {len(changed)} run(s) already in "
                f"{self.store.path}:\n{runs}\n{diff}\nRerun with --fresh to move the old results aside "
                f"(nothing is deleted) and start fresh, or give another --results directory.")

    def _start(self, spec: RunSpec) -> RunState:
        from segmentation.profiles import get_profile
        from segmentation.space import search_space

        ckdir = self.ckroot / _safe(spec.key)
        ckdir.mkdir(parents=True, exist_ok=True)
        try:
            tuner = make_tuner(spec.method, search_space(get_profile(spec.profile)), spec.seed, spec.min_budget,
                               spec.max_budget, workdir=ckdir / "tuner", **spec.params)
        except ValueError as exc:  # e.g. n = 81 configurations cannot fit into B = 27 epochs
            tuner, infeasible = None, str(exc)
        else:
            infeasible = None
        st = RunState(spec, tuner, ckdir)
        run_meta = {"git_commit": meta.git_commit(), "versions": dumps(meta.versions()),
                    "device": meta.device_string(self.device), "host": meta.host(), "pid": os.getpid(),
                    "status": "running", "heartbeat": now()}
        if infeasible is not None:
            run_meta.update(status="infeasible", error=infeasible, ended=now())
            log.warning("%s is infeasible: %s", spec.key, infeasible)
            shutil.rmtree(ckdir, ignore_errors=True)
        if self.store.run(spec.key) is None:
            self.store.add_run({
                "run_key": spec.key, "suite": self.suite.name, "suite_hash": self.suite.hash,
                "suite_text": self.suite.text, "label": spec.label, "method": spec.method,
                "params": dumps(spec.params), "budget": spec.budget, "budget_epochs": spec.budget_epochs,
                "seed": spec.seed, "profile": spec.profile, "identity": dumps(spec.identity()),
                "started": now(), **run_meta, **role(spec.method, spec.params, spec.min_budget, spec.max_budget)})
        elif infeasible is not None:
            self.store.update_run(spec.key, **run_meta)
        else:
            row = self.store.run(spec.key)
            st.tuner_seconds, st.eval_seconds = row["tuner_seconds"] or 0.0, row["eval_seconds"] or 0.0
            st.started -= row["wall_seconds"] or 0.0  # wall time adds up over sittings
            self.store.update_run(spec.key, **run_meta)
            self._replay(st)
        if infeasible is not None:
            return None
        if self.progress:
            st.bar = tqdm(total=spec.budget_epochs, desc=spec.key, unit="ep", dynamic_ncols=True,
                          disable=None)  # None: only on a terminal
            st.bar.update(st.spent)
            self._postfix(st)
        return st

    def _replay(self, st: RunState) -> None:
        """Tell a fresh tuner the recorded asks and tells again, in their original order."""
        rows = self.store.jobs(st.spec.key)
        events = sorted([(j["ask_seq"], "ask", j) for j in rows]
                        + [(j["tell_seq"], "tell", j) for j in rows if j["tell_seq"] is not None],
                        key=lambda e: e[0])
        jobs: dict[int, Job] = {}
        for seq, kind, row in events:
            st.seq = seq + 1
            if kind == "ask":
                job = st.tuner.ask()
                want = (row["job_id"], row["trial_id"], row["config"], row["resource"], row["resumes_from"])
                got = None if job in (WAIT, FINISHED) else (job.job_id, job.trial_id, dumps(job.config),
                                                            job.resource, job.resumes_from)
                if got != want:
                    raise RuntimeError(f"run {st.spec.key}: replaying the log, the tuner asked {got} where the "
                                       f"log has {want}; the tuner is not deterministic or the code changed")
                jobs[job.job_id] = job
                st.trials.add(job.trial_id)
                if row["status"] == "skipped":
                    st.stopped = True
                    m = re.search(r"overshoot (\d+)", row["error"] or "")
                    st.overshoot = int(m.group(1)) if m else None
                elif row["status"] == "asked":
                    st.inflight[job.job_id] = job
            else:
                job = jobs[row["job_id"]]
                told = self._objective(st.spec, row["status"], row["loss"], row["val_miou"])
                st.tuner.tell(job, told)
                st.spent += row["epochs_trained"] or 0
                self._account(st, job, row["status"], told, row["loss"], row["val_miou"])
        for job in st.inflight.values():  # to be redone from the trial's last checkpoint
            self._reserve(st, job)
        log.info("resumed %s: %d jobs replayed, %d epochs spent, %d job(s) to redo",
                 st.spec.key, len(jobs), st.spent, len(st.inflight))

    # -- accounting -----------------------------------------------------------------
    def _ckpt(self, st: RunState, trial: int, epoch: int) -> Path:
        return st.ckdir / f"t{trial}-e{epoch}.pt"

    def _cost(self, st: RunState, job: Job) -> tuple[int, Path | str | None]:
        """Epochs a job will train, and the checkpoint it continues (None: from scratch).

        Replay has no files: a promotion there continues when the suite resumes promotions.
        """
        if st.spec.resume and job.resumes_from > 0:
            if st.spec.backend == "replay":
                return job.resource - job.resumes_from, REPLAYED
            ck = self._ckpt(st, job.trial_id, job.resumes_from)
            if ck.is_file():
                return job.resource - job.resumes_from, ck
        return job.resource, None

    def _reserve(self, st: RunState, job: Job) -> None:
        cost, ck = self._cost(st, job)
        st.reserved += cost
        st.ckpt_in[job.job_id] = ck

    @staticmethod
    def _objective(spec: RunSpec, status: str, val_loss, miou) -> float | None:
        """What the tuner is told (lower is better): the suite's objective, None for a failed job."""
        if status != "ok":
            return None
        return val_loss if spec.objective == "val_loss" else 1.0 - miou

    def _account(self, st: RunState, job: Job, status: str, told, val_loss, miou) -> None:
        st.restart += job.resource
        if status == "ok":
            st.reached[job.trial_id] = job.resource
            cand = Best(job.resource, told, job.trial_id, job.job_id, miou, job.config, val_loss)
            if cand.beats(st.best):
                st.best = cand
            if miou is not None and not st.best_miou >= miou:
                st.best_miou = miou

    def _postfix(self, st: RunState) -> None:
        if st.bar is not None:
            st.bar.set_postfix(trials=len(st.trials), best_val_mIoU=f"{st.best_miou:.3f}", refresh=False)

    # -- the loop ---------------------------------------------------------------------
    def run(self) -> int:
        self.check_suite()
        runs = self.suite.runs()
        todo = [s for s in runs if (r := self.store.run(s.key)) is None or r["status"] not in ("done", "infeasible")]
        if len(runs) > len(todo):
            log.info("%d of %d run(s) already done in %s: skipped", len(runs) - len(todo), len(runs),
                     self.store.path)
        self.executor = make_executor(self.workers, self.scheduler)
        with logging_redirect_tqdm():
            self._loop([], todo)
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
        """Hand out work until every slot is busy or no run has work to hand out."""
        moved = True
        while moved:
            moved = False
            for st in list(active):
                if st.stopped and not st.inflight and not st.testing:
                    if st.best is not None and st.tested is None:
                        self._submit_test(st)
                    else:
                        self._finish(st, active)
                    moved = True
                    continue
                for job in list(st.inflight.values()):  # jobs to redo after a resume
                    if job.job_id not in st.submitted and self._free() > 0:
                        self._submit(st, job)
                while self._free() > 0 and not st.stopped:
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
            return None
        seq, st.seq = st.seq, st.seq + 1
        self.store.add_job(st.spec.key, job, seq)
        st.trials.add(job.trial_id)
        cost, _ = self._cost(st, job)
        left = st.spec.budget_epochs - st.spent - st.reserved
        if cost > left:
            st.stopped, st.overshoot = True, cost - left
            self.store.finish_job(st.spec.key, job.job_id, "skipped", None, None, 0,
                                  f"budget: needs {cost} epochs, {left} left; overshoot {st.overshoot}")
            return None
        st.inflight[job.job_id] = job
        self._reserve(st, job)
        return job

    def _submit(self, st: RunState, job: Job) -> None:
        ck = st.ckpt_in.get(job.job_id)
        spec = {"profile": st.spec.profile, "data": self.data, "device": self.device,
                "threads": self.executor.threads, "config": job.config, "resource": job.resource,
                "resumes_from": job.resumes_from, "seed": trial_seed(st.spec.seed, job.config),
                "ckpt_in": str(ck) if ck else None, "ckpt_out": str(self._ckpt(st, job.trial_id, job.resource))}
        st.submitted.add(job.job_id)
        if st.spec.backend == "replay":  # a job's rows exist together: written together on completion
            spec.update(curves=str(resolve(st.spec.curves)))
            self.futures[self.executor.submit(replay_job, spec)] = (st, job)
            return
        if self.executor.serial:  # rows go to the store as each epoch ends
            start = job.resumes_from if ck else 0
            fut = self.executor.submit(train_job, spec, on_epoch=lambda e: self._write_epoch(st, job, e, start))
        else:  # only the driver writes the store: rows arrive with the result
            fut = self.executor.submit(train_job, spec)
        self.futures[fut] = (st, job)

    def _epoch_row(self, st: RunState, job: Job, e: dict, start: int) -> dict:
        k = e["epoch"] - start
        js = lambda v: None if v is None else dumps(v)  # noqa: E731
        return {"run_key": st.spec.key, "job_id": job.job_id, "trial_id": job.trial_id, "epoch": e["epoch"],
                "config": dumps(job.config), "resource": job.resource, "epochs_trained": k,
                "cum_epochs": st.spent + k, "train_loss": e["train_loss"], "val_loss": e["val_loss"],
                "val_miou": e["val_miou"], "val_iou": js(e["val_iou"]), "val_precision": js(e["val_precision"]),
                "val_recall": js(e["val_recall"]), "seconds": e["seconds"], "status": "ok", "error": None}

    def _write_epoch(self, st: RunState, job: Job, e: dict, start: int) -> None:
        self.store.add_evaluation(self._epoch_row(st, job, e, start))

    def _done(self, st: RunState, job: Job, fut) -> None:
        try:
            res = fut.result()
        except Exception as exc:  # the worker died more often than allowed, or the job could not start
            res = {"status": "failed", "epochs": [], "error": f"{type(exc).__name__}: {exc}",
                   "epochs_trained": 0, "start": 0, "seconds": 0.0}
        # rows already written (serial training) are ignored; the others go in one transaction
        self.store.add_evaluations([self._epoch_row(st, job, e, res["start"]) for e in res["epochs"]])
        if res["status"] == "ok" and not res["epochs"]:
            res["status"], res["error"] = "failed", "no epoch trained: the checkpoint was already at the resource"
        trained = res["epochs_trained"]
        if res["status"] != "ok":
            self.store.add_evaluation({
                "run_key": st.spec.key, "job_id": job.job_id, "trial_id": job.trial_id,
                "epoch": res["start"] + len(res["epochs"]) + 1, "config": dumps(job.config),
                "resource": job.resource, "epochs_trained": trained, "cum_epochs": st.spent + trained,
                "seconds": res["seconds"], "status": "failed", "error": res["error"]})
            log.warning("%s trial %d failed: %s", st.spec.key, job.trial_id, (res["error"] or "").splitlines()[0])
        ok = res["status"] == "ok"
        loss = res["epochs"][-1]["val_loss"] if ok else None
        miou = res["epochs"][-1]["val_miou"] if ok else None
        seq, st.seq = st.seq, st.seq + 1
        self.store.finish_job(st.spec.key, job.job_id, res["status"], loss, seq, trained, res["error"], miou)
        ck = st.ckpt_in.pop(job.job_id, None)
        st.reserved -= job.resource - job.resumes_from if ck is not None else job.resource
        st.spent += trained
        st.eval_seconds += res["seconds"]
        del st.inflight[job.job_id]
        told = self._objective(st.spec, res["status"], loss, miou)
        t0 = time.perf_counter()
        st.tuner.tell(job, told)
        st.tuner_seconds += time.perf_counter() - t0
        self._account(st, job, res["status"], told, loss, miou)
        self._cleanup(st)
        self.store.update_run(st.spec.key, epochs_spent=st.spent, epochs_restart=st.restart, heartbeat=now(),
                              peak_disk_bytes=st.peak_disk, tuner_seconds=st.tuner_seconds,
                              eval_seconds=st.eval_seconds, wall_seconds=time.perf_counter() - st.started)
        if st.bar is not None:
            st.bar.update(trained)
            self._postfix(st)

    def _cleanup(self, st: RunState) -> None:
        """Delete checkpoints that no job can continue any more; track the peak disk use."""
        sizes = {p: p.stat().st_size for p in st.ckdir.glob("*.pt")}
        st.peak_disk = max(st.peak_disk, sum(sizes.values()))
        keep = {p for p in st.ckpt_in.values() if isinstance(p, Path)}
        keep |= {self._ckpt(st, j.trial_id, j.resource) for j in st.inflight.values()}
        if st.best is not None:
            keep.add(self._ckpt(st, st.best.trial_id, st.best.resource))
        if st.spec.resume:
            alive = st.tuner.alive_trials()
            for trial, epoch in st.reached.items():
                if (trial in alive) if alive is not None else epoch < st.spec.max_budget:
                    keep.add(self._ckpt(st, trial, epoch))
        for p in sizes:
            if p not in keep:
                p.unlink(missing_ok=True)

    # -- the end of a run ------------------------------------------------------------
    def _submit_test(self, st: RunState) -> None:
        st.testing = True
        if st.spec.backend == "replay":
            spec = {"profile": st.spec.profile, "curves": str(resolve(st.spec.curves)), "config": st.best.config,
                    "resource": st.best.resource}
            self.futures[self.executor.submit(replay_test, spec)] = (st, None)
            return
        spec = {"profile": st.spec.profile, "data": self.data, "device": self.device,
                "threads": self.executor.threads,
                "checkpoint": str(self._ckpt(st, st.best.trial_id, st.best.resource)),
                "predict_dir": str(self.results / "predictions" / _safe(st.spec.key))}
        self.futures[self.executor.submit(test_job, spec)] = (st, None)

    def _tested(self, st: RunState, fut) -> None:
        res = fut.result()
        b = st.best
        self.store.set_incumbent({
            "run_key": st.spec.key, "trial_id": b.trial_id, "job_id": b.job_id, "config": dumps(b.config),
            "resource": b.resource, "val_loss": b.val_loss, "val_miou": b.miou, "test_loss": res["loss"],
            "test_miou": res["miou"], "test_iou": res["iou"] and dumps(res["iou"]),
            "test_precision": res["precision"] and dumps(res["precision"]),
            "test_recall": res["recall"] and dumps(res["recall"]), "test_pixel_accuracy": res["pixel_accuracy"],
            "seconds": res["seconds"]})
        st.eval_seconds += res["seconds"]
        st.tested, st.testing = res, False

    def _finish(self, st: RunState, active: list[RunState]) -> None:
        if st.best is None:
            log.warning("%s: no trial succeeded, so there is no incumbent", st.spec.key)
        else:  # the incumbent's weights stay (not committed: see .gitignore)
            ck = self._ckpt(st, st.best.trial_id, st.best.resource)
            if ck.is_file():
                dest = self.results / "incumbents" / f"{_safe(st.spec.key)}.pt"
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(ck), dest)
        shutil.rmtree(st.ckdir, ignore_errors=True)
        wall = time.perf_counter() - st.started
        self.store.update_run(st.spec.key, status="done", ended=now(), epochs_spent=st.spent,
                              epochs_restart=st.restart, overshoot=st.overshoot, peak_disk_bytes=st.peak_disk,
                              tuner_seconds=st.tuner_seconds, eval_seconds=st.eval_seconds, wall_seconds=wall)
        if st.bar is not None:
            st.bar.close()
        active.remove(st)
        test = f"{st.tested['miou']:.4f}" if st.tested else "n/a"
        log.info("done %s: %d/%d epochs (%d had promotions restarted), %d trials, overshoot %s, "
                 "best val mIoU %.4f, incumbent test mIoU %s, peak checkpoint disk %.1f MB, tuner %.2f s, "
                 "wall %.1f s", st.spec.key, st.spent, st.spec.budget_epochs, st.restart, len(st.trials),
                 st.overshoot, st.best_miou, test, st.peak_disk / 1e6, st.tuner_seconds, wall)


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
