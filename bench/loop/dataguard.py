"""The data a suite's runs are answered from must not change in the middle of the suite.

A run is answered from data: the recorded curves table (replay) or the dataset (training). Its
identity is the sha256 (first 16 hex digits) of the curves table's bytes, or of the dataset's
``SHA256SUMS`` file, which names every image's and mask's own sha256 (a dataset without that file
has no identity here, and is not checked). Every run row records it (``runs.data_hash``; stores
made before that column hold the table's hash in the run's identity, ``curves_hash``).

Decision: a suite never continues on data other than the data its recorded runs were answered
from. The identity is compared when a sitting starts (with every run of the suite already in the
store: after a kill, before its resume) and again before each run starts (the file was edited while
the suite ran); a difference stops the suite with :class:`DataChanged` (one line, exit 2) before
anything else is written. Everything recorded stays as it is: put the recorded data back and run
the same command again (it resumes exactly), or start over on the new data with ``--fresh``
(the old results are moved aside, nothing is deleted).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bench.config.suite import SuiteError


class DataChanged(SuiteError):
    """The suite's data differs from the data its recorded runs (or this sitting) used."""


def current(suite, data: str | Path | None = None) -> tuple[Path, str | None]:
    """``(file, identity)`` of the suite's data now: the curves table (replay) or the dataset's
    ``SHA256SUMS`` (training; ``data``: the dataset folder, default the configured one); identity
    None when that file does not exist."""
    if suite.backend == "replay":
        from bench.tables.curves import resolve
        path = resolve(suite.curves)
    else:
        from segmentation.data import default_data_root
        path = (Path(data) if data is not None else default_data_root()) / "SHA256SUMS"
    try:
        return path, hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return path, None


def recorded(row) -> str | None:
    """The data identity a stored run row was answered from (None: not known)."""
    if "data_hash" in row.keys() and row["data_hash"]:
        return row["data_hash"]
    try:
        return json.loads(row["identity"]).get("curves_hash")
    except (TypeError, ValueError):
        return None


def _refuse(path: Path, then: str, now: str | None, where: str) -> DataChanged:
    state = f"it is sha256 {now} now" if now else "it is missing now"
    return DataChanged(f"{path} changed during the suite: {where} used sha256 {then}, {state}; refusing to continue "
                       f"on other data (nothing recorded is lost): put the recorded file back and run the same "
                       f"command again, or start over on the new data with --fresh (the old results are moved "
                       f"aside)")


def check_store(suite, store, data: str | Path | None = None) -> str | None:
    """Refuse (:class:`DataChanged`) when a run of ``suite`` already in ``store`` was answered from other
    data than the data there is now; returns the identity now."""
    path, now = current(suite, data)
    for spec in suite.runs():
        row = store.run(spec.key)
        then = recorded(row) if row is not None else None
        if then is not None and then != now:
            raise _refuse(path, then, now, f"the runs recorded in {store.path} (e.g. {spec.key})")
    return now


def check_unchanged_since(suite, expected: str | None, data: str | Path | None = None) -> None:
    """Refuse (:class:`DataChanged`) when the data differs from ``expected``, the identity this sitting
    started with (None: nothing to compare)."""
    if expected is None:
        return
    path, now = current(suite, data)
    if now != expected:
        raise _refuse(path, expected, now, "this sitting's runs")
