"""The embedded store: one SQLite file, FTS5 for full text, WAL so the dashboard reads while the crawler writes.

One `SQLiteStore` owns one write connection (guarded by a lock) and up to `_READERS` read connections, each lent to
one thread at a time: the dashboard's sessions read side by side, on their own snapshots, instead of queueing behind
one another's aggregates; open one store per process. Every SQLite failure becomes a `StoreError` whose one-line
message names the file. The schema lives in `store/sqlite_schema.py`; its layout notes explain why posts are split
into narrow rows, documents and side tables.
"""

from __future__ import annotations

import json
import queue
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import chain, count, islice, repeat
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from store.base import (
    BucketCount,
    ClusterSummary,
    GroupField,
    Interval,
    PostQuery,
    SearchHit,
    SearchResult,
    Store,
    StoreError,
    TermCount,
    TopField,
    UpsertResult,
    clusters_of,
)
from store.key_runs import MAX_POST, KeyRuns, key_numbers, ranges
from store.sqlite_schema import MIGRATIONS
from vigie.models import Alert, AlertState, Candidate, CandidateState, CrawlRun, OutboxMessage, Post, SavedSearch, Subscription, TagMatch, as_utc, utcnow

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_BUCKET_WIDTH = {"hour": 3_600_000_000, "day": 86_400_000_000}
_UPSERT_CHUNK = 10_000
_KEY_INDEX_MIGRATIONS = (2, 3)
"""Migrations after which the band keys of the posts already stored are indexed again."""
_NO_POSTS = np.empty(0, dtype=np.uint32)
_READERS = 4
"""Read connections at most: enough for the dashboard's sessions to use both cores (SQLite releases the GIL while a
query runs), few enough that their page caches stay small."""
_READER_CACHE_KIB = 32768
WAL_CHECKPOINT_PAGES = 1024
"""A commit that leaves more than this many pages (16 KiB each, 16 MiB) in the WAL checkpoints it."""
WAL_SIZE_LIMIT = 16 * 1024 * 1024
"""Bytes the WAL file is cut back to when a checkpoint restarts it (SQLite otherwise keeps its largest size)."""

# Label kinds: repeated strings interned in `labels`, referred to by integer id.
_KIND = {"platform": 1, "source": 2, "author": 3, "language": 4, "narrative": 5, "tag": 6, "term": 7, "hashtag": 8, "domain": 9, "mention": 10}
_COLUMN_FIELDS = ("platform", "source", "language", "author")
_DOC_EXCLUDED = {"title", "text", "first_seen_at"}

_LABELLED_COLUMNS = "published, {pk}, platform, source, author, author_id, language"
"""The post's columns that `post_labels` repeats, in the order the store writes them."""
_UPSERT_POST = f"""
    INSERT INTO posts ({_LABELLED_COLUMNS.format(pk="pk")}, id, first_seen, cluster)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (pk) DO UPDATE SET published = excluded.published, platform = excluded.platform,
        source = excluded.source, author = excluded.author, author_id = excluded.author_id,
        language = excluded.language, cluster = excluded.cluster
"""
_UPSERT_DOC = """
    INSERT INTO post_docs (pk, title, text, doc) VALUES (?, ?, ?, ?)
    ON CONFLICT (pk) DO UPDATE SET title = excluded.title, text = excluded.text, doc = excluded.doc
"""
_POST_COLUMNS = "p.first_seen, d.title, d.text, d.doc"
_INSERT_LABELS = f"INSERT INTO post_labels (label, {_LABELLED_COLUMNS.format(pk='post')}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def _us(value: datetime) -> int:
    return (as_utc(value) - _EPOCH) // _MICROSECOND


def _datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


# ---------------------------------------------------------------- full-text query syntax

_WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+")
_CHUNK = re.compile(r'"([^"]*)(?:"|$)|([^\s"]+)')


def fold(word: str) -> str:
    """Lower case without diacritics, as FTS5's `unicode61 remove_diacritics 2` indexes words."""
    return "".join(c for c in unicodedata.normalize("NFD", word.lower()) if not unicodedata.combining(c))


def query_phrases(text: str | None) -> list[tuple[str, ...]]:
    """A user's query as phrases of words: `"quoted words"` and hyphenated words stay together, the rest is one
    phrase per word. Operators and punctuation are plain text here, so no input is a syntax error."""
    phrases = []
    for match in _CHUNK.finditer(text or ""):
        words = tuple(_WORD.findall(match.group(1) if match.group(1) is not None else match.group(2)))
        if words:
            phrases.append(words)
    return phrases


def _fts_expression(phrases: list[tuple[str, ...]]) -> str:
    return " ".join('"' + " ".join(words) + '"' for words in phrases)


def highlight_spans(text: str, phrases: list[tuple[str, ...]]) -> list[tuple[int, int]]:
    """Character spans of `text` where a phrase of the query occurs, compared folded."""
    if not phrases:
        return []
    tokens = [(m.start(), m.end(), fold(m.group())) for m in _WORD.finditer(text)]
    folded = [word[2] for word in tokens]
    spans = set()
    for phrase in {tuple(fold(w) for w in words) for words in phrases}:
        size = len(phrase)
        for index in range(len(tokens) - size + 1):
            if tuple(folded[index : index + size]) == phrase:
                spans.add((tokens[index][0], tokens[index + size - 1][1]))
    return sorted(spans)


# ---------------------------------------------------------------- the store


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements, so that it runs inside the store's own transaction (`executescript`
    would commit first); `complete_statement` knows that a trigger's `;` belong to it."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:60]}")


_Stateful = TypeVar("_Stateful", Alert, Candidate)


def database_files(path: Path) -> tuple[Path, Path, Path]:
    """The database and the WAL and shared-memory files SQLite keeps beside it: a copy or removal takes all three."""
    return path, Path(f"{path}-wal"), Path(f"{path}-shm")


class SQLiteStore(Store):
    """Posts and everything else Vigie keeps, in one SQLite file."""

    name = "sqlite"

    def __init__(self, path: Path | str, *, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._labels: dict[tuple[int, str], int] = {}
        self._values: dict[int, str] = {}
        self._labels_in_transaction: list[tuple[int, str]] = []
        self._key_runs = KeyRuns()
        self._conn: sqlite3.Connection | None = None
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._reader_slots = threading.BoundedSemaphore(_READERS)
        self._opened_readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        with self._errors():
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            try:
                self._configure()
                self._migrate()
            except BaseException:
                self._conn.close()
                raise

    # ------------------------------------------------------------ connection, transactions, errors

    def _configure(self) -> None:
        conn = self._db
        conn.execute("PRAGMA page_size = 16384")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch to WAL mode (journal mode is {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA cache_size = -131072")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA mmap_size = 268435456")

    def _migrate(self) -> None:
        conn = self._db
        if conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS):
            return
        with self._transaction():
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(f"{self.path}: schema version {version} is newer than this Vigie knows ({len(MIGRATIONS)}); upgrade Vigie")
            for number in range(version + 1, len(MIGRATIONS) + 1):
                for statement in _statements(MIGRATIONS[number - 1]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            if version > 0 and any(version < number <= len(MIGRATIONS) for number in _KEY_INDEX_MIGRATIONS):
                self._index_stored_keys(conn)

    def _index_stored_keys(self, conn: sqlite3.Connection) -> None:
        """Band keys of the posts already stored, for a database that had them in the index migration 2 dropped."""
        rows = conn.execute("SELECT pk, json_extract(doc, '$.near_dup_keys') FROM post_docs ORDER BY pk")
        while batch := rows.fetchmany(_UPSERT_CHUNK):
            self._key_runs.add(conn, [(pk, json.loads(keys)) for pk, keys in batch if keys and keys != "[]"])

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.path}: the store is closed")
        return self._conn

    def _open_reader(self) -> sqlite3.Connection:
        """A read-only connection to the same file (already in WAL mode: the write connection set it)."""
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        for pragma in (f"busy_timeout = {int(self.busy_timeout * 1000)}", f"cache_size = -{_READER_CACHE_KIB}", "temp_store = MEMORY", "mmap_size = 268435456", "query_only = 1"):
            conn.execute(f"PRAGMA {pragma}")
        with self._readers_lock:  # not the write lock: a reader opens while a write transaction is under way
            self._opened_readers.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                with self._readers_lock:
                    readers, self._opened_readers = self._opened_readers, []
                with self._errors():
                    for reader in readers:
                        reader.close()
                    conn.close()

    def _describe(self, exc: sqlite3.Error) -> str:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        lowered = message.lower()
        if "locked" in lowered or "busy" in lowered:
            hint = f"another process held the write lock for more than {self.busy_timeout:g}s; try again"
        elif "full" in lowered:
            hint = "no space left for the database; free disk space or set retention"
        elif "readonly" in lowered or "read-only" in lowered:
            hint = "the file or its folder is read-only"
        elif "unable to open" in lowered:
            hint = "check that the folder exists and is writable"
        elif "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
            hint = "the file is corrupt or is not a Vigie database; restore a backup or move it aside"
        else:
            return f"{self.path}: {message}"
        return f"{self.path}: {message} ({hint})"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(self._describe(exc)) from exc

    @contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE for writes (take the write lock up front), DEFERRED for a consistent read snapshot."""
        conn = self._db
        conn.execute(f"BEGIN {mode}")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for key in self._labels_in_transaction:
                self._values.pop(self._labels.pop(key), None)
            raise
        finally:
            self._labels_in_transaction.clear()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors(), self._transaction() as conn:
            yield conn

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A read transaction (one snapshot) on a read connection of this thread's own while it lasts."""
        with self._reader_slots, self._errors():
            if self._conn is None:
                raise StoreError(f"{self.path}: the store is closed")
            try:
                conn = self._readers.get_nowait()
            except queue.Empty:
                conn = self._open_reader()
            try:
                conn.execute("BEGIN DEFERRED")
                try:
                    yield conn
                finally:
                    if conn.in_transaction:
                        conn.execute("COMMIT")
            finally:
                if self._conn is not None:
                    self._readers.put(conn)

    # ------------------------------------------------------------ labels

    def _label(self, kind: int, value: str) -> int:
        """Id of a label, created if new (inside a write transaction)."""
        key = (kind, value)
        found = self._labels.get(key)
        if found is not None:
            return found
        conn = self._db
        row = conn.execute("SELECT id FROM labels WHERE kind = ? AND value = ?", key).fetchone()
        label = row[0] if row else conn.execute("INSERT INTO labels (kind, value) VALUES (?, ?)", key).lastrowid
        if not row:
            self._labels_in_transaction.append(key)
        self._labels[key] = label
        self._values[label] = value
        return label

    def _find_labels(self, conn: sqlite3.Connection, field: str, values: Iterable[str]) -> list[int]:
        """Ids of known labels; unknown values match nothing, so they are left out."""
        kind = _KIND[field]
        wanted = list(dict.fromkeys(values))
        missing = [v for v in wanted if (kind, v) not in self._labels]
        if missing:
            rows = conn.execute(f"SELECT id, value FROM labels WHERE kind = ? AND value IN ({_marks(missing)})", [kind, *missing])
            for label, value in rows:
                self._labels[(kind, value)] = label
                self._values[label] = value
        return [self._labels[(kind, v)] for v in wanted if (kind, v) in self._labels]

    def _label_values(self, conn: sqlite3.Connection, labels: Iterable[int]) -> dict[int, str]:
        missing = [label for label in set(labels) if label is not None and label not in self._values]
        for start in range(0, len(missing), 10_000):
            part = missing[start : start + 10_000]
            for label, kind, value in conn.execute(f"SELECT id, kind, value FROM labels WHERE id IN ({_marks(part)})", part):
                self._labels[(kind, value)] = label
                self._values[label] = value
        return self._values

    # ------------------------------------------------------------ posts: writing

    def upsert_posts(self, posts: Iterable[Post]) -> UpsertResult:
        new = updated = 0
        iterator = iter(posts)
        while chunk := list(islice(iterator, _UPSERT_CHUNK)):
            added, changed = self._upsert_chunk(chunk)
            new, updated = new + added, updated + changed
        return UpsertResult(new=new, updated=updated)

    def _upsert_chunk(self, chunk: list[Post]) -> tuple[int, int]:
        latest = {post.id: post for post in chunk}
        repeats = len(chunk) - len(latest)
        with self._writing() as conn:
            ids = list(latest)
            known = {
                row[0]: row[1:]
                for row in conn.execute(
                    "SELECT p.id, p.pk, p.first_seen, d.title, d.text, json_extract(d.doc, '$.near_dup_keys') "
                    f"FROM posts p JOIN post_docs d ON d.pk = p.pk WHERE p.id IN ({_marks(ids)})",
                    ids,
                )
            }
            first_new = next_pk = (conn.execute("SELECT max(pk) FROM posts").fetchone()[0] or 0) + 1
            now = _us(utcnow())
            known_label, label = self._labels.get, self._label
            post_rows, doc_rows, label_rows = [], [], []
            text_rows, text_deletes, key_entries, rekeyed = [], [], [], []
            for post in latest.values():
                if post.id in known:
                    pk, first_seen, title, text, old_keys = known[post.id]
                    if (title, text) != (post.title, post.text):
                        text_deletes.append((pk, title, text))
                        text_rows.append((pk, post.title, post.text))
                    stale = set(json.loads(old_keys or "[]"))
                    if set(post.near_dup_keys) != stale:
                        key_entries += [(pk, post.near_dup_keys)] if post.near_dup_keys else []
                        rekeyed += [(pk,)] if stale else []
                else:
                    pk, next_pk = next_pk, next_pk + 1
                    first_seen = _us(post.first_seen_at) if post.first_seen_at else now
                    if post.near_dup_keys:
                        key_entries.append((pk, post.near_dup_keys))
                author, author_id = post.author.handle or post.author.id, post.author.id
                columns = (
                    _us(post.published_at),
                    pk,
                    known_label((1, post.platform)) or label(1, post.platform),
                    known_label((2, post.source_id)) or label(2, post.source_id),
                    (known_label((3, author)) or label(3, author)) if author else None,
                    (known_label((3, author_id)) or label(3, author_id)) if author_id else None,
                    (known_label((4, post.language)) or label(4, post.language)) if post.language else None,
                )
                post_rows.append((*columns, post.id, first_seen, post.cluster_id))
                doc_rows.append((pk, post.title, post.text, post.model_dump_json(exclude=_DOC_EXCLUDED)))
                side = {
                    known_label(key) or label(*key)
                    for key in chain(
                        zip(repeat(5), post.narratives),
                        zip(repeat(6), post.tags),
                        ((7, match.term) for match in post.matches),
                        zip(repeat(8), post.hashtags),
                        zip(repeat(9), post.domains),
                        zip(repeat(10), post.mentions),
                    )
                }
                label_rows += [(lid, *columns) for lid in side]
            if known:
                pks = [row[0] for row in known.values()]
                conn.execute(f"DELETE FROM post_labels WHERE post IN ({_marks(pks)})", pks)
                conn.executemany("INSERT INTO post_fts (post_fts, rowid, title, text) VALUES ('delete', ?, ?, ?)", text_deletes)
            conn.executemany(_UPSERT_POST, post_rows)
            conn.executemany(_UPSERT_DOC, doc_rows)
            conn.executemany("INSERT INTO post_fts (rowid, title, text) VALUES (?, ?, ?)", text_rows)
            conn.execute("INSERT INTO post_fts (rowid, title, text) SELECT pk, title, text FROM post_docs WHERE pk >= ?", (first_new,))
            conn.executemany(_INSERT_LABELS, label_rows)
            conn.executemany("INSERT OR IGNORE INTO rekeyed_posts (pk) VALUES (?)", rekeyed)
            self._key_runs.add(conn, key_entries)
        return len(latest) - len(known), len(known) + repeats

    def _watchlist_labels(self, narratives: list[str], tags: list[str], matches: list[TagMatch]) -> set[int]:
        label = self._label
        labels = {label(5, v) for v in narratives}
        labels.update(label(6, v) for v in tags)
        labels.update(label(7, m.term) for m in matches)
        return labels

    def update_enrichment(self, post_id: str, *, tags: list[str], narratives: list[str], matches: list[TagMatch]) -> bool:
        with self._writing() as conn:
            row = conn.execute(f"SELECT d.doc, {_LABELLED_COLUMNS.format(pk='p.pk')} FROM posts p JOIN post_docs d ON d.pk = p.pk WHERE p.id = ?", (post_id,)).fetchone()
            if row is None:
                return False
            doc, *columns = row
            pk = columns[1]
            data = json.loads(doc)
            data.update(tags=list(tags), narratives=list(narratives), matches=[m.model_dump(mode="json") for m in matches])
            conn.execute("UPDATE post_docs SET doc = ? WHERE pk = ?", (json.dumps(data, ensure_ascii=False), pk))
            watchlist_kinds = (_KIND["narrative"], _KIND["tag"], _KIND["term"])
            conn.execute("DELETE FROM post_labels WHERE post = ? AND label IN (SELECT id FROM labels WHERE kind IN (?, ?, ?))", (pk, *watchlist_kinds))
            conn.executemany(_INSERT_LABELS, [(lid, *columns) for lid in self._watchlist_labels(narratives, tags, matches)])
        return True

    def delete_posts(self, before: datetime) -> int:
        cut = _us(before)
        doomed = "SELECT pk FROM posts WHERE published < ?"
        with self._writing() as conn:
            # numbers past the last post that stays are given again to new posts, while the key runs still hold the old keys
            last_kept = "SELECT pk FROM posts NOT INDEXED WHERE published >= ? ORDER BY pk DESC LIMIT 1"  # from the newest number down: found at once
            conn.execute(f"INSERT OR IGNORE INTO rekeyed_posts (pk) {doomed} AND pk > coalesce(({last_kept}), 0)", (cut, cut))
            conn.execute(f"INSERT INTO post_fts (post_fts, rowid, title, text) SELECT 'delete', pk, title, text FROM post_docs WHERE pk IN ({doomed})", (cut,))
            conn.execute(f"DELETE FROM post_labels WHERE post IN ({doomed})", (cut,))
            conn.execute(f"DELETE FROM post_docs WHERE pk IN ({doomed})", (cut,))
            deleted = conn.execute("DELETE FROM posts WHERE published < ?", (cut,)).rowcount
        with self._lock, self._errors():
            # a retention pass rewrites many pages: fold them into the database and empty the WAL now, waiting
            # for readers, which the automatic (passive) checkpoints never do
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        return deleted

    # ------------------------------------------------------------ posts: reading

    def _where(self, conn: sqlite3.Connection, query: PostQuery, phrases: list[tuple[str, ...]], *, alias: str = "p", text: bool = True) -> tuple[str, list[Any]]:
        """SQL condition (and its parameters) for the query's filters, on `posts p` or on `post_labels g`, which
        repeats the columns filtered on."""
        post = f"{alias}.pk" if alias == "p" else f"{alias}.post"
        clauses: list[str] = []
        params: list[Any] = []
        period: list[str] = []
        if query.since is not None:
            clauses.append(f"{alias}.published >= ?")
            period.append("published >= ?")
            params.append(_us(query.since))
        if query.until is not None:
            clauses.append(f"{alias}.published < ?")
            period.append("published < ?")
            params.append(_us(query.until))
        window = params[:]
        for field, values in (("platform", query.platforms), ("source", query.sources), ("language", query.languages)):
            if values:
                labels = self._find_labels(conn, field, values)
                clauses.append(f"{alias}.{field} IN ({_marks(labels)})")
                params += labels
        if query.authors:
            labels = self._find_labels(conn, "author", query.authors)
            clauses.append(f"({alias}.author IN ({_marks(labels)}) OR {alias}.author_id IN ({_marks(labels)}))")
            params += labels + labels
        for field, values in (("narrative", query.narratives), ("tag", query.tags), ("term", query.terms), ("hashtag", query.hashtags)):
            if values:
                labels = self._find_labels(conn, field, values)
                clauses.append(f"{post} IN (SELECT post FROM post_labels WHERE {' AND '.join([f'label IN ({_marks(labels)})', *period])})")
                params += labels + window
        if query.cluster_id is not None:
            clauses.append("p.cluster = ?" if alias == "p" else f"{post} IN (SELECT pk FROM posts WHERE cluster = ?)")
            params.append(query.cluster_id)
        if text and phrases:
            clauses.append(f"{post} IN (SELECT rowid FROM post_fts WHERE post_fts MATCH ?)")
            params.append(_fts_expression(phrases))
        return " AND ".join(clauses) or "1", params

    def _page(self, conn: sqlite3.Connection, query: PostQuery, phrases: list[tuple[str, ...]], limit: int, offset: int = 0, after: Sequence[Any] = ()) -> list[tuple[Any, int]]:
        """(sort key, pk) of the posts in `query.sort` order, past the keyset position `after` if given.

        Only narrow rows are sorted; the documents of the page are read afterwards."""
        if query.sort == "relevance" and phrases:
            where, params = self._where(conn, query, phrases, text=False)
            score = "bm25(post_fts, 2.0, 1.0)"
            keyset = f"AND ({score}, p.pk) > (?, ?)" if after else ""
            sql = f"SELECT {score}, p.pk FROM post_fts JOIN posts p ON p.pk = post_fts.rowid WHERE post_fts MATCH ? AND {where} {keyset} ORDER BY 1, 2"
            params = [_fts_expression(phrases), *params]
        else:
            where, params = self._where(conn, query, phrases)
            direction, operator = ("ASC", ">") if query.sort == "oldest" else ("DESC", "<")
            keyset = f"AND (p.published, p.pk) {operator} (?, ?)" if after else ""
            sql = f"SELECT p.published, p.pk FROM posts p WHERE {where} {keyset} ORDER BY p.published {direction}, p.pk {direction}"
        return conn.execute(f"{sql} LIMIT ? OFFSET ?", [*params, *after, limit, offset]).fetchall()

    def _load(self, conn: sqlite3.Connection, pks: list[int]) -> list[Post]:
        rows = conn.execute(f"SELECT p.pk, {_POST_COLUMNS} FROM posts p JOIN post_docs d ON d.pk = p.pk WHERE p.pk IN ({_marks(pks)})", pks)
        posts = {row[0]: self._post(*row[1:]) for row in rows}
        return [posts[pk] for pk in pks]

    @staticmethod
    def _post(first_seen: int, title: str | None, text: str, doc: str) -> Post:
        data = json.loads(doc)
        data.update(title=title, text=text, first_seen_at=_datetime(first_seen))
        return Post.model_validate(data)

    def get_post(self, post_id: str) -> Post | None:
        with self._reading() as conn:
            row = conn.execute(f"SELECT {_POST_COLUMNS} FROM posts p JOIN post_docs d ON d.pk = p.pk WHERE p.id = ?", (post_id,)).fetchone()
        return self._post(*row) if row else None

    def search(self, query: PostQuery) -> SearchResult:
        phrases = query_phrases(query.text)
        posts: list[Post] = []
        with self._reading() as conn:
            where, params = self._where(conn, query, phrases)
            total = conn.execute(f"SELECT count(*) FROM posts p WHERE {where}", params).fetchone()[0]
            if query.limit and total > query.offset:
                posts = self._load(conn, [pk for _, pk in self._page(conn, query, phrases, query.limit, query.offset)])
        return SearchResult(total=total, hits=[SearchHit(post=post, highlights=highlight_spans(post.text, phrases)) for post in posts])

    def count_posts(self, query: PostQuery) -> int:
        with self._reading() as conn:
            where, params = self._where(conn, query, query_phrases(query.text))
            return conn.execute(f"SELECT count(*) FROM posts p WHERE {where}", params).fetchone()[0]

    def iter_posts(self, query: PostQuery, batch_size: int = 1000) -> Iterator[Post]:
        phrases = query_phrases(query.text)
        position: tuple[Any, ...] = ()
        while True:
            with self._reading() as conn:
                page = self._page(conn, query, phrases, batch_size, after=position)
                posts = self._load(conn, [pk for _, pk in page]) if page else []
            yield from posts
            if len(page) < batch_size:
                return
            position = page[-1]

    # ------------------------------------------------------------ posts: aggregates

    def _grouping(self, field: str | None) -> tuple[str, str, list[Any]]:
        """Table to count in (`posts p`, or `post_labels g` for a multi-valued field), the key expression, and the
        condition that keeps the rows that have a value of `field`."""
        if field is None:
            return "p", "NULL", []
        if field in _COLUMN_FIELDS:
            return "p", f"p.{field}", []
        return "g", "g.label", [_KIND[field]]

    def _aggregate(self, conn: sqlite3.Connection, query: PostQuery, field: str | None, select: str, group_by: str) -> list[tuple[Any, ...]]:
        alias, key, kind = self._grouping(field)
        where, params = self._where(conn, query, query_phrases(query.text), alias=alias)
        table = "posts p" if alias == "p" else "post_labels g"
        if kind:
            where += " AND g.label IN (SELECT id FROM labels WHERE kind = ?)"
        elif field:
            where += f" AND {key} IS NOT NULL"
        sql = f"SELECT {select.format(key=key, t=alias)} FROM {table} WHERE {where} GROUP BY {group_by}"
        return conn.execute(sql, [*params, *kind]).fetchall()

    def count_buckets(self, query: PostQuery, interval: Interval, group_by: GroupField | None = None, *, distinct: bool = True) -> list[BucketCount]:
        width = _BUCKET_WIDTH[interval]
        distinct_counts = "count(DISTINCT {t}.author), count(DISTINCT {t}.source)" if distinct else "0, 0"
        select = f"{{t}}.published / {width} AS bucket, {{key}} AS k, count(*), {distinct_counts}"
        with self._reading() as conn:
            rows = self._aggregate(conn, query, group_by, select, "bucket, k")
            values = self._label_values(conn, (row[1] for row in rows)) if group_by else {}
        counts = [BucketCount(start=_datetime(bucket * width), key=values.get(k), posts=n, authors=a, sources=s) for bucket, k, n, a, s in rows]
        return sorted(counts, key=lambda c: (c.start, c.key or ""))

    def top_terms(self, query: PostQuery, field: TopField, limit: int = 10) -> list[TermCount]:
        with self._reading() as conn:
            rows = self._aggregate(conn, query, field, "{key} AS k, count(*)", "k")
            values = self._label_values(conn, (row[0] for row in rows))
        terms = sorted((TermCount(value=values[k], count=n) for k, n in rows), key=lambda t: (-t.count, t.value))
        return terms[:limit]

    def clusters(self, query: PostQuery, min_sources: int = 2, limit: int = 20) -> list[ClusterSummary]:
        with self._reading() as conn:
            where, params = self._where(conn, query, query_phrases(query.text))
            groups = conn.execute(
                f"SELECT p.cluster, count(*) AS n, count(DISTINCT p.source) AS s FROM posts p WHERE {where} AND p.cluster IS NOT NULL "
                "GROUP BY p.cluster HAVING s >= ? ORDER BY s DESC, n DESC, p.cluster LIMIT ?",
                [*params, min_sources, limit],
            ).fetchall()
            summaries = []
            for cluster, posts, sources in groups:
                first = conn.execute(
                    f"SELECT p.id, p.source, p.published FROM posts p WHERE {where} AND p.cluster = ? ORDER BY p.published, p.pk LIMIT 1",
                    [*params, cluster],
                ).fetchone()
                source = self._label_values(conn, [first[1]])[first[1]]
                summaries.append(ClusterSummary(cluster, posts, sources, first[0], source, _datetime(first[2])))
        return summaries

    def find_near_duplicates(self, keys: Iterable[str], limit: int = 50) -> list[tuple[str, str | None]]:
        return self._near_duplicates([keys], limit)[0]

    def near_duplicate_clusters(self, groups: Sequence[Iterable[str]], limit: int = 50) -> list[set[str]]:
        return [clusters_of(found) for found in self._near_duplicates(groups, limit)]

    def _near_duplicates(self, groups: Sequence[Iterable[str]], limit: int) -> list[list[tuple[str, str | None]]]:
        """For each group of keys, up to `limit` posts sharing one, in post order: candidates from the key runs that
        still exist and, for posts re-keyed since (their old keys stay in the runs), whose current keys still share
        one. One read transaction and one pass over the runs for every group."""
        wanted = [set(keys) for keys in groups]
        results: list[list[tuple[str, str | None]]] = [[] for _ in wanted]
        if not any(wanted):
            return results
        numbers = key_numbers([key for keys in wanted for key in keys])
        unique, number_index = np.unique(numbers, return_inverse=True)
        number_group = np.repeat(np.arange(len(wanted)), [len(keys) for keys in wanted])
        with self._lock, self._reading() as conn:  # the lock: the key runs' in-memory copy is one for all threads
            hits, posts = self._key_runs.matches(conn, unique)
            # each number found to the groups that hold it (one, unless groups share keys), paired with its posts
            by_number = np.argsort(number_index, kind="stable")
            per_number = np.bincount(number_index, minlength=len(unique))
            block = np.cumsum(per_number) - per_number
            pair_groups = number_group[by_number[ranges(block[hits], per_number[hits])]]
            pairs = np.unique(pair_groups.astype(np.uint64) << np.uint64(32) | np.repeat(posts, per_number[hits]).astype(np.uint64))
            bounds = np.searchsorted(pairs >> np.uint64(32), np.arange(len(wanted) + 1, dtype=np.uint64))
            candidates = [(pairs[bounds[g] : bounds[g + 1]] & np.uint64(MAX_POST)).tolist() for g in range(len(wanted))]
            seen: dict[int, tuple[str, str | None, set[str] | None]] = {}
            step = max(limit, 1)
            for start in count(0, step):
                pending = [(index, part) for index, found in enumerate(candidates) if len(results[index]) < limit and (part := found[start : start + step])]
                if not pending:
                    break
                missing = list({pk for _, part in pending for pk in part} - seen.keys())
                for first in range(0, len(missing), 500):
                    part = missing[first : first + 500]
                    rows = conn.execute(
                        "SELECT p.pk, p.id, p.cluster, r.pk, json_extract(d.doc, '$.near_dup_keys') FROM posts p "
                        f"LEFT JOIN rekeyed_posts r ON r.pk = p.pk LEFT JOIN post_docs d ON d.pk = r.pk WHERE p.pk IN ({_marks(part)})",
                        part,
                    )
                    seen.update((pk, (post_id, cluster, None if rekeyed is None else set(json.loads(keys or "[]")))) for pk, post_id, cluster, rekeyed, keys in rows)
                for index, part in pending:
                    results[index] += [(seen[pk][0], seen[pk][1]) for pk in part if pk in seen and (seen[pk][2] is None or not wanted[index].isdisjoint(seen[pk][2]))]
        return [found[:limit] for found in results]

    # ------------------------------------------------------------ crawl runs and cursors

    def record_crawl_run(self, run: CrawlRun) -> None:
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO crawl_runs (id, source_id, started_at, doc) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET source_id = excluded.source_id, started_at = excluded.started_at, doc = excluded.doc",
                (run.id, run.source_id, _us(run.started_at), run.model_dump_json()),
            )

    def crawl_runs(self, source_id: str | None = None, limit: int = 50) -> list[CrawlRun]:
        with self._reading() as conn:
            if source_id is None:
                rows = conn.execute("SELECT doc FROM crawl_runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,))
            else:
                rows = conn.execute("SELECT doc FROM crawl_runs WHERE source_id = ? ORDER BY started_at DESC, rowid DESC LIMIT ?", (source_id, limit))
            return [CrawlRun.model_validate_json(doc) for (doc,) in rows]

    def get_cursor(self, source_id: str) -> dict | None:
        with self._reading() as conn:
            row = conn.execute("SELECT cursor FROM cursors WHERE source_id = ?", (source_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_cursor(self, source_id: str, cursor: dict) -> None:
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO cursors (source_id, cursor, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (source_id) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                (source_id, json.dumps(cursor, ensure_ascii=False), _us(utcnow())),
            )

    # ------------------------------------------------------------ alerts, subscriptions, saved searches

    def save_alert(self, alert: Alert) -> None:
        self._save_stateful("alerts", alert.id, alert.state, alert.updated_at, alert.model_dump_json())

    def get_alert(self, alert_id: str) -> Alert | None:
        return self._get_stateful("alerts", Alert, alert_id)

    def list_alerts(self, states: Iterable[AlertState] = (), since: datetime | None = None, limit: int = 100) -> list[Alert]:
        return self._list_stateful("alerts", Alert, list(states), since, limit)

    def save_candidate(self, candidate: Candidate) -> None:
        self._save_stateful("candidates", candidate.id, candidate.state, candidate.updated_at, candidate.model_dump_json())

    def get_candidate(self, candidate_id: str) -> Candidate | None:
        return self._get_stateful("candidates", Candidate, candidate_id)

    def list_candidates(self, states: Iterable[CandidateState] = (), since: datetime | None = None, limit: int = 100) -> list[Candidate]:
        return self._list_stateful("candidates", Candidate, list(states), since, limit)

    def _save_stateful(self, table: str, record_id: str, state: str, updated_at: datetime, doc: str) -> None:
        """Alerts and candidates: a document with the state and time it is listed by."""
        with self._writing() as conn:
            conn.execute(
                f"INSERT INTO {table} (id, state, updated_at, doc) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, doc = excluded.doc",
                (record_id, state, _us(updated_at), doc),
            )

    def _get_stateful(self, table: str, model: type[_Stateful], record_id: str) -> _Stateful | None:
        with self._reading() as conn:
            row = conn.execute(f"SELECT doc FROM {table} WHERE id = ?", (record_id,)).fetchone()
        return model.model_validate_json(row[0]) if row else None

    def _list_stateful(self, table: str, model: type[_Stateful], states: list[str], since: datetime | None, limit: int) -> list[_Stateful]:
        clauses, params = ["1"], []
        if states:
            clauses.append(f"state IN ({_marks(states)})")
            params += states
        if since is not None:
            clauses.append("updated_at >= ?")
            params.append(_us(since))
        with self._reading() as conn:
            rows = conn.execute(f"SELECT doc FROM {table} WHERE {' AND '.join(clauses)} ORDER BY updated_at DESC, id LIMIT ?", [*params, limit])
            return [model.model_validate_json(doc) for (doc,) in rows]

    def _save_record(self, table: str, record: Subscription | SavedSearch) -> None:
        with self._writing() as conn:
            conn.execute(
                f"INSERT INTO {table} (id, created_at, doc) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at, doc = excluded.doc",
                (record.id, _us(record.created_at), record.model_dump_json()),
            )

    def _delete_record(self, table: str, record_id: str) -> bool:
        with self._writing() as conn:
            return conn.execute(f"DELETE FROM {table} WHERE id = ?", (record_id,)).rowcount > 0

    def _list_records(self, table: str) -> list[str]:
        with self._reading() as conn:
            return [doc for (doc,) in conn.execute(f"SELECT doc FROM {table} ORDER BY created_at, id")]

    def save_subscription(self, subscription: Subscription) -> None:
        self._save_record("subscriptions", subscription)

    def delete_subscription(self, subscription_id: str) -> bool:
        return self._delete_record("subscriptions", subscription_id)

    def list_subscriptions(self) -> list[Subscription]:
        return [Subscription.model_validate_json(doc) for doc in self._list_records("subscriptions")]

    def save_search(self, saved: SavedSearch) -> None:
        self._save_record("saved_searches", saved)

    def delete_search(self, search_id: str) -> bool:
        return self._delete_record("saved_searches", search_id)

    def list_searches(self) -> list[SavedSearch]:
        return [SavedSearch.model_validate_json(doc) for doc in self._list_records("saved_searches")]

    # ------------------------------------------------------------ outbox

    def enqueue(self, message: OutboxMessage) -> bool:
        with self._writing() as conn:
            cursor = conn.execute(
                "INSERT INTO outbox (id, created_at, next_attempt_at, sent_at, doc) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (message.id, _us(message.created_at), _us(message.next_attempt_at), _us(message.sent_at) if message.sent_at else None, message.model_dump_json()),
            )
            return cursor.rowcount == 1

    def due_messages(self, now: datetime, limit: int = 100) -> list[OutboxMessage]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT doc FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= ? ORDER BY created_at, id LIMIT ?",
                (_us(now), limit),
            )
            return [OutboxMessage.model_validate_json(doc) for (doc,) in rows]

    def _update_message(self, message_id: str, **changes: Any) -> None:
        with self._writing() as conn:
            row = conn.execute("SELECT doc FROM outbox WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                return
            message = OutboxMessage.model_validate_json(row[0])
            if "attempts" in changes:
                changes["attempts"] += message.attempts
            message = message.model_copy(update=changes)
            conn.execute(
                "UPDATE outbox SET next_attempt_at = ?, sent_at = ?, doc = ? WHERE id = ?",
                (_us(message.next_attempt_at), _us(message.sent_at) if message.sent_at else None, message.model_dump_json(), message_id),
            )

    def mark_sent(self, message_id: str, at: datetime) -> None:
        self._update_message(message_id, sent_at=as_utc(at))

    def mark_failed(self, message_id: str, error: str, next_attempt_at: datetime) -> None:
        self._update_message(message_id, attempts=1, last_error=error, next_attempt_at=as_utc(next_attempt_at))
