"""Named settings of the one segmentation task.

A profile fixes everything that changes the prepared arrays (resolution, patch
size, which images, the split) and the size of the models in the search space.
Profiles differ in cost, not in what is learned.

Splits are by whole image, never by patch:

* test: all nine images of Tile 5 (the tile the original report shows);
* validation: ``image_part_009`` of every other tile (7 images), or the profile's
  ``val_images`` of every other tile (``cpu-v2``: ``image_part_008`` and ``_009``, 14 images);
* train: the remaining images (56, or 49 for ``cpu-v2``).

The ``smoke`` profile takes a few of these images only, with the same rule.

A profile also fixes the training recipe that is not a hyperparameter: the
learning-rate schedule over R and the memory format. ``cpu`` keeps the recipe the
first recordings and stores were made with (constant rate after a one-epoch warm-up,
one validation image per tile, contiguous tensors on the CPU), so those stores stay
reproducible; ``cpu-v2`` is the recipe chosen by measurement (README, "The recipe").
``gpu-v2`` is ``cpu-v2``'s recipe (cosine schedule over the same R = 27, validation images 8 and 9,
channels-last) at the ``gpu`` profile's full resolution, patches, encoders and depth: the proxy
``cpu-v2`` and the task ``gpu-v2`` differ only in resolution and depth (and in the encoders and batch
sizes each space offers), so a proxy check between them tests the proxy the replayed results rest on.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

TEST_TILES: tuple[int, ...] = (5,)
VAL_IMAGES: tuple[int, ...] = (9,)
ALL_TILES: tuple[int, ...] = tuple(range(1, 9))
LR_SCHEDULES = ("constant", "cosine", "cosine-to-budget")
# Schedules whose horizon is the job's own budget r, not R: a run trained under one cannot be
# continued to a larger budget (its rate has already reached zero at the end of epoch r).
BUDGET_AWARE_SCHEDULES = ("cosine-to-budget",)


@dataclass(frozen=True)
class Profile:
    """One named setting of the task.

    scale: resize factor applied to every image before patching (1.0 = full size).
    patch: side of the square patches, in pixels after scaling.
    images: ``{tile: (image numbers...)}`` to read; ``None`` reads all 72.
    max_epochs: the maximum resource R, in epochs.
    encoders: smp encoder names the search space offers.
    encoder_depth: U-Net depth; the decoder has this many stages.
    decoder_widths: the narrowest decoder stage's channels; stage k has width * 2**k.
    batch_sizes: batch sizes the search space offers.
    val_images: image numbers (1-9) of every non-test tile that form the validation split.
    lr_schedule: ``"constant"`` (linear warm-up over the first epoch, then the configured rate)
        or ``"cosine"`` (the same warm-up, then cosine decay to zero at the end of epoch
        ``max_epochs``). Both are functions of the optimiser step alone, with R fixed by the
        profile, so continuing a checkpoint to more epochs equals training longer in one go.
        ``"cosine-to-budget"`` (budget-aware, Li, Yumer and Ramanan 2020): the schedule belongs to
        the job's own budget r epochs: a linear warm-up over ``r * steps_per_epoch // R`` optimiser
        steps (at least one; a 1/R share of the job, so less than one epoch for r < R and exactly one
        epoch at r = R), then cosine decay that reaches zero after the last step of epoch r. At
        r = R it is the ``cosine`` schedule, step for step. A job under it cannot be continued to a
        larger budget: a promotion to r' is a new training at r'.
    channels_last: train and evaluate in channels-last memory format on every device
        (always on CUDA; on the CPU only where set, since it changes the float results).
    """

    name: str
    scale: float
    patch: int
    max_epochs: int
    encoders: tuple[str, ...]
    encoder_depth: int
    decoder_widths: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    images: dict[int, tuple[int, ...]] | None = None
    eval_batch_size: int = 128
    default: dict = field(default_factory=dict)
    val_images: tuple[int, ...] = VAL_IMAGES
    lr_schedule: str = "constant"
    channels_last: bool = False

    def __post_init__(self):
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"profile {self.name!r}: lr_schedule {self.lr_schedule!r}, expected one of {LR_SCHEDULES}")

    @property
    def budget_aware(self) -> bool:
        """Whether each job's schedule ends at its own budget (no continuation to a larger one)."""
        return self.lr_schedule in BUDGET_AWARE_SCHEDULES

    def split_of(self, tile: int, image: int) -> str:
        if tile in TEST_TILES:
            return "test"
        if image in self.val_images:
            return "val"
        return "train"

    def selected(self) -> list[tuple[int, int]]:
        """(tile, image) pairs this profile reads, in a fixed order."""
        if self.images is None:
            return [(t, i) for t in ALL_TILES for i in range(1, 10)]
        return [(t, i) for t in sorted(self.images) for i in sorted(self.images[t])]

    def data_key(self) -> dict:
        """Every setting that changes the prepared arrays (the cache key)."""
        return {
            "scale": self.scale,
            "patch": self.patch,
            "selected": self.selected(),
            "test_tiles": list(TEST_TILES),
            "val_images": list(self.val_images),
        }


_DEFAULT = {
    "learning_rate": 1e-3,
    "weight_decay": 1e-4,
    "batch_size": 32,
    "encoder": "resnet18",
    "decoder_width": 16,
    "loss": "ce",
    "augment": True,
}

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        scale=0.125,
        patch=32,
        max_epochs=9,
        encoders=("resnet18", "mobilenet_v2"),
        encoder_depth=3,
        decoder_widths=(8, 16),
        batch_sizes=(8, 16),
        images={1: (1, 2, 3, 9), 2: (1,), 5: (1,)},
        default={**_DEFAULT, "batch_size": 16, "decoder_width": 8},
    ),
    "cpu": Profile(
        name="cpu",
        scale=0.125,
        patch=32,
        max_epochs=27,
        encoders=("resnet18", "mobilenet_v2", "efficientnet-b0", "resnet34"),
        encoder_depth=3,
        decoder_widths=(8, 16, 32),
        batch_sizes=(16, 32, 64),
        default=dict(_DEFAULT),
    ),
    "gpu": Profile(
        name="gpu",
        scale=1.0,
        patch=256,
        max_epochs=81,
        encoders=("resnet18", "resnet34", "resnet50", "efficientnet-b2"),
        encoder_depth=5,
        decoder_widths=(8, 16, 32),
        batch_sizes=(8, 16, 32),
        eval_batch_size=64,
        default={**_DEFAULT, "encoder": "resnet34", "batch_size": 16},
    ),
}


RECIPE_FIELDS = ("lr_schedule", "val_images", "channels_last")


# The recipe chosen by measurement (README, "The recipe"): cosine decay to zero at R, two
# validation images per tile, channels-last tensors. Same space, images and cost as "cpu".
PROFILES["cpu-v2"] = replace(PROFILES["cpu"], name="cpu-v2", val_images=(8, 9), lr_schedule="cosine",
                             channels_last=True)
# cpu-v2 with a budget-aware schedule (issue 23): each job anneals to zero at the end of its own
# budget r. At r = R it trains exactly as cpu-v2 (same warm-up, same decay, same data and seeds),
# so cpu-v2's recorded R column is this profile's R column too.
PROFILES["cpu-v2-budget"] = replace(PROFILES["cpu-v2"], name="cpu-v2-budget", lr_schedule="cosine-to-budget")
# cpu-v2's recipe at full resolution (issue 28): the gpu profile's resolution, patches, encoders, batch
# sizes and U-Net depth, trained with cpu-v2's cosine schedule over the same R = 27 epochs, validated on
# image_part_008 and _009 of each tile, channels-last. So the cpu-v2 proxy and this task differ only in
# resolution (1/8 scale, 32 px vs full scale, 256 px) and depth (3 vs 5), plus what each space offers
# (gpu-v2 adds resnet50 and efficientnet-b2, drops mobilenet_v2 and efficientnet-b0, and has batch
# sizes 8/16/32 against 16/32/64, and its default configuration is resnet34 at batch 16, as in gpu):
# configurations both spaces hold train under the same recipe on the
# same images. The "gpu" profile (R = 81, constant rate, one validation image per tile) stays as it was.
PROFILES["gpu-v2"] = replace(PROFILES["gpu"], name="gpu-v2", max_epochs=PROFILES["cpu-v2"].max_epochs,
                             val_images=PROFILES["cpu-v2"].val_images, lr_schedule=PROFILES["cpu-v2"].lr_schedule,
                             channels_last=PROFILES["cpu-v2"].channels_last)
# The resolution ladder's second rung (issue 28): cpu-v2 at twice its resolution (1/4 scale, 64 px patches,
# so the same field of view and the same number of patches per image), everything else equal: the same space
# (so the same configuration sample), depth, recipe and images. Its recording against cpu-v2's tells whether
# the table's ranking of configurations survives doubling the resolution, without a GPU.
PROFILES["cpu-v2-64px"] = replace(PROFILES["cpu-v2"], name="cpu-v2-64px", scale=0.25, patch=64)


def fixed_horizon_twin(name: str) -> str | None:
    """For a budget-aware profile, the named profile that trains exactly as it does at r = R (the same
    profile with the ``cosine`` schedule over R): its recordings are the budget-aware table's R column.
    None for other profiles, or when no such profile is defined."""
    prof = get_profile(name)
    if not prof.budget_aware:
        return None
    for other in PROFILES.values():
        if not other.budget_aware and replace(prof, name=other.name, lr_schedule="cosine") == other:
            return other.name
    return None


def get_profile(name: str) -> Profile:
    """A named profile, or a recipe variant of one: ``BASE+field=value[+field=value]``.

    Variants change only recipe fields (``lr_schedule``, ``val_images`` as dot-separated
    image numbers, ``channels_last`` true/false), e.g. ``cpu-v2+lr_schedule=constant`` or
    ``cpu-v2+val_images=9``; the variant's name is the whole string, so stores and caches
    keep variants apart. Used to measure a recipe before choosing it.
    """
    base, *changes = name.split("+")
    if base not in PROFILES:
        raise ValueError(f"unknown profile {base!r}; expected one of {sorted(PROFILES)}")
    if not changes:
        return PROFILES[base]
    values = {}
    for change in changes:
        key, sep, value = change.partition("=")
        if not sep or key not in RECIPE_FIELDS:
            raise ValueError(f"profile variant {name!r}: {change!r} is not FIELD=VALUE with FIELD one of "
                             f"{RECIPE_FIELDS}")
        try:
            if key == "val_images":
                values[key] = tuple(int(v) for v in value.split("."))
                if not values[key] or any(not 1 <= v <= 9 for v in values[key]):
                    raise ValueError
            elif key == "channels_last":
                values[key] = {"true": True, "false": False}[value.lower()]
            else:
                values[key] = value
        except (ValueError, KeyError):
            raise ValueError(f"profile variant {name!r}: bad value {value!r} for {key}") from None
    return replace(PROFILES[base], name=name, **values)
