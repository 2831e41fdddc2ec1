"""A packed store (results.db.xz) reads like the store itself, and a run resumes from it."""
import sqlite3
from pathlib import Path

import pytest

from bench.storage import packing
from bench.cli import main
from bench.storage.report import speed_table, status_table
from bench.loop.runner import Runner, fresh_start
from bench.config.suite import load_suite
from paper.data import load

FIXTURE = Path(__file__).parent / "fixtures" / "smoke-curves.csv"
SUITE = f"""
profile = "smoke"
backend = "replay"
curves = "{FIXTURE}"
budgets = [1]
seeds = [0, 1]
[[methods]]
label = "hyperband"
method = "hyperband"
[[methods]]
label = "random"
method = "random-search"
"""


def _dump(db: Path) -> list:
    con = sqlite3.connect(db)
    rows = [list(con.execute(f"SELECT * FROM {t} ORDER BY 1, 2")) for t in ("runs", "jobs", "evaluations")]
    con.close()
    return rows


@pytest.fixture
def swept(tmp_path, monkeypatch):
    monkeypatch.setattr(packing, "CACHE", tmp_path / "cache")
    (tmp_path / "s.toml").write_text(SUITE)
    results = tmp_path / "res"
    assert Runner(load_suite(tmp_path / "s.toml"), results, progress=False).run() == 0
    return tmp_path, results


def test_packed_store_reads_the_same_and_a_run_resumes_from_it(swept):
    tmp, results = swept
    before = _dump(results / "results.db")
    status = status_table(results)
    assert main(["pack", str(results)]) == 0
    assert (results / "results.db.xz").stat().st_size < (results / "results.db").stat().st_size
    assert "results.db" in (results / ".gitignore").read_text().splitlines()
    (results / "results.db").rename(tmp / "original.db")

    # readers unpack into the cache and see the same rows
    assert status_table(results)[["run", "state", "epochs"]].equals(status[["run", "state", "epochs"]])
    assert list(speed_table(results)["runs"]) == [2, 2]
    assert len(load(results).runs) == 4
    assert not (results / "results.db").exists()
    assert len(list((tmp / "cache").glob("res-*.db"))) == 1

    # a run on the directory unpacks in place and finds everything done
    more = SUITE.replace("seeds = [0, 1]", "seeds = [0, 1, 2]")
    (tmp / "s.toml").write_text(more)
    assert Runner(load_suite(tmp / "s.toml"), results, progress=False).run() == 0
    after = _dump(results / "results.db")
    keys = {r[0] for r in after[0]}
    assert keys == {f"{m}/B1/seed{s}" for m in ("hyperband", "random") for s in (0, 1, 2)}
    for got, want in zip(after, before):  # the packed runs are unchanged, only seed 2 was added
        assert [r for r in got if not r[0].endswith("seed2")] == want


def test_unpack_refuses_to_overwrite_and_names_a_bad_file(swept, capsys):
    tmp, results = swept
    packing.pack(results)
    assert main(["unpack", str(results)]) == 2
    assert "results.db exists" in capsys.readouterr().err
    assert main(["unpack", str(results), "--force"]) == 0
    (results / "results.db.xz").write_bytes(b"not xz at all")
    with pytest.raises(ValueError, match=r"results\.db\.xz is not a valid xz file"):
        packing.unpack(results, force=True)
    assert (results / "results.db").is_file()  # nothing recorded was lost
    with pytest.raises(FileNotFoundError, match="no packed store"):
        packing.unpack(tmp / "elsewhere")


def test_fresh_start_moves_the_packed_store_aside(swept):
    tmp, results = swept
    packing.pack(results)
    (results / "results.db").unlink()
    dest = fresh_start(results)
    assert (dest / "results.db.xz").is_file() and not (results / "results.db.xz").exists()
