"""Recording learning curves: N configurations sampled from the task's space, each
trained to R epochs, every epoch's validation and test metrics and seconds stored.

``python -m bench record --profile cpu --configs 64 --seed 0`` writes the harness's
SQLite store (``results/curves-raw/<profile>-seed<S>/results.db`` by default), one
job per configuration. It resumes after a kill: finished configurations are
skipped, and a configuration in progress continues from its last checkpoint
(written every ``chunk`` epochs). Test metrics go to their own table and are
never told to a tuner. Asking for more configurations later extends the record
(configurations are sampled in a fixed order from the seed).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import time
from pathlib import Path

from tqdm import tqdm

from methods.base import config_to_dict

from . import meta
from .jobs import trial_seed
from .packing import DB_NAME
from .store import Store, dumps, now

log = logging.getLogger("bench.record")


def sample_configs(profile_name: str, n: int, seed: int) -> list[dict]:
    from segmentation.profiles import get_profile
    from segmentation.space import search_space

    space = search_space(get_profile(profile_name), seed=seed)
    return [config_to_dict(space.sample_configuration()) for _ in range(n)]


def record(profile: str, n_configs: int, seed: int, results: Path | None = None, data=None, device=None,
           chunk: int = 3, epochs: int | None = None, progress: bool = True) -> Path:
    from segmentation.train import load_task, train

    task = load_task(profile, data, None, device)
    R = int(epochs or task.profile.max_epochs)
    results = Path(results) if results else Path("results") / "curves-raw" / f"{profile}-seed{seed}"
    store = Store(results / DB_NAME, lock=True)  # one driver per store
    run_key = f"record/{profile}/seed{seed}"
    identity = {"kind": "record", "profile": profile, "seed": seed, "max_epochs": R}
    row = store.run(run_key)
    if row is not None and row["identity"] != dumps(identity):
        raise ValueError(f"{store.path} holds a record of {row['identity']}, not {dumps(identity)}; "
                         "use another --results directory")
    run_meta = {"git_commit": meta.git_commit(), "versions": dumps(meta.versions()),
                "device": meta.device_string(device), "host": meta.host(), "pid": os.getpid(),
                "status": "running", "heartbeat": now()}
    if row is None:
        store.add_run({"run_key": run_key, "suite": f"record-{profile}", "suite_hash": "", "suite_text": "",
                       "label": "record", "method": "record", "params": dumps({"configs": n_configs}),
                       "budget": float(n_configs), "budget_epochs": n_configs * R, "seed": seed,
                       "profile": profile, "identity": dumps(identity), "started": now(), **run_meta})
        row = store.run(run_key)
    else:
        store.update_run(run_key, budget=float(n_configs), budget_epochs=n_configs * R, **run_meta)
    wall0 = time.perf_counter() - (row["wall_seconds"] or 0.0)
    done = {j["job_id"]: j for j in store.jobs(run_key)}
    ckroot = results / "checkpoints"
    spent = sum(j["epochs_trained"] or 0 for j in done.values() if j["status"] != "asked")
    bar = tqdm(total=n_configs * R, initial=spent, unit="ep", desc=run_key, disable=None if progress else True)
    for i, config in enumerate(sample_configs(profile, n_configs, seed)):
        if i in done and done[i]["status"] in ("ok", "failed"):
            continue

        class _Job:  # what Store.add_job reads
            job_id, trial_id, resource, resumes_from, info = i, i, R, 0, {"record": True}

        _Job.config = config
        store.add_job(run_key, _Job, i)
        ckdir = ckroot / f"c{i}"
        ckdir.mkdir(parents=True, exist_ok=True)
        reached = max((int(m.group(1)) for p in ckdir.glob("e*.pt") if (m := re.fullmatch(r"e(\d+)\.pt", p.name))),
                      default=0)
        status, error, tseed = "ok", None, trial_seed(seed, config)
        last = None

        def on_epoch(e, i=i, config=config):
            nonlocal last
            last = e
            store.add_evaluation({
                "run_key": run_key, "job_id": i, "trial_id": i, "epoch": e.epoch, "config": dumps(config),
                "resource": R, "epochs_trained": e.epoch, "cum_epochs": e.epoch, "train_loss": e.train_loss,
                "val_loss": e.val_loss, "val_miou": e.val_miou, "val_iou": dumps(e.val_iou),
                "val_precision": dumps(e.val_precision), "val_recall": dumps(e.val_recall),
                "seconds": e.seconds, "status": "ok", "error": None})
            store.add_curve_test({"run_key": run_key, "job_id": i, "epoch": e.epoch, "test_loss": e.test["loss"],
                                  "test_miou": e.test["miou"], "test_iou": dumps(e.test["iou"])})
            bar.update(1)

        while reached < R and status == "ok":
            target = min(R, reached + chunk)
            ck_in = ckdir / f"e{reached}.pt" if reached else None
            try:
                res = train(config, target, tseed, task, checkpoint=ck_in, save_to=ckdir / f"e{target}.pt",
                            with_test=True, on_epoch=on_epoch)
                status, error = res.status, res.error
            except Exception as exc:  # out of memory, a library crash: recorded, the record goes on
                status, error = "failed", f"{type(exc).__name__}: {exc}"
            if ck_in is not None:
                ck_in.unlink(missing_ok=True)
            reached = target if status == "ok" else reached
        trained = R if status == "ok" else (last.epoch if last else 0) + 1
        if status != "ok":
            store.add_evaluation({"run_key": run_key, "job_id": i, "trial_id": i, "epoch": trained,
                                  "config": dumps(config), "resource": R, "epochs_trained": trained,
                                  "cum_epochs": trained, "status": "failed", "error": error})
            log.warning("config %d failed: %s", i, error)
        store.finish_job(run_key, i, status, last.val_loss if last and status == "ok" else None, None, trained,
                         error, last.val_miou if last and status == "ok" else None)
        shutil.rmtree(ckdir, ignore_errors=True)
        spent += trained
        store.update_run(run_key, epochs_spent=spent, heartbeat=now(), wall_seconds=time.perf_counter() - wall0)
        store.checkpoint()  # the database file alone holds every finished configuration
    bar.close()
    store.update_run(run_key, status="done", ended=now(), wall_seconds=time.perf_counter() - wall0)
    store.close()
    return results
