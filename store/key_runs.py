"""The embedded store's index of LSH band keys: sorted runs in SQLite blobs, merged as a small LSM tree.

Each post brings about fourteen random band keys. In a B-tree every key is a random page write; in FTS5 every
key is a term of its own, and flushing 140,000 one-posting terms per batch of 10,000 posts cost a quarter of
the store's ingest time. Here a batch's keys become one run (keys sorted with numpy, and the posts they belong
to), written in the same transaction as the posts; when eight runs share a level, they merge into one of the
next level, so a key is rewritten a few times in its life. Runs never change once written (a merge writes a new
run and deletes the old ones), so a process keeps those it has read and a lookup is a binary search in memory:
12 bytes per key, about 170 MB at a million posts.

Keys are not removed when a post changes its keys or is deleted: a lookup checks its candidates against the
posts' current keys, and merges drop the keys of deleted posts.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Sequence

import numpy as np

FANOUT = 8
"""Runs of one level merged into one run of the next."""
MAX_POST = 2**32 - 1
"""Post keys (`posts.pk`) are kept as 32-bit integers: four billion posts is past what one SQLite file holds."""

_MASK = 2**64 - 1
_GOLDEN = 0x9E3779B97F4A7C15
_ENRICH_KEY_LENGTH = 18
_ENRICH_KEY = re.compile(r"[0-9a-f]{18}")

Run = tuple[np.ndarray, np.ndarray]
"""Sorted uint64 key numbers, and the uint32 post of each."""


def key_number(key: str) -> int:
    """A band key as a 64-bit number: enrich's keys (two digits of band, sixteen hex digits of hash) by arithmetic,
    any other string hashed. `key_numbers` computes the same numbers for a whole batch at once."""
    if _ENRICH_KEY.fullmatch(key):
        return (int(key[2:], 16) ^ (int(key[:2], 16) + 1) * _GOLDEN) & _MASK
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def key_numbers(keys: list[str]) -> np.ndarray:
    """`key_number` of each key, vectorised when every key has enrich's form (a Python loop cost 11 µs per post):
    `bytes.fromhex` reads the hex digits of all keys at once, nine bytes a key (band, then the hash big-endian)."""
    table = _enrich_key_bytes(keys)
    if table is None:
        return np.fromiter((key_number(key) for key in keys), dtype=np.uint64, count=len(keys))
    band = table[:, 0].astype(np.uint64)
    hashed = table[:, 1:].copy().view(">u8").ravel().astype(np.uint64)
    with np.errstate(over="ignore"):
        return hashed ^ (band + np.uint64(1)) * np.uint64(_GOLDEN)


def _enrich_key_bytes(keys: list[str]) -> np.ndarray | None:
    """The keys as a (keys x 9) byte array when every key has enrich's form (18 lower-case hex digits), else None."""
    joined = "".join(keys)
    if not keys or set(map(len, keys)) != {_ENRICH_KEY_LENGTH} or joined != joined.lower():
        return None
    try:
        raw = bytes.fromhex(joined)
    except ValueError:
        return None
    width = _ENRICH_KEY_LENGTH // 2
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(keys), width) if len(raw) == width * len(keys) else None


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions start, start+1, ... of each (start, count), end to end."""
    ends = np.cumsum(counts)
    return np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - counts - starts, counts)


def _sorted_run(numbers: np.ndarray, posts: np.ndarray) -> Run:
    """Sorted by key number; the posts of one number in any order (a lookup sorts what it finds)."""
    order = np.argsort(numbers)
    return numbers[order], posts[order]


def _blob(array: np.ndarray) -> bytes:
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def _insert(conn: sqlite3.Connection, level: int, run: Run) -> None:
    conn.execute("INSERT INTO key_runs (level, size, keys, posts) VALUES (?, ?, ?, ?)", (level, len(run[0]), _blob(run[0]), _blob(run[1])))


class KeyRuns:
    """The runs this process has read, and the writes and lookups that use them."""

    def __init__(self) -> None:
        self._cache: dict[int, Run] = {}

    def add(self, conn: sqlite3.Connection, entries: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Index (post, keys) pairs as a new run, then merge full levels (inside the caller's write transaction)."""
        keys = [key for _, post_keys in entries for key in post_keys]
        if not keys:
            return
        posts = np.repeat(np.array([post for post, _ in entries], dtype=np.int64), [len(post_keys) for _, post_keys in entries])
        if posts.max() > MAX_POST:
            raise sqlite3.DatabaseError(f"post number {posts.max()} is past the band-key index's limit ({MAX_POST})")
        _insert(conn, 0, _sorted_run(key_numbers(keys), posts.astype(np.uint32)))
        self._merge_full_levels(conn)

    def _merge_full_levels(self, conn: sqlite3.Connection) -> None:
        while row := conn.execute("SELECT level FROM key_runs GROUP BY level HAVING count(*) >= ? ORDER BY level LIMIT 1", (FANOUT,)).fetchone():
            level = row[0]
            ids = [run_id for (run_id,) in conn.execute("SELECT id FROM key_runs WHERE level = ? ORDER BY id", (level,))]
            runs = [self._read(conn, run_id, keep=False) for run_id in ids]
            numbers = np.concatenate([run[0] for run in runs])
            posts = np.concatenate([run[1] for run in runs])
            live = _existing_posts(conn, posts)
            keep = np.isin(posts, live)
            conn.execute(f"DELETE FROM key_runs WHERE id IN ({','.join('?' * len(ids))})", ids)
            if keep.any():
                _insert(conn, level + 1, _sorted_run(numbers[keep], posts[keep]))

    def _read(self, conn: sqlite3.Connection, run_id: int, *, keep: bool) -> Run:
        """A run, from this process's cache or the database. Only runs read in a committed snapshot are kept:
        a run written by a transaction that is later rolled back must not outlive it here."""
        run = self._cache.get(run_id)
        if run is not None:
            return run
        keys, posts = conn.execute("SELECT keys, posts FROM key_runs WHERE id = ?", (run_id,)).fetchone()
        run = (np.frombuffer(keys, dtype="<u8"), np.frombuffer(posts, dtype="<u4"))
        if keep:
            self._cache[run_id] = run
        return run

    def matches(self, conn: sqlite3.Connection, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every indexed occurrence of these sorted key numbers, as (index in `numbers`, post) arrays (inside a
        read transaction)."""
        ids = [run_id for (run_id,) in conn.execute("SELECT id FROM key_runs")]
        for gone in self._cache.keys() - set(ids):
            del self._cache[gone]
        indexes, posts = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.uint32)]
        for run_id in ids:
            keys, run_posts = self._read(conn, run_id, keep=True)
            starts = np.searchsorted(keys, numbers, side="left")
            counts = np.searchsorted(keys, numbers, side="right") - starts
            hit = np.flatnonzero(counts)
            indexes.append(np.repeat(hit, counts[hit]))
            posts.append(run_posts[ranges(starts[hit], counts[hit])])
        return np.concatenate(indexes), np.concatenate(posts)


def _existing_posts(conn: sqlite3.Connection, posts: np.ndarray) -> np.ndarray:
    """Which of these posts are still stored (posts are numbered densely, so one range scan finds them)."""
    if not len(posts):
        return posts
    rows = conn.execute("SELECT pk FROM posts WHERE pk BETWEEN ? AND ?", (int(posts.min()), int(posts.max()))).fetchall()
    return np.fromiter((row[0] for row in rows), dtype=np.uint32, count=len(rows))
