"""Stores: another program's database is refused and never modified; a newer schema is refused by every
reader; a damaged packed store is one line and leaves no temporary file; unpack takes the driver lock;
a full disk says to free space and run the same command again."""
import hashlib
import sqlite3
from pathlib import Path

import pytest

from bench.storage import packing
from bench.cli import main
from bench.storage.store import Store, StoreError, StoreLocked, acquire_lock, check_integrity, read_store, release_lock

FIXTURE = Path(__file__).parent / "fixtures" / "smoke-curves.csv"
SUITE = f"""
profile = "smoke"
backend = "replay"
curves = "{FIXTURE}"
budgets = [1]
seeds = [0]
[[methods]]
label = "random"
method = "random-search"
"""


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _foreign(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO runs (name) VALUES ('x');"
                      "CREATE TABLE notes (body TEXT);")
    con.close()
    return path


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_another_programs_database_is_refused_and_untouched(tmp_path, capsys):
    db = _foreign(tmp_path / "res" / "results.db")
    before = _digest(db)
    (tmp_path / "s.toml").write_text(SUITE)
    assert main(["run", str(tmp_path / "s.toml"), "--results", str(tmp_path / "res"), "--no-progress"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "is not a results store of this project (its tables are notes, runs)" in err
    assert _digest(db) == before
    with pytest.raises(StoreError, match="not a results store"):
        Store(db, lock=True)
    with pytest.raises(StoreError, match="not a results store"):
        read_store(db)
    assert _digest(db) == before
    assert sqlite3.connect(db).execute("SELECT name FROM runs").fetchall() == [("x",)]


def _state(folder: Path) -> dict:
    """Every file in ``folder``: its bytes' digest and modification time (ns)."""
    return {f.name: (_digest(f), f.stat().st_mtime_ns) for f in sorted(folder.iterdir())}


@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
def test_a_refused_foreign_database_gets_no_file_beside_it_and_keeps_its_bytes_and_time(tmp_path, capsys, wal):
    """Refusing another program's SQLite file leaves its folder exactly as it was: no ``.lock``, no
    ``-wal``/``-shm``/``-journal``, the same bytes and the same modification time, whoever refuses it."""
    db = _foreign(tmp_path / "res" / "results.db")
    if wal:  # a program that keeps its database in WAL mode (its -wal and -shm files come and go)
        con = sqlite3.connect(db)
        con.execute("PRAGMA journal_mode=WAL")
        con.close()
    (tmp_path / "s.toml").write_text(SUITE)
    before = _state(db.parent)
    assert list(before) == ["results.db"]
    for argv in (["run", str(tmp_path / "s.toml"), "--results", str(db.parent), "--no-progress"],
                 ["run", str(tmp_path / "s.toml"), "--results", str(db.parent), "--no-progress", "--processes", "2"],
                 ["status", str(db.parent)], ["speed", str(db.parent)], ["export", str(db.parent)]):
        assert main(argv) == 2, argv
        assert "is not a results store of this project" in _one_line(capsys.readouterr().err), argv
        assert _state(db.parent) == before, argv
    for opener in (lambda: Store(db, lock=True), lambda: Store(db), lambda: read_store(db)):
        with pytest.raises(StoreError, match="not a results store"):
            opener()
        assert _state(db.parent) == before
    with pytest.raises(StoreError, match="not a results store"):
        packing.unpack(db.parent, force=True)  # no packed file either way: refused before anything
    assert _state(db.parent) == before


def _store(tmp_path) -> Path:
    (tmp_path / "s.toml").write_text(SUITE)
    assert main(["run", str(tmp_path / "s.toml"), "--results", str(tmp_path / "res"), "--no-progress"]) == 0
    return tmp_path / "res" / "results.db"


def test_a_newer_schema_is_refused_by_every_reader(tmp_path, capsys):
    db = _store(tmp_path)
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 99")
    con.close()
    capsys.readouterr()
    before = _digest(db)
    with pytest.raises(StoreError, match=r"schema version 99 is newer than this code reads \(1 to 2\)"):
        read_store(db)
    for argv in (["status", str(db.parent)], ["speed", str(db.parent)], ["export", str(db.parent)],
                 ["export-curves", str(db.parent), "--out", str(tmp_path / "c.csv")],
                 ["run", str(tmp_path / "s.toml"), "--results", str(db.parent), "--no-progress"]):
        assert main(argv) == 2, argv
        assert "schema version 99 is newer" in _one_line(capsys.readouterr().err), argv
    from paper.__main__ import main as paper_main
    assert paper_main([str(db.parent), "--out", str(tmp_path / "paper"), "--gpu-check", str(tmp_path / "none"),
                       "--realcheck", str(tmp_path / "r1"), str(tmp_path / "r2")]) == 2
    assert "schema version 99 is newer" in capsys.readouterr().err
    assert _digest(db) == before


def test_an_empty_database_is_not_a_store_to_readers(tmp_path, capsys):
    (tmp_path / "res").mkdir()
    sqlite3.connect(tmp_path / "res" / "results.db").close()   # 0 bytes: an empty database
    assert main(["status", str(tmp_path / "res")]) == 2
    assert "not a results store of this project (it is an empty database)" in _one_line(capsys.readouterr().err)


def test_a_truncated_packed_store_is_one_line_and_leaves_no_temporary_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(packing, "CACHE", tmp_path / "cache")
    db = _store(tmp_path)
    packed = packing.pack(db.parent)
    packed.write_bytes(packed.read_bytes()[: packed.stat().st_size // 2])
    db.unlink()
    capsys.readouterr()
    assert main(["unpack", str(db.parent)]) == 2
    assert "is not a valid xz file: damaged or truncated" in _one_line(capsys.readouterr().err)
    assert main(["status", str(db.parent)]) == 2   # a reader unpacks into the cache
    assert "is not a valid xz file: damaged or truncated" in _one_line(capsys.readouterr().err)
    assert not list(db.parent.glob("*.tmp")) and not list((tmp_path / "cache").glob("*"))
    assert not db.exists()


def test_unpack_takes_the_driver_lock(tmp_path):
    db = _store(tmp_path)
    packing.pack(db.parent)
    before = _digest(db)
    lock = acquire_lock(db)   # a driver has the store open
    try:
        with pytest.raises(StoreLocked, match="is in use by pid"):
            packing.unpack(db.parent, force=True)
    finally:
        release_lock(lock)
    assert _digest(db) == before
    assert packing.unpack(db.parent, force=True) == db


class _FullDisk:
    def execute(self, *_):
        raise sqlite3.OperationalError("database or disk is full")


def test_a_full_disk_says_free_space_and_run_again(tmp_path, capsys, monkeypatch):
    with pytest.raises(StoreError, match=r"database or disk is full: free space there .* run the same command again"):
        check_integrity(_FullDisk(), tmp_path / "results.db")
    import bench.cli as cli

    def full(args):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(cli, "cmd_status", full)
    assert main(["status", str(tmp_path)]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "free space" in err and "run the same command again" in err and "restore" not in err


def test_every_store_opening_is_in_bench_store():
    """One checked opening: no module outside bench/storage/store.py connects to SQLite itself."""
    repo = Path(__file__).resolve().parents[1]
    outside = [str(f.relative_to(repo)) for pkg in ("bench", "paper", "methods", "segmentation")
               for f in (repo / pkg).rglob("*.py") if "sqlite3.connect" in f.read_text() and f.name != "store.py"]
    assert outside == []


def test_every_reader_refuses_a_foreign_database_in_one_line_and_leaves_its_folder_as_it_was(tmp_path, capsys):
    import subprocess
    import sys
    db = _foreign(tmp_path / "res" / "results.db")
    before = _state(db.parent)
    from paper.__main__ import main as paper_main
    readers = {"status": lambda: main(["status", str(db.parent)]),
               "speed": lambda: main(["speed", str(db.parent)]),
               "export": lambda: main(["export", str(db.parent), "--out", str(tmp_path / "e.csv")]),
               "export-curves": lambda: main(["export-curves", str(db.parent), "--out", str(tmp_path / "c.csv")]),
               "recipe-report": lambda: main(["recipe-report", str(db.parent)]),
               "pack": lambda: main(["pack", str(db.parent)]),
               "unpack": lambda: main(["unpack", str(db.parent), "--force"]),
               "paper": lambda: paper_main([str(db.parent), "--out", str(tmp_path / "paper"), "--gpu-check",
                                            str(tmp_path / "none"), "--realcheck", str(tmp_path / "r1"),
                                            str(tmp_path / "r2")])}
    for name, reader in readers.items():
        assert reader() == 2, name
        assert "is not a results store of this project" in _one_line(capsys.readouterr().err), name
        assert _state(db.parent) == before, name
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "bench.instruments.asks", "--store", str(db.parent)], cwd=repo,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "is not a results store of this project" in _one_line(out.stderr)
    assert _state(db.parent) == before


def test_python_m_paper_on_a_damaged_or_empty_store_is_one_line(tmp_path, capsys):
    from paper.__main__ import main as paper_main
    db = _store(tmp_path)
    raw = bytearray(db.read_bytes())
    size = int.from_bytes(raw[16:18], "big")  # the page size, from the database header
    for p in range(1, len(raw) // size):  # every page but the first overwritten whole (the header stays): a
        raw[p * size:(p + 1) * size] = b"\xa5" * size  # part of a page may hit only unused bytes, a whole one cannot
    db.write_bytes(bytes(raw))
    empty = tmp_path / "empty"
    empty.mkdir()
    sqlite3.connect(empty / "results.db").close()
    capsys.readouterr()
    for folder, what in ((db.parent, "is damaged"), (empty, "not a results store of this project (it is an empty")):
        assert paper_main([str(folder), "--out", str(tmp_path / "paper"), "--gpu-check", str(tmp_path / "none"),
                           "--realcheck", str(tmp_path / "r1"), str(tmp_path / "r2")]) == 2
        assert what in _one_line(capsys.readouterr().err)
