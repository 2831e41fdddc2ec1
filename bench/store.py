"""The results store: one SQLite database per results directory, in WAL mode.

Tables (``PRAGMA user_version`` = schema version):

* ``runs`` — one row per run (method label, B, seed): suite text and hash, the run's
  identity (what must not change on resume), git commit, package versions, device,
  status (``running`` / ``done``), start and end times, epochs spent, the cost had
  every promotion restarted, overshoot, peak checkpoint disk use; and the method's role
  (``methods.roles``: family, eta, R, bracket s and n, the brackets' rungs, and ``algorithm``,
  equal for two labels that are the same algorithm in a cell). Stores made before the role
  columns existed have them NULL; readers derive them with ``methods.roles.role``.
* ``jobs`` — every job a tuner asked: configuration, resource, the resource it
  resumes from, bookkeeping, the sequence numbers of its ask and tell (the log a
  resumed run replays), status (``asked``, ``ok``, ``failed``, ``skipped``) and loss.
* ``evaluations`` — one row per trained epoch of every job, with metrics.
* ``incumbents`` — the incumbent's test-split (Tile 5) metrics, kept apart.
* ``curve_tests`` — per-epoch test metrics of recorded learning curves (``bench record``),
  kept apart from what any tuner sees.

Every write is its own transaction and every insert is keyed, so repeating one is
harmless (``INSERT OR IGNORE``); nothing is held only in memory.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import time
from pathlib import Path

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_key TEXT PRIMARY KEY, suite TEXT NOT NULL, suite_hash TEXT NOT NULL, suite_text TEXT NOT NULL,
    label TEXT NOT NULL, method TEXT NOT NULL, params TEXT NOT NULL, budget REAL NOT NULL,
    budget_epochs INTEGER NOT NULL, seed INTEGER NOT NULL, profile TEXT NOT NULL, identity TEXT NOT NULL,
    git_commit TEXT, versions TEXT, device TEXT, host TEXT, pid INTEGER,
    status TEXT NOT NULL, started REAL, ended REAL, heartbeat REAL,
    epochs_spent INTEGER DEFAULT 0, epochs_restart INTEGER DEFAULT 0, overshoot INTEGER,
    peak_disk_bytes INTEGER DEFAULT 0, tuner_seconds REAL DEFAULT 0, eval_seconds REAL DEFAULT 0,
    wall_seconds REAL DEFAULT 0, error TEXT,
    family TEXT, eta INTEGER, r_max INTEGER, bracket_s INTEGER, bracket_n INTEGER, brackets TEXT, algorithm TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    run_key TEXT NOT NULL, job_id INTEGER NOT NULL, trial_id INTEGER NOT NULL, config TEXT NOT NULL,
    resource INTEGER NOT NULL, resumes_from INTEGER NOT NULL, info TEXT NOT NULL,
    ask_seq INTEGER NOT NULL, tell_seq INTEGER, status TEXT NOT NULL, loss REAL, val_miou REAL,
    epochs_trained INTEGER, error TEXT, attempts INTEGER DEFAULT 0,
    PRIMARY KEY (run_key, job_id)
);
CREATE TABLE IF NOT EXISTS evaluations (
    run_key TEXT NOT NULL, job_id INTEGER NOT NULL, trial_id INTEGER NOT NULL, epoch INTEGER NOT NULL,
    config TEXT NOT NULL, resource INTEGER NOT NULL, epochs_trained INTEGER NOT NULL, cum_epochs INTEGER NOT NULL,
    train_loss REAL, val_loss REAL, val_miou REAL, val_iou TEXT, val_precision TEXT, val_recall TEXT,
    seconds REAL, status TEXT NOT NULL, error TEXT,
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


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise ValueError(f"{self.path}: store schema version {version}, this code reads {SCHEMA_VERSION}")
        self.db.executescript(SCHEMA)
        self._add_missing_columns()
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._writes = 0
        self._kill_at = int(os.environ.get("AERIAL_HPO_KILL_AT_WRITE", "0") or 0)

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
        self.checkpoint()
        self.db.close()

    # -- writing ----------------------------------------------------------------
    def _write(self, sql: str, params=(), many: bool = False) -> None:
        """One statement (or one statement over many rows) in its own transaction.
        ``AERIAL_HPO_KILL_AT_WRITE=N`` (fault injection for the kill-and-resume test)
        SIGKILLs this process inside the N-th write, before COMMIT."""
        self._writes += 1
        self.db.execute("BEGIN IMMEDIATE")
        try:
            (self.db.executemany if many else self.db.execute)(sql, params)
            if self._writes == self._kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def add_run(self, row: dict) -> None:
        cols = ", ".join(row)
        self._write(f"INSERT OR IGNORE INTO runs ({cols}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))

    def update_run(self, run_key: str, **values) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        self._write(f"UPDATE runs SET {sets} WHERE run_key = ?", (*values.values(), run_key))

    def add_job(self, run_key: str, job, ask_seq: int) -> None:
        self._write("INSERT OR IGNORE INTO jobs (run_key, job_id, trial_id, config, resource, resumes_from, info, "
                    "ask_seq, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'asked')",
                    (run_key, job.job_id, job.trial_id, dumps(job.config), job.resource, job.resumes_from,
                     dumps(job.info), ask_seq))

    def finish_job(self, run_key: str, job_id: int, status: str, loss, tell_seq: int | None,
                   epochs_trained: int, error: str | None = None, val_miou=None) -> None:
        self._write("UPDATE jobs SET status = ?, loss = ?, val_miou = ?, tell_seq = ?, epochs_trained = ?, "
                    "error = ? WHERE run_key = ? AND job_id = ?",
                    (status, loss, val_miou, tell_seq, epochs_trained, error, run_key, job_id))

    def add_evaluation(self, row: dict) -> None:
        cols = ", ".join(row)
        self._write(f"INSERT OR IGNORE INTO evaluations ({cols}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()))

    def add_evaluations(self, rows: list[dict]) -> None:
        """Rows that exist together (a replayed job's epochs) in one transaction."""
        if rows:
            cols = list(rows[0])
            self._write(f"INSERT OR IGNORE INTO evaluations ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        [tuple(r[c] for c in cols) for r in rows], many=True)

    def add_curve_test(self, row: dict) -> None:
        cols = ", ".join(row)
        self._write(f"INSERT OR IGNORE INTO curve_tests ({cols}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()))

    def set_incumbent(self, row: dict) -> None:
        cols = ", ".join(row)
        self._write(f"INSERT OR REPLACE INTO incumbents ({cols}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()))

    # -- reading ----------------------------------------------------------------
    def run(self, run_key: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM runs WHERE run_key = ?", (run_key,)).fetchone()

    def runs(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM runs ORDER BY rowid").fetchall()

    def jobs(self, run_key: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM jobs WHERE run_key = ? ORDER BY ask_seq", (run_key,)).fetchall()

    def evaluations(self, run_key: str | None = None) -> list[sqlite3.Row]:
        if run_key is None:
            return self.db.execute("SELECT * FROM evaluations ORDER BY run_key, job_id, epoch").fetchall()
        return self.db.execute("SELECT * FROM evaluations WHERE run_key = ? ORDER BY job_id, epoch",
                               (run_key,)).fetchall()

    def incumbent(self, run_key: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM incumbents WHERE run_key = ?", (run_key,)).fetchone()

    def integrity(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]


def now() -> float:
    return time.time()
