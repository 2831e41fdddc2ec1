"""Promotion order, ties and failures in the hand-written Hyperband and successive halving."""
from collections import Counter

import pytest

from bench.instruments.perf import toy_space
from methods import FINISHED, WAIT, make_tuner
from methods.brackets import hyperband_brackets


def _rung(tuner):
    jobs = []
    while True:
        j = tuner.ask()
        if j is WAIT or j is FINISHED:
            return jobs, j
        jobs.append(j)


def test_promotes_best_by_loss_with_ties_and_failures():
    sh = make_tuner("successive-halving", toy_space(), 0, 1, 9, n=9, eta=3, r_min=1)
    jobs, sig = _rung(sh)
    assert sig is WAIT and len(jobs) == 9 and {j.resource for j in jobs} == {1}
    losses = {0: 5.0, 1: 0.5, 2: None, 3: 0.5, 4: 0.1, 5: 7.0, 6: None, 7: 0.5, 8: 9.0}
    for j in jobs:
        sh.tell(j, losses[j.trial_id])
    promoted, sig = _rung(sh)
    # best 3: trial 4 (0.1), then the tie at 0.5 broken by trial id: 1, 3 (7 loses the tie)
    assert [j.trial_id for j in promoted] == [4, 1, 3]
    assert all(j.resource == 3 and j.resumes_from == 1 for j in promoted)
    for j, loss in zip(promoted, [2.0, 1.0, None]):
        sh.tell(j, loss)
    final, _ = _rung(sh)
    assert [j.trial_id for j in final] == [1] and final[0].resource == 9


def test_failed_trials_are_never_promoted():
    sh = make_tuner("successive-halving", toy_space(), 0, 1, 9, n=9, eta=3, r_min=1)
    jobs, _ = _rung(sh)
    for j in jobs:
        sh.tell(j, None if j.trial_id != 8 else 1.0)  # only one success
    promoted, _ = _rung(sh)
    assert [j.trial_id for j in promoted] == [8]


def test_all_failed_rung_ends_the_bracket_and_the_next_starts():
    sh = make_tuner("successive-halving", toy_space(), 0, 1, 9, n=3, eta=3, r_min=1)
    jobs, _ = _rung(sh)
    for j in jobs:
        sh.tell(j, None)
    nxt, _ = _rung(sh)
    assert {j.resource for j in nxt} == {1} and min(j.trial_id for j in nxt) == 3  # a fresh bracket


def test_one_hyperband_iteration_asks_exactly_the_plan():
    R, eta = 27, 3
    hb = make_tuner("hyperband", toy_space(), 1, 1, R, eta=eta)
    asked = Counter()
    plan = hyperband_brackets(R, eta)
    total_jobs = sum(g.n for b in plan for g in b.rungs)
    n = 0
    while n < total_jobs:
        jobs, _ = _rung(hb)
        for j in jobs:
            asked[(j.info["bracket"], j.resource)] += 1
            hb.tell(j, float(hash((j.trial_id, j.resource)) % 97))
        n += len(jobs)
    assert asked == Counter({(b.s, g.r): g.n for b in plan for g in b.rungs})
    nxt = hb.ask()
    assert nxt.info["iteration"] == 1 and nxt.info["bracket"] == plan[0].s  # the next iteration begins


def test_hyperband_bracket_repeats_one_bracket():
    t = make_tuner("hyperband-bracket", toy_space(), 0, 1, 27, s=1)
    for _ in range(3):
        jobs, _ = _rung(t)
        assert {j.info["bracket"] for j in jobs} == {1}
        for j in jobs:
            t.tell(j, 1.0)
    with pytest.raises(ValueError, match=r"bracket must be one of s = \[3, 2, 1, 0\].*got 7"):
        make_tuner("hyperband-bracket", toy_space(), 0, 1, 27, s=7)


def test_promotions_resume_same_trial_with_table1():
    hb = make_tuner("hyperband", toy_space(), 0, 1, 81, convention="table1")
    jobs, _ = _rung(hb)
    assert len(jobs) == 81
    for j in jobs:
        hb.tell(j, float(j.trial_id))
    promoted, _ = _rung(hb)
    assert [j.trial_id for j in promoted] == list(range(27))
    assert {(j.resource, j.resumes_from) for j in promoted} == {(3, 1)}


def _serial(tuner, n_jobs):
    out = []
    for _ in range(n_jobs):
        job = tuner.ask()
        assert job not in (WAIT, FINISHED)
        out.append((job.job_id, job.trial_id, job.resource, job.resumes_from, job.info["bracket"]))
        tuner.tell(job, (job.trial_id * 7919 % 97) / 97.0)
    return out


def test_parallel_brackets_start_the_next_bracket_while_a_rung_waits():
    """R = 9, eta = 3: bracket s = 2 hands out its 9 rung-0 jobs (r = 1). Algorithm 1 as written then
    waits; with parallel_brackets the next bracket (s = 1: 3 configurations at r = 3) starts, and
    once s = 2's rung is told, its promotions (r = 3) come before s = 1's remaining work."""
    seq = make_tuner("hyperband", toy_space(), 0, 1, 9, eta=3)
    par = make_tuner("hyperband", toy_space(), 0, 1, 9, eta=3, parallel_brackets=True)
    first = [par.ask() for _ in range(9)]
    assert [seq.ask().info["bracket"] for _ in range(9)] == [j.info["bracket"] for j in first] == [2] * 9
    assert seq.ask() is WAIT
    extra = [par.ask() for _ in range(3)]
    assert [(j.info["bracket"], j.resource) for j in extra] == [(1, 3)] * 3
    assert par.alive_trials() >= {j.trial_id for j in first}
    for j in first:
        par.tell(j, (j.trial_id * 7919 % 97) / 97.0)
    nxt = par.ask()
    assert (nxt.info["bracket"], nxt.resource, nxt.resumes_from) == (2, 3, 1)  # the older bracket first


def test_parallel_brackets_ask_the_same_as_algorithm1_on_one_worker():
    seq = _serial(make_tuner("hyperband", toy_space(), 3, 1, 27, eta=3), 120)
    par = _serial(make_tuner("hyperband", toy_space(), 3, 1, 27, eta=3, parallel_brackets=True), 120)
    assert seq == par


def test_parallel_brackets_is_its_own_algorithm_in_the_roles():
    from methods.roles import role
    a, b = role("hyperband", {"eta": 3}, 1, 27), role("hyperband", {"eta": 3, "parallel_brackets": True}, 1, 27)
    assert a["algorithm"] != b["algorithm"] and a["brackets"] == b["brackets"] and b["family"] == "hyperband"
    with pytest.raises(ValueError, match="parallel_brackets"):
        make_tuner("hyperband", toy_space(), 0, 1, 27, parallel_brackets="yes")
