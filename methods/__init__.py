"""Tuners behind one ask/tell interface; they know nothing of segmentation.

``REGISTRY`` maps a method name to a factory ``(space, seed, min_budget,
max_budget, **params) -> Tuner``. Adding a method is one new module plus one line here.
"""
from __future__ import annotations

from . import (asha, async_hyperband, dehb_tuner, hyperband, optuna_study, optuna_tpe_hb, random_search, skopt_gp,
               smac_tuners, successive_halving)
from .base import FINISHED, WAIT, Job, Tuner

REGISTRY = {
    "hyperband": hyperband.make,
    "hyperband-bracket": hyperband.make_bracket,
    "successive-halving": successive_halving.make,
    "random-search": random_search.make,
    "smac-bo": smac_tuners.make_bo,
    "smac-hb": smac_tuners.make_hb,
    "skopt-gp": skopt_gp.make,
    "asha": asha.make,
    "async-hyperband": async_hyperband.make,
    "optuna-tpe-hb": optuna_tpe_hb.make,
    "dehb": dehb_tuner.make,
    "optuna": optuna_study.make,
}


def make_tuner(method: str, space, seed: int, min_budget: int, max_budget: int, **params) -> Tuner:
    try:
        factory = REGISTRY[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; registered: {sorted(REGISTRY)}") from None
    try:
        return factory(space, seed, min_budget, max_budget, **params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for method {method!r}: {exc}") from None


__all__ = ["REGISTRY", "make_tuner", "Job", "Tuner", "WAIT", "FINISHED"]
