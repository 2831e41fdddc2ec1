"""The rows a run writes to the store, built in one place each: the run's row
(``run_row``), its provenance (``provenance``), an epoch (``epoch_row``), a failed
job's last row (``failure_row``), the incumbent's test (``incumbent_row``) and the
run's running totals (``totals``)."""
from __future__ import annotations

import os
import time

from bench.storage import meta
from methods.roles import role

from bench.storage.store import dumps, now


# the run-row columns ``provenance`` fills (and the runner adds: the data's hash, trials per device)
PROVENANCE = ("git_commit", "versions", "device", "host", "pid", "status", "heartbeat", "data_hash",
              "trials_per_device")


def provenance(device: str | None, replay: bool = False) -> dict:
    """Where and with what this sitting runs: commit, versions, device (``meta.replay_device`` for a
    replayed run, which trains nothing), host, process."""
    return {"git_commit": meta.git_commit(), "versions": dumps(meta.versions()),
            "device": meta.replay_device() if replay else meta.device_string(device), "host": meta.host(),
            "pid": os.getpid(),
            "status": "running", "heartbeat": now()}


def run_row(suite, spec, prov: dict) -> dict:
    """The runs-table row of a new run (``spec``: a RunSpec of ``suite``), with what the method is
    (``methods.roles.role``: family, eta, R, bracket s and n, the algorithm it runs) and its number of
    workers (``workers``: simulated in replay; in training the most jobs it could keep in flight, which
    the runner checks the sitting's workers can hold)."""
    return {"run_key": spec.key, "suite": suite.name, "suite_hash": suite.hash, "suite_text": suite.text,
            "label": spec.label, "method": spec.method, "params": dumps(spec.params), "budget": spec.budget,
            "budget_epochs": spec.budget_epochs, "seed": spec.seed, "profile": spec.profile,
            "identity": dumps(spec.identity()), "workers": spec.workers, "started": now(), **prov,
            **role(spec.method, spec.params, spec.min_budget, spec.max_budget)}


def epoch_row(spec, job, e: dict, start: int, spent: int) -> dict:
    """One trained epoch ``e`` of ``job``, which started at epoch ``start``; ``spent``: the run's
    epochs before the job."""
    k = e["epoch"] - start
    js = lambda v: None if v is None else dumps(v)  # noqa: E731
    return {"run_key": spec.key, "job_id": job.job_id, "trial_id": job.trial_id, "epoch": e["epoch"],
            "config": dumps(job.config), "resource": job.resource, "epochs_trained": k,
            "cum_epochs": spent + k, "train_loss": e["train_loss"], "val_loss": e["val_loss"],
            "val_miou": e["val_miou"], "val_iou": js(e["val_iou"]), "val_precision": js(e["val_precision"]),
            "val_recall": js(e["val_recall"]), "seconds": e["seconds"], "status": "ok", "error": None}


def failure_row(spec, job, res: dict, spent: int) -> dict:
    """The epoch a failed job failed in."""
    trained = res["epochs_trained"]
    return {"run_key": spec.key, "job_id": job.job_id, "trial_id": job.trial_id,
            "epoch": res["start"] + len(res["epochs"]) + 1, "config": dumps(job.config),
            "resource": job.resource, "epochs_trained": trained, "cum_epochs": spent + trained,
            "seconds": res["seconds"], "status": "failed", "error": res["error"]}


def incumbent_row(spec, best, res: dict) -> dict:
    """The incumbent and its test-split metrics (``res``: what the test job returned)."""
    return {"run_key": spec.key, "trial_id": best.trial_id, "job_id": best.job_id, "config": dumps(best.config),
            "resource": best.resource, "val_loss": best.val_loss, "val_miou": best.miou, "test_loss": res["loss"],
            "test_miou": res["miou"], "test_iou": res["iou"] and dumps(res["iou"]),
            "test_precision": res["precision"] and dumps(res["precision"]),
            "test_recall": res["recall"] and dumps(res["recall"]), "test_pixel_accuracy": res["pixel_accuracy"],
            "seconds": res["seconds"]}


def totals(st) -> dict:
    """A run's running totals (``st``: its RunState)."""
    return {"epochs_spent": st.ledger.spent, "epochs_restart": st.ledger.restart, "heartbeat": now(),
            "peak_disk_bytes": st.backend.checkpoints.peak_disk, "tuner_seconds": st.tuner_seconds,
            "eval_seconds": st.eval_seconds, "wall_seconds": time.perf_counter() - st.started}
