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

It is the method ``optuna`` (``methods.optuna_study``) with its defaults fixed: ``TPESampler`` with
``n_startup_trials`` and ``HyperbandPruner`` with ``reduction_factor = eta``; the same study, space
translation and asks.
"""
from __future__ import annotations

from pydantic import Field

from .brackets import check_eta, optuna_bracket_count  # noqa: F401 (defined in brackets, importable here)
from .optuna_study import OptunaStudy
from .params import Integer, TunerParams, eta_field


class OptunaTpeHyperband(OptunaStudy):
    no_candidates_reason = ("Optuna's TPESampler offers no public way to score given points (its Parzen "
                            "estimators and acquisition are private) and, univariate, it draws each "
                            "parameter on its own, so a joint finite set is outside what it samples")
    needs_one_training = True  # reports every epoch of one training to the pruner

    def __init__(self, space, seed, min_budget, max_budget, *, eta: int = 3, n_startup_trials: int = 10,
                 max_configs: int | None = None, workdir=None):
        self.eta = check_eta(eta)
        super().__init__(space, seed, min_budget, max_budget, sampler="TPESampler", pruner="HyperbandPruner",
                         sampler_args={"n_startup_trials": int(n_startup_trials)},
                         pruner_args={"reduction_factor": self.eta}, max_configs=max_configs, workdir=workdir)


class Params(TunerParams):
    """Parameters of ``optuna-tpe-hb``."""

    eta: Integer = eta_field()
    n_startup_trials: Integer = Field(10, ge=0, le=100_000, description="trials sampled at random before TPE "
                                                                    "takes over")


def make(space, seed, min_budget, max_budget, **params) -> OptunaTpeHyperband:
    """Factory for ``optuna-tpe-hb``; params: eta (3), n_startup_trials (10), max_configs."""
    return OptunaTpeHyperband(space, seed, min_budget, max_budget, **params)
