"""Tuners behind one ask/tell interface; they know nothing of segmentation.

``REGISTRY`` maps a method name to a factory ``(space, seed, min_budget,
max_budget, **params) -> Tuner``; ``PARAMS`` maps it to the pydantic model that declares the
parameters a suite may give it (types, ranges, defaults, meaning; ``methods.params``), checked by
``make_tuner`` before the factory runs. Adding a method is one new module plus one line in ``METHODS``.

A method's module is imported when the method is first looked up (``REGISTRY[name]``), so
importing ``methods`` (or ``methods.brackets``, for the planner) loads no tuner library (SMAC,
Optuna, DEHB, scikit-optimize) and not ConfigSpace; ``Job``, ``Tuner``, ``WAIT`` and ``FINISHED``
load ``methods.base`` when first used.
"""
from __future__ import annotations

import importlib
from collections.abc import MutableMapping

# method name -> (module in methods/, its factory, its parameter model)
METHODS = {
    "hyperband":          ("hyperband", "make", "Params"),
    "hyperband-bracket":  ("hyperband", "make_bracket", "BracketParams"),
    "successive-halving": ("successive_halving", "make", "Params"),
    "random-search":      ("random_search", "make", "Params"),
    "smac-bo":            ("smac_tuners", "make_bo", "BoParams"),
    "smac-hb":            ("smac_tuners", "make_hb", "HbParams"),
    "skopt-gp":           ("skopt_gp", "make", "Params"),
    "asha":               ("asha", "make", "Params"),
    "async-hyperband":    ("async_hyperband", "make", "Params"),
    "optuna-tpe-hb":      ("optuna_tpe_hb", "make", "Params"),
    "dehb":               ("dehb_tuner", "make", "Params"),
    "optuna":             ("optuna_study", "make", "Params"),
}


class _Lazy(MutableMapping):
    """Method name -> one attribute of its module (``field``: 1 the factory, 2 the parameter model),
    imported on first access and kept. Entries set directly (``REGISTRY[name] = factory``, as tests
    do) are kept as given."""

    def __init__(self, field: int):
        self._field = field
        self._names = list(METHODS)
        self._values: dict = {}

    def __getitem__(self, name):
        if name not in self._values:
            if name not in METHODS or name not in self._names:
                raise KeyError(name)
            entry = METHODS[name]
            self._values[name] = getattr(importlib.import_module(f".{entry[0]}", __name__), entry[self._field])
        return self._values[name]

    def __setitem__(self, name, value) -> None:
        if name not in self._names:
            self._names.append(name)
        self._values[name] = value

    def __delitem__(self, name) -> None:
        if name not in self._names:
            raise KeyError(name)
        self._names.remove(name)
        self._values.pop(name, None)

    def __iter__(self):
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name) -> bool:
        return name in self._names


REGISTRY = _Lazy(1)
PARAMS = _Lazy(2)


def make_tuner(method: str, space, seed: int, min_budget: int, max_budget: int, **params):
    """The tuner (a ``methods.base.Tuner``) of ``method`` with ``params`` (checked against
    ``PARAMS[method]`` first: :class:`ParamError`, a ValueError, names the parameter); ``workdir``
    is the harness's."""
    try:
        factory = REGISTRY[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; registered: {sorted(REGISTRY)}") from None
    model = PARAMS.get(method)  # None only for a factory set at run time without a declaration (tests)
    if model is not None:
        from .params import check_params
        check_params(method, model, params)
    try:
        return factory(space, seed, min_budget, max_budget, **params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for method {method!r}: {exc}") from None


_LAZY = {"Job": "base", "Tuner": "base", "WAIT": "base", "FINISHED": "base", "ParamError": "params"}


def __getattr__(name: str):
    """``Job``, ``Tuner``, ``WAIT``, ``FINISHED`` (and ``ParamError``) from their modules, on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["REGISTRY", "PARAMS", "ParamError", "METHODS", "make_tuner", "Job", "Tuner", "WAIT", "FINISHED"]
