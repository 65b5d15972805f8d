"""Backing up and restoring the embedded store with SQLite's online backup API.

A backup copies the pages of one read snapshot: in WAL mode readers do not block writers, so crawls go on writing
while it runs and the copy holds exactly the transactions committed when it began (whole batches of posts, never half
of one). It is made in one step, since a stepwise backup restarts whenever another connection writes, and may never
end under a busy crawl. The copy is written beside its target and renamed into place, in rollback-journal mode so it
is one self-contained file, and checked (`PRAGMA quick_check`) before it is kept.

A restore copies a backup into the store's file through the same API, in one write transaction on the live file, so
a reader sees the old store or the restored one, never a mix; the store is opened afterwards, which applies any
schema migration a backup made by an older Vigie needs. The evidence archive and the spool are plain files beside
the database: copy them with the file system (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from store.base import StoreError
from store.sqlite_schema import MIGRATIONS


@dataclass(frozen=True)
class BackupReport:
    path: Path
    bytes: int
    posts: int
    seconds: float


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    target = f"file:{path}?mode=ro" if readonly else str(path)
    return sqlite3.connect(target, uri=readonly, timeout=30.0, isolation_level=None)


def _posts(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM posts").fetchone()[0]


def check_store_file(path: Path) -> int:
    """The number of posts of a Vigie store file that passes `PRAGMA quick_check`; StoreError saying what is wrong otherwise."""
    if not path.is_file():
        raise StoreError(f"{path}: no such file")
    try:
        with contextlib.closing(_connect(path, readonly=True)) as conn:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise StoreError(f"{path}: damaged: {problems[0]}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(f"{path}: schema version {version} is newer than this Vigie knows ({len(MIGRATIONS)}); upgrade Vigie")
            return _posts(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a Vigie store ({exc})") from None


def backup(database: Path, target: Path) -> BackupReport:
    """A consistent copy of `database` at `target` (replaced if it exists), made while others keep writing."""
    if not database.is_file():
        raise StoreError(f"{database}: no such store file")
    if target.resolve() == database.resolve():
        raise StoreError(f"{target}: is the store itself; back up to another file")
    started = time.perf_counter()
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with contextlib.closing(_connect(database)) as source, contextlib.closing(_connect(partial)) as copy:
            source.backup(copy)  # one step: one read snapshot
            copy.execute("PRAGMA journal_mode = DELETE")
        posts = check_store_file(partial)
        with partial.open("rb+") as handle:
            os.fsync(handle.fileno())
        partial.replace(target)
    except sqlite3.Error as exc:
        raise StoreError(f"backup of {database} to {target} failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(path=target, bytes=target.stat().st_size, posts=posts, seconds=time.perf_counter() - started)


def restore(backup_file: Path, database: Path) -> int:
    """Replace the content of `database` by the backup's, after checking the backup; returns its post count."""
    posts = check_store_file(backup_file)
    if database.exists() and backup_file.resolve() == database.resolve():
        raise StoreError(f"{backup_file}: is the store itself")
    database.parent.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.closing(_connect(backup_file, readonly=True)) as source, contextlib.closing(_connect(database)) as live:
            source.backup(live)
            live.execute("PRAGMA journal_mode = WAL")
    except sqlite3.Error as exc:
        raise StoreError(f"restore of {backup_file} into {database} failed: {exc}") from None
    return posts
