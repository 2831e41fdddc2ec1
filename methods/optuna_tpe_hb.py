"""Optuna's TPE sampler with its ``HyperbandPruner`` (the most used tuner in practice), through
Optuna's ask/tell interface.

A trial behaves as in an Optuna user's training loop: it trains one epoch at a time,
reports its loss at every epoch (``trial.report(loss, step=epoch)``) and stops when
``trial.should_prune()`` says so; a trial that reaches ``max_budget`` epochs is told
complete with its last loss. So every job here is one epoch, continuing the trial's
checkpoint (``resumes_from`` = the epochs it has). The pruner runs with
``min_resource = min_budget``, ``max_resource = max_budget`` (epochs, inclusive) and
``reduction_factor = eta``; Optuna counts its brackets with a floating-point log
(``bench brackets`` shows where that differs from the exact count).

The space is translated from ConfigSpace: floats and integers with their bounds and log
flag, ordinals and categoricals as categorical choices. The study is in memory with a
fixed name (Optuna's bracket of a trial hashes the study name and trial number), the
sampler is seeded, and Optuna's log is silenced: the same seed gives the same asks.
"""
from __future__ import annotations

from ConfigSpace import (CategoricalHyperparameter, Constant, OrdinalHyperparameter, UniformFloatHyperparameter,
                         UniformIntegerHyperparameter)

from pydantic import Field

from .base import FINISHED, WAIT, Job, Tuner, config_to_dict, is_failure
from .brackets import check_eta, optuna_bracket_count  # noqa: F401 (defined in brackets, importable here)
from .params import Integer, TunerParams, eta_field


def optuna_distributions(space) -> dict:
    """ConfigSpace hyperparameters as Optuna distributions (conditions are not supported)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    if space.conditions or space.forbidden_clauses:
        raise ValueError("optuna-tpe-hb translates flat spaces only (no conditions or forbidden clauses)")
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
            raise ValueError(f"optuna-tpe-hb cannot translate hyperparameter {hp.name!r} ({type(hp).__name__})")
    return out


class OptunaTpeHyperband(Tuner):
    own_sampler = True
    no_candidates_reason = ("Optuna's TPESampler offers no public way to score given points (its Parzen "
                            "estimators and acquisition are private) and, univariate, it draws each "
                            "parameter on its own, so a joint finite set is outside what it samples")
    needs_one_training = True  # reports every epoch of one training to the pruner

    def __init__(self, space, seed, min_budget, max_budget, *, eta: int = 3, n_startup_trials: int = 10,
                 max_configs: int | None = None, workdir=None):
        import optuna
        super().__init__(space, seed, min_budget, max_budget, max_configs, workdir)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.eta = check_eta(eta)
        self._dists = optuna_distributions(self.space)
        sampler = optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=int(n_startup_trials))
        pruner = optuna.pruners.HyperbandPruner(min_resource=self.min_budget, max_resource=self.max_budget,
                                                reduction_factor=self.eta)
        self.study = optuna.create_study(study_name="aerial-hpo-bench", direction="minimize", sampler=sampler,
                                         pruner=pruner, storage=None)
        self._trials: dict[int, object] = {}      # our trial id -> Optuna trial
        self._epochs: dict[int, int] = {}         # epochs each running trial has
        self._ready: list[int] = []               # trials waiting for their next epoch, oldest first

    def ask(self) -> Job:
        if self._ready:
            t = self._ready.pop(0)
            return self._job(t, self._configs(t), self._epochs[t] + 1, self._epochs[t], optuna_trial=t)
        if not self._can_sample():
            return WAIT if self.pending else FINISHED
        self.n_configs += 1
        trial = self.study.ask(self._dists)
        t = len(self._trials)
        self._trials[t] = trial
        self._epochs[t] = 0
        return self._job(t, self._configs(t), self.min_budget, 0, optuna_trial=t)

    def _configs(self, t: int) -> dict:
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


class Params(TunerParams):
    """Parameters of ``optuna-tpe-hb``."""

    eta: Integer = eta_field()
    n_startup_trials: Integer = Field(10, ge=0, le=100_000, description="trials sampled at random before TPE "
                                                                    "takes over")


def make(space, seed, min_budget, max_budget, **params) -> OptunaTpeHyperband:
    """Factory for ``optuna-tpe-hb``; params: eta (3), n_startup_trials (10), max_configs."""
    return OptunaTpeHyperband(space, seed, min_budget, max_budget, **params)
