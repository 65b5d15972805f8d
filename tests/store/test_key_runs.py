"""The embedded store's band-key index: runs merge level by level, lookups see other writers, deleted and
re-keyed posts drop out, a failed write leaves nothing behind, and a database from migration 1 is re-indexed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store import key_runs
from store.base import StoreError
from store.key_runs import FANOUT, key_number, key_numbers
from store.sqlite import SQLiteStore
from tests.support.factories import make_post

START = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "vigie.db") as opened:
        yield opened


def keyed(number: int, keys: list[str], day: int = 0) -> object:
    return make_post(f"p{number}", f"text {number}", published_at=START + timedelta(days=day, minutes=number), near_dup_keys=keys, cluster_id=f"c{number}")


def levels(path: Path) -> list[tuple[int, int]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT level, count(*) FROM key_runs GROUP BY level ORDER BY level").fetchall()


def test_key_numbers_are_stable_and_tell_keys_apart() -> None:
    assert key_number("03a1b2c3d4e5f60718") == key_number("03a1b2c3d4e5f60718")
    distinct = ["00aaaa", "0aaaa", "aaaa", "01aaaa", "03a1b2c3d4e5f60718", "04a1b2c3d4e5f60718", "not hex", "clé"]
    assert len({key_number(key) for key in distinct}) == len(distinct)
    assert all(0 <= key_number(key) < 2**64 for key in distinct)


def test_full_levels_merge_and_every_key_is_still_found(store: SQLiteStore) -> None:
    batches = FANOUT * FANOUT + 1
    for number in range(batches):
        store.upsert_posts([keyed(number, [f"{number:04x}", "0shared"])])
    assert levels(store.path) == [(0, 1), (2, 1)]
    assert store.find_near_duplicates([f"{batches - 1:04x}"]) == [(f"feed:p{batches - 1}", f"c{batches - 1}")]
    assert store.find_near_duplicates(["0020"]) == [("feed:p32", "c32")]
    shared = store.find_near_duplicates(["0shared"], limit=batches)
    assert [post_id for post_id, _ in shared] == [f"feed:p{n}" for n in range(batches)]


def test_a_merge_drops_the_keys_of_deleted_posts(store: SQLiteStore) -> None:
    for number in range(FANOUT - 1):
        store.upsert_posts([keyed(number, [f"{number:04x}", "0shared"], day=number)])
    assert store.delete_posts(START + timedelta(days=3)) == 3
    store.upsert_posts([keyed(99, ["0099"], day=9)])
    with closing(sqlite3.connect(store.path)) as conn:
        keys, posts, size = conn.execute("SELECT keys, posts, size FROM key_runs WHERE level = 1").fetchone()
    assert size == len(keys) // 8 == len(posts) // 4 == 2 * (FANOUT - 1 - 3) + 1
    assert [post_id for post_id, _ in store.find_near_duplicates(["0shared"])] == ["feed:p3", "feed:p4", "feed:p5", "feed:p6"]


def test_a_recrawl_with_new_keys_is_found_by_them_only(store: SQLiteStore) -> None:
    store.upsert_posts([keyed(1, ["0a01", "0b01"]), keyed(2, ["0a02"])])
    store.upsert_posts([keyed(1, ["0c01", "0b01"])])
    assert store.find_near_duplicates(["0a01"]) == []
    assert store.find_near_duplicates(["0c01"]) == store.find_near_duplicates(["0b01"]) == [("feed:p1", "c1")]
    store.upsert_posts([keyed(1, [])])
    assert store.find_near_duplicates(["0c01", "0b01"]) == []


def test_lookups_see_runs_written_and_merged_by_another_connection(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "vigie.db") as writer, SQLiteStore(tmp_path / "vigie.db") as reader:
        writer.upsert_posts([keyed(0, ["0a00"])])
        assert reader.find_near_duplicates(["0a00"]) == [("feed:p0", "c0")]
        for number in range(1, FANOUT + 1):
            writer.upsert_posts([keyed(number, [f"{number:04x}"])])
        assert levels(writer.path) == [(0, 1), (1, 1)]
        assert reader.find_near_duplicates(["0a00", f"{FANOUT:04x}"]) == [("feed:p0", "c0"), (f"feed:p{FANOUT}", f"c{FANOUT}")]


def test_a_failed_write_leaves_no_run_behind(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.upsert_posts([keyed(1, ["0a01"])])
    monkeypatch.setattr(key_runs, "MAX_POST", 1)
    with pytest.raises(StoreError, match="band-key index's limit"):
        store.upsert_posts([keyed(2, ["0a02"])])
    monkeypatch.undo()
    assert levels(store.path) == [(0, 1)]
    assert store.find_near_duplicates(["0a02"]) == []
    store.upsert_posts([keyed(2, ["0a02"])])
    assert store.find_near_duplicates(["0a02", "0a01"]) == [("feed:p1", "c1"), ("feed:p2", "c2")]


@pytest.mark.parametrize(
    "keys",
    [
        [f"{band:02x}{value:016x}" for band in (0, 13, 255) for value in (0, 1, 2**63, 2**64 - 1)],
        ["00aaaa", "03a1b2c3d4e5f60718"],
        ["03A1B2C3D4E5F60718"],
        ["0a bbccddeeff001122"],
        ["é" * 18],
        [],
    ],
    ids=["enrich keys", "mixed", "upper case", "with a space", "not ASCII", "none"],
)
def test_batch_key_numbers_equal_one_by_one(keys: list[str]) -> None:
    assert key_numbers(keys).tolist() == [key_number(key) for key in keys]


def test_a_database_from_migration_1_gets_its_keys_indexed(tmp_path: Path) -> None:
    path = tmp_path / "vigie.db"
    with SQLiteStore(path) as store:
        store.upsert_posts([keyed(number, [f"{number:04x}", "0shared"]) for number in range(3)] + [keyed(3, [])])
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            "DROP TABLE key_runs; DROP TABLE rekeyed_posts; DROP TABLE candidates; CREATE VIRTUAL TABLE post_keys USING fts5 (keys, content = '', detail = none, columnsize = 0);"
            "PRAGMA user_version = 1;"
        )
    with SQLiteStore(path) as store:
        assert [post_id for post_id, _ in store.find_near_duplicates(["0shared"])] == ["feed:p0", "feed:p1", "feed:p2"]
        assert store.find_near_duplicates(["0002"]) == [("feed:p2", "c2")]
    assert levels(path) == [(0, 1)]


def test_a_database_from_migration_2_gets_its_keys_indexed_again_without_the_stale_ones(tmp_path: Path) -> None:
    """Before migration 3, nothing recorded which posts changed keys: their old keys must not survive it."""
    path = tmp_path / "vigie.db"
    with SQLiteStore(path) as store:
        store.upsert_posts([keyed(0, ["0old", "0shared"]), keyed(1, ["0shared"])])
        store.upsert_posts([keyed(0, ["0new"])])
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript("DROP TABLE rekeyed_posts; DROP TABLE candidates; PRAGMA user_version = 2;")
    with SQLiteStore(path) as store:
        assert store.find_near_duplicates(["0old"]) == []
        assert store.find_near_duplicates(["0shared"]) == [("feed:p1", "c1")]
        assert store.find_near_duplicates(["0new"]) == [("feed:p0", "c0")]
    assert levels(path) == [(0, 1)]


def test_a_post_number_given_again_after_a_deletion_does_not_inherit_the_old_keys(store: SQLiteStore) -> None:
    store.upsert_posts([keyed(0, ["0kept"], day=5), keyed(1, ["0gone", "0both"])])
    assert store.delete_posts(START + timedelta(days=1)) == 1  # p1, the highest post number
    store.upsert_posts([keyed(2, ["0fresh", "0both"], day=6)])
    assert store.find_near_duplicates(["0gone"]) == []
    assert store.find_near_duplicates(["0both"]) == [("feed:p2", "c2")]
    assert store.find_near_duplicates(["0fresh"]) == [("feed:p2", "c2")]


def test_enrich_keys_indexed_in_bulk_are_found_one_by_one(store: SQLiteStore) -> None:
    from enrich.duplicates import NearDuplicates

    texts = [f"Le stage initiatique numéro {n} promet la guérison quantique de toutes les maladies en trois jours" for n in range(40)]
    signatures = NearDuplicates().signatures(texts)
    assert all(len(keys) == 14 for keys in signatures)
    store.upsert_posts([keyed(number, keys) for number, keys in enumerate(signatures)])
    for number, keys in enumerate(signatures):
        found = store.find_near_duplicates([keys[number % len(keys)]], limit=100)
        assert (f"feed:p{number}", f"c{number}") in found
