"""Joining the segmentation task to the command line: one training run, printed."""
from __future__ import annotations

import logging
import sys
from pathlib import Path


from bench.storage.meta import device_string
from segmentation.data import DatasetError
from segmentation.palette import CLASSES
from segmentation.profiles import get_profile
from segmentation.space import default_config, search_space
from segmentation.train import (load_task, majority_baseline, model_from_checkpoint, pick_device,
                                require_captured_step, train)

log = logging.getLogger("bench.loop.tasks")


def validated_config(profile, overrides: dict) -> dict:
    space = search_space(profile)
    config = default_config(profile)
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise ValueError(f"--set: unknown hyperparameter(s) {unknown}; the space has {sorted(config)}")
    config.update(overrides)
    from ConfigSpace import Configuration
    try:
        Configuration(space, values=config).check_valid_configuration()
    except Exception as exc:  # ConfigSpace raises several types; name the values
        raise ValueError(f"--set: configuration {config} is not in the {profile.name!r} space: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return config


def _fmt(values) -> str:
    return " ".join(f"{c[:5]}={v:.3f}" for c, v in zip(CLASSES, values))


def train_once(profile: str, epochs: int, seed: int, overrides: dict, data=None, device=None,
               with_test: bool = False, predict_dir=None, captured: bool = False) -> int:
    """Train the profile's default configuration (with ``overrides``) for ``epochs`` epochs and
    print its metrics. A bad argument or dataset: one line on stderr, returns 2, nothing trained.
    ``captured``: the captured (CUDA graph) training step; refused in one line without CUDA."""
    try:  # the arguments first, before any data is read
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"--epochs: expected a positive whole number of epochs, got {epochs!r}")
        try:
            prof = get_profile(profile)
        except ValueError as exc:
            raise ValueError(f"--profile: {exc}") from None
        config = validated_config(prof, overrides)
        if captured:
            try:
                require_captured_step(pick_device(device))
            except ValueError as exc:
                raise ValueError(f"--captured-step: {exc}") from None
        task = load_task(profile, data, None, device)
    except (ValueError, DatasetError) as exc:  # DatasetError is a ValueError too
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = task.data.counts()
    log.info("profile %s on %s; patches train=%d val=%d test=%d (%s)", profile, device_string(str(task.device)),
             counts["train"], counts["val"], counts["test"],
             "from cache" if task.data.from_cache else "prepared now")
    log.info("config %s", config)
    ck = Path(".cache/demo-checkpoint.pt")
    result = train(config, epochs, seed, task, save_to=ck, with_test=with_test, captured=captured)
    print(f"{'epoch':>5} {'train_loss':>10} {'val_loss':>9} {'val_mIoU':>9} {'seconds':>8}")
    for e in result.epochs:
        print(f"{e.epoch:>5} {e.train_loss:>10.4f} {e.val_loss:>9.4f} {e.val_miou:>9.4f} {e.seconds:>8.2f}")
    if result.status != "ok":
        print(f"trial failed: {result.error}")
        return 1
    last = result.last
    base = majority_baseline(task, "val")
    print(f"validation mIoU {last.val_miou:.4f}; majority-class baseline ({CLASSES[base['class']]}) {base['miou']:.4f}")
    print(f"val IoU       {_fmt(last.val_iou)}")
    print(f"val precision {_fmt(last.val_precision)}")
    print(f"val recall    {_fmt(last.val_recall)}")
    if with_test and last.test:
        print(f"test (Tile 5) mIoU {last.test['miou']:.4f}; IoU {_fmt(last.test['iou'])}")
    if predict_dir:
        from segmentation.data import load_scaled_image
        from segmentation.predict import predict_image, save_mask_png
        model, _ = model_from_checkpoint(ck, task.profile, task.device)
        for tile, image in task.profile.selected():
            if task.profile.split_of(tile, image) == "test":
                img, _ = load_scaled_image(task.profile, tile, image, data)
                out = save_mask_png(predict_image(model, img, task.profile.patch, task.device),
                                    Path(predict_dir) / f"tile{tile}_image{image:03d}_pred.png")
                log.info("wrote %s", out)
    return 0
