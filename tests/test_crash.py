"""Crash testing (issue 11): a run killed at any store write resumes to exactly the uninterrupted
run, for every method family; SMAC asks the same in every process, whatever Python's hash seed."""
import json
import os
import subprocess
import sys

from bench.instruments.crashtest import crash_test, random_attack
from tests.conftest import REPO

# Replayed (no training), R = 2 epochs, B = 3 (6 epochs) per run: Hyperband's s = 1 bracket twice,
# with promotions, then a skipped ask; SMAC-BO and scikit-optimize with two initial configurations,
# so their models propose the third job and the (skipped) fourth. 63 store writes in all.
FAMILIES = """
profile = "cpu"
backend = "replay"
curves = "results/curves/cpu-seed0.csv"
max_budget = 2
budgets = [3]
seeds = [0]
[[methods]]
label = "hb"
method = "hyperband-bracket"
params = { s = 1, eta = 2 }
[[methods]]
label = "smac-bo"
method = "smac-bo"
params = { n_initial = 2, challengers = 50, local_search_iterations = 2 }
[[methods]]
label = "skopt"
method = "skopt-gp"
params = { n_initial = 2, n_points = 100 }
"""


def test_kill_at_every_store_write_then_resume_equals_the_uninterrupted_run(tmp_path):
    """A real SIGKILL (the store's AERIAL_HPO_KILL_AT_WRITE hook) at every write k, a resume in
    another process (of another hash seed), and every row compared; see bench/instruments/crashtest.py."""
    suite = tmp_path / "families.toml"
    suite.write_text(FAMILIES)
    report = crash_test(suite, tmp_path / "work", jobs=2)
    assert report.errors == [], report.errors[:5]
    assert report.writes >= 60 and report.kills == report.writes
    assert (report.lost, report.doubled, report.differing) == (0, 0, 0), report.examples[:10]
    assert report.rows >= 30 * report.kills  # every row of the uninterrupted run (39 here), at every kill


# Replayed on 1 and 2 simulated workers (a worker list), with --processes 2: ASHA and parallel-bracket
# Hyperband, the asynchronous and the synchronous kind (the full attack: bench/suites/crash-attack.toml).
ATTACK = """
profile = "cpu"
backend = "replay"
curves = "results/curves/cpu-seed0.csv"
max_budget = 3
budgets = [3]
seeds = [0]
workers = [1, 2]
[[methods]]
label = "asha"
method = "asha"
params = { eta = 3 }
[[methods]]
label = "hb-par"
method = "hyperband"
params = { eta = 3, parallel_brackets = true }
"""


def test_kills_at_random_moments_with_processes_resume_to_the_uninterrupted_run(tmp_path):
    """The driver's PID alone SIGKILLed at random moments (not at a store write), its resume killed
    again, then resumed to the end: every row as in the uninterrupted run, no pool process outlives
    its driver, no scratch folder is left (bench.instruments.crashtest.random_attack)."""
    suite = tmp_path / "attack.toml"
    suite.write_text(ATTACK)
    report = random_attack(suite, tmp_path / "work", kills=2, jobs=1, extra_args=["--processes", "2"], seed=1)
    assert report.errors == [], report.errors[:5]
    assert report.kills >= 2 and report.stores >= 1 and report.rows > 0
    assert (report.lost, report.doubled, report.differing, report.orphans, report.scratch) == (0, 0, 0, 0, 0), \
        report.examples[:10]


ASKS = """
import hashlib, json, sys, tempfile
from methods import make_tuner
from methods.base import FINISHED, WAIT
from segmentation.profiles import get_profile
from segmentation.space import search_space
out = {}
for method, n, params in (("smac-bo", 7, dict(n_initial=3)), ("smac-hb", 45, dict(n_initial=3, eta=3))):
    with tempfile.TemporaryDirectory() as d:
        t = make_tuner(method, search_space(get_profile("cpu")), 0, 1, 27, workdir=d, **params)
        asks = []
        for _ in range(n):
            job = t.ask()
            if job in (WAIT, FINISHED):
                break
            asks.append([job.trial_id, job.resource, json.dumps(job.config, sort_keys=True)])
            t.tell(job, hashlib.sha256(asks[-1][2].encode()).digest()[0] / 255 / job.resource)
        out[method] = asks
print(json.dumps(out))
"""


def test_smac_asks_do_not_depend_on_the_hash_seed():
    """The same seed, three processes with PYTHONHASHSEED 0, 1, 2: the same asks (it diverged at
    SMAC-BO's first model proposal before SMAC's local-search start points were ordered)."""
    procs = [subprocess.Popen([sys.executable, "-c", ASKS], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, PYTHONHASHSEED=str(h)))
             for h in (0, 1, 2)]
    outs = [json.loads(p.communicate(timeout=600)[0]) for p in procs]
    assert len(outs[0]["smac-bo"]) == 7 and len(outs[0]["smac-hb"]) == 45
    for method in ("smac-bo", "smac-hb"):
        for other in outs[1:]:
            first = next((i for i, (a, b) in enumerate(zip(outs[0][method], other[method])) if a != b), None)
            assert first is None, f"{method}: ask {first} differs between hash seeds"
