"""Data that changes in the middle of a suite (between runs, or between a kill and its resume) stops the
suite in one line, exit 2, with nothing recorded lost: it never continues on the changed data
(bench/loop/dataguard.py)."""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.loop import dataguard, rows
from bench.cli import main
from bench.instruments.crashtest import compare, snapshot
from bench.loop.runner import Runner
from bench.storage.store import Store
from bench.config.suite import load_suite

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "smoke-curves.csv"


def _suite(tmp_path: Path, table: Path, seeds=(0, 1)) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(f'profile = "smoke"\nbackend = "replay"\ncurves = "{table}"\nbudgets = [3]\nseeds = {list(seeds)}\n'
                 '[[methods]]\nlabel = "hb"\nmethod = "hyperband"\nparams = { eta = 3 }\n'
                 '[[methods]]\nlabel = "random"\nmethod = "random-search"\n')
    return p


def _edit(table: Path) -> None:
    """Another valid table: one recorded validation loss a little different."""
    lines = table.read_text().splitlines(True)
    head = lines[0].rstrip("\n").split(",")
    i = head.index("val_loss")
    cells = lines[1].rstrip("\n").split(",")
    cells[i] = repr(float(cells[i]) + 1e-3)
    lines[1] = ",".join(cells) + "\n"
    table.write_text("".join(lines))


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")


@pytest.mark.parametrize("processes", [None, 2], ids=["one-process", "processes-2"])
def test_a_table_changed_between_a_kill_and_its_resume_is_refused_and_nothing_is_lost(tmp_path, processes):
    table = tmp_path / "curves.csv"
    shutil.copy(FIXTURE, table)
    suite = _suite(tmp_path, table)
    extra = ["--processes", str(processes)] if processes else []
    ref = tmp_path / "ref"
    assert main(["run", str(suite), "--results", str(ref), "--no-progress"]) == 0
    res = tmp_path / "res"
    argv = [sys.executable, "-m", "bench", "run", str(suite), "--results", str(res), "--no-progress"]
    killed = subprocess.run(argv, cwd=REPO, env=dict(_env(), AERIAL_HPO_KILL_AT_WRITE="12"), capture_output=True,
                            timeout=600)
    assert killed.returncode == -signal.SIGKILL
    before = snapshot(res / "results.db")
    assert before["runs"]
    original = table.read_bytes()
    _edit(table)
    out = subprocess.run(argv + extra, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 2, out.stderr[-2000:]
    line = _one_line(out.stderr)
    assert f"error: {table} changed during the suite" in line and "refusing to continue on other data" in line
    assert snapshot(res / "results.db") == before          # nothing written, nothing lost
    table.write_bytes(original)                            # the recorded table back: the resume is exact
    out = subprocess.run(argv + extra, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    c = compare(snapshot(ref / "results.db"), snapshot(res / "results.db"))
    assert c["rows"] > 0 and (c["lost"], c["doubled"], c["differing"]) == (0, 0, 0), c["examples"]


def test_a_table_edited_between_two_runs_of_a_sitting_stops_it_before_the_next_run(tmp_path, capsys, monkeypatch):
    table = tmp_path / "curves.csv"
    shutil.copy(FIXTURE, table)
    suite = _suite(tmp_path, table)
    finish = Runner._finish
    done = []

    def finish_then_edit(self, st, active):   # another program edits the table after the first run ends
        finish(self, st, active)
        done.append(st.spec.key)
        if len(done) == 1:
            _edit(table)

    monkeypatch.setattr(Runner, "_finish", finish_then_edit)
    first = load_suite(suite).curves_hash
    assert main(["run", str(suite), "--results", str(tmp_path / "res"), "--no-progress"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"{table} changed during the suite: this sitting's runs used sha256" in line
    got = snapshot(tmp_path / "res" / "results.db")
    assert list(got["runs"]) == [(done[0],)] and got["runs"][(done[0],)][0] == "done"   # the first run is kept
    s = Store(tmp_path / "res" / "results.db")
    try:
        assert s.run(done[0])["data_hash"] == first != load_suite(suite).curves_hash
    finally:
        s.close()


def test_a_training_dataset_whose_sha256sums_changed_is_refused(tmp_path):
    """Training: the dataset's SHA256SUMS is its identity, recorded on every run (checked without training:
    a stored run of a real-training suite made on the old SHA256SUMS)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "SHA256SUMS").write_text(f"{'0' * 64}  Tile 1/images/image_part_001.jpg\n")
    suite_path = tmp_path / "t.toml"
    suite_path.write_text('profile = "smoke"\nbudgets = [1]\nseeds = [0]\n'
                          '[[methods]]\nlabel = "random"\nmethod = "random-search"\n')
    suite = load_suite(suite_path)
    path, then = dataguard.current(suite, data)
    assert path == data / "SHA256SUMS" and then is not None
    store = Store(tmp_path / "res" / "results.db")
    spec = suite.runs()[0]
    store.add_run(rows.run_row(suite, spec, dict(rows.provenance(None), data_hash=then)))
    assert dataguard.check_store(suite, store, data) == then   # the same data: accepted
    (data / "SHA256SUMS").write_text(f"{'1' * 64}  Tile 1/images/image_part_001.jpg\n")
    with pytest.raises(dataguard.DataChanged, match=r"SHA256SUMS changed during the suite: the runs recorded in "):
        dataguard.check_store(suite, store, data)
    (data / "SHA256SUMS").unlink()
    with pytest.raises(dataguard.DataChanged, match="it is missing now"):
        dataguard.check_store(suite, store, data)
    with pytest.raises(dataguard.DataChanged, match="this sitting's runs used sha256"):
        dataguard.check_unchanged_since(suite, then, data)
    store.close()
