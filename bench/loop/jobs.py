"""What runs on a worker (or in the driver when serial): train one job, test one checkpoint.

These functions take and return plain data (dicts), so Dask can ship them; they
never touch the store. Failures (NaN loss, out-of-memory, any exception in
training) come back as ``status="failed"`` with the error text; a broken dataset
(``DatasetError``) is not a trial's failure and is raised, so that the driver stops
the suite before anything is marked done.
"""
from __future__ import annotations

import dataclasses
import time
import traceback
import zlib

from methods.base import config_to_dict


def trial_seed(run_seed: int, config: dict) -> int:
    """The training seed of a configuration in a run: the same config in runs of the same seed
    trains identically, whichever tuner proposed it."""
    text = repr(sorted(config_to_dict(config).items()))
    return (zlib.crc32(text.encode()) ^ (run_seed * 2654435761)) & 0x7FFFFFFF


def job_device(spec: dict) -> str | None:
    """The device a job trains on: the spec's, except that a worker pinned to a GPU (several trials
    per GPU, ``bench.loop.pinning.PinDevice``) trains where it is pinned when the spec names no device or
    only ``cuda``."""
    from bench.loop.executor import worker_device
    device, pinned = spec.get("device"), worker_device()
    return pinned if pinned and device in (None, "cuda") else device


def train_job(spec: dict, on_epoch=None) -> dict:
    """Train ``spec["config"]`` to ``spec["resource"]`` epochs in total.

    spec keys: profile, data, device, threads, config, resource, seed, ckpt_in (or None), ckpt_out.
    Returns status, epochs (list of dicts), error, epochs_trained, seconds.
    """
    import torch

    from segmentation.data import DatasetError
    from segmentation.train import load_task, train

    t0 = time.perf_counter()
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    done: list = []

    def record(epoch):
        done.append(dataclasses.asdict(epoch))
        if on_epoch is not None:
            on_epoch(done[-1])

    start = spec["resumes_from"] if spec.get("ckpt_in") else 0
    try:
        task = load_task(spec["profile"], spec.get("data"), None, job_device(spec))
        result = train(spec["config"], spec["resource"], spec["seed"], task, checkpoint=spec.get("ckpt_in"),
                       save_to=spec["ckpt_out"], on_epoch=record)
        status, error = result.status, result.error
    except DatasetError:  # every trial would fail the same way: not this trial's result
        raise
    except Exception as exc:  # out-of-memory, a crash in a library: the trial fails, the run goes on
        status = "failed"
        error = f"{type(exc).__name__}: {exc}".strip() + "\n" + traceback.format_exc(limit=3)
        if "out of memory" in str(exc).lower():
            error = "out of memory: " + error
    if status == "ok":
        trained = spec["resource"] - start
    else:
        trained = min(spec["resource"] - start, len(done) + 1)
    return {"status": status, "epochs": done, "error": error, "epochs_trained": trained, "start": start,
            "seconds": time.perf_counter() - t0}


def test_job(spec: dict) -> dict:
    """Evaluate a checkpoint on the test split (Tile 5). spec keys: profile, data, device, threads, checkpoint."""
    import torch

    from segmentation.train import evaluate, load_task, model_from_checkpoint

    t0 = time.perf_counter()
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    task = load_task(spec["profile"], spec.get("data"), None, job_device(spec))
    model, _ = model_from_checkpoint(spec["checkpoint"], task.profile, task.device)
    out = evaluate(model, task, "test")
    out.pop("confusion", None)
    if spec.get("predict_dir"):
        out["predictions"] = predict_test_images(model, task, spec["predict_dir"], spec.get("data"))
    out["seconds"] = time.perf_counter() - t0
    return out


def predict_test_images(model, task, out_dir, data=None) -> list[str]:
    """Colour-mask PNGs (dataset palette) of every test image of the profile, stitched from patches."""
    from pathlib import Path

    from segmentation.data import load_scaled_image
    from segmentation.predict import predict_image, save_mask_png

    written = []
    for tile, image in task.profile.selected():
        if task.profile.split_of(tile, image) == "test":
            img, _ = load_scaled_image(task.profile, tile, image, data)
            path = Path(out_dir) / f"tile{tile}_image{image:03d}.png"
            written.append(str(save_mask_png(predict_image(model, img, task.profile.patch, task.device), path)))
    return written
