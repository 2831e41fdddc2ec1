"""Curves tables are checked on load (one line naming file, column and row), and a run whose trials keep
failing without spending budget stops with an error instead of asking for ever."""
import shutil
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.loop.guard import FailureGuard, RunStuck
from bench.config.suite import SuiteError, load_suite
from bench.tables.check import TableError, check_file, check_table

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "smoke-curves.csv"


def _table(tmp_path, edit, name="t.csv"):
    df = pd.read_csv(FIXTURE, float_precision="round_trip")
    df = edit(df)
    p = tmp_path / name
    df.to_parquet(p, index=False) if p.suffix == ".parquet" else df.to_csv(p, index=False)
    return p


def test_shipped_tables_pass():
    for p in [FIXTURE, *sorted((REPO / "results" / "curves").glob("*.csv"))]:
        check_file(p)


def _set(col, i, v):
    def edit(df):
        df[col] = df[col].astype(object)
        df.loc[i, col] = v
        return df
    return edit


@pytest.mark.parametrize("edit,pattern", [
    (_set("val_loss", 4, np.nan), r"column 'val_loss', row 5 \(line 6\): expected a finite number where status is 'ok', got nan"),
    (_set("val_loss", 4, "high"), r"column 'val_loss', row 5 \(line 6\): expected a finite number .*got 'high'"),
    (_set("seconds", 0, -1.0), r"column 'seconds', row 1 \(line 2\): expected a finite number >= 0"),
    (_set("val_miou", 7, np.inf), r"column 'val_miou', row 8 \(line 9\): expected a finite number"),
    (lambda df: df.drop(columns="config_id"), r"column 'config_id': expected to be present"),
    (lambda df: df.drop(columns="val_loss"), r"column 'val_loss': expected to be present"),
    (lambda df: df.drop(columns="seconds"), r"column 'seconds': expected to be present"),
    (lambda df: df.drop(index=4).reset_index(drop=True),
     r"column 'epoch', row 5 \(line 6\): expected epoch 5 next on the curve of config_id \w+ .*got 6"),
    (lambda df: pd.concat([df.iloc[:3], df.iloc[2:3], df.iloc[3:]]).reset_index(drop=True),
     r"column 'epoch', row 4 \(line 5\): expected epoch 4 next .*epoch 3 is there already.*got 3"),
    (_set("epoch", 3, 0), r"column 'epoch', row 4 \(line 5\): expected an integer >= 1, got 0"),
    (_set("epoch", 3, 2.5), r"column 'epoch', row 4 \(line 5\): expected an integer >= 1, got 2\.5"),
    (_set("status", 3, "maybe"), r"column 'status', row 4 \(line 5\): expected one of \['ok', 'failed'\], got 'maybe'"),
    (_set("config_id", 3, np.nan), r"column 'config_id', row 4 \(line 5\): expected a configuration id"),
    (lambda df: df.iloc[:0], r"no rows"),
])
def test_malformed_tables(tmp_path, edit, pattern):
    p = _table(tmp_path, edit)
    with pytest.raises(TableError, match=r"t\.csv: " + pattern) as err:
        check_file(p)
    assert "\n" not in str(err.value)


def test_a_failed_epoch_may_have_no_scores(tmp_path):
    def fail_last(df):
        last = df.groupby("config_id")["epoch"].idxmax().iloc[0]
        df.loc[last, ["status", "val_loss", "val_miou"]] = ["failed", np.nan, np.nan]
        return df
    check_file(_table(tmp_path, fail_last))


def test_unreadable_files(tmp_path):
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00garbage\x00" * 50)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "fake.parquet").write_text("config_id,epoch\n")
    for name in ("bin.csv", "empty.csv", "fake.parquet"):
        with pytest.raises(TableError, match=rf"{name}: (cannot be read as a (CSV|parquet) curves table|column)"):
            check_file(tmp_path / name)


def _budgeted(df):
    """A budget-aware table: every curve of the fixture as budget 9, and its first 3 epochs as budget 3."""
    nine = df.assign(budget=9)
    three = df[df["epoch"] <= 3].assign(budget=3)
    return pd.concat([three, nine]).reset_index(drop=True)


def test_budget_aware_tables_are_checked_per_budget(tmp_path):
    check_file(_table(tmp_path, _budgeted, "b.csv"))   # epochs 1..3 at budget 3 and 1..9 at budget 9: no gap
    with pytest.raises(TableError, match=r"b\.csv: column 'epoch', row \d+ .*expected epoch 2 next on the curve of "
                                         r"config_id \w+, budget 3"):
        check_file(_table(tmp_path, lambda df: _budgeted(df).query("not (budget == 3 and epoch == 2)")
                          .reset_index(drop=True), "b.csv"))
    with pytest.raises(TableError, match=r"b\.csv: column 'epoch', row \d+ .*expected the curve of config_id \w+, "
                                         r"budget 3 to go on to its budget, 3 epochs .*got 2"):
        check_file(_table(tmp_path, lambda df: _budgeted(df).query("not (budget == 3 and epoch == 3)")
                          .reset_index(drop=True), "b.csv"))
    over = lambda df: pd.concat([_budgeted(df), _budgeted(df).query("budget == 3 and epoch == 3").assign(epoch=4)])  # noqa
    with pytest.raises(TableError, match=r"column 'epoch', row \d+ .*expected at most the curve's budget, 3 epochs, got 4"):
        check_table(over(pd.read_csv(FIXTURE)).reset_index(drop=True), "b.csv")


def _replay_suite(tmp_path, table, methods='method = "random-search"'):
    p = tmp_path / "r.toml"
    p.write_text(f'profile = "smoke"\nbackend = "replay"\ncurves = "{table}"\nbudgets = [3]\nseeds = [0]\n'
                 f'[[methods]]\nlabel = "m"\n{methods}\n')
    return p


def test_a_replay_suite_with_a_bad_table_is_refused_at_load(tmp_path):
    p = _table(tmp_path, _set("val_loss", 4, np.nan))
    with pytest.raises(SuiteError, match=r"r\.toml: key 'curves': expected a curves table replay can use \(.*t\.csv: "
                                         r"column 'val_loss', row 5"):
        load_suite(_replay_suite(tmp_path, p))
    p = _table(tmp_path, lambda df: df.drop(columns="config.loss"), "noloss.csv")
    with pytest.raises(SuiteError, match=r"key 'curves': expected a table of configurations of profile 'smoke'"):
        load_suite(_replay_suite(tmp_path, p))


def test_the_guard_counts_free_failures_in_a_row():
    g = FailureGuard(3)
    g.note("a", "failed", 0)
    g.note("a", "failed", 0)
    g.note("b", "failed", 0)      # another run's streak is its own
    g.note("a", "failed", 1)      # a failure that trained an epoch spent budget: the streak restarts
    g.note("a", "failed", 0)
    g.note("a", "ok", 0)
    g.note("a", "failed", 0)
    g.note("a", "failed", 0)
    with pytest.raises(RunStuck, match=r"run a: 3 trials in a row failed without training an epoch \(last: boom more\)"):
        g.note("a", "failed", 0, "boom\nmore")


def test_a_run_whose_trials_cannot_start_stops(tmp_path, monkeypatch):
    """A table that breaks after the suite was loaded: every trial fails at once, spending nothing.
    The run stops with RunStuck after a bounded number of them (it used to ask for ever). The data guard
    (bench.loop.dataguard) refuses a changed table before any run starts; it is switched off here so that
    the runner's own guard, the backstop for any trial that keeps failing without spending, is what stops."""
    from bench.loop import dataguard
    monkeypatch.setattr(dataguard, "check_unchanged_since", lambda *a, **k: None)
    from bench.tables.curves import _table
    from bench.loop.guard import MAX_FREE_FAILURES
    from bench.loop.runner import Runner
    from bench.storage.store import read_store
    table = tmp_path / "t.csv"
    shutil.copy(FIXTURE, table)
    suite = load_suite(_replay_suite(tmp_path, table))
    table.write_text(FIXTURE.read_text().replace(",ok,", ",ok,", 1).split("\n", 1)[0] + "\n")  # header only
    _table.cache_clear()

    def hang(*_):
        raise TimeoutError("the run did not stop")
    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(120)
    try:
        with pytest.raises(RunStuck, match=rf"run m/B3/seed0: {MAX_FREE_FAILURES} trials in a row failed .*no rows"):
            Runner(suite, tmp_path / "res", progress=False).run()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    with read_store(tmp_path / "res" / "results.db") as store:
        jobs = store.jobs("m/B3/seed0")
        assert len(jobs) == MAX_FREE_FAILURES and {j["status"] for j in jobs} == {"failed"}
        assert store.run("m/B3/seed0")["status"] == "running"  # resumable once the table is fixed
