"""Recording learning curves: N configurations sampled from the task's space, each
trained to R epochs under one or more training seeds, every epoch's validation and
test metrics and seconds stored.

``python -m bench record --profile cpu-v2 --configs 128 --train-seeds 0,1,2`` writes the
harness's SQLite store (``results/curves-raw/<profile>-seed<S>/results.db`` by default),
one job per (configuration, training seed), configuration-major: configuration 0 under
every training seed, then configuration 1, ... so that a partial record holds whole
seed groups. It resumes after a kill: finished jobs are skipped, and a job in progress
continues from its last checkpoint (written every ``chunk`` epochs), which gives the
same epochs as training in one go. Test metrics go to their own table and are never
told to a tuner; the last epoch also stores the validation confusion counts of every
validation image (for a bootstrap over validation images). Asking for more
configurations later extends the record (configurations are sampled in a fixed order
from the seed).

``--remeasure-cpu`` first retrains, from scratch, every job of the store with epochs that
lack their CPU seconds (curves recorded before ``cpu_seconds`` was stored) and fills them
in where the retrained epoch's metrics equal the stored ones exactly (training is
deterministic on the CPU), leaving every other column as it was; the replay's clock is a
configuration's median CPU seconds per epoch, so a table must not mix CPU and wall seconds.
An epoch that differs keeps no CPU seconds and is counted in a warning. Then it goes on
recording.

Parallel recording on one machine: ``--shard K/N`` records only configurations whose
index i has i % N == K, into its own store (``...-shardKofN``); ``export-curves`` joins
the shards' stores into one table. ``--threads`` sets torch's intra-op threads of this
process (default 1; see docs/replay.md for why two one-thread processes are the fastest
way on a 2-core machine). ``--workers W`` trains W jobs at a time in W worker processes
(each with ``--threads`` threads) that send every epoch's rows to this process, the store's
one writer: the same rows as one process, for a shard whose share of the work outlasts the
others'. A worker dies with its parent; a killed record resumes as above, from the last
checkpoint whose epochs are all stored.

A configuration's training seed under training seed t is ``trial_seed(t, config)``: a
record made before training seeds existed (one seed, equal to the record's seed) keeps
its identity and job numbers.

Budget-aware recording (``--budgets 1,3,9`` on a profile whose schedule belongs to the job's
budget, e.g. ``cpu-v2-budget``): every (configuration, training seed) is trained once per budget r,
each a fresh training whose learning rate reaches zero after epoch r (it cannot be continued to a
larger budget), in the order configuration, training seed, budget. A job's ``resource`` is its
budget r and its curve has epochs 1..r.

Time-boxed recording (``--minutes M``, for sittings of limited length such as a lent GPU): the record
starts no chunk of training that it does not expect to finish within M minutes of the command's start,
so it stops at a chunk boundary: every trained chunk's rows are stored and its checkpoint is on disk,
the run stays unfinished (``bench status``: interrupted), and the same command resumes it to exactly
the rows of an uninterrupted record (tested). A chunk's expected seconds are the slowest seconds per
epoch seen so far (chunks trained in this sitting, or the stored epochs of earlier ones) times its
epochs, times ``TIME_SAFETY``; with nothing measured yet, the first chunk starts if any time is left.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from pathlib import Path

from tqdm import tqdm

from methods.base import config_to_dict

from bench.storage import meta
from bench.loop.jobs import trial_seed
from bench.storage.packing import DB_NAME
from bench.storage.store import Store, dumps, now

log = logging.getLogger("bench.loop.record")

TIME_SAFETY = 1.25  # a chunk's expected seconds are multiplied by this before they are compared with the time left


class TimeBox:
    """The ``--minutes`` limit: a wall-clock deadline (``time.time()``, shared by worker processes) and the
    slowest seconds per epoch seen so far, from which a chunk's duration is expected."""

    def __init__(self, deadline: float | None, per_epoch: float | None = None, clock=time.time):
        self.deadline, self.per_epoch, self.clock = deadline, per_epoch, clock

    def fits(self, epochs: int) -> bool:
        """Whether a chunk of ``epochs`` epochs is expected to end before the deadline."""
        if self.deadline is None:
            return True
        left = self.deadline - self.clock()
        if self.per_epoch is None:
            return left > 0
        return self.per_epoch * epochs * TIME_SAFETY <= left

    def observe(self, seconds: float, epochs: int) -> None:
        if epochs > 0:
            self.per_epoch = max(self.per_epoch or 0.0, seconds / epochs)


def check_minutes(minutes) -> float | None:
    """``--minutes`` as a positive number of minutes, None when not given; a ValueError names a bad value."""
    if minutes is None:
        return None
    try:
        m = float(minutes)
    except (TypeError, ValueError):
        m = float("nan")
    if not m > 0 or m == float("inf"):
        raise ValueError(f"--minutes expects a positive number of minutes, got {minutes!r}")
    return m


def sample_configs(profile_name: str, n: int, seed: int) -> list[dict]:
    from segmentation.profiles import get_profile
    from segmentation.space import search_space

    space = search_space(get_profile(profile_name), seed=seed)
    return [config_to_dict(space.sample_configuration()) for _ in range(n)]


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 0 <= K < N; None -> (0, 1)."""
    if text is None:
        return 0, 1
    k, sep, n = str(text).partition("/")
    try:
        k, n = int(k), int(n)
    except ValueError:
        k = n = -1
    if not sep or n < 1 or not 0 <= k < n:
        raise ValueError(f"--shard expects K/N with 0 <= K < N (e.g. 0/2), got {text!r}")
    return k, n


def default_results(profile: str, seed: int, shard: tuple[int, int] = (0, 1)) -> Path:
    tail = f"-shard{shard[0]}of{shard[1]}" if shard[1] > 1 else ""
    return Path("results") / "curves-raw" / f"{profile}-seed{seed}{tail}"


def record(profile: str, n_configs: int, seed: int, results: Path | None = None, data=None, device=None,
           chunk: int = 3, epochs: int | None = None, progress: bool = True,
           train_seeds: tuple[int, ...] | None = None, shard: tuple[int, int] = (0, 1),
           threads: int | None = 1, remeasure_cpu: bool = False, workers: int = 1,
           budgets: tuple[int, ...] | None = None, minutes: float | None = None,
           started: float | None = None, clock=time.time) -> Path:
    """Record ``n_configs`` configurations x ``train_seeds`` (default: the record's ``seed``) to R epochs.

    ``budgets``: on a budget-aware profile, the budgets r (epochs, 1 <= r <= R) each (configuration,
    training seed) is trained to, each in a training of its own (default: R alone).

    ``epochs``: R (default the profile's ``max_epochs``). ``chunk``: epochs between checkpoints.
    ``threads``: torch intra-op threads of each training process (None leaves torch's default).
    ``remeasure_cpu``: first fill in the CPU seconds of epochs that lack them, finished or not (see the
    module docstring). ``workers``: jobs trained at a time, each in its own worker process (1: in this one).
    ``minutes``: stop at a chunk boundary before this many minutes (wall clock) from ``started``
    (``clock()`` when the command started; default now), resumable (see the module docstring).
    ``clock``: the wall clock in seconds that ``minutes`` is measured on (``time.time``; worker processes
    always use ``time.time``).
    """
    deadline = None
    if (minutes := check_minutes(minutes)) is not None:
        deadline = (clock() if started is None else started) + 60.0 * minutes
    import torch

    from segmentation.train import load_task, train

    if threads:
        torch.set_num_threads(int(threads))
    seeds = tuple(int(t) for t in (train_seeds if train_seeds else (seed,)))
    if len(set(seeds)) != len(seeds) or any(t < 0 for t in seeds):
        raise ValueError(f"--train-seeds must be distinct non-negative integers, got {list(seeds)}")
    if int(workers) < 1:
        raise ValueError(f"--workers expects a positive number of worker processes, got {workers}")
    if clock is not time.time and int(workers) > 1:
        raise ValueError("a clock other than time.time needs workers = 1 (worker processes use time.time)")
    k_shard, n_shard = shard
    task = load_task(profile, data, None, device)
    R = int(epochs or task.profile.max_epochs)
    if budgets:
        budgets = tuple(int(r) for r in budgets)
        if not task.profile.budget_aware:
            raise ValueError(f"--budgets needs a profile with a budget-aware schedule (e.g. cpu-v2-budget); "
                             f"{profile!r} anneals over R = {task.profile.max_epochs} whatever the job's budget")
        if len(set(budgets)) != len(budgets) or any(not 1 <= r <= R for r in budgets):
            raise ValueError(f"--budgets must be distinct integers in 1..{R} (R, inclusive), got {list(budgets)}")
    elif task.profile.budget_aware:
        budgets = (R,)
    rs = tuple(budgets) if budgets else (R,)
    results = Path(results) if results else default_results(profile, seed, shard)
    store = Store(results / DB_NAME, lock=True)  # one driver per store
    run_key = f"record/{profile}/seed{seed}"
    identity = {"kind": "record", "profile": profile, "seed": seed, "max_epochs": R}
    if seeds != (seed,):
        identity["train_seeds"] = list(seeds)
    if n_shard > 1:
        identity["shard"] = [k_shard, n_shard]
    if budgets:
        identity["budgets"] = list(rs)
    row = store.run(run_key)
    if row is not None and row["identity"] != dumps(identity):
        raise ValueError(f"{store.path} holds a record of {row['identity']}, not {dumps(identity)}; "
                         "use another --results directory")
    run_meta = {"git_commit": meta.git_commit(), "versions": dumps(meta.versions()),
                "device": meta.device_string(device), "host": meta.host(), "pid": os.getpid(),
                "status": "running", "heartbeat": now()}
    mine = [i for i in range(n_configs) if i % n_shard == k_shard]
    total_epochs = len(mine) * len(seeds) * sum(rs)
    params = {"configs": n_configs, "train_seeds": list(seeds), "shard": [k_shard, n_shard],
              "threads": threads, "chunk": chunk, "workers": int(workers)}
    if budgets:
        params["budgets"] = list(rs)
    if row is None:
        store.add_run({"run_key": run_key, "suite": f"record-{profile}", "suite_hash": "", "suite_text": "",
                       "label": "record", "method": "record", "params": dumps(params),
                       "budget": float(n_configs), "budget_epochs": total_epochs, "seed": seed,
                       "profile": profile, "identity": dumps(identity), "started": now(), **run_meta})
        row = store.run(run_key)
    else:
        store.update_run(run_key, budget=float(n_configs), budget_epochs=total_epochs, params=dumps(params),
                         **run_meta)
    wall0 = time.perf_counter() - (row["wall_seconds"] or 0.0)
    done = {j["job_id"]: j for j in store.jobs(run_key)}
    ckroot = results / "checkpoints"
    spent = sum(j["epochs_trained"] or 0 for j in done.values() if j["status"] != "asked")
    bar = tqdm(total=total_epochs, initial=spent, unit="ep", desc=run_key, disable=None if progress else True)
    configs = sample_configs(profile, n_configs, seed)
    if remeasure_cpu:  # its time is not the recording's: the run's wall clock starts after it
        t0 = time.perf_counter()
        _remeasure_cpu(store, run_key, task, train)
        wall0 += time.perf_counter() - t0
    todo = [job for i in mine for k, t in enumerate(seeds) for b, r in enumerate(rs)
            if (job := _Job((i * len(seeds) + k) * len(rs) + b, i, configs[i], t, r, budget_aware=bool(budgets))
                ).job_id not in done
            or done[job.job_id]["status"] not in ("ok", "failed")]
    writer = _Writer(store, run_key, ckroot, bar)
    timebox = TimeBox(deadline, clock=clock)
    if deadline is not None:  # the slowest stored epoch of earlier sittings: the first chunk's estimate
        timebox.per_epoch = max((e["seconds"] for e in store.evaluations(run_key)
                                 if e["status"] == "ok" and e["seconds"]), default=None)

    def finished(trained: int) -> None:
        nonlocal spent
        spent += trained
        store.update_run(run_key, epochs_spent=spent, heartbeat=now(), wall_seconds=time.perf_counter() - wall0)
        store.checkpoint()  # the database file alone holds every finished job

    if int(workers) == 1:
        for job in todo:
            if not timebox.fits(min(chunk, job.resource)):
                writer.paused.add(job.job_id)
                break
            start = writer.begin(job)
            _train_job(task, train, job, start, chunk, writer.ckdir(job), lambda kind, payload: writer.apply(job, kind, payload),
                       timebox)
            if job.job_id in writer.paused:
                break
            finished(writer.trained.pop(job.job_id))
    else:
        _run_workers(int(workers), todo, writer, chunk, finished,
                     (profile, data, None if device is None else str(device), threads, deadline, timebox.per_epoch))
    bar.close()
    if writer.paused:  # the time box: everything trained is stored; the run stays unfinished, resumable
        store.update_run(run_key, heartbeat=now(), wall_seconds=time.perf_counter() - wall0)
        store.checkpoint()
        store.close()
        log.warning("stopped at a chunk boundary to stay within --minutes %g: finished jobs hold %d of %d epochs; "
                    "run the same command to go on", minutes, spent, total_epochs)
        return results
    store.update_run(run_key, status="done", ended=now(), wall_seconds=time.perf_counter() - wall0)
    store.close()
    return results


def _remeasure_cpu(store: Store, run_key: str, task, train) -> None:
    """Retrain, from scratch, each job (finished, failed or in progress) with a trained epoch that lacks
    its CPU seconds, up to its last such epoch, and store the CPU seconds of every epoch that lacks them
    and whose retrained metrics equal the stored ones exactly; an epoch that differs keeps NULL, and the
    count of such epochs is logged as a warning (training is deterministic on the CPU: there should be
    none)."""
    if task.device.type != "cpu":
        raise ValueError(f"--remeasure-cpu measures CPU seconds: run it on the CPU, not on {task.device}")
    todo = store.jobs_without_cpu_seconds(run_key)
    same = total = 0
    for job in todo:
        stored = {e["epoch"]: e for e in store.evaluations_of_job(run_key, job["job_id"]) if e["status"] == "ok"}
        config = json.loads(job["config"])
        last = max(ep for ep, e in stored.items() if e["cpu_seconds"] is None)

        def on_epoch(e, job_id=job["job_id"], stored=stored):
            nonlocal same, total
            was = stored.get(e.epoch)
            if was is None or was["cpu_seconds"] is not None:
                return
            total += 1
            if (was["train_loss"], was["val_loss"], was["val_miou"]) == (e.train_loss, e.val_loss, e.val_miou):
                same += 1
                store.set_cpu_seconds(run_key, job_id, e.epoch, e.cpu_seconds)

        train(config, last, trial_seed(int(json.loads(job["info"])["train_seed"]), config), task, on_epoch=on_epoch)
        log.info("CPU seconds filled in for job %d (configuration %d)", job["job_id"], job["trial_id"])
    if todo:
        log.info("remeasured %d job(s): %d of %d epochs without CPU seconds have metrics equal to the stored ones "
                 "(their CPU seconds are filled in)", len(todo), same, total)
        if same < total:
            log.warning("%d retrained epoch(s) differ from the stored ones: their CPU seconds stay empty",
                        total - same)
        store.checkpoint()


class _Job:
    """One (configuration, training seed) of a recording, as ``Store.add_job`` reads it."""

    def __init__(self, job_id: int, trial_id: int, config: dict, train_seed: int, resource: int,
                 budget_aware: bool = False):
        self.job_id, self.trial_id, self.config, self.resource, self.resumes_from = job_id, trial_id, config, resource, 0
        self.train_seed = train_seed
        self.info = {"record": True, "train_seed": train_seed}
        if budget_aware:  # the schedule's horizon: the job's own budget (its resource), in epochs
            self.info["budget"] = resource


def _checkpoint_epochs(ckdir: Path) -> list[int]:
    return sorted(int(m.group(1)) for p in ckdir.glob("e*.pt") if (m := re.fullmatch(r"e(\d+)\.pt", p.name)))


class _Writer:
    """The store's side of recording: the one process that writes a record's rows.

    ``begin`` adds a job's row and picks the epoch it resumes from: its latest checkpoint whose epochs
    are all stored (a worker may have saved a checkpoint whose epochs' rows its parent never wrote);
    every other checkpoint of the job is removed. ``apply`` writes what training reported:
    ``("epoch", (evaluation row, test row))``, ``("chunk", epoch the chunk started from)`` (its
    checkpoint is no longer needed: the chunk's rows are stored), ``("end", outcome)``, or
    ``("pause", epoch reached)``: the time box left no time for the job's next chunk; it stays
    unfinished, resumable from its checkpoint at that epoch."""

    def __init__(self, store: Store, run_key: str, ckroot: Path, bar):
        self.store, self.run_key, self.ckroot, self.bar = store, run_key, ckroot, bar
        self.trained: dict[int, int] = {}  # job id -> epochs trained, once it ended
        self.paused: set[int] = set()  # jobs stopped by the time box before their end

    def ckdir(self, job: _Job) -> Path:
        return self.ckroot / f"j{job.job_id}"

    def begin(self, job: _Job) -> int:
        self.store.add_job(self.run_key, job, job.job_id)
        ckdir = self.ckdir(job)
        ckdir.mkdir(parents=True, exist_ok=True)
        stored, saved = self.store.recorded_epochs(self.run_key, job.job_id), _checkpoint_epochs(ckdir)
        start = max((k for k in saved if all(e in stored for e in range(1, k + 1))), default=0)
        for k in saved:
            if k != start:
                (ckdir / f"e{k}.pt").unlink(missing_ok=True)
        return start

    def apply(self, job: _Job, kind: str, payload) -> None:
        if kind == "epoch":
            evaluation, test = payload
            self.store.add_evaluation({"run_key": self.run_key, **evaluation})
            self.store.add_curve_test({"run_key": self.run_key, **test})
            self.bar.update(1)
        elif kind == "chunk":
            if payload:
                (self.ckdir(job) / f"e{payload}.pt").unlink(missing_ok=True)
        elif kind == "end":
            status, error, trained, last_loss, last_miou = payload
            if status == "ok" and last_loss is None:  # resumed after its last epoch was stored: nothing retrained
                final = [e for e in self.store.evaluations_of_job(self.run_key, job.job_id) if e["epoch"] == job.resource]
                last_loss, last_miou = (final[0]["val_loss"], final[0]["val_miou"]) if final else (None, None)
            if status != "ok":
                self.store.add_evaluation({"run_key": self.run_key, "job_id": job.job_id, "trial_id": job.trial_id,
                                           "epoch": trained, "config": dumps(job.config), "resource": job.resource,
                                           "epochs_trained": trained, "cum_epochs": trained, "status": "failed",
                                           "error": error})
                log.warning("config %d (train seed %d) failed: %s", job.trial_id, job.train_seed, error)
            self.store.finish_job(self.run_key, job.job_id, status, last_loss, None, trained, error, last_miou)
            shutil.rmtree(self.ckdir(job), ignore_errors=True)
            self.trained[job.job_id] = trained
        elif kind == "pause":
            self.paused.add(job.job_id)
        else:
            raise ValueError(f"unknown message from training: {kind!r}")


class _NotWritten(Exception):
    """Raised through training when reporting an epoch failed (the store, the queue): re-raised as its
    cause by ``_train_job`` rather than recorded as a failed curve."""


def _emit_or_raise(emit, kind: str, payload) -> None:
    try:
        emit(kind, payload)
    except Exception as exc:
        raise _NotWritten() from exc


class RecordWorkerError(RuntimeError):
    """A recording worker process crashed or died; what was written stays, and the record resumes."""


def _train_job(task, train, job: _Job, start: int, chunk: int, ckdir: Path, emit, timebox: TimeBox | None = None) -> None:
    """Train one job from its checkpoint at epoch ``start`` (0: from scratch) to its resource (R, or its
    budget r on a budget-aware profile, whose schedule ends there) epochs, in chunks
    of ``chunk`` epochs, each ending with a checkpoint; ``emit(kind, payload)`` reports every epoch's
    rows (without their run key, which is the writer's), each chunk's end and the outcome (see
    ``_Writer``). Never writes the store. ``timebox``: a chunk it does not expect to finish in time is
    not started; the job then reports ``("pause", epoch reached)`` instead of its outcome."""
    R, config = job.resource, job.config
    status, error, tseed = "ok", None, trial_seed(job.train_seed, config)
    last = None
    reached = start

    def on_epoch(e):
        nonlocal last
        last = e
        _emit_or_raise(emit, "epoch", (
            {"job_id": job.job_id, "trial_id": job.trial_id, "epoch": e.epoch,
             "config": dumps(config), "resource": R, "epochs_trained": e.epoch, "cum_epochs": e.epoch,
             "train_loss": e.train_loss, "val_loss": e.val_loss, "val_miou": e.val_miou,
             "val_iou": dumps(e.val_iou), "val_precision": dumps(e.val_precision),
             "val_recall": dumps(e.val_recall), "seconds": e.seconds, "status": "ok", "error": None,
             "val_confusion_by_image": dumps(e.val_by_image) if e.epoch == R and e.val_by_image else None,
             "cpu_seconds": e.cpu_seconds},
            {"job_id": job.job_id, "epoch": e.epoch, "test_loss": e.test["loss"],
             "test_miou": e.test["miou"], "test_iou": dumps(e.test["iou"])}))

    while reached < R and status == "ok":
        target = min(R, reached + chunk)
        if timebox is not None and not timebox.fits(target - reached):
            emit("pause", reached)
            return
        ck_in = ckdir / f"e{reached}.pt" if reached else None
        try:
            t0 = time.perf_counter()
            res = train(config, target, tseed, task, checkpoint=ck_in, save_to=ckdir / f"e{target}.pt",
                        with_test=True, per_image_val=target == R, on_epoch=on_epoch, budget=R)
            status, error = res.status, res.error
            if timebox is not None and status == "ok":
                timebox.observe(time.perf_counter() - t0, target - reached)
        except _NotWritten as exc:  # the store's failure, not the training's: the record stops (resumable)
            raise exc.__cause__ from None
        except Exception as exc:  # out of memory, a library crash: recorded, the record goes on
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        if status == "ok":
            emit("chunk", reached)
        reached = target if status == "ok" else reached
    trained = R if status == "ok" else (last.epoch if last else reached) + 1
    ok = last is not None and status == "ok"
    emit("end", (status, error, trained, last.val_loss if ok else None, last.val_miou if ok else None))


def _die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux), so that a killed record leaves
    no worker training on; elsewhere, or if the parent is already gone, end now or rely on the parent."""
    import ctypes
    import signal
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _worker_main(parent: int, setup: tuple, chunk: int, ckroot: str, tasks, results) -> None:
    """A worker process: load the task once, then train each job it is given and send its rows."""
    import signal
    import traceback
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    profile, data, device, threads, deadline, per_epoch = setup
    try:
        import torch

        from segmentation.train import load_task, train
        if threads:
            torch.set_num_threads(int(threads))
        task = load_task(profile, data, None, device)
        timebox = TimeBox(deadline, per_epoch)
        while (item := tasks.get()) is not None:
            job, start = item
            _train_job(task, train, job, start, chunk, Path(ckroot) / f"j{job.job_id}",
                       lambda kind, payload, j=job.job_id: results.put((j, kind, payload)), timebox)
    except BaseException:  # noqa: BLE001 - reported to the parent, which stops the record (resumable)
        results.put((None, "crash", traceback.format_exc()))


def _run_workers(n: int, todo: list[_Job], writer: _Writer, chunk: int, finished, setup: tuple) -> None:
    """Train ``todo`` on ``n`` worker processes, at most ``n`` jobs at a time, in order; write what they
    send. A worker that crashes or dies stops the record with an error (rerun to resume)."""
    import multiprocessing as mp
    import queue

    ctx = mp.get_context("spawn")  # a fresh interpreter: no forked torch thread pools
    tasks, results = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_worker_main, args=(os.getpid(), setup, chunk, str(writer.ckroot), tasks, results),
                         daemon=True, name=f"record-worker-{w}") for w in range(n)]
    for p in procs:
        p.start()
    pending, running = iter(todo), {}
    deadline = setup[4]

    def dispatch() -> None:
        if writer.paused or (deadline is not None and time.time() >= deadline):
            return  # the time box: no new job (the workers stop theirs at a chunk boundary)
        job = next(pending, None)
        if job is not None:
            running[job.job_id] = job
            tasks.put((job, writer.begin(job)))

    try:
        for _ in range(n):
            dispatch()
        while running:
            try:
                job_id, kind, payload = results.get(timeout=5)
            except queue.Empty:
                dead = [p.name for p in procs if not p.is_alive()]
                if dead:
                    raise RecordWorkerError(f"recording worker(s) {', '.join(dead)} died (killed, or out of memory); "
                                            "everything reported before is stored: run the same command to resume")
                continue
            if kind == "crash":
                log.error("a recording worker crashed:\n%s", payload)
                raise RecordWorkerError(f"a recording worker crashed ({payload.strip().splitlines()[-1]}); everything "
                                        "reported before is stored: run the same command to resume")
            writer.apply(running[job_id], kind, payload)
            if kind == "end":
                del running[job_id]
                finished(writer.trained.pop(job_id))
                dispatch()
            elif kind == "pause":
                del running[job_id]
        if deadline is not None and next(pending, None) is not None:
            writer.paused.add(-1)  # jobs left that were never started: the record is not finished
        for _ in procs:
            tasks.put(None)
        for p in procs:
            p.join(timeout=60)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
