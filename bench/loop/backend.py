"""What answers a run's jobs, chosen once per run: real training or recorded curves.

* ``TrainBackend`` trains (``bench.loop.jobs.train_job``) and tests the incumbent's
  checkpoint (``bench.loop.jobs.test_job``); it keeps checkpoints (``bench.loop.checkpoints``).
* ``ReplayBackend`` ("replay") answers every job from a recorded learning-curves table
  (``bench.tables.curves.replay_job`` / ``replay_test``) with simulated seconds; it has no files.

Both hand their work to an executor (``bench.loop.executor``) and return its future.
"""
from __future__ import annotations

from pathlib import Path

from bench.loop.checkpoints import Checkpoints, NoCheckpoints, safe_name
from bench.tables.curves import replay_job, replay_test, resolve
from bench.loop.jobs import test_job, train_job, trial_seed


def job_spec(run, job, ckpt_in, ckpt_out, executor, data, device) -> dict:
    """The plain-data description of a job that ``train_job`` and ``replay_job`` take."""
    return {"profile": run.profile, "data": data, "device": device, "threads": executor.threads,
            "config": job.config, "resource": job.resource, "resumes_from": job.resumes_from,
            "seed": trial_seed(run.seed, job.config), "ckpt_in": str(ckpt_in) if ckpt_in else None,
            "ckpt_out": ckpt_out and str(ckpt_out)}


class TrainBackend:
    name = "train"

    def __init__(self, spec, ckroot: Path, results: Path, data=None, device=None):
        self.spec, self.results, self.data, self.device = spec, Path(results), data, device
        self.checkpoints = Checkpoints(ckroot, spec.key, spec.resume, spec.max_budget)

    def prepare(self) -> None:
        self.checkpoints.dir.mkdir(parents=True, exist_ok=True)

    def submit(self, executor, job, ckpt_in, on_epoch=None, **where):
        """Train ``job`` (continuing ``ckpt_in`` when not None). ``on_epoch(row)`` sees each epoch
        as it ends (serial only: on Dask the rows come back with the result)."""
        spec = job_spec(self.spec, job, ckpt_in, self.checkpoints.path(job.trial_id, job.resource), executor,
                        self.data, self.device)
        if executor.serial and on_epoch is not None:
            return executor.submit(train_job, spec, on_epoch=on_epoch, **where)
        return executor.submit(train_job, spec, **where)

    def submit_test(self, executor, best):
        spec = {"profile": self.spec.profile, "data": self.data, "device": self.device,
                "threads": executor.threads, "checkpoint": str(self.checkpoints.path(best.trial_id, best.resource)),
                "predict_dir": str(self.results / "predictions" / safe_name(self.spec.key))}
        return executor.submit_test(test_job, spec)


class ReplayBackend:
    name = "replay"

    def __init__(self, spec, data=None, device=None):
        self.spec, self.data, self.device = spec, data, device
        self.curves = str(resolve(spec.curves))
        self.checkpoints = NoCheckpoints(spec.resume)

    def prepare(self) -> None:
        pass

    def submit(self, executor, job, ckpt_in, on_epoch=None, **where):
        """A replayed job's rows exist together: they are written together when it is told."""
        spec = dict(job_spec(self.spec, job, ckpt_in, None, executor, self.data, self.device), curves=self.curves,
                    run_seed=self.spec.seed, trial_id=job.trial_id,  # which training seed's curve it replays
                    **self._reduced())
        return executor.submit(replay_job, spec, **where)

    def _reduced(self) -> dict:
        """A suite with ``drop_top = k > 0`` replays the table without its k best configurations (by the
        suite's objective): what a job's spec carries so that replay reads that table."""
        k = getattr(self.spec, "drop_top", 0)
        return {"drop_top": k, "objective": self.spec.objective} if k else {}

    def submit_test(self, executor, best):
        spec = {"profile": self.spec.profile, "curves": self.curves, "config": best.config,
                "resource": best.resource, "run_seed": self.spec.seed, "trial_id": best.trial_id, **self._reduced()}
        return executor.submit_test(replay_test, spec)

    def candidates(self) -> list[dict]:
        """The table's recorded configurations (for ``sampling = "table"`` and ``"candidates"``), without the
        ``drop_top`` best."""
        from bench.tables.curves import _spec_table
        return _spec_table({"curves": self.curves, "profile": self.spec.profile, **self._reduced()}).candidates()

    def stats(self, configs: list[dict]) -> dict:
        """Distinct table entries and neighbour share of a run's asks (``bench.tables.curves.replay_stats``)."""
        from bench.tables.curves import replay_stats
        return replay_stats(configs, self.curves, self.spec.profile, **self._reduced())


def make_backend(spec, ckroot: Path, results: Path, data=None, device=None):
    """The backend of a run (``spec.backend``: "train" or "replay")."""
    if spec.backend == "replay":
        return ReplayBackend(spec, data, device)
    return TrainBackend(spec, ckroot, results, data, device)
