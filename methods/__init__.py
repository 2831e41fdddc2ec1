"""Tuners behind one ask/tell interface; they know nothing of segmentation.

``REGISTRY`` maps a method name to a factory ``(space, seed, min_budget,
max_budget, **params) -> Tuner``; ``PARAMS`` maps it to the pydantic model that declares the
parameters a suite may give it (types, ranges, defaults, meaning; ``methods.params``), checked by
``make_tuner`` before the factory runs. Adding a method is one new module plus one line in each.
"""
from __future__ import annotations

from . import (asha, async_hyperband, dehb_tuner, hyperband, optuna_study, optuna_tpe_hb, random_search, skopt_gp,
               smac_tuners, successive_halving)
from .base import FINISHED, WAIT, Job, Tuner
from .params import ParamError, check_params

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

PARAMS = {
    "hyperband": hyperband.Params,
    "hyperband-bracket": hyperband.BracketParams,
    "successive-halving": successive_halving.Params,
    "random-search": random_search.Params,
    "smac-bo": smac_tuners.BoParams,
    "smac-hb": smac_tuners.HbParams,
    "skopt-gp": skopt_gp.Params,
    "asha": asha.Params,
    "async-hyperband": async_hyperband.Params,
    "optuna-tpe-hb": optuna_tpe_hb.Params,
    "dehb": dehb_tuner.Params,
    "optuna": optuna_study.Params,
}


def make_tuner(method: str, space, seed: int, min_budget: int, max_budget: int, **params) -> Tuner:
    """The tuner of ``method`` with ``params`` (checked against ``PARAMS[method]`` first:
    :class:`ParamError`, a ValueError, names the parameter); ``workdir`` is the harness's."""
    try:
        factory = REGISTRY[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; registered: {sorted(REGISTRY)}") from None
    check_params(method, PARAMS[method], params)
    try:
        return factory(space, seed, min_budget, max_budget, **params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for method {method!r}: {exc}") from None


__all__ = ["REGISTRY", "PARAMS", "ParamError", "make_tuner", "Job", "Tuner", "WAIT", "FINISHED"]
