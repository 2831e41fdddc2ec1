"""Declared parameters of the methods: what a suite's ``params`` may set, with types and ranges.

Every method module declares one pydantic model, ``Params``, next to its factory: a field per
parameter with its type, default, range and meaning (``description``). ``check_params`` validates
a method's parameters against it before the tuner is built, so a parameter of the wrong type or
out of range (SMAC ``n_initial = "2"``, ``eta = 2.5``, DEHB ``mutation_factor = nan``) is refused
with one :class:`ParamError` naming the parameter, what was expected and what was given, instead
of being accepted, coerced or failing mid-run. Ranges are inclusive unless written ``>``/``<``;
resources are in epochs. Integers may be written as integral floats (``3.0``), as the bracket
maths always accepted; strings are never converted to numbers, and booleans are not integers.

Checks that depend on the run (a bracket ``s`` up to s_max, ``r_min`` within the run's
[min_budget, max_budget]) stay in the tuners themselves. The values a tuner receives are the
ones given (the model only checks), so a valid suite builds exactly the tuners it built before.
"""
from __future__ import annotations

from typing import Annotated, Literal, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .brackets import CONVENTIONS, COSTS  # noqa: F401 (the declarations' choices)


def _integral(v):
    if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, float) and v.is_integer())):
        raise ValueError("not an integer")
    return int(v)


def _number(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError("not a number")
    return float(v)


Integer = Annotated[int, BeforeValidator(_integral)]   # an int, or an integral float such as 3.0
Number = Annotated[float, BeforeValidator(_number)]   # an int or a float (never a string or a bool)



class ParamError(ValueError):
    """A parameter a method does not take, or a value out of its declared type or range.
    ``key``: the parameter; ``expected``: what its declaration says; ``got``: the value given."""

    def __init__(self, method: str, key: str, expected: str, got=None, unknown: bool = False):
        self.method, self.key, self.expected, self.got, self.unknown = method, key, expected, got, unknown
        tail = "" if unknown else f", got {got!r}"
        super().__init__(f"method {method!r}: parameter {key!r}: expected {expected}{tail}")


class TunerParams(BaseModel):
    """Parameters every method takes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_configs: Integer | None = Field(None, ge=1, description="stop after sampling this many configurations "
                                                                "(absent: never)")


# -- shared fields --------------------------------------------------------------------------
def eta_field(default: int = 3):
    return Field(default, ge=2, description="halving rate: the best 1/eta of a rung go on")


def convention_field():
    return Field("algorithm1", description="Hyperband's bracket sizes: Algorithm 1 as written, or the paper's "
                                           "printed Table 1 (HpBandSter, DEHB)")


def max_brackets_field():
    return Field(None, ge=1, description="keep only this many of the least aggressive brackets (absent: all)")


def crash_cost_field():
    return Field(1e3, allow_inf_nan=False, description="the loss a failed trial is told")


# -- describing a declaration (error messages and `python -m bench methods`) ---------------------
def _kind(annotation) -> tuple[str, bool]:
    """(what the annotation accepts, in words; whether absent/None is allowed)."""
    optional = False
    args = get_args(annotation)
    if get_origin(annotation) is not Literal and type(None) in args:
        optional = True
        annotation = next(a for a in args if a is not type(None))
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is Literal:
        return f"one of {list(get_args(annotation))}", optional
    return {int: "an integer", float: "a finite number", bool: "true or false", str: "a string"}.get(
        annotation, str(annotation)), optional


def expected(model: type[BaseModel], name: str) -> str:
    """What parameter ``name`` of ``model`` accepts, in words: type, range (inclusive unless '>' or
    '<'), whether it may be absent, and its meaning."""
    field = model.model_fields[name]
    kind, optional = _kind(field.annotation)
    bounds = []
    for m in field.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if isinstance(m, getattr(at, attr.capitalize())):
                bounds.append(f"{sym} {getattr(m, attr)}")
    text = kind + (" " + " and ".join(bounds) if bounds else "")
    if optional:
        text += " (or absent)"
    return f"{text}; {field.description}" if field.description else text


def describe(model: type[BaseModel]) -> list[dict]:
    """Each declared parameter: ``name``, ``expected`` (type, range, meaning) and ``default``."""
    return [{"name": n, "expected": expected(model, n), "default": f.default}
            for n, f in model.model_fields.items()]


def check_params(method: str, model: type[BaseModel], params: dict) -> None:
    """Validate ``params`` (without the harness's ``workdir``) against ``model``; raise
    :class:`ParamError` for the first parameter that is unknown or out of its declaration."""
    given = {k: v for k, v in params.items() if k != "workdir"}
    try:
        model(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else "?"
        if err["type"] == "extra_forbidden":
            raise ParamError(method, key, f"one of {sorted(model.model_fields)} (unknown parameter)",
                             unknown=True) from None
        raise ParamError(method, key, expected(model, key), given.get(key)) from None
