"""The keys of a suite file, declared once (pydantic): type, range (inclusive unless '>'), default and
what is expected, in the words an error message uses.

``bench.config.suite.load_suite`` validates a parsed TOML file against :class:`SuiteFile` first; the first
violation becomes one ``SuiteError`` naming the file, the key (``budgets[1]``,
``methods[0].label``) and what was expected. What depends on several keys (max_budget >= min_budget,
B * R of at least one epoch, labels used once, ``curves`` only with ``backend = "replay"``) and each
method's ``params`` (declared next to each method, ``methods.PARAMS``) are checked there after this.
The declaration only checks: a suite is built from the values as written, so a valid suite means
exactly what it meant before.
"""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

BACKENDS = ("train", "replay")
SAMPLINGS = ("neighbour", "table", "candidates")
OBJECTIVES = ("val_loss", "val_miou")
BUDGET_UNITS = ("R", "hyperband-iterations")
MAX_SEED = 2 ** 32 - 1     # the largest seed numpy's RandomState (so every tuner's library) accepts
MAX_B = 10_000             # B in units of R: far beyond any sweep (the largest spends 53 R), finite epochs
# a suite name is one folder under results/: not empty, not '.' or '..', no '/' or '\', no control characters
class SuiteError(ValueError):
    """A malformed suite; the message names the file, the key and what was expected."""


def key_error(path, key, expected, got=None) -> SuiteError:
    """The one-line error for suite file ``path``'s ``key``: what was expected, and what it held."""
    tail = "" if got is None else f", got {got!r}"
    return SuiteError(f"{path}: key '{key}': expected {expected}{tail}")


NAME = re.compile(r"(?!\.{1,2}\Z)[^/\\\x00-\x1f\x7f]{1,100}\Z")


def _custom(expected: str, key: str | None = None):
    return PydanticCustomError("suite", "{expected}", {"expected": expected, **({"key": key} if key else {})})


def _one_of(choices):
    def check(v):
        if v not in choices:
            raise _custom(f"one of {list(choices)}")
        return v
    return AfterValidator(check)


def _profile(v: str) -> str:
    from segmentation.profiles import PROFILES  # the task's profiles (they name R)
    if v not in PROFILES:
        raise _custom(f"one of {sorted(PROFILES)}")
    return v


def _method(v: str) -> str:
    from methods import REGISTRY
    if v not in REGISTRY:
        raise _custom(f"a registered method, one of {sorted(REGISTRY)}")
    return v


def _workers(v):
    """One positive integer, or a non-empty list of distinct positive integers."""
    expected = "a positive integer or a non-empty list of distinct positive integers (workers per run)"
    if isinstance(v, list):
        if not v:
            raise _custom(expected)
        for i, n in enumerate(v):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise _custom("a positive integer (workers per run)", f"workers[{i}]")
            if n in v[:i]:
                raise _custom("a worker count listed once only", f"workers[{i}]")
    elif isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise _custom(expected)
    return v


def is_name(v) -> bool:
    """Whether ``v`` can name a suite: one folder under results/ (see ``NAME``)."""
    return isinstance(v, str) and NAME.match(v) is not None


def _name(v: str) -> str:
    if not is_name(v):
        raise _custom(NAME_EXPECTED)
    return v


NAME_EXPECTED = ("a name, not a path: 1 to 100 characters, not '.' or '..', without '/', '\\' or control "
                 "characters (the results go to results/<name>/)")


DROP_TOP_EXPECTED = ("a non-negative integer k (replay only): leave the table's k best configurations, by the "
                     "seed mean at R of the suite's objective, out of the run")


def _item(text: str) -> dict:
    return {"item": text}


class MethodEntry(BaseModel):
    """One ``[[methods]]`` table."""

    model_config = ConfigDict(extra="forbid", strict=True)

    label: str | None = Field(None, pattern=r"^[^/]+$", description="a non-empty string without '/'")
    method: Annotated[str, AfterValidator(_method)] = Field(description="a registered method (python -m bench "
                                                                        "methods lists them)")
    params: dict[str, Any] = Field(default_factory=dict, description="a table of parameters")


class SuiteFile(BaseModel):
    """A suite file's keys. Budgets are B in units of R = max_budget epochs; resources are epochs."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, AfterValidator(_name)] | None = Field(None, description=NAME_EXPECTED)
    description: str | None = Field(None, description="a string")
    profile: Annotated[str, AfterValidator(_profile)] = Field(description="a task profile")
    budgets: list[Annotated[float, Field(gt=0, le=MAX_B, allow_inf_nan=False)]] = Field(
        min_length=1, description="a non-empty list of numbers (B in units of R, or in budget_unit)",
        json_schema_extra=_item(f"a positive number (B in units of R, or in budget_unit) of at most {MAX_B}"))
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(
        min_length=1, description="a non-empty list of non-negative integers",
        json_schema_extra=_item(f"an integer from 0 to 2**32 - 1 = {MAX_SEED}"))
    resume_promotions: bool = Field(True, description="true or false")
    methods: list[MethodEntry] = Field(min_length=1, description="a non-empty array of tables ([[methods]])",
                                       json_schema_extra=_item("a table with label, method and params"))
    min_budget: int = Field(1, ge=1, description="a positive integer number of epochs")
    max_budget: int | None = Field(None, ge=1, description="a positive integer number of epochs (default: the "
                                                           "profile's R)")
    backend: Annotated[str, _one_of(BACKENDS)] = Field("train", description=f"one of {list(BACKENDS)}")
    curves: str | None = Field(None, description='the path of a curves table (CSV or parquet) for backend = '
                                                 '"replay"')
    objective: Annotated[str, _one_of(OBJECTIVES)] = Field("val_loss", description=f"one of {list(OBJECTIVES)}")
    workers: Annotated[Any, AfterValidator(_workers)] = Field(
        1, description="a positive integer or a non-empty list of distinct positive integers (workers per run)")
    sampling: Annotated[str, _one_of(SAMPLINGS)] = Field("neighbour", description=f"one of {list(SAMPLINGS)}")
    budget_unit: Annotated[str, _one_of(BUDGET_UNITS)] = Field(
        "R", description=f"one of {list(BUDGET_UNITS)}: budgets in units of R = max_budget epochs, or in "
                         "iterations of Hyperband (eta = hyperband_eta, min_budget..max_budget, its cost with "
                         "resume_promotions' convention)")
    hyperband_eta: int = Field(3, ge=2, description="an integer of at least 2 (the eta that budget_unit = "
                                                    "\"hyperband-iterations\" prices an iteration with)")
    drop_top: int = Field(0, ge=0, description=DROP_TOP_EXPECTED)


def _key(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def first_error(data: dict) -> tuple[str, str, Any, bool] | None:
    """Validate ``data`` (a parsed suite file) against :class:`SuiteFile`: None when it conforms, else
    (key, what was expected, the value given, whether to show that value) for the first violation."""
    try:
        SuiteFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc, kind = tuple(err["loc"]), err["type"]
        key = _key(loc)
        model = MethodEntry if loc and loc[0] == "methods" and len(loc) >= 3 else SuiteFile
        name = loc[-1] if model is MethodEntry else (loc[0] if loc else "")
        if kind == "extra_forbidden":
            return key, f"one of {sorted(model.model_fields)} (unknown key)", None, False
        if kind == "missing":
            return key, "to be present (required)", None, False
        if kind == "suite":
            ctx = err.get("ctx") or {}
            got = _value(data, ctx["key"]) if "key" in ctx else err.get("input")
            return ctx.get("key", key), ctx["expected"], got, True
        field = model.model_fields[name]
        item = isinstance(loc[-1], int) and model is SuiteFile
        expected = (field.json_schema_extra or {}).get("item") if item else field.description
        return key, expected or field.description, err.get("input"), True
    return None


def _value(data: dict, key: str):
    """The value at ``key`` (``workers[1]``) of the parsed file."""
    m = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", key)
    if not m or m.group(1) not in data:
        return None
    v = data[m.group(1)]
    return v[int(m.group(2))] if m.group(2) is not None and isinstance(v, list) else v
