"""The contract every registered method keeps, checked on a cheap toy objective."""
import math

import pytest
from ConfigSpace import Configuration

from bench.instruments.perf import toy_loss, toy_space
from methods import FINISHED, REGISTRY, WAIT, make_tuner

MIN, MAX = 1, 9
FAST = {"smac-bo": {"n_initial": 2}, "smac-hb": {"n_initial": 2}, "skopt-gp": {"n_initial": 2}}  # model early


def _make(method, seed, tmp_path, **kw):
    return make_tuner(method, toy_space(), seed, MIN, MAX, workdir=tmp_path / f"{method}-{seed}", **kw)


def _drive(tuner, steps, fail_every=0, batch=3):
    """Ask up to ``batch`` jobs, tell them in reverse order; return the jobs, in ask order."""
    seen, k = [], 0
    while len(seen) < steps:
        jobs = []
        for _ in range(batch):
            job = tuner.ask()
            if job is WAIT or job is FINISHED:
                break
            jobs.append(job)
        if not jobs:
            assert job is FINISHED, "a tuner with nothing outstanding must not WAIT"
            return seen, job
        for job in reversed(jobs):
            k += 1
            loss = None if fail_every and k % fail_every == 0 else toy_loss(job.config, job.resource)
            tuner.tell(job, loss)
        seen += jobs
    return seen, None


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_asks_are_inside_space_and_budget(method, tmp_path):
    tuner = _make(method, 0, tmp_path)
    jobs, _ = _drive(tuner, 40)
    space = toy_space()
    first_config = {}
    for job in jobs:
        Configuration(space, values=job.config).check_valid_configuration()
        assert MIN <= job.resource <= MAX
        assert 0 <= job.resumes_from < job.resource
        first_config.setdefault(job.trial_id, job.config)
        assert job.config == first_config[job.trial_id], "a trial keeps its configuration"


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_deterministic_for_a_seed(method, tmp_path):
    a, _ = _drive(_make(method, 3, tmp_path / "a"), 30)
    b, _ = _drive(_make(method, 3, tmp_path / "b"), 30)
    c, _ = _drive(_make(method, 4, tmp_path / "c"), 30)
    key = lambda jobs: [(j.trial_id, j.resource, j.resumes_from, sorted(j.config.items())) for j in jobs]
    assert key(a) == key(b)
    assert key(a) != key(c)


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_survives_failed_trials(method, tmp_path):
    tuner = _make(method, 0, tmp_path)
    jobs, end = _drive(tuner, 30, fail_every=2)
    assert len(jobs) >= 30 and end is None
    nan_job = tuner.ask()
    tuner.tell(nan_job, math.nan)  # a non-finite loss counts as a failure too
    assert tuner.ask() is not None


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_stops_cleanly_at_max_configs(method, tmp_path):
    tuner = _make(method, 0, tmp_path, max_configs=12)
    jobs, end = _drive(tuner, 500)
    assert end is FINISHED
    assert tuner.ask() is FINISHED and tuner.ask() is FINISHED
    assert 1 <= len({j.trial_id for j in jobs}) <= 12
    assert not tuner.pending


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_telling_twice_is_an_error(method, tmp_path):
    tuner = _make(method, 0, tmp_path)
    job = tuner.ask()
    tuner.tell(job, 1.0)
    with pytest.raises(ValueError, match="not outstanding"):
        tuner.tell(job, 1.0)


def test_unknown_method_and_parameter_are_named():
    with pytest.raises(ValueError, match="unknown method 'hyperbandd'"):
        make_tuner("hyperbandd", toy_space(), 0, 1, 9)
    with pytest.raises(ValueError, match="method 'random-search': parameter 'etaa': expected one of .*unknown"):
        make_tuner("random-search", toy_space(), 0, 1, 9, etaa=3)


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_table_sampling_asks_only_candidates(method, tmp_path):
    """Under set_candidates() a tuner that samples through the base class, or whose library can choose
    among given points (SMAC, skopt), asks only those configurations, deterministically for a seed;
    a library tuner that cannot (DEHB, Optuna's TPE) refuses and says why."""
    space = toy_space(seed=7)
    candidates = [{k: (v.item() if hasattr(v, "item") else v) for k, v in dict(space.sample_configuration()).items()}
                  for _ in range(5)]
    tuner = _make(method, 0, tmp_path, **FAST.get(method, {}))
    if tuner.own_sampler and not tuner.chooses_from_candidates:
        with pytest.raises(ValueError, match="own library and cannot choose from a fixed set: .{40}"):
            tuner.set_candidates(candidates)
        return
    tuner.set_candidates(candidates)
    jobs, _ = _drive(tuner, 40)
    assert jobs and all(job.config in candidates for job in jobs)
    again = _make(method, 0, tmp_path / "again", **FAST.get(method, {}))
    again.set_candidates(candidates)
    jobs2, _ = _drive(again, 40)
    assert [(j.trial_id, j.config, j.resource) for j in jobs] == [(j.trial_id, j.config, j.resource) for j in jobs2]
    assert len({tuple(sorted(j.config.items())) for j in jobs}) > 1, "draws vary over the candidates"
    if tuner.own_sampler:  # a library never proposes a configuration twice: one trial per candidate at most
        first = {}
        for j in jobs:
            first.setdefault(j.trial_id, j.config)
        assert len(first) <= len(candidates)
        assert len({tuple(sorted(c.items())) for c in first.values()}) == len(first)
