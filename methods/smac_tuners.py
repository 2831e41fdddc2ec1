"""SMAC3 behind the ask/tell interface: ``smac-bo`` and ``smac-hb``.

* ``smac-bo``: ``HyperparameterOptimizationFacade`` (random-forest BO), every trial
  at ``max_budget``.
* ``smac-hb``: ``MultiFidelityFacade`` with SMAC's own Hyperband intensifier, i.e.
  SMAC's BO-Hyperband, the library peer of the hand-written ``hyperband``. A
  configuration SMAC re-runs at a higher budget continues the same trial.

SMAC writes its run history; it goes under ``<workdir>/smac``, a directory the
caller must give. Failed trials are told as ``CRASHED`` and SMAC charges them
``crash_cost``. Overhead knobs (SMAC's defaults in brackets): ``n_initial``
initial-design size [50 for BO, far too many for our budgets], ``retrain_after``
random-forest refit every k asks [8], ``challengers`` random candidates per
acquisition search [10000], ``local_search_iterations`` local searches per acquisition
search, started from the best configurations so far [10] (they are most of SMAC's time at our
sizes); and the random forest runs on one thread
(SMAC's joblib default ``n_jobs=-1`` spent most of each refit starting threads) and predicts
tree by tree without joblib (``methods.smac_fast``: the same predictions, so the same asks).

Under ``set_candidates(configs)`` (a table's recorded configurations) SMAC chooses only among
them: its initial design, acquisition search and random draws are replaced by the candidate parts
of ``methods.smac_candidates`` (the acquisition is maximised over the finite set; ``challengers``
and ``local_search_iterations`` are then unused). Every job is then a candidate exactly as given,
none is proposed twice, and the tuner finishes once SMAC has proposed them all.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ConfigSpace import Configuration
from pydantic import Field
from smac import HyperparameterOptimizationFacade, MultiFidelityFacade, Scenario
from smac.acquisition.maximizer.local_search import LocalSearch
from smac.main.exceptions import ConfigurationSpaceExhaustedException
from smac.model.random_forest.random_forest import RandomForest
from smac.runhistory import StatusType, TrialInfo, TrialValue

from .base import FINISHED, WAIT, Job, Tuner, config_to_dict, is_failure
from .params import Integer, Number, TunerParams, crash_cost_field, eta_field
from .smac_candidates import CandidateInitialDesign, CandidateMaximizer, CandidateSpace, vector_key
from .smac_fast import SerialRandomForest


# SMAC's forest sets max_leaf_nodes=2**20, and sklearn then spends ~85 ms per tree on
# bookkeeping sized by it. With one sample per leaf at most, a tree on fewer than
# MAX_LEAVES observations is the same tree under this cap.
MAX_LEAVES = 2 ** 12


class _OrderedLocalSearch(LocalSearch):
    """SMAC's local search with its start points in an order that depends only on the seed.

    SMAC (2.4) de-duplicates the start points through a ``set`` of ``Configuration``
    objects, whose hash is that of their ``repr`` string, so their order (and with it
    which random draws each local search gets, hence the next ask) followed Python's
    per-process string-hash seed (``PYTHONHASHSEED``): the same seed asked different
    configurations in different processes, and a killed run could not be retold.
    Here they are sorted by their vector representation instead."""

    def _get_init_points_from_previous_configs(self, *args, **kwargs):
        points = super()._get_init_points_from_previous_configs(*args, **kwargs)
        return sorted(points, key=lambda c: c.get_array().tobytes())


def _key(config: dict) -> tuple:
    return tuple(sorted(config.items()))


class SmacTuner(Tuner):
    own_sampler = True
    chooses_from_candidates = True  # see methods.smac_candidates

    def __init__(self, space, seed, min_budget, max_budget, *, workdir, multi_fidelity: bool, eta: int = 3,
                 n_initial: int = 10, retrain_after: int = 4, challengers: int = 1000,
                 local_search_iterations: int = 10, crash_cost: float = 1e3, max_configs: int | None = None,
                 speedups: bool = True):
        super().__init__(space, seed, min_budget, max_budget, max_configs, workdir)
        self.speedups = bool(speedups)  # methods.smac_fast (same asks; False: SMAC's own forest, for tests)
        if workdir is None:
            raise ValueError("SMAC writes files: pass workdir=<directory> for its output")
        self.crash_cost = float(crash_cost)
        self.multi_fidelity = multi_fidelity
        self._settings = dict(eta=int(eta), n_initial=int(n_initial), retrain_after=int(retrain_after),
                              challengers=int(challengers), local_search_iterations=int(local_search_iterations))
        # SMAC logs a warning each time its config selector runs short of new configurations (on the task's
        # mostly discrete space, in free mode too; with a finite set of candidates, at the end of every run):
        # a tuner prints nothing, so only SMAC's errors pass
        logging.getLogger("smac").setLevel(logging.ERROR)
        self.smac = self._facade(self.space)
        self._trial_of: dict[tuple, int] = {}
        self._reached: dict[int, int] = {}
        self._info: dict[int, TrialInfo] = {}
        self._candidate_of: dict[bytes, dict] | None = None  # SMAC's vector of a candidate -> the candidate
        self._exhausted = False

    def _facade(self, configspace, candidates: bool = False):
        """SMAC's facade on ``configspace``; with ``candidates`` (a ``CandidateSpace``) its initial design
        and acquisition search choose among the candidates (``methods.smac_candidates``)."""
        o = self._settings
        facade = MultiFidelityFacade if self.multi_fidelity else HyperparameterOptimizationFacade
        budgets = dict(min_budget=self.min_budget, max_budget=self.max_budget) if self.multi_fidelity else {}
        scenario = Scenario(configspace, name="smac", output_directory=Path(self.workdir) / "smac",
                            deterministic=True, n_trials=10 ** 9, seed=self.seed, crash_cost=self.crash_cost,
                            **budgets)
        if candidates:
            maximizer = CandidateMaximizer(scenario.configspace, seed=scenario.seed)
            initial_design = CandidateInitialDesign(scenario, n_configs=o["n_initial"])
        else:
            maximizer = facade.get_acquisition_maximizer(scenario, challengers=o["challengers"],
                                                         local_search_iterations=o["local_search_iterations"])
            maximizer._local_search.__class__ = _OrderedLocalSearch  # see _OrderedLocalSearch
            initial_design = facade.get_initial_design(scenario, n_configs=o["n_initial"])
        kwargs = dict(
            # The facade's own random forest (same settings as its get_model), but on one
            # thread: with n_jobs=-1 joblib's thread start-up dominated every refit here.
            model=(SerialRandomForest if self.speedups else RandomForest)(
                scenario.configspace, log_y=True, n_trees=10, ratio_features=1.0, min_samples_split=2,
                min_samples_leaf=1, max_depth=2 ** 20, bootstrapping=True, max_leaf_nodes=MAX_LEAVES,
                seed=scenario.seed, n_jobs=1),
            initial_design=initial_design,
            config_selector=facade.get_config_selector(scenario, retrain_after=o["retrain_after"],
                                                        **self._retries(configspace, candidates)),
            acquisition_maximizer=maximizer,
        )
        if self.multi_fidelity:
            kwargs["intensifier"] = facade.get_intensifier(scenario, eta=o["eta"])
        return facade(scenario, None, logging_level=False, overwrite=True, **kwargs)

    @staticmethod
    def _retries(configspace, candidates: bool) -> dict:
        """SMAC's config selector gives up after ``retries`` proposals it has made before (default 16). Among
        n candidates, SMAC-HB's brackets take many configurations in one go, so the acquisition's list holds up
        to n - 1 already taken; and the selector's random fallback needs 2n + 1 draws (every candidate at least
        once) before its "exhausted" is true. So 2n + 1 retries with candidates."""
        return {"retries": 2 * len(configspace.candidate_vectors) + 1} if candidates else {}

    def _choose_from(self, configs: list[dict]) -> None:
        space = CandidateSpace(self.space, configs, self.seed)
        self.smac = self._facade(space, candidates=True)
        self._candidate_of = {}
        for c in configs:
            self._candidate_of.setdefault(vector_key(Configuration(space, values=c)), c)

    def _resource(self, budget) -> int:
        if budget is None:
            return self.max_budget
        return min(self.max_budget, max(self.min_budget, int(round(float(budget)))))

    def ask(self):
        if not self._can_sample():
            return FINISHED
        if self._exhausted:
            return WAIT if self.pending else FINISHED
        try:
            info = self.smac.ask()
        except (StopIteration, ConfigurationSpaceExhaustedException):
            # only with candidates: SMAC has proposed every one of them (it never repeats a configuration)
            self._exhausted = True
            return WAIT if self.pending else FINISHED
        if self._candidate_of is None:
            config = config_to_dict(info.config)
        else:  # the candidate itself, exactly as given (SMAC's vector round trip may move a float's last digit)
            try:
                config = dict(self._candidate_of[vector_key(info.config)])
            except KeyError:
                raise RuntimeError(f"SMAC proposed a configuration outside the candidates: {dict(info.config)}") from None
        key = _key(config)
        if key not in self._trial_of:
            self._trial_of[key] = len(self._trial_of)
            self.n_configs += 1
        trial_id = self._trial_of[key]
        job = self._job(trial_id, config, self._resource(info.budget), self._reached.get(trial_id, 0),
                        budget=info.budget)
        self._info[job.job_id] = info
        return job

    def alive_trials(self) -> set[int] | None:
        # SMAC-BO trains every trial at max_budget; SMAC's Hyperband may come back to any
        # configuration below max_budget, and its intensifier's state is not public.
        return None if self.multi_fidelity else set()

    def tell(self, job: Job, loss) -> None:
        self._take(job)
        info = self._info.pop(job.job_id)
        if is_failure(loss):
            value = TrialValue(cost=self.crash_cost, time=0.0, status=StatusType.CRASHED)
        else:
            value = TrialValue(cost=float(loss), time=0.0, status=StatusType.SUCCESS)
            self._reached[job.trial_id] = max(self._reached.get(job.trial_id, 0), job.resource)
        self.smac.tell(info, value, save=False)


class BoParams(TunerParams):
    """Parameters of ``smac-bo``."""

    n_initial: Integer = Field(10, ge=1, le=1000, description="configurations of the initial design (built when "
                                                               "the tuner is: 1000 take seconds)")
    retrain_after: Integer = Field(4, ge=1, le=10_000, description="refit the random forest every this many asks")
    challengers: Integer = Field(1000, ge=1, le=100_000, description="random candidates per acquisition search")
    local_search_iterations: Integer = Field(10, ge=0, le=1000, description="local searches per acquisition search")
    crash_cost: Number = crash_cost_field()
    speedups: bool = Field(True, description="the forest predicts tree by tree (methods.smac_fast; the same asks); "
                                             "false: SMAC's forest as it ships")


class HbParams(BoParams):
    """Parameters of ``smac-hb``."""

    eta: Integer = eta_field()


def make_bo(space, seed, min_budget, max_budget, **params) -> SmacTuner:
    """Factory for ``smac-bo``; params: workdir (required), n_initial, retrain_after, challengers,
    local_search_iterations, crash_cost."""
    return SmacTuner(space, seed, min_budget, max_budget, multi_fidelity=False, **params)


def make_hb(space, seed, min_budget, max_budget, **params) -> SmacTuner:
    """Factory for ``smac-hb``; params as ``smac-bo`` plus eta."""
    return SmacTuner(space, seed, min_budget, max_budget, multi_fidelity=True, **params)
