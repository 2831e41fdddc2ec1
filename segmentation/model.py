"""Building the smp U-Net of a configuration."""
from __future__ import annotations

import segmentation_models_pytorch as smp
import torch

from .palette import NUM_CLASSES
from .profiles import Profile


def decoder_channels(profile: Profile, width: int) -> tuple[int, ...]:
    """Decoder stage widths, widest first: (width * 2**(depth-1), ..., width)."""
    return tuple(int(width) * 2 ** k for k in reversed(range(profile.encoder_depth)))


def build_model(config: dict, profile: Profile, encoder_weights: str | None = None) -> torch.nn.Module:
    """An smp ``Unet`` for ``config``; ``encoder_weights=None`` (random init) by default.

    Passing e.g. ``"imagenet"`` downloads pretrained weights, which needs internet.
    """
    return smp.Unet(
        encoder_name=config["encoder"],
        encoder_depth=profile.encoder_depth,
        encoder_weights=encoder_weights,
        decoder_channels=decoder_channels(profile, config["decoder_width"]),
        classes=NUM_CLASSES,
    )
