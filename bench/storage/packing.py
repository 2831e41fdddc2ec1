"""Packed stores: a large results store is committed as ``results.db.xz``.

A replayed sweep writes hundreds of thousands of evaluation rows (the n vs B/n
sweep: ~700k rows, ~240 MB of SQLite), too big for a git repository but ~20x
smaller under xz. ``python -m bench pack DIR`` writes a consistent snapshot of
``DIR/results.db`` (``VACUUM INTO``, so whatever sits in the WAL is included) as
``DIR/results.db.xz`` and a ``DIR/.gitignore`` that keeps the unpacked file out of
git. Readers (``bench status``/``speed``/``export``, ``python -m paper``) use
``results.db`` when it exists, else unpack ``results.db.xz`` once into
``.cache/packed/`` (keyed by the packed file's hash). ``bench run`` on a directory
that holds only the packed store unpacks it in place first, so a sweep can be
resumed or extended from a fresh clone.
"""
from __future__ import annotations

import errno
import hashlib
import lzma
import os
import shutil
from pathlib import Path

from bench.storage.store import StoreError, acquire_lock, refuse_foreign, release_lock, snapshot

DB_NAME = "results.db"
PACKED = DB_NAME + ".xz"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "packed"
GITIGNORE = ("# the store is committed packed as results.db.xz (python -m bench pack);\n"
             "# python -m bench unpack restores results.db\n"
             "results.db\nresults.db-wal\nresults.db-shm\n")


def pack(results: str | Path, preset: int = 6) -> Path:
    """Write ``results.db.xz`` from ``results.db`` (left in place); returns the packed file."""
    results = Path(results)
    db = results / DB_NAME
    if not db.is_file():
        raise FileNotFoundError(f"no results store at {db}")
    snap = results / (DB_NAME + ".snapshot.tmp")
    snap.unlink(missing_ok=True)
    snapshot(db, snap)
    out, tmp = results / PACKED, results / (PACKED + ".tmp")
    with open(snap, "rb") as src, lzma.open(tmp, "wb", preset=preset) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(tmp, out)
    snap.unlink()
    (results / ".gitignore").write_text(GITIGNORE)
    return out


class PackedStoreError(StoreError, ValueError):
    """A packed store that cannot be decompressed (one line)."""


def _decompress(packed: Path, dest: Path, before_replace=lambda: None) -> Path:
    """``packed`` decompressed to ``dest`` through a temporary file that never outlives a failure: a
    damaged or truncated file, or a full disk, is one-line :class:`StoreError` and ``dest`` is untouched."""
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        with lzma.open(packed, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (lzma.LZMAError, EOFError) as exc:  # not xz, damaged, or cut short
        tmp.unlink(missing_ok=True)
        raise PackedStoreError(f"{packed} is not a valid xz file: damaged or truncated ({exc}); nothing was "
                               f"unpacked: restore it from a copy (a committed one: git checkout -- {packed})") from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise StoreError(f"{dest.parent}: no space left to unpack {packed.name}; nothing was unpacked: free "
                             f"space and run the same command again") from None
        raise StoreError(f"cannot unpack {packed} to {dest}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    before_replace()
    os.replace(tmp, dest)
    return dest


def unpack(results: str | Path, force: bool = False) -> Path:
    """Restore ``results.db`` from ``results.db.xz``; refuses to overwrite an existing store
    unless ``force``."""
    results = Path(results)
    db, packed = results / DB_NAME, results / PACKED
    refuse_foreign(db)  # another program's database is never replaced, even with force
    if not packed.is_file():
        raise FileNotFoundError(f"no packed store at {packed}")
    if db.exists() and not force:
        raise FileExistsError(f"{db} exists; it may hold results the packed file lacks "
                              "(use --force to replace it)")

    def drop_old_wal():  # only once the packed file has decompressed cleanly
        for extra in (DB_NAME + "-wal", DB_NAME + "-shm"):
            (results / extra).unlink(missing_ok=True)
    lock = acquire_lock(db)  # not under a driver that has the store open (StoreLocked says who)
    try:
        if db.exists() and not force:  # again, under the lock
            raise FileExistsError(f"{db} exists; it may hold results the packed file lacks "
                                  "(use --force to replace it)")
        return _decompress(packed, db, drop_old_wal)
    finally:
        release_lock(lock)


def store_file(results: str | Path) -> Path:
    """The store to read: ``results.db``, else ``results.db.xz`` unpacked into the cache."""
    results = Path(results)
    db, packed = results / DB_NAME, results / PACKED
    if db.is_file():
        return db
    if not packed.is_file():
        raise FileNotFoundError(f"no results store at {db} (nor a packed {packed.name})")
    digest = hashlib.sha256(packed.read_bytes()).hexdigest()[:16]
    cached = CACHE / f"{results.name}-{digest}.db"
    if not cached.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        _decompress(packed, cached)
    return cached
