"""A bare, hand-written smp U-Net training and evaluation loop: the yardstick for the trainer's speed.

It does the same arithmetic per step as ``segmentation.train`` (the same uint8 batches from the
device-resident split, flips/transposes when the configuration augments, normalisation, bf16
autocast and channels_last on CUDA, AdamW, the configuration's loss), and nothing else: no
learning-rate schedule, no loss bookkeeping, no validation metrics, no checkpoints. Evaluation
is a forward pass and an argmax per batch. Times are wall-clock seconds, synchronised on CUDA.
"""
from __future__ import annotations

import logging
import time

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F

from segmentation.model import decoder_channels
from segmentation.palette import NUM_CLASSES

log = logging.getLogger("bench.instruments.bare")

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _channels_last(profile, device: torch.device) -> bool:
    """channels_last as the trainer does: always on CUDA, on the CPU where the profile says so."""
    return device.type == "cuda" or bool(getattr(profile, "channels_last", False))


def bare_model(config: dict, profile, device: torch.device) -> torch.nn.Module:
    model = smp.Unet(encoder_name=config["encoder"], encoder_depth=profile.encoder_depth, encoder_weights=None,
                     decoder_channels=decoder_channels(profile, config["decoder_width"]), classes=NUM_CLASSES)
    model = model.to(device)
    if _channels_last(profile, device):
        model = model.to(memory_format=torch.channels_last)
    return model


def _loss_fn(name: str):
    if name == "ce":
        return lambda logits, y: F.cross_entropy(logits.float(), y)
    dice, focal = smp.losses.DiceLoss(mode="multiclass"), smp.losses.FocalLoss(mode="multiclass")
    return lambda logits, y: dice(logits.float(), y) + focal(logits.float(), y)


def _prepare(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, channels_last: bool) -> torch.Tensor:
    x = (x.float() / 255 - mean) / std
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _flip(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample: transpose, flip left-right, flip up-down, each with probability 1/2."""
    t, h, v = torch.randint(0, 2, (3, x.shape[0]), generator=gen).bool().to(x.device).view(3, -1, 1, 1, 1)
    y = y.unsqueeze(1)
    for mask, op in ((t, lambda a: a.transpose(-1, -2)), (h, lambda a: a.flip(-1)), (v, lambda a: a.flip(-2))):
        x, y = torch.where(mask, op(x), x), torch.where(mask, op(y), y)
    return x, y.squeeze(1)


def bare_train(config: dict, task, epochs: int, seed: int = 0, max_steps: int | None = None,
               stop_after: float | None = None) -> dict:
    """Train a fresh model ``epochs`` epochs; seconds of each epoch (training only) and images per epoch.

    The batches are those of ``segmentation.train.train`` with the same seed: the same
    permutation of the training split, the last incomplete batch dropped. ``max_steps``: stop
    each epoch after this many steps (for a quick cost estimate; ``step_seconds`` then holds
    every step's seconds, synchronised; ``stop_after``: seconds after which no step after the
    second starts: the first step carries start-up costs, so two are always timed).
    """
    device = task.device
    x_all, y_all = task.x["train"], task.y["train"]
    bs = int(config["batch_size"])
    steps = max(1, x_all.shape[0] // bs)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    cl = _channels_last(task.profile, device)
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = bare_model(config, task.profile, device)
        opt = torch.optim.AdamW(model.parameters(), lr=float(config["learning_rate"]),
                                weight_decay=float(config["weight_decay"]))
        loss_fn = _loss_fn(config["loss"])
        model.train()
        seconds, step_seconds = [], []
        for _ in range(epochs):
            _sync(device)
            t0 = time.perf_counter()
            perm = torch.randperm(x_all.shape[0], generator=gen).to(device)
            for step in range(min(steps, max_steps or steps)):
                ts = time.perf_counter()
                idx = perm[step * bs:(step + 1) * bs]
                x, y = x_all[idx], y_all[idx]
                if config["augment"]:
                    x, y = _flip(x, y, gen)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    logits = model(_prepare(x, mean, std, cl))
                loss = loss_fn(logits, y.long())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if max_steps:
                    _sync(device)
                    step_seconds.append(time.perf_counter() - ts)
                    if stop_after is not None and step >= 1 and time.perf_counter() - t0 > stop_after:
                        break
            _sync(device)
            seconds.append(time.perf_counter() - t0)
    return {"seconds": seconds, "images": steps * bs, "steps": steps, "step_seconds": step_seconds,
            "final_loss": float(loss.detach())}


def epoch_estimate(config: dict, task, seed: int = 0, steps: int = 3, stop_after: float = 5.0) -> float:
    """Rough seconds of one training epoch plus validation, from 2 to ``steps`` timed bare steps.

    The fastest step after the first counts: the first step carries the start-up cost (kernel
    selection, lazy library loading: on an H200, an estimate from the first step alone put an
    efficientnet-b2 epoch at 2,228 s, and the check skipped it). No step after the second starts once
    ``stop_after`` seconds have passed, so a slow model costs at most two steps here."""
    r = bare_train(config, task, 1, seed, max_steps=max(2, steps), stop_after=stop_after)
    times = r["step_seconds"]
    step = min(times[1:]) if len(times) > 1 else times[0]
    log.info("cost estimate of %s (batch %s): step seconds %s", config.get("encoder"), config.get("batch_size"),
             ", ".join(f"{t:.3f}" for t in times))
    n_val = task.x["val"].shape[0]
    return step * r["steps"] + step / (3 * int(config["batch_size"])) * n_val  # forward only ~ 1/3 of a step


@torch.no_grad()
def bare_eval(model: torch.nn.Module, task, split: str = "val") -> float:
    """Seconds of one forward pass (and argmax) over a split, in the profile's evaluation batches."""
    device = task.device
    x_all = task.x[split]
    bs = task.profile.eval_batch_size
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    cl = _channels_last(task.profile, device)
    model.eval()
    _sync(device)
    t0 = time.perf_counter()
    for i in range(0, x_all.shape[0], bs):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            pred = model(_prepare(x_all[i:i + bs], mean, std, cl)).argmax(1)
    del pred
    _sync(device)
    return time.perf_counter() - t0
