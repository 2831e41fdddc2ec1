"""Checking a curves table when it is loaded, so that replay never meets a hole it cannot answer.

A table that replay cannot use (a missing column, a NaN loss on an ``ok`` epoch, a curve with an
epoch missing) used to be accepted: every trial that met the hole failed without spending an
epoch, and a run could ask for ever. :func:`check_table` refuses such a table with one
:class:`TableError` line naming the file, the column and the row (the data row, 1-based; for a
CSV also its line in the file, the header being line 1).

What is checked (see ``bench.tables.curves`` for the layout):

* the columns replay reads are present: ``config_id``, ``epoch``, ``status``, ``train_loss``,
  ``val_loss``, ``val_miou``, ``seconds`` (``train_seed``, ``budget``, ``test_*`` and
  ``cpu_seconds`` are optional);
* ``config_id`` is never empty; ``status`` is ``ok`` or ``failed``; ``epoch`` is an integer >= 1;
  ``train_seed`` (when present) an integer; ``budget`` (when present) an integer >= 1 (epochs);
* on every ``ok`` row, ``train_loss``, ``val_loss``, ``val_miou`` and ``seconds`` are finite numbers
  and ``seconds`` >= 0 (and ``cpu_seconds`` where given);
* every curve, one per (``config_id``, ``train_seed``) or, on a budget-aware table, per
  (``config_id``, ``train_seed``, ``budget``), holds epochs 1, 2, ..., its last without a gap or a
  repeat; on a budget-aware table its last epoch is its budget (earlier only when its last row
  has status ``failed``);
* the table has at least one row.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED = ("config_id", "epoch", "status", "train_loss", "val_loss", "val_miou", "seconds")
FINITE_WHEN_OK = ("train_loss", "val_loss", "val_miou", "seconds")
STATUSES = ("ok", "failed")


class TableError(ValueError):
    """A curves table replay cannot use; the message is one line naming file, column and row."""


def read_table(path: str | Path) -> pd.DataFrame:
    """A curves table file (``.parquet``, else CSV) as a frame; a file that cannot be read as one is a
    :class:`TableError` (not the parser's traceback)."""
    path = Path(path)
    kind = "parquet" if path.suffix == ".parquet" else "CSV"
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, float_precision="round_trip")
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        first = " ".join(str(exc).split())[:200]
        raise TableError(f"{path}: cannot be read as a {kind} curves table ({type(exc).__name__}: {first})") \
            from None
    except Exception as exc:  # noqa: BLE001 (pyarrow's own errors: one line, not a traceback)
        first = " ".join(str(exc).split())[:200]
        raise TableError(f"{path}: cannot be read as a {kind} curves table ({type(exc).__name__}: {first})") \
            from None


def _where(path: Path, i: int) -> str:
    line = f" (line {i + 2})" if path.suffix != ".parquet" else ""
    return f"row {i + 1}{line}"


def _fail(path: Path, column: str, i: int | None, expected: str, got=None) -> TableError:
    at = f", {_where(path, i)}" if i is not None else ""
    tail = "" if i is None else f", got {got!r}"
    return TableError(f"{path}: column '{column}'{at}: expected {expected}{tail}")


def _integers(df: pd.DataFrame, col: str, path: Path, lo: int | None) -> pd.Series:
    """``df[col]`` as int64, refusing empty cells, non-numbers, fractions and values below ``lo``."""
    v = pd.to_numeric(df[col], errors="coerce")
    bad = v.isna() | ~np.isfinite(v.astype(float)) | (v.astype(float) % 1 != 0)
    if lo is not None:
        bad |= v.astype(float) < lo
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        what = "an integer" + (f" >= {lo}" if lo is not None else "")
        raise _fail(path, col, i, what, _py(df[col].iloc[i]))
    return v.astype("int64")


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def check_table(df: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Refuse (:class:`TableError`) a curves table replay cannot answer from; return ``df`` unchanged."""
    path, given = Path(path), df
    if not len(df):
        raise TableError(f"{path}: no rows: expected one row per (configuration, training seed, epoch)")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise _fail(path, missing[0], None, f"to be present (replay reads {', '.join(REQUIRED)})")
    df = df.reset_index(drop=True)
    empty = df["config_id"].isna() | (df["config_id"].astype(str).str.strip() == "")
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise _fail(path, "config_id", i, "a configuration id", _py(df["config_id"].iloc[i]))
    status = df["status"]
    bad = ~status.isin(STATUSES)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise _fail(path, "status", i, f"one of {list(STATUSES)}", _py(status.iloc[i]))
    epoch = _integers(df, "epoch", path, 1)
    keys = ["config_id"]
    if "train_seed" in df.columns:
        _integers(df, "train_seed", path, None)
        keys.append("train_seed")
    budget = None
    if "budget" in df.columns:
        budget = _integers(df, "budget", path, 1)
        keys.append("budget")
    ok = (status == "ok").to_numpy()
    for col in FINITE_WHEN_OK + (("cpu_seconds",) if "cpu_seconds" in df.columns else ()):
        v = pd.to_numeric(df[col], errors="coerce").astype(float)
        bad = ~np.isfinite(v.to_numpy())
        if col == "cpu_seconds":
            bad &= df[col].notna().to_numpy()  # cpu_seconds may be absent on a row
        if col in ("seconds", "cpu_seconds"):
            bad |= v.to_numpy() < 0
        bad &= ok
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            what = "a finite number >= 0 (seconds)" if col.endswith("seconds") else "a finite number"
            raise _fail(path, col, i, f"{what} where status is 'ok'", _py(df[col].iloc[i]))
    # every curve: epochs 1..last, each once (and at most its budget on a budget-aware table)
    frame = df[keys].astype(str).assign(_epoch=epoch.to_numpy(), _row=np.arange(len(df)))
    frame = frame.sort_values(keys + ["_epoch", "_row"], kind="stable")
    group = frame.groupby(keys, sort=False)
    rank = group.cumcount().to_numpy() + 1
    wrong = frame["_epoch"].to_numpy() != rank
    if wrong.any():
        j = int(np.flatnonzero(wrong)[0])
        i = int(frame["_row"].iloc[j])
        curve = ", ".join(f"{k} {df[k].iloc[i]}" for k in keys)
        prev = rank[j] - 1
        why = (f"epoch {rank[j]} next on the curve of {curve} (epochs run 1, 2, ... without a gap or a repeat"
               + (f"; epoch {prev} is there already" if frame['_epoch'].iloc[j] == prev else "") + ")")
        raise _fail(path, "epoch", i, why, int(epoch.iloc[i]))
    if budget is not None:
        over = epoch.to_numpy() > budget.to_numpy()
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise _fail(path, "epoch", i, f"at most the curve's budget, {int(budget.iloc[i])} epochs",
                        int(epoch.iloc[i]))
        # a budget's own training ends at its budget, unless it failed before
        last = frame.groupby(keys, sort=False)["_row"].last().to_numpy()
        short = (epoch.to_numpy()[last] < budget.to_numpy()[last]) & (status.to_numpy()[last] == "ok")
        if short.any():
            i = int(last[np.flatnonzero(short)[0]])
            curve = ", ".join(f"{k} {df[k].iloc[i]}" for k in keys)
            raise _fail(path, "epoch", i, f"the curve of {curve} to go on to its budget, {int(budget.iloc[i])} "
                                          f"epochs (or to end with status 'failed')", int(epoch.iloc[i]))
    return given


def check_space(df: pd.DataFrame, path: str | Path, space) -> None:
    """Refuse (:class:`TableError`) a table whose configurations replay cannot place in ``space`` (a
    ConfigSpace space): a ``config.<name>`` column missing, a category that is not one of the
    hyperparameter's choices, a number that is not finite (or not positive on a log scale)."""
    from ConfigSpace import (CategoricalHyperparameter, OrdinalHyperparameter, UniformFloatHyperparameter,
                             UniformIntegerHyperparameter)
    path = Path(path)
    first = df.drop_duplicates("config_id") if "config_id" in df.columns else df
    for hp in space.values():
        col = f"config.{hp.name}"
        if col not in df.columns:
            raise _fail(path, col, None, f"to be present (a hyperparameter of the search space: "
                                         f"{', '.join('config.' + h for h in space)})")
        values = first[col]
        if isinstance(hp, (CategoricalHyperparameter, OrdinalHyperparameter)):
            options = list(hp.choices if isinstance(hp, CategoricalHyperparameter) else hp.sequence)
            bad = ~values.astype(str).isin([str(o) for o in options])
            what = f"one of {options}"
        elif isinstance(hp, (UniformFloatHyperparameter, UniformIntegerHyperparameter)):
            v = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
            bad = pd.Series(~np.isfinite(v) | ((v <= 0) if hp.log else False), index=values.index)
            what = "a finite number" + (" > 0 (a log-scaled range)" if hp.log else "")
        else:
            continue
        if bad.any():
            i = int(df.index.get_loc(values.index[int(np.flatnonzero(bad.to_numpy())[0])]))
            raise _fail(path, col, i, what, _py(df[col].iloc[i]))


def check_file(path: str | Path) -> pd.DataFrame:
    """:func:`read_table` then :func:`check_table`."""
    return check_table(read_table(path), path)


__all__ = ["TableError", "read_table", "check_table", "check_space", "check_file", "REQUIRED"]
