"""Training and evaluating one configuration, with exact continuation from checkpoints.

Units: ``epochs`` are full passes over the training split; seconds are wall-clock.

* ``train(config, epochs, seed, task, checkpoint=...)`` trains until the model has
  seen ``epochs`` epochs in total (so continuing a 3-epoch checkpoint to ``epochs=9``
  trains 6 more) and returns one record per epoch trained in this call.
* Continuing from a checkpoint gives exactly the result of uninterrupted training:
  the checkpoint holds model, optimiser, scheduler, both RNG states and the epoch,
  and the learning-rate schedule is a function of the optimiser step alone: a
  one-epoch linear warm-up, then either constant or cosine decay to zero at the end
  of epoch R (the profile's ``max_epochs``, fixed for every job), as LCBench does.
  A configuration stopped at r < R epochs has therefore not annealed yet, exactly
  as it would be inside a longer run.
* A promoted trial's model is built on the meta device and filled from its
  checkpoint (no random initialisation that would be overwritten anyway).
* Validation loss is the mean per-pixel cross-entropy on the validation split for
  every configuration (whatever loss it trains with), so losses are comparable.
* Test-split metrics are computed only when asked for, and kept in their own field.
* Each epoch's ``seconds`` is wall-clock (training + validation); on the CPU,
  ``cpu_seconds`` is the process's CPU time for the same span. With one torch thread
  it is what the epoch takes on an unloaded core even when other work shares the
  machine (wall seconds then grow with the load); with k threads it sums them.
* A non-finite training or validation loss ends the trial with ``status="failed"``
  and an error saying so; the loss is never reported as a number.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F

from .data import PreparedData, prepare
from .metrics import confusion, scores
from .model import build_model, load_trained_state, trained_state
from .palette import NUM_CLASSES
from .profiles import Profile, get_profile

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def pick_device(name: str | None = None) -> torch.device:
    """``name`` if given, else CUDA when available, else CPU."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Task:
    """A profile's prepared splits, resident on one device as uint8 tensors.

    ``x[split]`` is (N, 3, P, P) uint8, ``y[split]`` (N, P, P) uint8.
    """

    profile: Profile
    device: torch.device
    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]
    data: PreparedData

    @classmethod
    def from_prepared(cls, profile: Profile, data: PreparedData, device: torch.device) -> "Task":
        x = {s: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous().to(device) for s, (a, _) in data.arrays.items()}
        y = {s: torch.from_numpy(b).to(device) for s, (_, b) in data.arrays.items()}
        return cls(profile, device, x, y, data)

    @property
    def channels_last(self) -> bool:
        return self.device.type == "cuda" or self.profile.channels_last


@lru_cache(maxsize=4)
def load_task(profile: str, root: str | None = None, cache_dir: str | None = None,
              device: str | None = None) -> Task:
    """Prepare (or read from cache) a profile's data and put it on the device, once per process."""
    prof = get_profile(profile)
    data = prepare(prof, root, cache_dir)
    return Task.from_prepared(prof, data, pick_device(device))


@dataclass
class EpochResult:
    """Metrics after one epoch. ``val_*`` per-class lists follow ``palette.CLASSES``."""

    epoch: int
    train_loss: float
    val_loss: float
    val_miou: float
    val_iou: list[float]
    val_precision: list[float]
    val_recall: list[float]
    seconds: float
    test: dict | None = None  # only when asked for; never shown to a tuner
    cpu_seconds: float | None = None  # this process's CPU time for the same work (see train())
    val_by_image: dict | None = None  # per-image validation confusion counts, when asked for


@dataclass
class TrainResult:
    status: str  # "ok" or "failed"
    epochs: list[EpochResult] = field(default_factory=list)
    error: str | None = None
    checkpoint: Path | None = None

    @property
    def last(self) -> EpochResult | None:
        return self.epochs[-1] if self.epochs else None


@lru_cache(maxsize=16)
def _constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalisation mean and standard deviation, copied to ``device`` once per process."""
    return MEAN.to(device), STD.to(device)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    mean, std = _constants(x.device)
    x = x.float().div_(255)
    return (x - mean) / std


def draw_flags(gen: torch.Generator, steps: int, batch_size: int, device: torch.device) -> torch.Tensor:
    """The augmentation flags of a whole epoch, drawn at once: (steps, 3, batch_size) bools on ``device``.

    Row ``[k]`` holds step k's (transpose, h-flip, v-flip) flags. The CPU generator draws them in the
    same order as ``steps`` successive draws of (3, batch_size) would, and leaves the same state
    behind, so training with them is bit-identical to drawing them step by step (tested); one copy
    to the device per epoch instead of one per step.
    """
    return torch.randint(0, 2, (steps, 3, batch_size), generator=gen).bool().to(device)


def _augment(x: torch.Tensor, y: torch.Tensor, flags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Random element of the dihedral group (transpose, h-flip, v-flip) per sample: ``flags`` is one
    step's (3, batch) bools on x's device (a row of ``draw_flags``)."""
    t, h, v = (f.view(-1, 1, 1, 1) for f in flags)
    yt = y.unsqueeze(1)
    x = torch.where(t, x.transpose(-1, -2), x)
    yt = torch.where(t, yt.transpose(-1, -2), yt)
    x = torch.where(h, x.flip(-1), x)
    yt = torch.where(h, yt.flip(-1), yt)
    x = torch.where(v, x.flip(-2), x)
    yt = torch.where(v, yt.flip(-2), yt)
    return x, yt.squeeze(1)


class _Loss:
    def __init__(self, name: str):
        if name == "ce":
            self.fns = [F.cross_entropy]
        elif name == "dice_focal":
            self.fns = [smp.losses.DiceLoss(mode="multiclass"), smp.losses.FocalLoss(mode="multiclass")]
        else:
            raise ValueError(f"unknown loss {name!r}; expected 'ce' or 'dice_focal'")

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        return sum(fn(logits, target) for fn in self.fns)


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


@torch.no_grad()
def evaluate(model: torch.nn.Module, task: Task, split: str, per_image: bool = False) -> dict:
    """Mean per-pixel cross-entropy and confusion-based scores of ``model`` on a split.

    ``per_image``: also return ``confusion_by_image``, ``{"<100*tile+image>": (C, C) counts}``,
    the confusion counts of each source image (they add up to ``confusion``).
    """
    model.eval()
    x_all, y_all = task.x[split], task.y[split]
    n = x_all.shape[0]
    if n == 0:
        raise ValueError(f"split {split!r} of profile {task.profile.name!r} has no patches")
    C = NUM_CLASSES
    conf = torch.zeros(C, C, dtype=torch.long, device=task.device)
    if per_image:
        images, dense = torch.unique(torch.from_numpy(task.data.origins[split]).long(), return_inverse=True)
        dense = dense.to(task.device)
        by_image = torch.zeros(len(images) * C * C, dtype=torch.long, device=task.device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=task.device)
    bs = task.profile.eval_batch_size
    for i in range(0, n, bs):
        x = _normalise(x_all[i:i + bs])
        y = y_all[i:i + bs].long()
        if task.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(task.device):
            logits = model(x)
        logits = logits.float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
        pred = logits.argmax(1)
        conf += confusion(y, pred, C)
        if per_image:
            idx = (dense[i:i + bs].view(-1, 1, 1) * (C * C) + y * C + pred).reshape(-1)
            by_image += torch.bincount(idx, minlength=by_image.numel())
    out = scores(conf)
    out["loss"] = float(loss_sum) / float(y_all.numel())
    out["confusion"] = conf.cpu().tolist()
    if per_image:
        counts = by_image.view(len(images), C, C).cpu()
        out["confusion_by_image"] = {str(int(o)): counts[k].tolist() for k, o in enumerate(images)}
    return out


def _steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, n // batch_size)  # the last incomplete batch is dropped


def lr_factor(step: int, steps_per_epoch: int, max_epochs: int, schedule: str, budget: int | None = None) -> float:
    """The multiple of the configured learning rate used by optimiser step ``step`` (0-based).

    ``constant`` and ``cosine``: steps 0 .. steps_per_epoch - 1 (the first epoch) warm up
    linearly to 1. After that, ``constant`` stays at 1; ``cosine`` decays as 0.5 (1 + cos(pi t)),
    t going from 0 at the first step after warm-up to 1 at the end of epoch ``max_epochs``
    (inclusive), so the last step of epoch R trains at a small positive rate and the rate is
    exactly 0 after it (the factor of step ``max_epochs * steps_per_epoch``).

    ``cosine-to-budget``: the same shape over the job's own ``budget`` r epochs (1 <= r <= R,
    inclusive): warm-up over ``max(1, r * steps_per_epoch // R)`` steps, then cosine decay whose
    factor is exactly 0 at step ``r * steps_per_epoch``, the first step after epoch r. At r = R
    every factor equals ``cosine``'s.
    """
    if schedule == "cosine-to-budget":
        if budget is None or not 1 <= budget <= max_epochs:
            raise ValueError(f"schedule {schedule!r} needs the job's budget in 1..{max_epochs} epochs, got {budget!r}")
        warmup = max(1, budget * steps_per_epoch // max_epochs)
        horizon = budget
    else:
        warmup, horizon = steps_per_epoch, max_epochs
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    total = horizon * steps_per_epoch
    t = min(1.0, (step - warmup) / (total - warmup)) if total > warmup else 1.0  # no step left to decay over
    return 0.5 * (1.0 + math.cos(math.pi * t))


def _make_optimiser(model, config: dict, steps_per_epoch: int, profile: Profile, budget: int | None = None):
    opt = torch.optim.AdamW(model.parameters(), lr=float(config["learning_rate"]),
                            weight_decay=float(config["weight_decay"]))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: lr_factor(step, steps_per_epoch, profile.max_epochs, profile.lr_schedule, budget))
    return opt, sched


def _zero_unused(model: torch.nn.Module, config: dict, profile: Profile) -> None:
    """Zero the tensors a checkpoint does not hold (encoder stages deeper than the depth used),
    so a model built on the meta device holds no uninitialised memory anywhere."""
    kept = trained_state(model, config, profile).keys()
    with torch.no_grad():
        for name, t in model.state_dict(keep_vars=True).items():
            if name not in kept:
                t.zero_()


def save_checkpoint(path: Path, state: dict) -> Path:
    """Write ``state`` to ``path`` atomically (a temporary file, then a rename); a failed write
    (a full disk) leaves neither a partial checkpoint nor the temporary file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        torch.save(state, tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: Path) -> dict:
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def model_from_checkpoint(path: Path, profile: Profile, device: torch.device) -> tuple[torch.nn.Module, dict]:
    """The model stored in a checkpoint (and the checkpoint's config), ready for inference."""
    state = load_checkpoint(path)
    config = dict(state["config"])
    model = build_model(config, profile).to(device)
    load_trained_state(model, state["model"], config, profile)
    if device.type == "cuda" or profile.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.eval()
    return model, config


class CapturedStepUnavailable(ValueError):
    """The captured step was asked for where there is no CUDA device (one line for the user)."""


def require_captured_step(device: torch.device) -> None:
    """Raise ``CapturedStepUnavailable`` unless ``device`` is a CUDA device that is available."""
    if device.type != "cuda" or not torch.cuda.is_available():
        raise CapturedStepUnavailable(
            f"the captured training step needs a CUDA device (CUDA graphs); the device here is {device.type!r}"
            + ("" if torch.cuda.is_available() else " and torch sees no CUDA device"))


class _CapturedStep:
    """One training step (forward, loss, backward, AdamW step) captured once as a CUDA graph and replayed.

    Follows PyTorch's whole-network capture recipe: the optimiser is made capturable (its step counts
    on the device) and its learning rate a device tensor that the scheduler fills before each replay,
    so the schedule stays a function of the step; autocast runs without its weight cache. Warm-up
    steps on a side stream (needed before capture) change the weights, the normalisation statistics
    and the optimiser state, so all of them are copied before and restored in place after the capture:
    the first replayed step starts from exactly the state the eager step would. Inputs are copied into
    static buffers each step (same shape every step: the last incomplete batch is always dropped).
    """

    WARMUP_STEPS = 3

    def __init__(self, model: torch.nn.Module, opt: torch.optim.Optimizer, loss_fn, device: torch.device):
        self.model, self.opt, self.loss_fn, self.device = model, opt, loss_fn, device
        self.graph: torch.cuda.CUDAGraph | None = None
        for group in opt.param_groups:
            group["capturable"] = True
            if not isinstance(group["lr"], torch.Tensor):
                group["lr"] = torch.tensor(float(group["lr"]), dtype=torch.float32, device=device)
        for st in opt.state.values():
            if "step" in st:
                st["step"] = st["step"].to(device=device, dtype=torch.float32)

    def _eager_like(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
            logits = self.model(x)
        loss = self.loss_fn(logits, y)
        loss.backward()
        self.opt.step()
        return loss

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x.clone(), y.clone()  # static inputs, same memory format as the step's
        model_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        fresh = not self.opt.state
        opt_state = {id(t): t.clone() for st in self.opt.state.values() for t in st.values()
                     if isinstance(t, torch.Tensor)}
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(self.WARMUP_STEPS):
                self.opt.zero_grad(set_to_none=True)
                self._eager_like(self.x, self.y)
        torch.cuda.current_stream(self.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        self.opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(self.graph):
            self.loss = self._eager_like(self.x, self.y)
        with torch.no_grad():  # undo the warm-up: the state before it, in the same tensors
            for k, v in self.model.state_dict().items():
                v.copy_(model_state[k])
            for st in self.opt.state.values():
                for t in st.values():
                    if isinstance(t, torch.Tensor):
                        if fresh:
                            t.zero_()  # zero moments and step count: what a first step starts from
                        else:
                            t.copy_(opt_state[id(t)])

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Train on one batch; returns the step's loss (a static tensor, overwritten by the next step)."""
        if self.graph is None:
            self._capture(x, y)
        self.x.copy_(x)
        self.y.copy_(y)
        self.graph.replay()
        return self.loss


def _eager_state(state: dict) -> dict:
    """An optimiser's or scheduler's state dict as the eager step writes it: device scalars (a captured
    step's learning rates and step counts) become CPU tensors or floats, and ``capturable`` is off,
    so a checkpoint continues the same way under either step."""
    def plain(key, v):
        if isinstance(v, torch.Tensor) and v.dim() == 0 and key != "step" and key not in ("exp_avg", "exp_avg_sq"):
            return float(v)
        if isinstance(v, torch.Tensor):
            return v.detach().to("cpu")
        if isinstance(v, list):
            return [plain(key, x) for x in v]
        if isinstance(v, dict):
            return {k: plain(k, x) for k, x in v.items()}
        return v
    out = {k: plain(k, v) for k, v in state.items()}
    for group in out.get("param_groups", []):
        group["capturable"] = False
    return out


def train(config: dict, epochs: int, seed: int, task: Task, *, checkpoint: Path | None = None,
          save_to: Path | None = None, with_test: bool = False, per_image_val: bool = False,
          on_epoch: Callable[[EpochResult], None] | None = None, budget: int | None = None,
          captured: bool = False, on_step: Callable[[torch.Tensor], None] | None = None) -> TrainResult:
    """Train ``config`` until ``epochs`` epochs in total, optionally continuing ``checkpoint``.

    ``budget``: on a profile with a budget-aware schedule (``Profile.budget_aware``), the job's
    budget r in epochs: the schedule reaches zero after epoch r, and ``epochs`` <= r (a record may
    train a job in chunks, each call continuing the last one's checkpoint with the same budget).
    Default: ``epochs``. A checkpoint trained under another budget is refused. Ignored otherwise.

    ``save_to``: where to write the checkpoint after the last epoch (also written when
    no epoch is left to train). ``with_test``: also evaluate the test split after
    every epoch, into ``EpochResult.test``. ``per_image_val``: also keep the validation
    confusion counts of each image (``EpochResult.val_by_image``). ``on_epoch``: called with each epoch's
    record as soon as it exists (before the checkpoint is written).

    ``captured``: run each training step (forward, loss, backward, optimiser step) as one replayed
    CUDA graph with a capturable AdamW (``_CapturedStep``); CUDA only (``CapturedStepUnavailable``
    elsewhere, before anything is read or trained). Same data, flags, schedule and checkpoints as
    the eager step; its losses match the eager step's to floating-point tolerance, not bit for bit
    (the capturable optimiser computes its bias corrections on the device, in float32).
    ``on_step``: called with each training step's loss (a 0-d tensor on the device, a copy; reading
    it synchronises, so keep it and read it after the epoch).
    """
    if captured:
        require_captured_step(task.device)
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be a positive integer (total epochs to reach), got {epochs!r}")
    if task.profile.lr_schedule != "constant" and epochs > task.profile.max_epochs:
        raise ValueError(f"profile {task.profile.name!r} anneals the learning rate to zero at R = "
                         f"{task.profile.max_epochs} epochs; asked for {epochs}")
    if task.profile.budget_aware:
        budget = int(epochs if budget is None else budget)
        if not epochs <= budget <= task.profile.max_epochs:
            raise ValueError(f"profile {task.profile.name!r}: budget {budget} must lie in [{epochs}, "
                             f"{task.profile.max_epochs}] epochs (inclusive) for a job trained to {epochs}")
    else:
        budget = None
    config = dict(config)
    device = task.device
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    x_train, y_train = task.x["train"], task.y["train"]
    n_train = x_train.shape[0]
    batch_size = int(config["batch_size"])
    if n_train < batch_size:
        raise ValueError(f"profile {task.profile.name!r} has {n_train} training patches, fewer than batch_size {batch_size}")
    spe = _steps_per_epoch(n_train, batch_size)
    loss_fn = _Loss(config["loss"])
    state = load_checkpoint(checkpoint) if checkpoint is not None else None
    if state is not None and dict(state["config"]) != config:
        raise ValueError(f"checkpoint {checkpoint} was trained with config {dict(state['config'])}, not {config}")
    if state is not None and state.get("budget") != budget:
        raise ValueError(f"checkpoint {checkpoint} was trained with a schedule for budget {state.get('budget')}, "
                         f"not {budget}: a budget-aware run cannot be continued to another budget")

    with torch.random.fork_rng(devices=cuda_devices):
        gen = torch.Generator()
        if state is None:
            torch.manual_seed(seed)
            gen.manual_seed(seed)
            start = 0
        if state is None:
            model = build_model(config, task.profile).to(device)
        else:  # every used tensor comes from the checkpoint: skip the random initialisation
            with torch.device("meta"):
                model = build_model(config, task.profile)
            model = model.to_empty(device=device)
            _zero_unused(model, config, task.profile)
        if task.channels_last:
            model = model.to(memory_format=torch.channels_last)
        opt, sched = _make_optimiser(model, config, spe, task.profile, budget)
        if state is not None:
            load_trained_state(model, state["model"], config, task.profile)
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["rng_torch"])
            if cuda_devices and "rng_cuda" in state:
                torch.cuda.set_rng_state(state["rng_cuda"], cuda_devices[0])
            gen.set_state(state["rng_data"])
            start = int(state["epoch"])

        graph = _CapturedStep(model, opt, loss_fn, device) if captured else None

        result = TrainResult(status="ok")
        for epoch in range(start + 1, int(epochs) + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            model.train()
            perm = torch.randperm(n_train, generator=gen).to(device)
            flags = draw_flags(gen, spe, batch_size, device) if config["augment"] else None
            loss_sum = torch.zeros((), device=device)
            for step in range(spe):  # no host synchronisation inside: every tensor is on the device
                idx = perm[step * batch_size:(step + 1) * batch_size]
                x, y = x_train.index_select(0, idx), y_train.index_select(0, idx)
                if flags is not None:
                    x, y = _augment(x, y, flags[step])
                x = _normalise(x)
                if task.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                if graph is not None:
                    loss = graph.step(x, y.long())
                else:
                    with _autocast(device):
                        logits = model(x)
                    loss = loss_fn(logits, y.long())
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                sched.step()
                loss_sum += loss.detach()
                if on_step is not None:
                    on_step(loss.detach().clone())
            train_loss = float(loss_sum) / spe
            if not math.isfinite(train_loss):
                result.status = "failed"
                result.error = f"non-finite training loss ({train_loss}) in epoch {epoch}"
                return result
            val = evaluate(model, task, "val", per_image=per_image_val)
            if not math.isfinite(val["loss"]):
                result.status = "failed"
                result.error = f"non-finite validation loss ({val['loss']}) after epoch {epoch}"
                return result
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - t0  # training + validation; a test evaluation is not counted
            cpu_seconds = time.process_time() - c0  # the same span in CPU time of this process
            test = None
            if with_test:
                t = evaluate(model, task, "test")
                test = {k: t[k] for k in ("loss", "miou", "iou", "precision", "recall", "pixel_accuracy")}
            result.epochs.append(EpochResult(
                epoch=epoch, train_loss=train_loss, val_loss=val["loss"], val_miou=val["miou"],
                val_iou=val["iou"], val_precision=val["precision"], val_recall=val["recall"],
                seconds=seconds, test=test, val_by_image=val.get("confusion_by_image"),
                cpu_seconds=cpu_seconds if device.type == "cpu" else None))
            if on_epoch is not None:
                on_epoch(result.epochs[-1])
        if save_to is not None:
            opt_state, sched_state = opt.state_dict(), sched.state_dict()
            if graph is not None:  # the eager step's checkpoint format: float rates, steps on the CPU
                opt_state, sched_state = _eager_state(opt_state), _eager_state(sched_state)
            ck = {"model": trained_state(model, config, task.profile), "optimizer": opt_state, "scheduler": sched_state,
                  "rng_torch": torch.get_rng_state(), "rng_data": gen.get_state(),
                  "epoch": max(start, int(epochs)), "config": config, "seed": int(seed)}
            if budget is not None:  # only budget-aware checkpoints carry it: older ones stay loadable as they are
                ck["budget"] = budget
            if cuda_devices:
                ck["rng_cuda"] = torch.cuda.get_rng_state(cuda_devices[0])
            result.checkpoint = save_checkpoint(save_to, ck)
    return result


def majority_baseline(task: Task, split: str = "val") -> dict:
    """Scores of predicting the training split's most frequent class everywhere."""
    counts = torch.bincount(task.y["train"].reshape(-1).long(), minlength=NUM_CLASSES)
    majority = int(counts.argmax())
    y = task.y[split].long()
    out = scores(confusion(y, torch.full_like(y, majority), NUM_CLASSES))
    out["class"] = majority
    return out
