"""The --processes pool dies with its driver, and scratch folders do not outlive their sweep."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.storage.scratch import PREFIX, reap_stale

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "smoke-curves.csv"


def _children(pid: int) -> set[int]:
    """Every process whose parent is ``pid`` (from /proc)."""
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_reap_stale_removes_only_folders_of_dead_drivers(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tmp_path / f"{PREFIX}{dead.pid}-abc"
    mine = tmp_path / f"{PREFIX}{os.getpid()}-abc"
    other = tmp_path / f"{PREFIX}xyz"   # not named after a driver: left alone
    for p in (gone, mine, other):
        (p / "inner").mkdir(parents=True)
    assert reap_stale(tmp_path) == [gone]
    assert not gone.exists() and mine.exists() and other.exists()


def _suite(tmp_path, seeds):
    p = tmp_path / "s.toml"
    p.write_text(f'profile = "smoke"\nbackend = "replay"\ncurves = "{FIXTURE}"\nbudgets = [6]\n'
                 f"seeds = {list(range(seeds))}\n"
                 '[[methods]]\nlabel = "skopt"\nmethod = "skopt-gp"\nparams = { n_initial = 2 }\n')
    return p


def test_a_killed_driver_takes_its_pool_and_scratch_with_it(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    driver = subprocess.Popen([sys.executable, "-m", "bench", "run", str(_suite(tmp_path, 40)), "--processes", "2",
                               "--results", str(tmp_path / "res"), "--no-progress"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600
        while time.time() < deadline:  # until both workers have started runs in the scratch folder
            roots = list(tmp.glob(f"{PREFIX}{driver.pid}-*"))
            if roots and len(list(roots[0].iterdir())) >= 2:
                break
            assert driver.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.2)
        else:
            raise AssertionError("the workers did not start")
        family = _children(driver.pid)
        family |= {g for c in family for g in _children(c)}
        assert len(family) >= 2
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.time() + 60
        while time.time() < deadline and any(_alive(p) for p in family):
            time.sleep(0.2)
        assert not [p for p in family if _alive(p)], "pool processes outlived their driver"
    finally:
        if driver.poll() is None:
            driver.kill()
    assert reap_stale(tmp) == roots   # the next sweep removes the killed driver's scratch folder
    assert not list(tmp.iterdir())


def test_a_sweep_leaves_no_scratch_folder(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-m", "bench", "run", str(_suite(tmp_path, 2)), "--processes", "2",
                          "--results", str(tmp_path / "res"), "--no-progress"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert not [p for p in tmp.iterdir() if p.name.startswith(PREFIX)]


def _start_and_wait_for_runs(tmp_path, tmp, suite):
    """A --processes 2 sweep, once its workers have started runs in its scratch folder: (driver, family, roots)."""
    env = dict(os.environ, TMPDIR=str(tmp), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(REPO))
    driver = subprocess.Popen([sys.executable, "-m", "bench", "run", str(suite), "--processes", "2",
                               "--results", str(tmp_path / "res"), "--no-progress"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              # Ctrl-C's default even where this test runs in a background job (which ignores it)
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 600
    while time.time() < deadline:
        roots = list(tmp.glob(f"{PREFIX}{driver.pid}-*"))
        if roots and len(list(roots[0].iterdir())) >= 2:
            break
        assert driver.poll() is None, "the sweep ended before it could be stopped"
        time.sleep(0.2)
    else:
        driver.kill()
        raise AssertionError("the workers did not start")
    family = _children(driver.pid)
    return driver, family | {g for c in family for g in _children(c)}, roots


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_driver_ends_its_pool_and_removes_its_scratch(tmp_path, sig, code):
    """kill PID (SIGTERM) or Ctrl-C sent to the driver alone: it ends its workers, removes its scratch
    folder itself (no next sweep needed) and says how to resume; the store holds whole runs."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    driver, family, roots = _start_and_wait_for_runs(tmp_path, tmp, _suite(tmp_path, 40))
    try:
        os.kill(driver.pid, sig)
        _, err = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == code, err[-2000:]
    assert "run the same command again to resume" in err and "Traceback" not in err, err[-2000:]
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(p) for p in family):
        time.sleep(0.2)
    assert not [p for p in family if _alive(p)], "pool processes outlived their driver"
    assert not list(tmp.iterdir()), "scratch left behind"
    from bench.storage.store import read_store
    with read_store(tmp_path / "res" / "results.db") as store:
        assert store.integrity() == "ok"
        assert all(r["status"] == "done" for r in store.runs())


def test_an_error_in_a_worker_ends_the_pool_and_removes_the_scratch(tmp_path):
    """An exception (here: the curves table edited while the sweep runs, refused by the next run's start in
    a worker) ends the sweep in one line, exit 2, with no worker left and no scratch folder."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    table = tmp_path / "curves.csv"
    table.write_bytes(FIXTURE.read_bytes())
    suite = tmp_path / "s.toml"
    suite.write_text(_suite(tmp_path, 40).read_text().replace(str(FIXTURE), str(table)))
    driver, family, _ = _start_and_wait_for_runs(tmp_path, tmp, suite)
    try:
        table.write_text(table.read_text() + "\n")   # other bytes (a blank line at the end), the same rows
        _, err = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 2, err[-2000:]
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and f"{table} changed during the suite" in lines[0] and "Traceback" not in err, err
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(p) for p in family):
        time.sleep(0.2)
    assert not [p for p in family if _alive(p)]
    assert not list(tmp.iterdir())


def test_a_one_process_run_removes_what_a_killed_run_left_in_the_temp_directory(tmp_path, monkeypatch):
    """A driver SIGKILLed while its suite was checked leaves the tuners' check folder (named after it,
    aerial-hpo-run-<pid>-check-*); the next bench run, with or without --processes, removes it."""
    import tempfile

    from bench.cli import main
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp / f"{PREFIX}{dead.pid}-check-abc"
    left.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    assert main(["run", str(_suite(tmp_path, 1)), "--results", str(tmp_path / "res"), "--no-progress"]) == 0
    assert not list(tmp.iterdir())
