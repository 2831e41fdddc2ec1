"""Any Optuna sampler, with any Optuna pruner, chosen by name: the method ``optuna``.

A suite entry makes an Optuna optimiser a method without a module of its own::

    [[methods]]
    label = "optuna-qmc"
    method = "optuna"
    params = { sampler = "QMCSampler", pruner = "MedianPruner", sampler_args = { scramble = true },
               pruner_args = { n_warmup_steps = 3 } }

``sampler``: the name of a class in ``optuna.samplers`` (default ``TPESampler``), built with
``sampler_args`` and, where its constructor takes one, ``seed`` = the run's seed (a ``seed``
in ``sampler_args`` is refused: the run's seed decides). ``pruner``: the name of a class in
``optuna.pruners`` (default ``HyperbandPruner``) built with ``pruner_args``; ``"NopPruner"`` (or
``"none"``) trains every trial to ``max_budget`` in one job. Where the pruner takes them and
``pruner_args`` does not set them, ``min_resource`` = ``min_budget`` and ``max_resource`` =
``max_budget`` (epochs, inclusive).

With a pruner, a trial runs as in an Optuna user's training loop: one job per epoch, each
continuing the trial's checkpoint, its loss reported at that epoch (``trial.report(loss,
step=epoch)``) and the trial stopped when ``trial.should_prune()`` says so; a trial that reaches
``max_budget`` is told complete with its last loss. The study is in memory with a fixed name
(Optuna's Hyperband pruner hashes it), minimising, with Optuna's log silenced: the same seed
gives the same asks. The space is translated from ConfigSpace (``optuna_distributions``): floats and
integers with their bounds and log flag, ordinals and categoricals as categorical choices.
"""
from __future__ import annotations

import inspect
from typing import Any

from ConfigSpace import (CategoricalHyperparameter, Constant, OrdinalHyperparameter, UniformFloatHyperparameter,
                         UniformIntegerHyperparameter)
from pydantic import BaseModel, ConfigDict, Field

from .base import FINISHED, WAIT, Job, Tuner, config_to_dict, is_failure

NO_PRUNER = ("NopPruner", "none")
# Samplers whose Optuna code imports an optional package only when it first samples: checked when
# the sampler is built, so a missing package stops the suite before anything runs, not mid-run.
SAMPLER_PACKAGES = {"CmaEsSampler": ("cmaes",), "GPSampler": ("torch", "scipy"), "QMCSampler": ("scipy",)}
# Resources the harness knows and passes to a pruner that takes them (unless pruner_args sets them).
PRUNER_RESOURCES = ("min_resource", "max_resource")


def optuna_distributions(space) -> dict:
    """ConfigSpace hyperparameters as Optuna distributions (conditions are not supported)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    if space.conditions or space.forbidden_clauses:
        raise ValueError("Optuna methods translate flat spaces only (no conditions or forbidden clauses)")
    out = {}
    for hp in space.values():
        if isinstance(hp, UniformFloatHyperparameter):
            out[hp.name] = FloatDistribution(float(hp.lower), float(hp.upper), log=bool(hp.log))
        elif isinstance(hp, UniformIntegerHyperparameter):
            out[hp.name] = IntDistribution(int(hp.lower), int(hp.upper), log=bool(hp.log))
        elif isinstance(hp, OrdinalHyperparameter):
            out[hp.name] = CategoricalDistribution(list(hp.sequence))
        elif isinstance(hp, CategoricalHyperparameter):
            out[hp.name] = CategoricalDistribution(list(hp.choices))
        elif isinstance(hp, Constant):
            out[hp.name] = CategoricalDistribution([hp.value])
        else:
            raise ValueError(f"Optuna methods cannot translate hyperparameter {hp.name!r} ({type(hp).__name__})")
    return out


def _classes(module, base) -> dict:
    return {n: c for n, c in vars(module).items() if inspect.isclass(c) and issubclass(c, base) and c is not base
            and not n.startswith("_")}


def build_sampler(name: str, args: dict, seed: int):
    """An ``optuna.samplers`` class by name, with ``args`` and the run's ``seed`` where it takes one."""
    import optuna
    known = _classes(optuna.samplers, optuna.samplers.BaseSampler)
    if name not in known:
        raise ValueError(f"sampler {name!r}: expected the name of a class in optuna.samplers, one of {sorted(known)}")
    import importlib.util
    missing = [p for p in SAMPLER_PACKAGES.get(name, ()) if importlib.util.find_spec(p) is None]
    if missing:
        raise ValueError(f"sampler {name!r} needs the package(s) {missing}, which are not installed "
                         f"(pip install {' '.join(missing)})")
    args = dict(args or {})
    if "seed" in args:
        raise ValueError(f"sampler_args: 'seed' is set by the run's seed, not by the suite (got {args['seed']!r})")
    if "seed" in inspect.signature(known[name]).parameters:
        args["seed"] = seed
    try:
        return known[name](**args)
    except TypeError as exc:
        raise ValueError(f"sampler_args for {name}: {exc}") from None


def build_pruner(name: str | None, args: dict, min_budget: int, max_budget: int):
    """An ``optuna.pruners`` class by name, with ``args``; None for no pruning (``NopPruner``/``none``)."""
    import optuna
    if name is None or name in NO_PRUNER:
        if args:
            raise ValueError(f"pruner_args {sorted(args)} given without a pruner")
        return None
    known = _classes(optuna.pruners, optuna.pruners.BasePruner)
    if name not in known:
        raise ValueError(f"pruner {name!r}: expected the name of a class in optuna.pruners, one of {sorted(known)}, "
                         "or 'none'")
    args = dict(args or {})
    takes = inspect.signature(known[name]).parameters
    for key, value in zip(PRUNER_RESOURCES, (min_budget, max_budget)):
        if key in takes and key not in args:
            args[key] = value
    try:
        return known[name](**args)
    except TypeError as exc:
        raise ValueError(f"pruner_args for {name}: {exc}") from None


class OptunaStudy(Tuner):
    own_sampler = True
    no_candidates_reason = ("an Optuna sampler proposes configurations through the study; it has no public way "
                            "to be restricted to a given set")

    def __init__(self, space, seed, min_budget, max_budget, *, sampler: str = "TPESampler",
                 pruner: str | None = "HyperbandPruner", sampler_args: dict | None = None,
                 pruner_args: dict | None = None, max_configs: int | None = None, workdir=None):
        import optuna
        super().__init__(space, seed, min_budget, max_budget, max_configs, workdir)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._dists = optuna_distributions(self.space)
        self.sampler_name, self.pruner_name = sampler, pruner
        pruner_obj = build_pruner(pruner, pruner_args, self.min_budget, self.max_budget)
        self.prunes = pruner_obj is not None
        self.needs_one_training = self.prunes  # reports every epoch of one training to the pruner
        self.study = optuna.create_study(study_name="aerial-hpo-bench", direction="minimize",
                                         sampler=build_sampler(sampler, sampler_args, self.seed),
                                         pruner=pruner_obj or optuna.pruners.NopPruner(), storage=None)
        self._trials: dict[int, object] = {}      # our trial id -> Optuna trial
        self._epochs: dict[int, int] = {}         # epochs each running trial has
        self._ready: list[int] = []               # trials waiting for their next epoch, oldest first

    def ask(self) -> Job:
        if self._ready:
            t = self._ready.pop(0)
            return self._job(t, self._config(t), self._epochs[t] + 1, self._epochs[t], optuna_trial=t)
        if not self._can_sample():
            return WAIT if self.pending else FINISHED
        self.n_configs += 1
        trial = self.study.ask(self._dists)
        t = len(self._trials)
        self._trials[t] = trial
        self._epochs[t] = 0
        first = self.min_budget if self.prunes else self.max_budget
        return self._job(t, self._config(t), first, 0, optuna_trial=t)

    def _config(self, t: int) -> dict:
        return config_to_dict(self._trials[t].params)

    def tell(self, job: Job, loss: float | None) -> None:
        from optuna.trial import TrialState
        job = self._take(job)
        t, trial = job.trial_id, self._trials[job.trial_id]
        if is_failure(loss):
            self.study.tell(trial, state=TrialState.FAIL)
            return
        self._epochs[t] = job.resource
        trial.report(float(loss), step=job.resource)
        if job.resource >= self.max_budget:
            self.study.tell(trial, float(loss))
        elif trial.should_prune():
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self._ready.append(t)

    def alive_trials(self) -> set[int]:
        return set(self._ready) | {j.trial_id for j in self.pending.values()}


class Params(BaseModel):
    """Parameters of ``optuna`` (checked before the tuner is built; names are checked against Optuna then)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sampler: str = Field("TPESampler", description="a class of optuna.samplers, by name")
    pruner: str = Field("HyperbandPruner", description="a class of optuna.pruners, by name, or 'none' (each trial "
                                                       "trains to max_budget in one job)")
    sampler_args: dict[str, Any] = Field({}, description="keyword arguments of the sampler "
                                                                           "(not seed: the run's seed is passed)")
    pruner_args: dict[str, Any] = Field({}, description="keyword arguments of the pruner "
                                        "(min_resource, max_resource default to the run's budgets in epochs)")
    max_configs: int | None = Field(None, ge=1, description="stop after sampling this many configurations "
                                                            "(absent: never)")


def make(space, seed, min_budget, max_budget, **params) -> OptunaStudy:
    """Factory for ``optuna``; params: sampler ("TPESampler"), pruner ("HyperbandPruner"; "none"),
    sampler_args ({}), pruner_args ({}), max_configs."""
    return OptunaStudy(space, seed, min_budget, max_budget, **params)
