"""``python -m bench compare SUITE --against STORE``: run a suite's methods on a reference store's grid and
compare them with the reference's methods by the paper's statistics (``paper/compare.py`` renders it).

The grid is what the reference store's runs recorded, never its directory name: from each run's identity the
task profile, the replayed curves table (and its content hash, which must still match the file), the answering
mode (``sampling``), the objective, R and the smallest resource (epochs), whether promotions resumed and the
simulated workers; from the runs table its budgets B (in units of R) and its seeds. The suite gives its methods
(``[[methods]]``, labels other than the reference's) and, if it likes, a ``name`` and ``description``; a grid key it
repeats must have the store's value, else the command refuses in one line (exit 2) before anything runs.

The runs go into a results folder of their own (default ``results/compare-<suite name>/``; the reference store is
only read): the merged suite is written there as ``suite.toml``, the report as ``compare.md`` (with
``compare.csv`` and the figure ``compare.png``). Running the same command again resumes and re-renders.
"""
from __future__ import annotations

import json
import tempfile
import tomllib
from pathlib import Path

# suite key -> (identity key, value when the identity lacks the key: the suite default it was made with)
GRID_KEYS = {
    "profile": ("profile", None),
    "backend": ("backend", "train"),
    "curves": ("curves", None),
    "sampling": ("sampling", "neighbour"),
    "objective": ("objective", "val_loss"),
    "min_budget": ("min_budget", 1),
    "max_budget": ("max_budget", None),
    "resume_promotions": ("resume", True),
}
SUITE_ONLY = ("name", "description", "methods")  # what a comparison suite brings itself


class CompareError(Exception):
    """Bad input to ``bench compare``: one line naming the file, key and value, and what was expected."""


def reference_grid(store: str | Path) -> dict:
    """The reference store's grid as suite keys (``GRID_KEYS`` plus ``budgets``, ``seeds``, ``workers``), with
    ``labels`` (its method labels, suite order) and ``curves_hash`` (the table hash its runs recorded).
    Raises CompareError when there is no store, no run, a grid key differs between runs, the runs trained
    for real (nothing to replay on), or the table file changed since."""
    from bench.tables.curves import resolve, table_hash
    from bench.storage.packing import store_file
    from bench.storage.store import read_store
    store = Path(store)
    try:
        db = store_file(store)
    except FileNotFoundError as exc:
        raise CompareError(f"--against {store}: {exc}") from None
    with read_store(db) as s:
        runs = s.runs_frame(skip_method="record")
    if runs.empty:
        raise CompareError(f"--against {store}: the store holds no runs to compare with")
    idents = [json.loads(i) for i in runs["identity"]]
    grid: dict = {}
    for key, (ident_key, default) in GRID_KEYS.items():
        values = {json.dumps(i.get(ident_key, default)) for i in idents}
        if len(values) > 1:
            raise CompareError(f"--against {store}: its runs differ in '{key}' ({', '.join(sorted(values))}); "
                               "expected one grid per store")
        value = json.loads(values.pop())
        if value is not None:
            grid[key] = value
    if grid.get("backend") != "replay":
        raise CompareError(f"--against {store}: its runs trained for real (backend = \"{grid.get('backend')}\"); "
                           "expected a replayed store, whose table the suite's methods can be replayed on")
    hashes = {i.get("curves_hash") for i in idents} - {None}
    curves = resolve(grid["curves"])
    if not curves.is_file():
        raise CompareError(f"--against {store}: its table {grid['curves']} is not here (looked at {curves})")
    if hashes and table_hash(curves) not in hashes:
        raise CompareError(f"--against {store}: its table {grid['curves']} has changed since the store was made "
                           f"(recorded hash {', '.join(sorted(hashes))}, now {table_hash(curves)}); expected the "
                           "table the reference runs replayed")
    grid["budgets"] = sorted(float(b) for b in runs["budget"].unique())
    grid["seeds"] = sorted(int(x) for x in runs["seed"].unique())
    workers = sorted({int(i.get("workers", 1)) for i in idents})
    grid["workers"] = workers[0] if len(workers) == 1 else workers
    grid["labels"] = list(dict.fromkeys(runs["label"]))
    grid["curves_hash"] = sorted(hashes)[0] if hashes else None
    return grid


def _same(key: str, given, expected) -> bool:
    from bench.tables.curves import resolve
    if key == "curves":
        return isinstance(given, str) and resolve(given).resolve() == resolve(expected).resolve()
    if key in ("budgets", "seeds"):
        return isinstance(given, list) and sorted(given) == sorted(expected)
    if key == "workers" and isinstance(given, list) and len(given) == 1:
        given = given[0]
    return type(given) is type(expected) and given == expected or (
        isinstance(given, (int, float)) and not isinstance(given, bool) and given == expected)


def merged_suite(suite_path: str | Path, grid: dict, store: str | Path) -> dict:
    """The suite file's methods (and name, description) on the reference grid, as a suite's keys. Raises
    CompareError for a missing or unreadable file, a grid key given with another value than the store's, or a
    label the reference store already uses."""
    suite_path = Path(suite_path)
    if not suite_path.is_file():
        raise CompareError(f"{suite_path}: suite file not found")
    try:
        data = tomllib.loads(suite_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CompareError(f"{suite_path}: not a valid TOML suite file: {exc}") from None
    for key, given in data.items():
        if key in grid and key not in ("labels", "curves_hash") and not _same(key, given, grid[key]):
            raise CompareError(f"{suite_path}: key '{key}': {given!r} conflicts with the grid of the reference "
                               f"store {store} ({grid[key]!r}); expected the store's value or no '{key}' (compare "
                               "takes it from the store)")
    methods = data.get("methods")
    if not isinstance(methods, list) or not methods:
        raise CompareError(f"{suite_path}: key 'methods': expected a non-empty array of tables ([[methods]]) with "
                           "the methods to compare")
    for i, m in enumerate(methods):
        label = m.get("label", m.get("method")) if isinstance(m, dict) else None
        if label in grid["labels"]:
            raise CompareError(f"{suite_path}: key 'methods[{i}].label': {label!r} is a method of the reference store "
                               f"{store}; expected a label of its own (the report compares it with the store's)")
    out = {k: v for k, v in grid.items() if k not in ("labels", "curves_hash")}
    out["name"] = data.get("name", suite_path.stem)
    out["description"] = data.get("description", f"{suite_path.name} on the grid of {store}")
    out.update({k: v for k, v in data.items() if k not in grid})  # methods, and any key load_suite will judge
    return out


def _load(data: dict, path: Path, suite_path: Path, store: Path):
    """Write ``data`` as a suite file at ``path`` and load it (every check of ``bench.config.suite``); a refusal names
    the user's suite file."""
    import tomli_w

    from bench.config.suite import SuiteError, load_suite
    header = (f"# bench compare: the methods of {suite_path} on the grid of the reference store {store} (read from "
              "its runs' recorded identities, budgets and seeds)\n")
    path.write_text(header + tomli_w.dumps(data), encoding="utf-8")
    try:
        return load_suite(path)
    except SuiteError as exc:
        raise CompareError(str(exc).replace(str(path), f"{suite_path} (on the grid of {store})")) from None


def prepare(suite_path: str | Path, store: str | Path, results: str | Path | None = None):
    """(suite, results folder): the merged suite, checked in full before anything is written, then written to
    ``<results>/suite.toml`` and loaded from there. Raises CompareError on bad input."""
    suite_path, store = Path(suite_path), Path(store)
    grid = reference_grid(store)
    data = merged_suite(suite_path, grid, store)
    with tempfile.TemporaryDirectory(prefix="aerial-hpo-compare-") as tmp:
        suite = _load(data, Path(tmp) / "suite.toml", suite_path, store)  # checked: nothing written yet
    results = Path(results) if results else Path("results") / f"compare-{suite.name}"
    if results.resolve() == store.resolve():
        raise CompareError(f"--results {results}: is the reference store; expected a folder of its own")
    try:
        results.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CompareError(f"--results {results}: cannot create it: {exc.strerror or exc}") from None
    return _load(data, results / "suite.toml", suite_path, store), results
