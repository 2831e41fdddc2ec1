"""Suites: TOML files naming a task profile, methods with labels and parameters,
total budgets B (in units of R), seeds, and whether promotions resume from checkpoints.

Example (``bench/suites/smoke.toml``)::

    profile = "smoke"
    budgets = [2, 4]          # B in units of R = max_budget epochs
    seeds = [0, 1]
    resume_promotions = true  # promotions continue from the trial's checkpoint
    [[methods]]
    label = "hb-eta3"
    method = "hyperband"
    params = { eta = 3 }

Optional top-level keys: ``name`` (default: the file's stem), ``min_budget`` and
``max_budget`` (epochs; default 1 and the profile's R), ``backend`` ("train", or
"replay" with ``curves = "results/curves/<table>.csv"`` to answer every job from
recorded learning curves instead of training), ``objective`` (what every tuner
minimises and what picks the incumbent: "val_loss", the validation cross-entropy, the
default; or "val_miou", told to tuners as 1 - validation mIoU), ``workers`` (the number of
parallel workers each run has, default 1: simulated in replay, see ``bench.loop.simworkers``; in
real training the most jobs a run keeps in flight on the sitting's Dask workers (``--workers N``
or ``--scheduler``), which train other runs side by side when a run cannot use them; or a list of distinct
positive worker counts, e.g. ``[1, 4, 16]``, which repeats every (B, seed, method) once per
count as a run of its own, keyed ``<label>/B<B>/seed<seed>/w<N>``; a single count keeps the
key ``<label>/B<B>/seed<seed>``), ``sampling`` (replay only:
"neighbour", the default, answers every asked configuration with the recorded one or its nearest
neighbour; "table" makes tuners that sample through the base class (random search, successive
halving, Hyperband, ASHA) draw recorded configurations uniformly, as HPOBench does, while tuners
with their own sampler (SMAC, skopt, Optuna, DEHB) keep neighbour answers; "candidates" answers
every method that way: those tuners draw as under "table", and SMAC and skopt maximise their
acquisition over the recorded configurations only (``Tuner.set_candidates``), so no ask is answered
by a neighbour; a method that cannot (DEHB, Optuna's TPE) is recorded infeasible, with the reason),
``drop_top`` (replay only, default 0: a non-negative integer k, less than the number of the table's
configurations; the run replays the table without its k best configurations, ranked by the mean over
their training seeds at R (the table's last epoch) of the suite's objective (``bench.tables.curves.best_config_ids``):
they are never sampled, never a candidate and never a neighbour's answer, so a tuner cannot find them; the
paper measures such a run's regret against the best configuration that remains and its hit rates against
the reduced table's top 1 / 5 / 10; recorded in each run's identity as ``drop_top``). A parameter whose value is the
string ``"$B"`` gets the run's budget B * R in epochs (e.g. successive halving's
``bracket_budget``); a run whose parameters cannot be met at its budget (n = 81
configurations in 27 epochs) is recorded as infeasible, not run.
Everything is checked before any training; one error names the file, the key and
what was expected.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from bench.config.keys import SuiteError, key_error  # noqa: F401 - SuiteError is this module's error
from bench.config.keys import (BACKENDS, MAX_SEED, NAME_EXPECTED, OBJECTIVES, SAMPLINGS, MethodEntry,  # noqa: F401
                        SuiteFile, first_error, is_name)

TOP_KEYS = set(SuiteFile.model_fields)      # declared with types and ranges in bench.config.keys
METHOD_KEYS = set(MethodEntry.model_fields)
BUDGET_PLACEHOLDER = "$B"  # a parameter value replaced by the run's budget in epochs


class SuiteChanged(RuntimeError):
    """The suite differs from the one that produced runs already in the store."""


@dataclass(frozen=True)
class MethodSpec:
    label: str
    method: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    """One run: a (method label, B, seed) of a suite, with everything that determines it."""

    label: str
    method: str
    params: dict
    budget: float          # B in units of R
    budget_epochs: int     # floor(B * max_budget)
    seed: int
    profile: str
    min_budget: int
    max_budget: int
    resume: bool
    backend: str
    curves: str | None = None
    curves_hash: str | None = None
    objective: str = "val_loss"
    workers: int = 1       # workers per run (simulated in replay; jobs in flight in training)
    sampling: str = "neighbour"  # replay: "table" draws recorded configurations (base-class samplers)
    workers_in_key: bool = False  # the suite lists several worker counts: the key and identity name N
    drop_top: int = 0      # replay: the table's k best configurations (by the objective at R) left out

    @property
    def key(self) -> str:
        key = f"{self.label}/B{self.budget:g}/seed{self.seed}"
        return f"{key}/w{self.workers}" if self.workers_in_key else key

    def identity(self) -> dict:
        """What makes two runs the same run (compared on resume)."""
        return {"label": self.label, "method": self.method, "params": self.params, "budget": self.budget,
                "budget_epochs": self.budget_epochs, "seed": self.seed, "profile": self.profile,
                "min_budget": self.min_budget, "max_budget": self.max_budget, "resume": self.resume,
                "backend": self.backend, **({"curves": self.curves, "curves_hash": self.curves_hash}
                                            if self.backend == "replay" else {}),
                **({"objective": self.objective} if self.objective != "val_loss" else {}),
                **({"workers": self.workers} if self.workers != 1 or self.workers_in_key else {}),
                **({"sampling": self.sampling} if self.sampling != "neighbour" else {}),
                **({"drop_top": self.drop_top} if self.drop_top else {})}


@dataclass
class Suite:
    name: str
    path: Path
    text: str
    profile: str
    budgets: list[float]
    seeds: list[int]
    resume: bool
    methods: list[MethodSpec]
    min_budget: int
    max_budget: int
    backend: str
    curves: str | None = None
    curves_hash: str | None = None
    objective: str = "val_loss"
    workers: int | tuple[int, ...] = 1   # one count, or several (a tuple: every run repeated per count)
    sampling: str = "neighbour"
    drop_top: int = 0   # replay: leave the table's k best configurations out (see the module's docstring)

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    @property
    def worker_counts(self) -> tuple[int, ...]:
        """The simulated worker counts of the suite's runs, in file order."""
        return self.workers if isinstance(self.workers, tuple) else (self.workers,)

    def runs(self) -> list[RunSpec]:
        """Every (method, B, seed), and with a list of worker counts every (method, B, seed, N):
        budgets in file order, then seeds, then worker counts, then methods, so that a suite stopped
        early holds whole (B, seed) slices that compare every method at every N."""
        out = []
        listed = isinstance(self.workers, tuple)
        for b in self.budgets:
            epochs = int(math.floor(b * self.max_budget + 1e-9))
            for s in self.seeds:
                for n in self.worker_counts:
                    for m in self.methods:
                        params = {k: (epochs if v == BUDGET_PLACEHOLDER else v) for k, v in m.params.items()}
                        out.append(RunSpec(m.label, m.method, params, b, epochs, s, self.profile, self.min_budget,
                                           self.max_budget, self.resume, self.backend, self.curves,
                                           self.curves_hash, self.objective, n, self.sampling, listed,
                                           self.drop_top))
        return out


def load_suite(path: str | Path) -> Suite:
    from segmentation.profiles import PROFILES  # the task's profiles name R

    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"{path}: suite file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SuiteError(f"{path}: not a UTF-8 text file (byte {exc.start}: {exc.reason}); a suite is TOML, "
                         "which is UTF-8") from None
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read the suite file: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path}: not valid TOML: {exc}") from None
    problem = first_error(data)  # every key's type and range, as declared in bench.config.keys
    if problem is not None:
        key, expected, got, show = problem
        raise key_error(path, key, expected, got if show else None)
    if "name" not in data and not is_name(path.stem):
        raise key_error(path, "name", f"{NAME_EXPECTED}; the file's name gives {path.stem!r}, so set name = \"...\"")
    profile = data["profile"]
    backend = data.get("backend", "train")
    objective = data.get("objective", "val_loss")
    workers = data.get("workers", 1)
    workers = tuple(workers) if isinstance(workers, list) else workers  # a list: one run per count
    sampling = data.get("sampling", "neighbour")
    if sampling != "neighbour" and backend != "replay":
        raise key_error(path, "sampling", 'to be set only with backend = "replay" (it chooses recorded configurations)',
                    sampling)
    drop_top = data.get("drop_top", 0)
    if drop_top and backend != "replay":
        raise key_error(path, "drop_top", 'to be set only with backend = "replay" (it leaves recorded configurations out)',
                    drop_top)
    min_budget = data.get("min_budget", 1)
    max_budget = data.get("max_budget", PROFILES[profile].max_epochs)
    if max_budget < min_budget:
        raise key_error(path, "max_budget", f"at least min_budget = {min_budget}", max_budget)
    resume = data.get("resume_promotions", True)
    budgets = _budgets_in_r(path, data, min_budget, max_budget, resume)
    keys: dict[str, int] = {}
    for i, b in enumerate(budgets):
        if b * max_budget < 1:
            raise key_error(path, f"budgets[{i}]", f"B * R of at least one epoch (R = {max_budget} epochs, so B >= "
                                               f"{1 / max_budget:.4g})", b)
        key = f"B{float(b):g}"  # as RunSpec.key writes it
        if key in keys:
            raise key_error(path, f"budgets[{i}]", f"a budget whose runs are keyed apart from budgets[{keys[key]}] = "
                                               f"{budgets[keys[key]]!r} (both key as {key}: run keys write B with 6 "
                                               "significant digits)", b)
        keys[key] = i
    seeds = data["seeds"]
    for i, s in enumerate(seeds):
        if s in seeds[:i]:
            raise key_error(path, f"seeds[{i}]", "a seed listed once only", s)
    methods, labels = [], set()
    for i, m in enumerate(data["methods"]):
        where = f"methods[{i}]"
        method = m["method"]
        label = m.get("label", method)
        if label in labels:
            raise key_error(path, f"{where}.label", "a label used once only", label)
        labels.add(label)
        params = m.get("params", {})
        if "workdir" in params:
            raise key_error(path, f"{where}.params.workdir", "not to be set (the harness gives each run its directory)")
        methods.append(MethodSpec(label, method, dict(params)))
    curves = curves_hash = None
    if backend == "replay":
        curves, curves_hash = _check_curves(path, data.get("curves"), max_budget, profile, drop_top)
    elif "curves" in data:
        raise key_error(path, "curves", 'to be set only with backend = "replay"')
    suite = Suite(data.get("name", path.stem), path, text, profile, [float(b) for b in budgets], list(seeds),
                  resume, methods, min_budget, max_budget, backend, curves, curves_hash, objective, workers,
                  sampling, drop_top)
    one_training = _check_methods(suite)
    from bench.config.fidelity import check as check_fidelity
    check_fidelity(suite, one_training)  # a budget-aware table: restarts only, and methods it can answer
    return suite


def iteration_epochs(min_budget: int, max_budget: int, eta: int, resume: bool) -> int:
    """Epochs one Hyperband iteration costs (every bracket s = s_max..0 once, Algorithm 1's sizes), with
    promotions continuing from checkpoints (``resume``) or retraining from scratch."""
    from methods.brackets import hyperband_brackets
    brackets = hyperband_brackets(max_budget, eta, min_budget)
    return sum(b.cost_resume if resume else b.cost_restart for b in brackets)


def _budgets_in_r(path, data: dict, min_budget: int, max_budget: int, resume: bool) -> list:
    """The suite's budgets as B in units of R. With ``budget_unit = "hyperband-iterations"`` a budget k is
    k iterations of Hyperband: B = k * iteration_epochs / R, computed so that whole k give the same float as
    writing the quotient out (1 iteration at R = 27, eta = 3, resumed: 357 / 27 = 13.222222222222221)."""
    budgets = data["budgets"]
    if data.get("budget_unit", "R") == "R":
        if "hyperband_eta" in data:
            raise key_error(path, "hyperband_eta", 'to be set only with budget_unit = "hyperband-iterations"')
        return budgets
    epochs = iteration_epochs(min_budget, max_budget, data.get("hyperband_eta", 3), resume)
    return [k * epochs / max_budget for k in budgets]


def _check_curves(path, curves, max_budget, profile=None, drop_top: int = 0) -> tuple[str, str]:
    """The replay table: a file replay can answer every job from (``bench.tables.check``), reaching
    max_budget epochs, whose configurations lie in ``profile``'s search space, with more configurations
    than ``drop_top`` leaves out."""
    from bench.tables.curves import resolve, table_hash
    from bench.tables.check import TableError, check_file, check_space
    if not isinstance(curves, str) or not curves:
        raise key_error(path, "curves", 'the path of a curves table (CSV or parquet) for backend = "replay"', curves)
    if not resolve(curves).is_file():
        raise key_error(path, "curves", f"an existing curves table (looked at {resolve(curves)})", curves)
    p = resolve(curves)
    try:
        df = check_file(p)
    except TableError as exc:
        raise key_error(path, "curves", f"a curves table replay can use ({exc})", curves) from None
    n_configs = int(df["config_id"].nunique())
    if drop_top >= n_configs:
        raise key_error(path, "drop_top", f"fewer than the table's {n_configs} configurations (a non-negative integer "
                                          f"k: its k best are left out and at least one must remain)", drop_top)
    if int(df["epoch"].max()) < max_budget:
        raise key_error(path, "curves", f"curves reaching max_budget = {max_budget} epochs (the table stops at "
                                    f"{int(df['epoch'].max())})", curves)
    if profile is not None:
        from segmentation.profiles import get_profile
        from segmentation.space import search_space
        try:
            check_space(df, p, search_space(get_profile(profile)))
        except TableError as exc:
            raise key_error(path, "curves", f"a table of configurations of profile {profile!r}'s search space "
                                        f"({exc})", curves) from None
    return curves, table_hash(curves)


def _check_methods(suite: Suite) -> list[bool]:
    """Build every method's tuner once (cheap; nothing trains) so bad parameters fail now; per method, whether
    its tuner reads the epochs of one continued training (``Tuner.needs_one_training``)."""
    import tempfile

    from ConfigSpace import ConfigurationSpace

    from methods import ParamError, make_tuner
    from segmentation.profiles import get_profile

    from bench.storage.scratch import PREFIX
    from segmentation.space import search_space

    space: ConfigurationSpace = search_space(get_profile(suite.profile))
    # "$B" gets an unbounded budget here: a budget too small for a method's parameters makes
    # that run infeasible (recorded as such), not the suite invalid.
    one_training = []
    for i, m in enumerate(suite.methods):
        params = {k: (10 ** 9 if v == BUDGET_PLACEHOLDER else v) for k, v in m.params.items()}
        # named as a sweep's scratch (bench.storage.scratch), so that a process killed here leaves nothing for good
        with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-check-") as tmp:
            try:
                tuner = make_tuner(m.method, space, 0, suite.min_budget, suite.max_budget, workdir=tmp, **params)
                one_training.append(bool(getattr(tuner, "needs_one_training", False)))
            except ParamError as exc:  # a parameter's declared type or range (methods.PARAMS)
                raise key_error(suite.path, f"methods[{i}].params.{exc.key}", exc.expected,
                            None if exc.unknown else m.params.get(exc.key)) from None
            except ValueError as exc:
                raise key_error(suite.path, f"methods[{i}].params", f"parameters that {m.method!r} accepts ({exc})",
                            m.params) from None
            except Exception as exc:  # noqa: BLE001 (a library's own refusal: one line, not a traceback)
                raise key_error(suite.path, f"methods[{i}].params", f"parameters that {m.method!r} accepts "
                            f"({type(exc).__name__}: {exc})", m.params) from None
    return one_training


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def check_unchanged(suite: Suite, store) -> None:
    """Refuse (``SuiteChanged``, with a diff) when a run already in ``store`` would now mean something else."""
    changed = []
    for spec in suite.runs():
        row = store.run(spec.key)
        if row is not None and row["identity"] != canonical(spec.identity()):
            old, new = json.loads(row["identity"]), spec.identity()
            fields = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            changed.append((spec.key, fields, row["suite_text"]))
    if changed:
        diff = "".join(difflib.unified_diff(changed[0][2].splitlines(True), suite.text.splitlines(True),
                                            "recorded suite", str(suite.path)))
        runs = "\n".join(f"  {k}: {', '.join(f)} changed" for k, f, _ in changed[:10])
        raise SuiteChanged(
            f"{suite.path} changed in a way that alters {len(changed)} run(s) already in "
            f"{store.path}:\n{runs}\n{diff}\nRerun with --fresh to move the old results aside "
            f"(nothing is deleted) and start fresh, or give another --results directory.")
