"""The store contract on the embedded SQLite store, plus what only SQLite has: migrations, WAL, file errors."""

from __future__ import annotations

import itertools
import random
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from store.base import PostQuery, StoreError
from store.sqlite import WAL_SIZE_LIMIT, SQLiteStore
from store.sqlite_schema import MIGRATIONS
from tests.store.contract import StoreContract, at, corpus
from tests.support.factories import make_post


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "vigie.db") as opened:
        yield opened


class TestSQLiteStore(StoreContract):
    pass


# ---------------------------------------------------------------- schema migrations


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def test_migrations_run_on_an_empty_file_and_reopening_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "vigie.db"
    path.touch()
    with SQLiteStore(path) as first:
        first.upsert_posts(corpus())
    assert user_version(path) == len(MIGRATIONS)
    with SQLiteStore(path) as again:
        assert again.count_posts(PostQuery(text="guerison")) == 2
        assert again.upsert_posts(corpus()).updated == 6
    assert user_version(path) == len(MIGRATIONS)


def test_each_migration_is_applied_once_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "vigie.db"
    SQLiteStore(path).close()
    extra = ("CREATE TABLE notes (n INTEGER);\nINSERT INTO notes VALUES (1);", "INSERT INTO notes SELECT max(n) + 1 FROM notes;")
    monkeypatch.setattr("store.sqlite.MIGRATIONS", MIGRATIONS + extra)
    SQLiteStore(path).close()
    SQLiteStore(path).close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT n FROM notes ORDER BY n").fetchall() == [(1,), (2,)]
    assert user_version(path) == len(MIGRATIONS) + 2


def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "vigie.db"
    SQLiteStore(path).close()
    monkeypatch.setattr("store.sqlite.MIGRATIONS", MIGRATIONS + ("CREATE TABLE half (n INTEGER);\nINSERT INTO nowhere VALUES (1);",))
    with pytest.raises(StoreError, match=f"{path}: no such table: nowhere"):
        SQLiteStore(path)
    assert user_version(path) == len(MIGRATIONS)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half'").fetchone() == (0,)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vigie.db"
    SQLiteStore(path).close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(StoreError, match="is newer than this Vigie knows"):
        SQLiteStore(path)


def test_full_text_indexes_stay_consistent(store: SQLiteStore) -> None:
    store.upsert_posts(corpus())
    changed = [post.model_copy(update={"text": post.text + " edited", "near_dup_keys": ["0fffff"]}) for post in corpus()[:3]]
    store.upsert_posts(changed)
    store.delete_posts(corpus()[3].published_at)
    with closing(sqlite3.connect(store.path)) as conn:
        conn.execute("INSERT INTO post_fts (post_fts) VALUES ('integrity-check')")
    assert store.count_posts(PostQuery(text="edited")) == 0
    assert store.find_near_duplicates(["0fffff"]) == []


# ---------------------------------------------------------------- WAL: readers and a writer


def test_database_is_in_wal_mode(store: SQLiteStore) -> None:
    with closing(sqlite3.connect(store.path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_reader_is_not_blocked_by_an_open_write_transaction(tmp_path: Path) -> None:
    path = tmp_path / "vigie.db"
    with SQLiteStore(path) as writer:
        writer.upsert_posts(corpus()[:3])
    with closing(sqlite3.connect(path, isolation_level=None)) as crawler, SQLiteStore(path, busy_timeout=0.1) as dashboard:
        crawler.execute("BEGIN IMMEDIATE")
        crawler.execute("DELETE FROM posts")
        assert dashboard.count_posts(PostQuery()) == 3
        assert dashboard.search(PostQuery(text="guerison")).total == 2
        crawler.execute("COMMIT")
        assert dashboard.count_posts(PostQuery()) == 0


def test_dashboard_reads_while_the_crawler_writes(tmp_path: Path) -> None:
    path = tmp_path / "vigie.db"
    SQLiteStore(path).close()
    batches = [[make_post(f"w{b}-{i}", f"batch {b} post {i} guérison", published_at=at(1) + timedelta(minutes=b)) for i in range(200)] for b in range(15)]
    errors: list[BaseException] = []

    def crawl() -> None:
        try:
            with SQLiteStore(path) as crawler:
                for batch in batches:
                    crawler.upsert_posts(batch)
        except BaseException as exc:  # reported by the reading side below
            errors.append(exc)

    writer = threading.Thread(target=crawl)
    counts = []
    with SQLiteStore(path) as dashboard:
        writer.start()
        while writer.is_alive():
            counts.append(dashboard.search(PostQuery(text="guerison", limit=5)).total)
        writer.join()
        counts.append(dashboard.count_posts(PostQuery(text="guerison")))
    assert errors == []
    assert counts == sorted(counts) and counts[-1] == 3000
    assert all(count % 200 == 0 for count in counts)


def _held(context: object, started: threading.Event, release: threading.Event, work: str | None = None) -> threading.Thread:
    """A thread that enters a store's transaction `context`, runs `work` in it and holds it until `release`."""

    def hold() -> None:
        with context as conn:  # type: ignore[attr-defined]
            if work:
                conn.execute(work)
            started.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert started.wait(10)
    return thread


@pytest.mark.parametrize("holder", ["a read", "an uncommitted write"])
def test_threads_sharing_a_store_do_not_wait_for_each_other_to_read(tmp_path: Path, holder: str) -> None:
    """The dashboard's sessions share one store object: a count does not queue behind another session's read, nor
    behind the store's own open write transaction, whose changes it does not see before the commit."""
    with SQLiteStore(tmp_path / "vigie.db") as store:
        store.upsert_posts(corpus()[:3])
        started, release = threading.Event(), threading.Event()
        context = store._reading() if holder == "a read" else store._writing()
        held = _held(context, started, release, None if holder == "a read" else "DELETE FROM posts")
        counted: list[int] = []
        reader = threading.Thread(target=lambda: counted.append(store.count_posts(PostQuery())))
        reader.start()
        reader.join(5)
        waited = reader.is_alive()
        release.set()
        held.join()
        reader.join()
        assert not waited and counted == [3]
        assert store.count_posts(PostQuery()) == (3 if holder == "a read" else 0)


# ---------------------------------------------------------------- errors name the file


def test_a_path_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=rf"^{re.escape(str(blocker / 'vigie.db'))}: unable to open database file \(check that the folder exists and is writable\)$"):
        SQLiteStore(blocker / "vigie.db")


def test_a_folder_instead_of_a_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=rf"^{re.escape(str(tmp_path))}: unable to open"):
        SQLiteStore(tmp_path)


def test_a_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "vigie.db"
    path.write_bytes(b"this is not a database, it is a note about one\n" * 200)
    with pytest.raises(StoreError, match=rf"^{re.escape(str(path))}: file is not a database \(the file is corrupt"):
        SQLiteStore(path)


def test_a_full_disk_fails_the_batch_and_loses_nothing_stored(store: SQLiteStore) -> None:
    store.upsert_posts(corpus()[:2])
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 1}")
    big = [make_post(f"big{i}", f"texte numéro {i} " * 40, platform="youtube", hashtags=[f"h{i}"]) for i in range(400)]
    with pytest.raises(StoreError) as failure:
        store.upsert_posts(big)
    message = str(failure.value)
    assert message.startswith(f"{store.path}: database or disk is full") and "\n" not in message
    assert store.count_posts(PostQuery()) == 2
    store._db.execute("PRAGMA max_page_count = 1073741823")
    assert store.upsert_posts(big).new == 400
    assert store.count_posts(PostQuery(platforms=("youtube",))) == 400
    assert [t.value for t in store.top_terms(PostQuery(hashtags=("h7",)), "hashtag")] == ["h7"]


def test_a_locked_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "vigie.db"
    with SQLiteStore(path, busy_timeout=0.2) as store, closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match=rf"^{re.escape(str(path))}: database is locked \(another process held the write lock for more than 0.2s"):
            store.upsert_posts(corpus()[:1])
        other.execute("ROLLBACK")
        assert store.upsert_posts(corpus()[:1]).new == 1


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "vigie.db")
    store.close()
    with pytest.raises(StoreError, match="the store is closed"):
        store.count_posts(PostQuery())


def test_the_wal_stays_bounded_under_steady_writes_while_a_reader_keeps_reading(tmp_path: Path) -> None:
    """The soak saw the WAL grow to 64 MiB and stay that size: it must be checkpointed at 16 MiB and cut back."""
    words = [f"mot{n}" for n in range(5000)]
    rng = random.Random(3)
    wal = tmp_path / "vigie.db-wal"
    sizes = []
    with SQLiteStore(tmp_path / "vigie.db") as writer, SQLiteStore(tmp_path / "vigie.db") as reader:
        for batch in range(40):
            writer.upsert_posts([make_post(f"p{batch}-{n}", " ".join(rng.choices(words, k=1200))) for n in range(50)])
            reader.count_posts(PostQuery(text="mot7"))  # the dashboard reads between the writes
            sizes.append(wal.stat().st_size)
    assert any(later < earlier for earlier, later in itertools.pairwise(sizes)), "the WAL was never checkpointed and cut back"
    assert max(sizes) < WAL_SIZE_LIMIT + 8 * 1024 * 1024, f"the WAL reached {max(sizes) / 2**20:.1f} MiB"
