"""The task's hyperparameter space, declared once as a ConfigSpace space.

The hyperparameters are the same for every profile; a profile only sets which
encoders, decoder widths and batch sizes are on offer (model size and cost).

=================  ==========================================  =====================
name               values                                      notes
=================  ==========================================  =====================
learning_rate      [1e-4, 1e-1], log scale, inclusive          AdamW
weight_decay       [1e-6, 1e-2], log scale, inclusive          AdamW, decoupled
batch_size         profile.batch_sizes (ordinal)               patches per step
encoder            profile.encoders (categorical)              smp encoder, random init
decoder_width      profile.decoder_widths (ordinal)            narrowest decoder stage
loss               "ce" | "dice_focal"                         dice + focal as in the report
augment            True | False                                on-device flips/transposes
=================  ==========================================  =====================
"""
from __future__ import annotations

from ConfigSpace import (CategoricalHyperparameter, Configuration, ConfigurationSpace,
                         OrdinalHyperparameter, UniformFloatHyperparameter)

from .profiles import Profile

LR_RANGE = (1e-4, 1e-1)
WD_RANGE = (1e-6, 1e-2)


def search_space(profile: Profile, seed: int | None = None) -> ConfigurationSpace:
    d = profile.default
    cs = ConfigurationSpace(name=f"unet-{profile.name}", seed=seed)
    cs.add([
        UniformFloatHyperparameter("learning_rate", *LR_RANGE, log=True, default_value=d["learning_rate"]),
        UniformFloatHyperparameter("weight_decay", *WD_RANGE, log=True, default_value=d["weight_decay"]),
        OrdinalHyperparameter("batch_size", list(profile.batch_sizes), default_value=d["batch_size"]),
        CategoricalHyperparameter("encoder", list(profile.encoders), default_value=d["encoder"]),
        OrdinalHyperparameter("decoder_width", list(profile.decoder_widths), default_value=d["decoder_width"]),
        CategoricalHyperparameter("loss", ["ce", "dice_focal"], default_value=d["loss"]),
        CategoricalHyperparameter("augment", [True, False], default_value=d["augment"]),
    ])
    return cs


def default_config(profile: Profile) -> dict:
    """The profile's sensible default configuration, as a plain dict."""
    return config_dict(search_space(profile).get_default_configuration())


def config_dict(config: Configuration | dict) -> dict:
    """A configuration as a plain dict of Python scalars (bools stay bools)."""
    out = {}
    for k, v in dict(config).items():
        if hasattr(v, "item"):
            v = v.item()
        out[k] = v
    return out
