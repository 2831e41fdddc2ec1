"""Named settings of the one segmentation task.

A profile fixes everything that changes the prepared arrays (resolution, patch
size, which images, the split) and the size of the models in the search space.
Profiles differ in cost, not in what is learned.

Splits are by whole image, never by patch:

* test: all nine images of Tile 5 (the tile the original report shows);
* validation: ``image_part_009`` of every other tile (7 images);
* train: the remaining 56 images.

The ``smoke`` profile takes a few of these images only, with the same rule.
"""
from __future__ import annotations

from dataclasses import dataclass, field

TEST_TILES: tuple[int, ...] = (5,)
VAL_IMAGES: tuple[int, ...] = (9,)
ALL_TILES: tuple[int, ...] = tuple(range(1, 9))


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

    def split_of(self, tile: int, image: int) -> str:
        if tile in TEST_TILES:
            return "test"
        if image in VAL_IMAGES:
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
            "val_images": list(VAL_IMAGES),
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


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; expected one of {sorted(PROFILES)}") from None
