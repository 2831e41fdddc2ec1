"""Building the smp U-Net of a configuration."""
from __future__ import annotations

from functools import lru_cache

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


@lru_cache(maxsize=64)
def _unused_prefixes(encoder: str, depth: int, channels: tuple[int, ...], patch: int) -> tuple[str, ...]:
    """Modules whose parameters never get a gradient (encoder stages deeper than ``depth``).

    smp keeps every stage of an encoder even when ``encoder_depth`` uses only the
    first few (resnet18 at depth 3 uses 0.9M of its 11.4M parameters). Found once
    per architecture by a backward pass of a throwaway copy in eval mode.
    """
    with torch.random.fork_rng(devices=[]):
        model = smp.Unet(encoder_name=encoder, encoder_depth=depth, encoder_weights=None,
                         decoder_channels=channels, classes=NUM_CLASSES)
    model.eval()
    model(torch.zeros(2, 3, patch, patch)).sum().backward()
    out = []
    for name, module in model.named_modules():
        params = list(module.parameters(recurse=True))
        if name and params and all(p.grad is None for p in params):
            if not any(name.startswith(prefix + ".") for prefix in out):
                out.append(name)
    return tuple(out)


def trained_state(model: torch.nn.Module, config: dict, profile: Profile) -> dict:
    """The model's state dict without the never-used encoder stages (what a checkpoint stores)."""
    prefixes = tuple(p + "." for p in _unused_prefixes(config["encoder"], profile.encoder_depth,
                                                      decoder_channels(profile, config["decoder_width"]),
                                                      profile.patch))
    return {k: v for k, v in model.state_dict().items() if not k.startswith(prefixes)}


def load_trained_state(model: torch.nn.Module, state: dict, config: dict, profile: Profile) -> None:
    """Load a ``trained_state``; every key the model uses must be present."""
    expected = trained_state(model, config, profile).keys()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ValueError(f"checkpoint lacks {len(missing)} model tensors, e.g. {missing[:3]}")
    model.load_state_dict(state, strict=False)
