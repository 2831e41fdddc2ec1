"""The ``optuna`` method: any Optuna sampler and pruner by name (methods/optuna_study.py)."""
from __future__ import annotations

import sqlite3

import pytest

from bench.instruments.perf import toy_loss, toy_space
from methods import FINISHED, WAIT, make_tuner
from methods import optuna_study

MIN, MAX = 1, 9


def _drive(tuner, limit=400):
    """Ask and tell one job at a time on the toy objective; the jobs asked, in order."""
    jobs = []
    while len(jobs) < limit:
        job = tuner.ask()
        if job is WAIT or job is FINISHED:
            break
        tuner.tell(job, toy_loss(job.config, job.resource))
        jobs.append(job)
    return [(j.trial_id, j.resource, j.resumes_from, sorted(j.config.items())) for j in jobs]


def test_defaults_are_optuna_tpe_hb(tmp_path):
    """TPESampler + HyperbandPruner by name asks exactly what the dedicated optuna-tpe-hb module asks
    (same sampler seed, n_startup_trials 10, reduction factor 3, resources [MIN, MAX])."""
    generic = _drive(make_tuner("optuna", toy_space(), 5, MIN, MAX, max_configs=20, workdir=tmp_path))
    dedicated = _drive(make_tuner("optuna-tpe-hb", toy_space(), 5, MIN, MAX, max_configs=20, workdir=tmp_path))
    assert generic == dedicated
    assert {r for _, r, _, _ in generic} == set(range(MIN, MAX + 1))  # one epoch per job, some trials pruned


def test_sampler_and_pruner_by_name(tmp_path):
    tpe = _drive(make_tuner("optuna", toy_space(), 0, MIN, MAX, max_configs=15))
    qmc = make_tuner("optuna", toy_space(), 0, MIN, MAX, sampler="QMCSampler", pruner="MedianPruner",
                     sampler_args={"scramble": True}, pruner_args={"n_warmup_steps": 2}, max_configs=15)
    assert type(qmc.study.sampler).__name__ == "QMCSampler" and type(qmc.study.pruner).__name__ == "MedianPruner"
    assert _drive(qmc) != tpe
    hb = make_tuner("optuna", toy_space(), 0, 2, 27, pruner_args={"reduction_factor": 2})
    assert (hb.study.pruner._min_resource, hb.study.pruner._max_resource) == (2, 27)  # the run's budgets


def test_no_pruner_trains_each_trial_to_max_budget_in_one_job():
    jobs = _drive(make_tuner("optuna", toy_space(), 0, MIN, MAX, sampler="RandomSampler", pruner="none",
                             max_configs=7))
    assert len(jobs) == 7 and all(r == MAX and start == 0 for _, r, start, _ in jobs)


def test_bad_names_and_arguments_say_what_was_expected(monkeypatch):
    with pytest.raises(ValueError, match="sampler 'TPE': expected the name of a class in optuna.samplers.*TPESampler"):
        make_tuner("optuna", toy_space(), 0, MIN, MAX, sampler="TPE")
    with pytest.raises(ValueError, match="pruner 'Hyperband': expected .*HyperbandPruner.*or 'none'"):
        make_tuner("optuna", toy_space(), 0, MIN, MAX, pruner="Hyperband")
    with pytest.raises(ValueError, match="'seed' is set by the run's seed"):
        make_tuner("optuna", toy_space(), 0, MIN, MAX, sampler_args={"seed": 1})
    with pytest.raises(ValueError, match="sampler_args for TPESampler: .*'n_startup'"):
        make_tuner("optuna", toy_space(), 0, MIN, MAX, sampler_args={"n_startup": 1})
    monkeypatch.setitem(optuna_study.SAMPLER_PACKAGES, "RandomSampler", ("no_such_package_xyz",))
    with pytest.raises(ValueError, match=r"needs the package\(s\) \['no_such_package_xyz'\]"):
        make_tuner("optuna", toy_space(), 0, MIN, MAX, sampler="RandomSampler")


def test_a_sampler_chosen_by_name_runs_in_a_replay_suite(tmp_path):
    from bench.loop.runner import Runner
    from bench.config.suite import load_suite
    from tests.conftest import REPO
    suite = tmp_path / "optuna-replay.toml"
    suite.write_text(f'''description = "an Optuna sampler by name, replayed"
profile = "cpu-v2"
backend = "replay"
curves = "{REPO / 'results/curves/cpu-v2.csv'}"
max_budget = 9
budgets = [2]
seeds = [0]

[[methods]]
label = "optuna-random-median"
method = "optuna"
params = {{ sampler = "RandomSampler", pruner = "MedianPruner", pruner_args = {{ n_startup_trials = 2 }} }}
''')
    assert Runner(load_suite(suite), tmp_path / "res", progress=False).run() == 0
    db = sqlite3.connect(tmp_path / "res" / "results.db")
    (status, method), = db.execute("SELECT status, method FROM runs").fetchall()
    assert (status, method) == ("done", "optuna")
    resources = [r for (r,) in db.execute("SELECT resource FROM jobs")]
    assert len(resources) > 3 and max(resources) <= 9 and min(resources) == 1
