"""The store's two layouts of the evaluations table: version 2 keeps a job's configuration once (in
``jobs``), version 1 (the committed real-training stores) in every evaluation row. Both are read the
same way, written in their own layout, and a run copies between them unchanged."""
import shutil
import sqlite3
from pathlib import Path

from bench.storage.store import SCHEMA_VERSION, Store, read_store

REPO = Path(__file__).resolve().parents[1]
V1 = REPO / "results" / "cpu" / "results.db"  # a real store made before version 2 (real training)


def _one_run_in_both(tmp_path):
    """A copy of the version-1 store, one of its runs copied into a new (version-2) store; returns
    (v1 path, v2 path, run key, the run's evaluations as read from the v1 store)."""
    src = tmp_path / "v1" / "results.db"
    src.parent.mkdir()
    shutil.copy(V1, src)
    with read_store(src) as old:
        key = old.runs()[0]["run_key"]
        rows = old.run_rows(key)
        assert old.evaluations_keep_config and "config" in rows["evaluations"][0]
    new = Store(tmp_path / "v2" / "results.db")
    new.add_run_rows(rows)
    new.close()
    return src, tmp_path / "v2" / "results.db", key, _evals(src, key)


def _evals(path, key):
    with read_store(path) as store:
        return [dict(r) for r in store.evaluations(key)]


def test_a_new_store_keeps_the_config_once_and_reads_it_back_joined(tmp_path):
    _, v2, key, want = _one_run_in_both(tmp_path)
    db = sqlite3.connect(v2)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert "config" not in {r[1] for r in db.execute("PRAGMA table_info(evaluations)")}
    db.close()
    got = _evals(v2, key)
    assert len(got) == len(want) > 0
    assert [{k: g[k] for k in w} for g, w in zip(got, want)] == want  # every column, config included
    with read_store(v2) as store:
        frame = store.evaluations_frame(("run_key", "job_id", "epoch", "config"))
        assert list(frame["config"]) == [w["config"] for w in want]
        assert "config" in store.evaluations_frame().columns
        assert store.table_rows("evaluations", ("job_id", "config")) == [(w["job_id"], w["config"]) for w in want]


def test_a_version_1_store_stays_one_and_takes_runs_from_a_version_2_store(tmp_path):
    src, v2, key, want = _one_run_in_both(tmp_path)
    with read_store(v2) as two:
        v2_rows = two.run_rows(key)
    assert "config" not in v2_rows["evaluations"][0]
    one = Store(src)  # opened for writing: not migrated
    with one.batch():
        for table in ("evaluations", "jobs", "incumbents", "runs"):
            one.db.execute(f"DELETE FROM {table} WHERE run_key = ?", (key,))
    one.add_run_rows(v2_rows)  # config taken from the run's jobs rows
    one.add_evaluation({**{k: want[-1][k] for k in want[-1]}, "epoch": 999})  # a v1 row keeps its config
    one.close()
    db = sqlite3.connect(src)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert db.execute("SELECT config FROM evaluations WHERE run_key = ? AND epoch = 999", (key,)).fetchone()[0] \
        == want[-1]["config"]
    db.close()
    got = _evals(src, key)[:len(want)]  # opened for writing, it gained the columns added since (NULL)
    assert [{k: g[k] for k in w} for g, w in zip(got, want)] == want
