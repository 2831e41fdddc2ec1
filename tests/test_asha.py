"""ASHA and asynchronous Hyperband: promotions against a hand-worked example, rungs, brackets."""
import math
from collections import Counter

import pytest

from bench.instruments.perf import toy_space
from methods import FINISHED, WAIT, make_tuner
from methods.asha import asha_rungs
from methods.brackets import hyperband_brackets


def test_rungs_follow_hyperband_brackets():
    assert asha_rungs(1, 27, 3) == (1, 3, 9, 27)
    assert asha_rungs(1, 27, 3, s=1) == (3, 9, 27)
    assert asha_rungs(1, 27, 2) == (1, 3, 6, 13, 27)  # R not a power of eta: still ends at R
    assert asha_rungs(1, 81, 3) == tuple(g.r for g in hyperband_brackets(81, 3)[0].rungs)
    with pytest.raises(ValueError, match="early-stopping rate"):
        asha_rungs(1, 27, 3, s=4)


def test_promotions_match_a_hand_worked_example():
    """eta = 3, rungs 1, 3, 9 epochs; one worker: ask, tell, ask, ...

    A rung's candidates are its best floor(|rung| / 3) finished trials; the best one not yet
    promoted goes up, higher rungs first; otherwise a new trial starts at rung 0."""
    t = make_tuner("asha", toy_space(), 0, 1, 9, eta=3)
    losses = {(0, 1): 5, (1, 1): 3, (2, 1): 4, (1, 3): 2, (3, 1): 1, (3, 3): 2.5, (4, 1): 6, (5, 1): 0.5,
              (5, 3): 1.5, (5, 9): 0.4, (6, 1): 7}
    got = []
    for _ in range(len(losses)):
        job = t.ask()
        got.append((job.trial_id, job.resource, job.resumes_from))
        t.tell(job, losses[(job.trial_id, job.resource)])
    assert got == [(0, 1, 0), (1, 1, 0), (2, 1, 0),
                   (1, 3, 1),             # rung 0 holds 3: its best (trial 1) goes up
                   (3, 1, 0),             # rung 1 holds 1 (no candidate); trial 1 already promoted
                   (3, 3, 1),             # rung 0 holds 4: best is now trial 3
                   (4, 1, 0), (5, 1, 0),
                   (5, 3, 1),             # rung 0 holds 6: top 2 are trials 5 and 3; 5 is new
                   (5, 9, 3),             # rung 1 holds 3: its best (trial 5) goes to the top rung
                   (6, 1, 0)]
    # alive: finished below the top rung and not promoted: 0, 2, 4, 6 at rung 0; 1, 3 at rung 1
    assert t.alive_trials() == {0, 1, 2, 3, 4, 6}


def test_failures_are_never_promoted_and_alive_trials():
    t = make_tuner("asha", toy_space(), 0, 1, 9, eta=3)
    jobs = [t.ask() for _ in range(3)]
    for j in jobs:
        t.tell(j, None)                      # every trial of rung 0 failed
    nxt = t.ask()
    assert (nxt.resource, nxt.resumes_from) == (1, 0)  # no promotion of a failure: a new trial
    t.tell(nxt, 1.0)
    assert t.alive_trials() == {nxt.trial_id}           # failures cannot be continued


def test_max_configs_waits_then_finishes():
    t = make_tuner("asha", toy_space(), 0, 1, 9, eta=3, max_configs=2)
    a, b = t.ask(), t.ask()
    assert t.ask() is WAIT                   # nothing to promote, no more sampling, work outstanding
    t.tell(a, 1.0)
    t.tell(b, 2.0)
    assert t.ask() is FINISHED               # 2 finished in rung 0: floor(2/3) = 0 candidates


def test_async_hyperband_draws_brackets_like_hyperband():
    t = make_tuner("async-hyperband", toy_space(), 0, 1, 27, eta=3)
    plan = hyperband_brackets(27, 3)
    firsts, promotions = Counter(), 0
    for _ in range(2000):
        job = t.ask()
        rungs = [g.r for g in plan[job.info["bracket"]].rungs]
        assert job.resource == rungs[job.info["rung"]]
        if job.resumes_from == 0:
            firsts[job.info["bracket"]] += 1
            assert job.info["rung"] == 0
        else:  # a promotion continues its trial from the rung below, inside its bracket
            promotions += 1
            assert job.resumes_from == rungs[job.info["rung"] - 1]
        t.tell(job, float(job.trial_id % 7))
    assert promotions > 0
    total = sum(firsts.values())
    n = [b.n_configs for b in plan]
    for k, b in enumerate(plan):
        assert firsts[k] / total == pytest.approx(n[k] / sum(n), abs=0.04)


@pytest.mark.parametrize("lo,hi,eta", [(1, 243, 3), (1, 1000, 10), (1, 81, 3), (1, 27, 2), (3, 27, 3)])
def test_optuna_bracket_count_is_what_optuna_builds(lo, hi, eta):
    """The planner's 'Optuna builds k brackets' is read off Optuna's own pruner, and differs from
    the exact count exactly where floating-point log undercounts (243 = 3^5, 1000 = 10^3)."""
    import optuna
    from methods.brackets import s_max
    from methods.optuna_tpe_hb import optuna_bracket_count
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = optuna.pruners.HyperbandPruner(min_resource=lo, max_resource=hi, reduction_factor=eta)
    study = optuna.create_study(pruner=pruner)
    pruner._try_initialization(study)
    assert pruner._n_brackets == optuna_bracket_count(lo, hi, eta)
    exact = s_max(hi, eta, lo) + 1
    assert (pruner._n_brackets != exact) == ((lo, hi, eta) in [(1, 243, 3), (1, 1000, 10)])
