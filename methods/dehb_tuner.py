"""DEHB (Awad, Mallik, Hutter, IJCAI 2021): differential evolution inside Hyperband's brackets,
through the ``dehb`` package's ask/tell interface (version 0.1.2).

DEHB proposes (configuration, fidelity) pairs; its fidelities are
``max_budget * eta^-k`` (floats; exact integers when max_budget / min_budget is a power of
eta) and are rounded to whole epochs within [min_budget, max_budget] (inclusive). The
package announces every evaluation as a new configuration, also when a configuration
moves to a higher fidelity (its ``announce_fidelity``, which would allow continuing, is
unused in 0.1.2), so every DEHB job here is a new trial trained from scratch: that is
the algorithm as the package runs it. The harness charges it accordingly.

DEHB writes a log file (``dehb.log``) and reconfigures the ``loguru`` logger; it gets the
harness's ``workdir`` for the file and the ``ERROR`` level so that it prints nothing in a
normal run. One worker (``n_workers=1``): the harness, not DEHB, runs the jobs.
"""
from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from .base import FINISHED, WAIT, Job, Tuner, config_to_dict, is_failure
from .brackets import check_eta
from .params import Integer, Number, TunerParams, crash_cost_field, eta_field

# the mutation and crossover strategies of the dehb package (0.1.2: dehb.optimizers.de), as "<mutation>_<crossover>"
STRATEGIES = tuple(f"{m}_{c}" for m in ("rand1", "rand2", "rand2dir", "best1", "best2", "currenttobest1",
                                         "randtobest1") for c in ("bin", "exp"))


class Dehb(Tuner):
    own_sampler = True
    no_candidates_reason = ("DEHB has no acquisition function to maximise over a set: its new configurations "
                            "are differential-evolution mutants (continuous vectors) made inside the dehb "
                            "package's private _acquire_config, and restricting them would replace its "
                            "mutation with a projection onto the set")

    def __init__(self, space, seed, min_budget, max_budget, *, eta: int = 3, mutation_factor: float = 0.5,
                 crossover_prob: float = 0.5, strategy: str = "rand1_bin", max_configs: int | None = None,
                 workdir=None, crash_cost: float = 1e3):
        super().__init__(space, seed, min_budget, max_budget, max_configs, workdir)
        if workdir is None:
            raise ValueError("dehb writes a log file: give it a workdir")
        if self.min_budget == self.max_budget:
            raise ValueError("dehb needs max_budget > min_budget")
        from dehb import DEHB
        self.eta = check_eta(eta)
        self.crash_cost = float(crash_cost)
        self.opt = DEHB(cs=self.space, min_fidelity=self.min_budget, max_fidelity=self.max_budget, eta=self.eta,
                        mutation_factor=mutation_factor, crossover_prob=crossover_prob, strategy=strategy,
                        seed=self.seed, n_workers=1, save_freq=None, output_path=str(workdir), log_level="ERROR")
        self._info: dict[int, dict] = {}

    def epochs(self, fidelity: float) -> int:
        """DEHB's fidelity as whole epochs in [min_budget, max_budget]."""
        return int(min(self.max_budget, max(self.min_budget, round(float(fidelity)))))

    def ask(self) -> Job:
        if not self._can_sample():
            return WAIT if self.pending else FINISHED
        self.n_configs += 1
        info = self.opt.ask()
        config = config_to_dict(info["config"])  # a ConfigSpace Configuration of self.space
        trial = self.n_configs - 1
        self._info[trial] = info
        return self._job(trial, config, self.epochs(info["fidelity"]), 0, dehb_bracket=int(info["bracket_id"]),
                         fidelity=float(info["fidelity"]))

    def tell(self, job: Job, loss: float | None) -> None:
        job = self._take(job)
        fitness = self.crash_cost if is_failure(loss) else float(loss)
        if not math.isfinite(fitness):
            fitness = self.crash_cost
        self.opt.tell(self._info.pop(job.trial_id), {"fitness": fitness, "cost": float(job.resource)})

    def alive_trials(self) -> set[int]:
        return set()  # DEHB never continues a trial


class Params(TunerParams):
    """Parameters of ``dehb``."""

    eta: Integer = eta_field()
    mutation_factor: Number = Field(0.5, gt=0, le=2, allow_inf_nan=False,
                                    description="differential evolution's scale factor F")
    crossover_prob: Number = Field(0.5, ge=0, le=1, allow_inf_nan=False,
                                   description="probability that a parameter comes from the mutant")
    strategy: Literal[STRATEGIES] = Field("rand1_bin", description="mutation_crossover strategy of the dehb package")
    crash_cost: Number = crash_cost_field()


def make(space, seed, min_budget, max_budget, **params) -> Dehb:
    """Factory for ``dehb``; params: eta (3), mutation_factor, crossover_prob, strategy, max_configs."""
    return Dehb(space, seed, min_budget, max_budget, **params)
