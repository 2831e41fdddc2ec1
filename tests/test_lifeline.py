"""The --processes pool dies with its driver, and scratch folders do not outlive their sweep."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.loop.lifeline import PREFIX, reap_stale

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
        deadline = time.time() + 240
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
