"""The recorded learning-curve tables as a benchmark: a public query API.

``load_table(name_or_path)`` opens a committed table of ``results/curves/`` by name
(``"cpu-v2"``) or any curves table by path (CSV or parquet, the layout of
``bench.tables.curves``) and returns a :class:`Table`::

    from bench import load_table
    table = load_table("cpu-v2")
    config = table.configs()[0]
    table.query(config, epoch=27)            # mean over the recorded training seeds
    table.query(config, epoch=27, seed=1)    # one training seed's curve

Units: epochs are integers counted from 1, ``epoch`` in ``query`` is inclusive (the state
after that many epochs); ``seconds`` is the wall time, in seconds, that the epoch took when it
was recorded and ``cumulative_seconds`` the sum over epochs 1..epoch (inclusive).

Budget-aware tables (a ``budget`` column: the schedule's horizon r in epochs, annealed to zero
at r) hold one curve per (configuration, training seed, budget) with epochs 1..budget;
``Table.budgets`` lists their budgets (None on an ordinary table) and ``query`` takes
``budget`` (default: the epoch asked for, i.e. the end of a schedule of that length).

The table is read as recorded (``bench.tables.curves.CurveTable.df``); nothing is interpolated. The
seed mean (``seed=None``) is the mean over the seeds whose row at that epoch has status
``ok``, the way ``paper.data.seeded_table`` scores a replayed run's incumbents.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from methods.base import config_to_dict

from bench.tables.curves import REPO, CurveTable, resolve, table_hash
from bench.storage.store import dumps

CURVES_DIR = REPO / "results" / "curves"
CHANGELOG = CURVES_DIR / "CHANGELOG.toml"
METRICS = ("val_loss", "val_miou", "test_loss", "test_miou", "train_loss", "seconds")


class TableError(ValueError):
    """A table that cannot be opened, or a query with a bad argument (says which and what was expected)."""


class NotRecorded(LookupError):
    """The table has no recorded value for what was asked (configuration, epoch, seed or budget)."""

    def __str__(self) -> str:  # LookupError's KeyError-like quoting is not wanted here
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class TableVersion:
    """A table's identity: ``name``, ``hash`` (``bench.tables.curves.table_hash``: the first 16 hex digits
    of the file's SHA-256), and, when the changelog lists that hash, its ``version``, ``date`` and
    ``changes``; a file whose hash the changelog does not list has ``version = None`` (unreleased)."""

    name: str
    hash: str
    version: str | None
    date: str | None
    changes: str | None

    def __str__(self) -> str:
        v = self.version if self.version is not None else "unreleased"
        return f"{self.name} {v} (sha256 {self.hash})"


def table_path(name_or_path: str | Path) -> Path:
    """``results/curves/NAME.csv`` (or ``.parquet``) for a committed table's name, else the path."""
    text = str(name_or_path)
    if "/" not in text and "\\" not in text and not text.endswith((".csv", ".parquet")):
        for ext in (".csv", ".parquet"):
            if (CURVES_DIR / f"{text}{ext}").is_file():
                return CURVES_DIR / f"{text}{ext}"
        known = sorted(p.stem for p in CURVES_DIR.glob("*.csv")) + sorted(p.stem for p in CURVES_DIR.glob("*.parquet"))
        raise TableError(f"no committed table named {text!r} in {CURVES_DIR}; expected one of {known} or a path "
                         "to a curves table (.csv or .parquet)")
    path = resolve(text)
    if not path.is_file():
        raise TableError(f"curves table not found: {path} (expected a .csv or .parquet file, or the name of a "
                         f"table in {CURVES_DIR})")
    return path


def table_profile(path: Path) -> str:
    """The task profile a table was recorded with, from its ``.meta.json`` (``bench export-curves``).
    A table joining several profiles that share one search space (a budget-aware table) gets the
    one named like the table, else the first by name."""
    meta = path.with_suffix(".meta.json")
    if not meta.is_file():
        raise TableError(f"{path}: no {meta.name} beside it to say which profile it was recorded with; "
                         "pass profile=NAME (e.g. load_table(path, profile='cpu-v2'))")
    try:
        runs = json.loads(meta.read_text())["runs"]
        profiles = sorted({r["profile"] for r in runs if r.get("profile")})
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise TableError(f"{meta}: expected the JSON that bench export-curves writes, with 'runs' and each "
                         f"run's 'profile' ({exc})") from None
    if not profiles:
        raise TableError(f"{meta}: no run names its profile; pass profile=NAME")
    if len(profiles) == 1:
        return profiles[0]
    # A budget-aware table joins recordings of recipes that differ in their schedule only (e.g. the
    # budget-27 curves of cpu-v2 with cpu-v2-budget's shorter budgets): one space is required.
    from segmentation.profiles import get_profile
    from segmentation.space import search_space
    try:
        spaces = {p: search_space(get_profile(p)) for p in profiles}
    except ValueError as exc:
        raise TableError(f"{meta}: {exc}") from None
    if any(list(spaces[p].values()) != list(spaces[profiles[0]].values()) for p in profiles):
        raise TableError(f"{meta}: runs of profiles {profiles} with different search spaces; pass profile=NAME")
    return path.stem if path.stem in profiles else profiles[0]


def table_version(path: Path, name: str | None = None) -> TableVersion:
    """The version of the table file at ``path``: its hash, looked up in ``results/curves/CHANGELOG.toml``."""
    import tomllib
    name = name or path.stem
    h = table_hash(path)
    entries = tomllib.loads(CHANGELOG.read_text()).get("tables", []) if CHANGELOG.is_file() else []
    for e in entries:
        if e.get("hash") == h:
            return TableVersion(e.get("name", name), h, str(e["version"]), str(e.get("date")), e.get("changes"))
    return TableVersion(name, h, None, None, None)


class Table:
    """A recorded curves table, read-only. Attributes:

    ``name``, ``path``, ``profile`` (the task profile it was recorded with), ``space`` (the
    ConfigSpace ``ConfigurationSpace``), ``max_epoch`` (the largest recorded epoch, inclusive),
    ``seeds`` (the training seeds recorded, ascending), ``budgets`` (a budget-aware table's
    budgets in epochs, ascending; None otherwise), ``version`` (:class:`TableVersion`) and
    ``curves`` (the ``bench.tables.curves.CurveTable`` underneath, for replay).
    """

    def __init__(self, curves: CurveTable, path: Path, profile: str, name: str | None = None):
        self.curves = curves
        self.path = path
        self.name = name or path.stem
        self.profile = profile
        self.space = curves.space
        df = curves.df
        if "train_seed" not in df.columns:  # a table from before training seeds: one seed each
            df = df.assign(train_seed=0)
        self.budget_aware = "budget" in df.columns and bool(df["budget"].notna().any())
        df = df.assign(_budget=df["budget"].astype(int) if self.budget_aware else 0)
        df = df.sort_values(["config_id", "train_seed", "_budget", "epoch"], kind="stable")
        keys = ["config_id", "train_seed", "_budget"]
        seconds = df["seconds"].astype(float)
        df = df.assign(cumulative_seconds=seconds.groupby([df[k] for k in keys], sort=False).cumsum())
        # a curve with a missing epoch has no cumulative time from there on (never a silent undercount)
        rank = df.groupby(keys, sort=False).cumcount() + 1
        df.loc[rank != df["epoch"], "cumulative_seconds"] = np.nan
        self.max_epoch = int(df["epoch"].max()) if len(df) else 0
        self.seeds = sorted(int(s) for s in df["train_seed"].unique())
        self.budgets = sorted(int(b) for b in df["_budget"].unique()) if self.budget_aware else None
        self._metrics = [m for m in (*METRICS, "cumulative_seconds") if m in df.columns]
        cols = ["config_id", "_budget", "epoch", "train_seed", "status", *self._metrics]
        self._rows = {(r[0], int(r[1]), int(r[2]), int(r[3])): r[4:] for r in df[cols].itertuples(index=False)}
        ok = df[df["status"] == "ok"]
        g = ok.groupby(["config_id", "_budget", "epoch"])
        means = g[self._metrics].mean()  # as paper.data.seeded_table: pandas' mean over the ok rows
        seeds = g["train_seed"].agg(lambda s: tuple(sorted(int(x) for x in s)))
        self._means = {(k[0], int(k[1]), int(k[2])): (tuple(v), seeds[k])
                       for k, v in zip(means.index, means.itertuples(index=False))}
        self._recorded = df.groupby(["config_id", "_budget"])["epoch"].max().to_dict()  # last epoch of a curve
        self._config_of = dict(zip(curves.ids, curves.configs))
        self._version: TableVersion | None = None

    # -- what the table holds -------------------------------------------------------
    def configs(self) -> list[dict]:
        """The recorded configurations as dicts (hyperparameter name -> value), in table order."""
        return self.curves.candidates()

    def config_id(self, config) -> str:
        """The table's id of a recorded configuration (NotRecorded if the table does not hold it)."""
        return self._match(config, nearest=False)[0]

    @property
    def version(self) -> TableVersion:
        if self._version is None:
            self._version = table_version(self.path, self.name)
        return self._version

    def __repr__(self) -> str:
        b = f", budgets={self.budgets}" if self.budget_aware else ""
        return (f"Table({self.name!r}, profile={self.profile!r}, configs={len(self.curves.ids)}, "
                f"seeds={self.seeds}, max_epoch={self.max_epoch}{b})")

    # -- queries -----------------------------------------------------------------------
    def _match(self, config, nearest: bool) -> tuple[str, bool]:
        try:
            values = config_to_dict(config)
        except (TypeError, ValueError):
            raise TableError(f"config: expected a dict (or ConfigSpace Configuration) of hyperparameter values, "
                             f"got {type(config).__name__}") from None
        missing = [n for n in self.curves.names if n not in values]
        extra = sorted(set(values) - set(self.curves.names))
        if missing or extra:
            raise TableError(f"config: expected exactly the hyperparameters {self.curves.names}; "
                             + (f"missing {missing}" if missing else "") + ("; " if missing and extra else "")
                             + (f"unknown {extra}" if extra else ""))
        key = dumps({n: values[n] for n in self.curves.names})
        if key in self.curves.by_key:
            return self.curves.by_key[key], True
        if not nearest:
            raise NotRecorded(f"configuration {key} is not recorded in table {self.name!r} "
                              f"({len(self.curves.ids)} configurations; table.configs() lists them); "
                              "pass nearest=True to query its nearest recorded neighbour")
        try:
            return self.curves.match(values)[0], False
        except ValueError as exc:
            raise TableError(f"config: {exc}") from None

    def query(self, config, epoch: int, seed: int | None = None, budget: int | None = None,
              nearest: bool = False) -> dict:
        """The recorded values of ``config`` after ``epoch`` epochs (1..max_epoch, inclusive).

        ``seed``: one training seed's curve; None: the mean over the seeds recorded at that epoch
        with status ok. ``budget`` (budget-aware tables only): the schedule horizon in epochs,
        default ``epoch``; ``epoch`` must be within 1..budget. ``nearest``: answer an unrecorded
        configuration with its nearest recorded neighbour (``bench.tables.curves.CurveTable.match``)
        instead of raising :class:`NotRecorded`.

        Returns ``val_loss``, ``val_miou``, ``test_loss``, ``test_miou``, ``train_loss``,
        ``seconds`` (wall seconds of that epoch), ``cumulative_seconds`` (epochs 1..epoch),
        ``status`` (``ok`` or ``failed``), ``seeds`` (the training seeds behind the values),
        ``config_id``, ``config`` (the recorded configuration answering) and ``exact`` (False
        when a neighbour answered); on a budget-aware table also ``budget``.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
            raise TableError(f"epoch: expected an integer number of epochs, got {epoch!r}")
        epoch = int(epoch)
        if self.budget_aware:
            b = epoch if budget is None else budget
            if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or int(b) not in self.budgets:
                raise TableError(f"budget: expected one of the table's budgets {self.budgets} (epochs), got {b!r}")
            b = int(b)
            if not 1 <= epoch <= b:
                raise TableError(f"epoch: expected 1..{b} (the budget, inclusive), got {epoch}")
        else:
            if budget is not None and budget != self.max_epoch:
                raise TableError(f"budget: table {self.name!r} is not budget-aware (every curve runs to "
                                 f"{self.max_epoch} epochs); expected None, got {budget!r}")
            b = 0
            if not 1 <= epoch <= self.max_epoch:
                raise TableError(f"epoch: expected 1..{self.max_epoch} (inclusive), got {epoch}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or int(seed) not in self.seeds):
            raise TableError(f"seed: expected None (the seed mean) or one of the recorded seeds {self.seeds}, "
                             f"got {seed!r}")
        cid, exact = self._match(config, nearest)
        where = f"configuration {cid}" + (f" at budget {b}" if self.budget_aware else "")
        if (cid, b) not in self._recorded:
            raise NotRecorded(f"{where} is not recorded in table {self.name!r}")
        if seed is None:
            got = self._means.get((cid, b, epoch))
            if got is None:
                last = self._recorded[(cid, b)]
                raise NotRecorded(f"{where}: no training seed has an ok epoch {epoch} (its curves end at epoch "
                                  f"{last}{', in a failure' if epoch <= last else ''})")
            values, seeds = got
            status = "ok"
        else:
            row = self._rows.get((cid, b, epoch, int(seed)))
            if row is None:
                raise NotRecorded(f"{where}: training seed {seed} has no epoch {epoch} recorded")
            status, values, seeds = row[0], row[1:], (int(seed),)
        out = {m: _num(v) for m, v in zip(self._metrics, values)}
        out.update(status=status, seeds=list(seeds), config_id=cid, config=dict(self._config_of[cid]), exact=exact)
        if self.budget_aware:
            out["budget"] = b
        return out


def _num(v) -> float:
    return float("nan") if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def load_table(name_or_path: str | Path, profile: str | None = None) -> Table:
    """Open a curves table: the name of a committed table in ``results/curves/`` (``"cpu-v2"``) or
    a path to a ``.csv``/``.parquet`` table. ``profile``: the task profile it was recorded with
    (default: from the table's ``.meta.json``); it fixes the search space. Raises
    :class:`TableError` with one line that names the file and what was expected."""
    from segmentation.profiles import get_profile
    from segmentation.space import search_space
    path = table_path(name_or_path)
    profile = profile or table_profile(path)
    try:
        space = search_space(get_profile(profile))
    except ValueError as exc:
        raise TableError(f"{path}: profile {profile!r}: {exc}") from None
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, float_precision="round_trip")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise TableError(f"{path}: not a readable curves table ({exc})") from None
    need = {"config_id", "epoch", "status", "seconds", "val_loss", "val_miou", "test_loss", "test_miou"}
    if not need <= set(df.columns):
        raise TableError(f"{path}: expected the columns of a curves table (bench.tables.curves), missing "
                         f"{sorted(need - set(df.columns))}")
    try:
        curves = CurveTable(df, space)
    except ValueError as exc:
        raise TableError(f"{path}: {exc}") from None
    stem = path.stem
    return Table(curves, path, profile, name=stem)
