"""Several trials per device in real training (issue 28): more Dask workers than devices give the
serial run's rows where the suite's workers = 1, and the store records how many trials shared a device."""
import os
import sqlite3

from bench.instruments.crashtest import compare, snapshot
from bench.loop.executor import DEVICE_ENV, trials_per_device
from bench.loop.jobs import job_device

# Real training on the smoke profile: two runs (random search, B = 1, seeds 0 and 1: 9 epochs each).
TWO_RUNS = """
profile = "smoke"
budgets = [1]
seeds = [0, 1]
[[methods]]
label = "random"
method = "random-search"
"""


def _run(cli, suite, results, *extra):
    """``python -m bench run`` in a new process (forked by ``bench_cli``, see tests/clirun.py)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")  # one torch thread in-process as on every worker: same floats
    return cli.run(["run", suite, "--results", results, "--no-progress", *extra], env=env, timeout=900)


def test_trials_per_device_counts_job_slots_on_the_busiest_device():
    devices = {"w0": "h/cuda:0", "w1": "h/cuda:1", "w2": "h/cuda:0", "w3": "h/cuda:1", "w4": "h/cuda:0",
               "x0": "other/cuda:0"}
    assert trials_per_device(devices, {w: 1 for w in devices}) == 3  # 5 workers round-robin over 2 GPUs
    assert trials_per_device(devices, {"w0": 2}) == 4  # a worker with two slots counts twice
    assert trials_per_device({"a": "h/cpu", "b": "h/cpu"}, {"a": 1, "b": 1}) == 2
    assert trials_per_device({}, {}) == 1


def test_a_pinned_worker_trains_on_its_device_unless_the_suite_names_one(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    assert job_device({"device": None}) is None and job_device({"device": "cpu"}) == "cpu"
    monkeypatch.setenv(DEVICE_ENV, "cuda:3")
    assert job_device({"device": None}) == "cuda:3" and job_device({"device": "cuda"}) == "cuda:3"
    assert job_device({"device": "cuda:1"}) == "cuda:1" and job_device({"device": "cpu"}) == "cpu"


def test_more_workers_than_devices_give_the_serial_rows(tmp_path, real_data, bench_cli):
    suite = tmp_path / "two.toml"
    suite.write_text(TWO_RUNS)
    res = _run(bench_cli, suite, tmp_path / "serial", "--data", str(real_data))
    assert res.returncode == 0, res.stderr[-3000:]
    res = _run(bench_cli, suite, tmp_path / "k3", "--data", str(real_data), "--workers", "3")  # 3 trial processes, one CPU
    assert res.returncode == 0, res.stderr[-3000:]
    want, got = snapshot(tmp_path / "serial" / "results.db"), snapshot(tmp_path / "k3" / "results.db")
    assert len(want["evaluations"]) == 18
    c = compare(want, got)
    assert (c["lost"], c["doubled"], c["differing"]) == (0, 0, 0), c["examples"][:5]
    for name, k in (("serial", 1), ("k3", 3)):
        db = sqlite3.connect(tmp_path / name / "results.db")
        assert db.execute("SELECT DISTINCT trials_per_device, workers FROM runs").fetchall() == [(k, 1)]
        db.close()
    db = sqlite3.connect(tmp_path / "k3" / "results.db")
    workers = {w for (w,) in db.execute("SELECT worker FROM jobs WHERE status = 'ok'")}
    assert workers and all(w.startswith("tcp://") for w in workers)


def test_local_workers_are_pinned_round_robin_and_counted():
    """The pinning of a local cluster, on any machine: 3 workers over 2 devices (device names only; on a
    machine without CUDA the plugin sets the device each job would use, without touching CUDA)."""
    from bench.loop.executor import DaskExecutor, worker_device
    ex = DaskExecutor(workers=3, devices=["cuda:0", "cuda:1"])
    try:
        pinned = ex.client.run(worker_device)
        names = {a: w["name"] for a, w in ex.client.scheduler_info()["workers"].items()}
        assert len(pinned) == 3 and set(pinned.values()) == {"cuda:0", "cuda:1"}
        assert all(pinned[a] == f"cuda:{int(names[a]) % 2}" for a in pinned)
        assert ex.trials_per_device == 2  # worker 0 and worker 2 share cuda:0
    finally:
        ex.close()
