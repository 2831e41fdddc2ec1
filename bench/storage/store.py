"""The results store: one SQLite database per results directory, in WAL mode.

Tables (``PRAGMA user_version`` = schema version):

* ``runs`` — one row per run (method label, B, seed): suite text and hash, the run's
  identity (what must not change on resume), git commit, package versions, device,
  status (``running`` / ``done``), start and end times, epochs spent, the cost had
  every promotion restarted, overshoot, peak checkpoint disk use; and the method's role
  (``methods.roles``: family, eta, R, bracket s and n, the brackets' rungs, and ``algorithm``,
  equal for two labels that are the same algorithm in a cell), and ``workers``, the number of
  workers the run had (replay: simulated; real training: the most jobs it could keep in flight;
  1 for one job at a time). Stores made before the role
  columns existed have them NULL; readers derive them with ``methods.roles.role``, and ``workers``
  from the run's identity (absent there: 1). ``trials_per_device`` (real training only; NULL in
  replay and in stores made before it): how many trials the latest sitting's workers could train
  at once on one device (1 serial; several trials per GPU when there are more workers than GPUs).
* ``jobs`` — every job a tuner asked: configuration, resource, the resource it
  resumes from, bookkeeping, the sequence numbers of its ask and tell (the log a
  resumed run re-tells), status (``asked``, ``ok``, ``failed``, ``skipped``), loss, the
  overshoot in epochs of a job ``skipped`` for the budget, and when and where it ran:
  ``started`` / ``finished`` in seconds (replay: simulated seconds since the run began;
  real training: Unix time) and ``worker`` (replay: the simulated worker's index; real
  training: the host and process that trained it).
* ``evaluations`` — one row per trained epoch of every job, with metrics (recordings add
  the validation confusion counts of each validation image at the last epoch, for a
  bootstrap over validation images, and each epoch's CPU seconds). A job's configuration
  is stored once, in ``jobs``; the reading functions join it in as ``config``. Stores of
  schema version 1 also keep it in every evaluation row (it was half of a replayed
  sweep's store); both layouts are read and written, and a version-1 store stays one.
* ``incumbents`` — the incumbent's test-split (Tile 5) metrics, kept apart.
* ``curve_tests`` — per-epoch test metrics of recorded learning curves (``bench record``),
  kept apart from what any tuner sees.

Every write is its own transaction unless the caller groups writes that belong together
into one (``with store.batch():``, e.g. a finished job's epochs, its tell and the run's
totals); every insert is keyed, so repeating one is harmless (``INSERT OR IGNORE``).
Readers (``bench status``/``speed``/``export``, ``export-curves``, the paper) open a store
read-only (``read_store``) and use the reading functions below; no SQL lives elsewhere.
Who may open a store how:

* A driver (``bench run``, ``bench record``) opens it with ``lock=True``: an exclusive
  OS file lock (``flock``) on ``<store>.lock``, held while the store is open and released
  by the kernel when the process ends, however it ends. A second driver on the same
  store is refused with :class:`StoreLocked`.
* Readers (``status``, ``speed``, ``export``) open it with ``readonly=True``: SQLite's
  read-only mode, no schema upgrade, no WAL checkpoint; the database file is never
  modified (SQLite may create the empty ``-wal``/``-shm`` side files it needs to read).
* Every opening checks the file (``PRAGMA integrity_check``; ``quick_check`` above
  :data:`FULL_CHECK_BYTES`, see there) and refuses a damaged store with
  :class:`StoreError`, whose one-line message says how to recover.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

SCHEMA_VERSION = 2  # 1: evaluations repeat the job's config in every row (still read and written)
RUN_TABLES = ("runs", "jobs", "evaluations", "curve_tests", "incumbents")  # each row names its run_key
ENDED = ("done", "infeasible")  # a run's status once it has ended; any other (running) is unfinished or was interrupted
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_key TEXT PRIMARY KEY, suite TEXT NOT NULL, suite_hash TEXT NOT NULL, suite_text TEXT NOT NULL,
    label TEXT NOT NULL, method TEXT NOT NULL, params TEXT NOT NULL, budget REAL NOT NULL,
    budget_epochs INTEGER NOT NULL, seed INTEGER NOT NULL, profile TEXT NOT NULL, identity TEXT NOT NULL,
    git_commit TEXT, versions TEXT, device TEXT, host TEXT, pid INTEGER,
    status TEXT NOT NULL, started REAL, ended REAL, heartbeat REAL,
    epochs_spent INTEGER DEFAULT 0, epochs_restart INTEGER DEFAULT 0, overshoot INTEGER,
    peak_disk_bytes INTEGER DEFAULT 0, tuner_seconds REAL DEFAULT 0, eval_seconds REAL DEFAULT 0,
    wall_seconds REAL DEFAULT 0, error TEXT, table_entries INTEGER, neighbour_share REAL,
    family TEXT, eta INTEGER, r_max INTEGER, bracket_s INTEGER, bracket_n INTEGER, brackets TEXT, algorithm TEXT,
    workers INTEGER, trials_per_device INTEGER, data_hash TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    run_key TEXT NOT NULL, job_id INTEGER NOT NULL, trial_id INTEGER NOT NULL, config TEXT NOT NULL,
    resource INTEGER NOT NULL, resumes_from INTEGER NOT NULL, info TEXT NOT NULL,
    ask_seq INTEGER NOT NULL, tell_seq INTEGER, status TEXT NOT NULL, loss REAL, val_miou REAL,
    epochs_trained INTEGER, error TEXT, attempts INTEGER DEFAULT 0,
    overshoot INTEGER, started REAL, finished REAL, worker TEXT,
    PRIMARY KEY (run_key, job_id)
);
CREATE TABLE IF NOT EXISTS evaluations (
    run_key TEXT NOT NULL, job_id INTEGER NOT NULL, trial_id INTEGER NOT NULL, epoch INTEGER NOT NULL,
    resource INTEGER NOT NULL, epochs_trained INTEGER NOT NULL, cum_epochs INTEGER NOT NULL,
    train_loss REAL, val_loss REAL, val_miou REAL, val_iou TEXT, val_precision TEXT, val_recall TEXT,
    seconds REAL, status TEXT NOT NULL, error TEXT, val_confusion_by_image TEXT, cpu_seconds REAL,
    PRIMARY KEY (run_key, job_id, epoch)
);
CREATE TABLE IF NOT EXISTS curve_tests (
    run_key TEXT NOT NULL, job_id INTEGER NOT NULL, epoch INTEGER NOT NULL,
    test_loss REAL, test_miou REAL, test_iou TEXT,
    PRIMARY KEY (run_key, job_id, epoch)
);
CREATE TABLE IF NOT EXISTS incumbents (
    run_key TEXT PRIMARY KEY, trial_id INTEGER NOT NULL, job_id INTEGER NOT NULL, config TEXT NOT NULL,
    resource INTEGER NOT NULL, val_loss REAL, val_miou REAL, test_loss REAL, test_miou REAL,
    test_iou TEXT, test_precision TEXT, test_recall TEXT, test_pixel_accuracy REAL, seconds REAL
);
"""


# Stores up to this size get the full ``PRAGMA integrity_check`` when opened (measured: 0.8 ms
# for the 0.8 MB results/cpu store); larger ones ``PRAGMA quick_check``, which reads every page
# and checks the b-trees, free list and records the same way but does not cross-check index
# entries against their rows, at about half the cost (the 235 MB results/nvsbn store, unpacked:
# quick_check 0.7-1.0 s, integrity_check 1.5 s, on a busy 2-core machine). Overwritten
# pages (the damage seen in practice) fail both.
FULL_CHECK_BYTES = 64 * 1024 * 1024


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


class _Reads:
    """Reading a store; ``self.db`` is an open connection (read-only for ``read_store``)."""

    db: sqlite3.Connection
    _eval_config: bool | None = None

    @property
    def evaluations_keep_config(self) -> bool:
        """Whether this store's evaluation rows carry their job's config (schema version 1)."""
        if self._eval_config is None:
            self._eval_config = "config" in {r[1] for r in self.db.execute("PRAGMA table_info(evaluations)")}
        return self._eval_config

    def _evals(self, columns: tuple[str, ...] | None = None) -> str:
        """``SELECT ... FROM evaluations e`` with the job's config joined in where the rows lack it."""
        if columns is None:
            cols = "e.*" if self.evaluations_keep_config else "e.*, j.config AS config"
        else:
            cols = ", ".join("j.config AS config" if c == "config" and not self.evaluations_keep_config
                             else f"e.{_column(c)}" for c in columns)
        join = "" if self.evaluations_keep_config or "j.config" not in cols else \
            " LEFT JOIN jobs j ON j.run_key = e.run_key AND j.job_id = e.job_id"
        return f"SELECT {cols} FROM evaluations e{join}"

    def run(self, run_key: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM runs WHERE run_key = ?", (run_key,)).fetchone()

    def runs(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM runs ORDER BY rowid").fetchall()

    def jobs(self, run_key: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM jobs WHERE run_key = ? ORDER BY ask_seq", (run_key,)).fetchall()

    def evaluations(self, run_key: str | None = None) -> list[sqlite3.Row]:
        """Evaluation rows (every column, and the job's ``config``), by run, job and epoch."""
        if run_key is None:
            return self.db.execute(f"{self._evals()} ORDER BY e.run_key, e.job_id, e.epoch").fetchall()
        return self.db.execute(f"{self._evals()} WHERE e.run_key = ? ORDER BY e.job_id, e.epoch",
                               (run_key,)).fetchall()

    def incumbent(self, run_key: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM incumbents WHERE run_key = ?", (run_key,)).fetchone()

    def integrity(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def table_rows(self, table: str, columns: tuple[str, ...]) -> list[tuple]:
        """Every row of ``table`` (one of the schema's), as tuples of ``columns`` (crash testing)."""
        if table not in RUN_TABLES:
            raise ValueError(f"not a table of the store: {table!r}")
        if table == "evaluations":
            return [tuple(r) for r in self.db.execute(self._evals(tuple(columns))).fetchall()]
        return [tuple(r) for r in self.db.execute(
            f"SELECT {', '.join(_column(c) for c in columns)} FROM {table}").fetchall()]

    def run_rows(self, run_key: str) -> dict[str, tuple[tuple[str, ...], list[tuple]]]:
        """Every row of one run, per table: ``{table: (columns, rows)}`` (to copy a run into
        another store with :meth:`Store.add_run_rows`)."""
        out = {}
        for table in RUN_TABLES:
            cur = self.db.execute(f"SELECT * FROM {table} WHERE run_key = ? ORDER BY rowid", (run_key,))
            out[table] = (tuple(d[0] for d in cur.description), [tuple(r) for r in cur.fetchall()])
        return out

    # -- whole tables as pandas frames (report and paper) ----------------------------
    def runs_frame(self, order_by: str = "rowid", skip_method: str | None = None):
        """The runs table; ``order_by`` is ``rowid`` (recorded order) or ``method``; ``skip_method``
        leaves out one method's rows (the curve recorder's ``record``)."""
        import pandas as pd
        if order_by not in ("rowid", "method"):
            raise ValueError(f"runs are ordered by rowid or method, not {order_by!r}")
        where, params = ("WHERE method != ?", (skip_method,)) if skip_method else ("", ())
        return pd.read_sql_query(f"SELECT * FROM runs {where} ORDER BY {order_by}", self.db, params=params)

    def jobs_frame(self):
        """Every job, ordered by run and ask sequence."""
        import pandas as pd
        return pd.read_sql_query("SELECT * FROM jobs ORDER BY run_key, ask_seq", self.db)

    def evaluations_frame(self, columns: tuple[str, ...] | None = None):
        """The evaluations table (all columns and the job's ``config``, or ``columns``), ordered by run,
        job and epoch."""
        import pandas as pd
        return pd.read_sql_query(f"{self._evals(columns)} ORDER BY e.run_key, e.job_id, e.epoch", self.db)

    def incumbents_frame(self):
        import pandas as pd
        return pd.read_sql_query("SELECT * FROM incumbents ORDER BY run_key", self.db)

    # -- learning curves (bench export-curves) ---------------------------------------
    def ended_evaluations(self) -> list[sqlite3.Row]:
        """Evaluations of jobs that ended (``ok`` or ``failed``): a job still in flight has no whole
        curve yet. Ordered by run, job and epoch."""
        cols = "e.*" if self.evaluations_keep_config else "e.*, j.config AS config"
        return self.db.execute(
            f"SELECT {cols} FROM evaluations e JOIN jobs j ON e.run_key = j.run_key AND e.job_id = j.job_id "
            "WHERE j.status IN ('ok', 'failed') ORDER BY e.run_key, e.job_id, e.epoch").fetchall()

    def curve_tests(self) -> dict[tuple, sqlite3.Row]:
        """Recorded per-epoch test metrics, keyed by (run key, job id, epoch)."""
        return {(r["run_key"], r["job_id"], r["epoch"]): r for r in self.db.execute("SELECT * FROM curve_tests")}

    def train_seeds(self) -> dict[tuple, int]:
        """Each job's training seed, keyed by (run key, job id): its ``train_seed`` (``bench record
        --train-seeds``), else its run's seed."""
        seeds = {r["run_key"]: r["seed"] for r in self.db.execute("SELECT run_key, seed FROM runs")}
        return {(r["run_key"], r["job_id"]): int(json.loads(r["info"]).get("train_seed", seeds.get(r["run_key"], 0)))
                for r in self.db.execute("SELECT run_key, job_id, info FROM jobs")}

    def job_budgets(self) -> dict[tuple, int]:
        """The schedule budget r (epochs) of each job of a budget-aware recording (``bench record
        --budgets``), keyed by (run key, job id); jobs without one are left out."""
        out = {}
        for r in self.db.execute("SELECT run_key, job_id, info FROM jobs"):
            budget = json.loads(r["info"]).get("budget")
            if budget is not None:
                out[(r["run_key"], r["job_id"])] = int(budget)
        return out

    def jobs_without_cpu_seconds(self, run_key: str) -> list[sqlite3.Row]:
        """A recording's jobs with a trained (``ok``) epoch whose ``cpu_seconds`` is NULL, by job id."""
        return self.db.execute(
            "SELECT * FROM jobs j WHERE j.run_key = ? AND EXISTS (SELECT 1 FROM evaluations e WHERE e.run_key = "
            "j.run_key AND e.job_id = j.job_id AND e.status = 'ok' AND e.cpu_seconds IS NULL) ORDER BY j.job_id",
            (run_key,)).fetchall()

    def recorded_epochs(self, run_key: str, job_id: int) -> set[int]:
        """A recording job's epochs with both rows stored: its ``ok`` evaluation and its test score
        (``curve_tests``, written after the evaluation)."""
        return {r[0] for r in self.db.execute(
            "SELECT e.epoch FROM evaluations e JOIN curve_tests t ON t.run_key = e.run_key AND t.job_id = e.job_id "
            "AND t.epoch = e.epoch WHERE e.run_key = ? AND e.job_id = ? AND e.status = 'ok'", (run_key, job_id))}

    def evaluations_of_job(self, run_key: str, job_id: int) -> list[sqlite3.Row]:
        """One job's evaluation rows (with its ``config``), by epoch."""
        return self.db.execute(f"{self._evals()} WHERE e.run_key = ? AND e.job_id = ? ORDER BY e.epoch",
                               (run_key, job_id)).fetchall()

    def record_finals(self) -> tuple[sqlite3.Row | None, list[sqlite3.Row]]:
        """A recording store's run row and, per finished job, its last epoch's row (``max_epochs`` of
        the record's identity) with the job's trial id and info (bench recipe-report)."""
        run = self.db.execute("SELECT run_key, profile, identity FROM runs WHERE method = 'record'").fetchone()
        if run is None:
            return None, []
        R = json.loads(run["identity"])["max_epochs"]
        return run, self.db.execute(
            "SELECT j.job_id, j.trial_id, j.info, e.val_loss, e.val_miou, e.val_confusion_by_image "
            "FROM jobs j JOIN evaluations e ON e.run_key = j.run_key AND e.job_id = j.job_id "
            "WHERE j.status = 'ok' AND e.epoch = ? ORDER BY j.job_id", (R,)).fetchall()

    def run_provenance(self) -> list[dict]:
        """Per run: where and with what it ran (commit, versions, device, host, ...)."""
        return [dict(r) for r in self.db.execute(
            "SELECT run_key, method, identity, git_commit, versions, device, host, profile, seed, status, started, "
            "ended, wall_seconds, epochs_spent FROM runs")]


def _column(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a column name: {name!r}")
    return name


class ReadStore(_Reads):
    """A store opened read-only (never written, never migrated, integrity checked): what readers use."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no results store at {self.path}")
        refuse_foreign(self.path)
        self.db = sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?mode=ro", uri=True)
        self.db.row_factory = sqlite3.Row
        try:
            check_integrity(self.db, self.path)
            check_store(self.db, self.path, empty_ok=False)  # not a store, or a newer schema: refused
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "ReadStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_store(path: str | Path) -> ReadStore:
    """Open a store file read-only."""
    return ReadStore(path)


def snapshot(db: str | Path, dest: str | Path) -> None:
    """A consistent copy of a store (what sits in its write-ahead log included) at ``dest``, through the
    readers' checked opening (:func:`read_store`: a damaged store, another program's database or a newer
    schema is refused and never touched)."""
    with read_store(db) as store:
        store.db.execute("VACUUM INTO ?", (str(dest),))




class StoreError(RuntimeError):
    """A store that cannot be used (damaged, full, not a store); the message is one line
    that names the file and says what to do."""


class StoreLocked(StoreError):
    """Another process holds the store's driver lock."""


def recovery_hint(path: Path) -> str:
    results = path.parent
    return (f"nothing was read from it or written to it. To recover: restore the file from a copy (a committed "
            f"store: git checkout -- {path}; a packed one: python -m bench unpack {results} --force), or move it "
            f"aside (bench run --fresh) and run the suite again; sqlite3 {path} .recover may salvage its rows")


def acquire_lock(db_path: Path) -> int:
    """Take the exclusive driver lock of a store (``<store>.lock``, ``flock``); returns its file
    descriptor. The kernel releases it when the process ends, however it ends (SIGKILL included).
    Raises :class:`StoreLocked` naming the holder when another process has it."""
    lock_path = Path(str(db_path) + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 300).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise StoreLocked(f"{db_path} is in use by {holder}; one driver per store: wait for it to end or stop "
                          f"it (the lock goes when it exits), or give another --results directory") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
    return fd


def release_lock(fd: int | None) -> None:
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def check_integrity(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a damaged store (see :data:`FULL_CHECK_BYTES` for which check)."""
    size = path.stat().st_size if path.exists() else 0
    pragma = "integrity_check" if size <= FULL_CHECK_BYTES else "quick_check"
    try:
        problems = [r[0] for r in db.execute(f"PRAGMA {pragma}(5)").fetchall()]
    except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
        if "full" in str(exc).lower():  # "database or disk is full": nothing is damaged
            raise StoreError(f"{path}: {exc}: free space there (or move the results directory) and run the "
                             f"same command again; everything recorded before is kept") from None
        problems = [str(exc)]
    if problems != ["ok"]:
        first = " ".join("; ".join(problems).split())  # one line
        raise StoreError(f"{path} is damaged ({pragma}: {first[:200]}); {recovery_hint(path)}")


STORE_COLUMNS = ("run_key", "suite_hash", "identity")  # a runs table with these is this project's


def check_store(db: sqlite3.Connection, path: Path, *, empty_ok: bool) -> int:
    """Refuse (:class:`StoreError`) a database that is not this project's store or whose schema is newer
    than this code; returns its schema version. ``empty_ok``: a database without tables (a store about
    to be created) is accepted. Every opening calls it after :func:`check_integrity`, before any write."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path}: store schema version {version} is newer than this code reads (1 to "
                         f"{SCHEMA_VERSION}); nothing was read from it or written to it: use the code that wrote "
                         f"it (git log) or a newer one")
    if not tables and empty_ok and version == 0:
        return version
    columns = {r[1] for r in db.execute("PRAGMA table_info(runs)")} if "runs" in tables else set()
    if version < 0 or not set(STORE_COLUMNS) <= columns:
        what = f"its tables are {', '.join(sorted(tables))}" if tables else "it is an empty database"
        raise StoreError(f"{path} is not a results store of this project ({what}); nothing was read from it or "
                         f"written to it: give another --results directory, or move the file aside")
    return version


def refuse_foreign(path: str | Path) -> None:
    """Refuse (:class:`StoreError`, from :func:`check_store`) an existing database at ``path`` that is not
    this project's store or has a newer schema, before anything is created beside it (the driver lock,
    SQLite's ``-wal``/``-shm``/``-journal``) or written to it: it is read as an immutable file (SQLite
    takes no lock and makes no file). Whatever it cannot decide (no file, an empty one, one that is not
    a database, tables still in a write-ahead log) is left to the opening's own checks."""
    path = Path(path)
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return
        con = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1", uri=True)
    except (OSError, sqlite3.Error):
        return
    try:
        check_store(con, path, empty_ok=True)
    except sqlite3.DatabaseError:
        return
    finally:
        con.close()


class Store(_Reads):
    def __init__(self, path: str | Path, *, readonly: bool = False, lock: bool = False):
        """Open (writable: create) the store at ``path``.

        ``readonly``: SQLite's read-only mode, for readers; the file must exist and is never
        modified. ``lock``: take the exclusive driver lock first (see :func:`acquire_lock`).
        Raises :class:`StoreError` for a damaged store or one that is not a store,
        :class:`StoreLocked` when another driver holds it, FileNotFoundError (read-only) when
        there is no file."""
        self.path = Path(path)
        self.readonly = readonly
        self._lock = None
        self._writes = 0
        self._batched = False
        kill_at = os.environ.get("AERIAL_HPO_KILL_AT_WRITE", "0") or "0"
        self._kill_at_done = kill_at == "run-done"  # inside the first write that records a run done
        self._kill_at = 0 if self._kill_at_done else int(kill_at)
        refuse_foreign(self.path)  # before the lock file or any SQLite file is made beside it
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"no results store at {self.path}")
            uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
            self.db = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if lock:
                self._lock = acquire_lock(self.path)
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        try:
            check_integrity(self.db, self.path)
            check_store(self.db, self.path, empty_ok=not readonly)  # another program's database: untouched
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(SCHEMA)
                self._add_missing_columns()
                self.db.execute(f"PRAGMA user_version={1 if self.evaluations_keep_config else SCHEMA_VERSION}")
        except BaseException:
            self.db.close()
            release_lock(self._lock)
            raise

    def _add_missing_columns(self) -> None:
        """Columns added to the schema after a store was created are added to it (NULL)."""
        for table, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", SCHEMA, re.S):
            have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            for part in body.split(","):
                words = part.split()
                if len(words) >= 2 and words[0].isidentifier() and words[0].upper() != "PRIMARY" \
                        and words[0] not in have and words[1].upper() in ("TEXT", "REAL", "INTEGER"):
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {words[0]} {words[1]}")

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (so a copy or a commit of it is whole)."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close; a writer folds the WAL into the file first, then lets the driver lock go."""
        if self.db is None:
            return
        try:
            if not self.readonly:
                self.checkpoint()
        finally:
            self.db.close()
            self.db = None
            release_lock(self._lock)
            self._lock = None

    # -- writing ----------------------------------------------------------------
    def _write(self, sql: str, params=(), many: bool = False) -> None:
        """One statement (or one statement over many rows) in its own transaction, or in the
        enclosing ``batch()``. ``AERIAL_HPO_KILL_AT_WRITE=N`` (fault injection for the
        kill-and-resume tests) SIGKILLs this process inside the N-th write statement, before
        the COMMIT of its transaction; ``AERIAL_HPO_KILL_AT_WRITE=run-done`` inside the first
        write that records a run done.

        A failed write is rolled back when SQLite has not already done so itself (it does, for
        "database or disk is full"), so the caller sees the write's own error; a full disk or
        database becomes a :class:`StoreError` saying that what was committed before is kept."""
        self._writes += 1
        if self._batched:  # the enclosing batch() commits or rolls back
            (self.db.executemany if many else self.db.execute)(sql, params)
            if self._writes == self._kill_at or self._kills_here(sql, params):
                os.kill(os.getpid(), signal.SIGKILL)
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
            (self.db.executemany if many else self.db.execute)(sql, params)
            if self._writes == self._kill_at or self._kills_here(sql, params):
                os.kill(os.getpid(), signal.SIGKILL)
            self.db.execute("COMMIT")
        except BaseException as exc:
            self._failed(exc)
            raise

    def _kills_here(self, sql: str, params) -> bool:
        """``AERIAL_HPO_KILL_AT_WRITE=run-done``: this write records a run done (fault injection)."""
        return self._kill_at_done and sql.startswith("UPDATE runs SET") and "done" in params

    def _failed(self, exc: BaseException) -> None:
        """After a failed write or batch: roll back what SQLite has not, and turn a full disk or
        database into a StoreError (raised from here); any other error is re-raised by the caller."""
        if self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the write's own error is the one that matters
        if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
            raise StoreError(f"{self.path}: {exc}: free space there (or move the results directory) and run "
                             f"the same command again to resume; everything recorded before this write is "
                             f"kept") from None

    @contextmanager
    def batch(self):
        """Writes that belong together, in one transaction: all of them or none survive a crash.
        Nested batches join the outer one."""
        if self._batched:
            yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._batched = True
        try:
            yield
            self._batched = False
            self.db.execute("COMMIT")
        except BaseException as exc:
            self._batched = False
            self._failed(exc)
            raise

    def add_run(self, row: dict) -> None:
        cols = ", ".join(row)
        self._write(f"INSERT OR IGNORE INTO runs ({cols}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))

    def update_run(self, run_key: str, **values) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        self._write(f"UPDATE runs SET {sets} WHERE run_key = ?", (*values.values(), run_key))

    def add_job(self, run_key: str, job, ask_seq: int, started: float | None = None,
                worker: str | None = None) -> None:
        self._write("INSERT OR IGNORE INTO jobs (run_key, job_id, trial_id, config, resource, resumes_from, info, "
                    "ask_seq, status, started, worker) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'asked', ?, ?)",
                    (run_key, job.job_id, job.trial_id, dumps(job.config), job.resource, job.resumes_from,
                     dumps(job.info), ask_seq, started, worker))

    def finish_job(self, run_key: str, job_id: int, status: str, loss, tell_seq: int | None,
                   epochs_trained: int, error: str | None = None, val_miou=None, *, overshoot: int | None = None,
                   started: float | None = None, finished: float | None = None, worker: str | None = None) -> None:
        """A job's outcome. ``started`` and ``worker`` replace the ones recorded with the ask only
        when given (a job redone after a resume ran again, maybe elsewhere)."""
        self._write("UPDATE jobs SET status = ?, loss = ?, val_miou = ?, tell_seq = ?, epochs_trained = ?, "
                    "error = ?, overshoot = ?, started = COALESCE(?, started), finished = ?, "
                    "worker = COALESCE(?, worker) WHERE run_key = ? AND job_id = ?",
                    (status, loss, val_miou, tell_seq, epochs_trained, error, overshoot, started, finished, worker,
                     run_key, job_id))

    def _eval_row(self, row: dict) -> dict:
        """An evaluation row as this store keeps it: without ``config`` unless it is a version-1 store."""
        if self.evaluations_keep_config or "config" not in row:
            return row
        return {k: v for k, v in row.items() if k != "config"}

    def add_evaluation(self, row: dict) -> None:
        row = self._eval_row(row)
        cols = ", ".join(row)
        self._write(f"INSERT OR IGNORE INTO evaluations ({cols}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()))

    def add_evaluations(self, rows: list[dict]) -> None:
        """Rows that exist together (a replayed job's epochs) in one transaction."""
        if rows:
            rows = [self._eval_row(r) for r in rows]
            cols = list(rows[0])
            self._write(f"INSERT OR IGNORE INTO evaluations ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        [tuple(r[c] for c in cols) for r in rows], many=True)

    def set_cpu_seconds(self, run_key: str, job_id: int, epoch: int, cpu_seconds: float) -> None:
        """Fill in an evaluation's CPU seconds where it has none (``bench record --remeasure-cpu``)."""
        self._write("UPDATE evaluations SET cpu_seconds = ? WHERE run_key = ? AND job_id = ? AND epoch = ? "
                    "AND cpu_seconds IS NULL", (cpu_seconds, run_key, job_id, epoch))

    def add_curve_test(self, row: dict) -> None:
        cols = ", ".join(row)
        self._write(f"INSERT OR IGNORE INTO curve_tests ({cols}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()))

    def add_run_rows(self, rows: dict[str, tuple[tuple[str, ...], list[tuple]]]) -> None:
        """One whole run copied from another store (:meth:`run_rows`), in one transaction: after a
        crash the run is either all here or not at all. The run must not be here yet (an
        IntegrityError says it is)."""
        if set(rows) - set(RUN_TABLES):
            raise ValueError(f"not tables of the store: {sorted(set(rows) - set(RUN_TABLES))}")
        rows = dict(rows)
        if "evaluations" in rows:
            rows["evaluations"] = self._eval_layout(*rows["evaluations"], rows.get("jobs"))
        with self.batch():
            for table in RUN_TABLES:
                cols, values = rows.get(table, ((), []))
                if values:
                    self._write(f"INSERT INTO {table} ({', '.join(_column(c) for c in cols)}) "
                                f"VALUES ({', '.join('?' * len(cols))})", values, many=True)

    def _eval_layout(self, cols: tuple, values: list, jobs) -> tuple[tuple, list]:
        """Evaluation rows of another store in this store's layout: ``config`` dropped, or taken from
        the run's ``jobs`` rows (``(columns, rows)``) for a version-1 store."""
        if ("config" in cols) == self.evaluations_keep_config:
            return cols, values
        if "config" in cols:
            i = cols.index("config")
            return cols[:i] + cols[i + 1:], [v[:i] + v[i + 1:] for v in values]
        jcols, jrows = jobs
        config = {r[jcols.index("job_id")]: r[jcols.index("config")] for r in jrows}
        j = cols.index("job_id")
        return cols + ("config",), [tuple(v) + (config[v[j]],) for v in values]

    def set_incumbent(self, row: dict) -> None:
        cols = ", ".join(row)
        self._write(f"INSERT OR REPLACE INTO incumbents ({cols}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()))


def now() -> float:
    return time.time()
