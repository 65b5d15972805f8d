"""The production store: Elasticsearch 8.9+/9.x or OpenSearch 2.4+, shared by every Vigie process of every machine.

Request bodies live in `store/es_bodies.py`; this module sends them, reads the answers and turns every cluster
failure into a one-line `StoreError` naming the cluster (never its credentials). Both engines go through the same
code (`SearchEngineStore`); what they disagree on (client, errors, point in time, highlighting) is in
`store/engines.py`, and `ElasticsearchStore` / `store.opensearch.OpenSearchStore` only say which engine. Posts go to monthly indices by
`published_at` behind the read alias `PREFIX-posts`; while the cluster is unreachable they wait in the local
spool (`store/spool.py`) and are replayed, in order, before the next write.
"""

from __future__ import annotations

import logging
import os
import re
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ValidationError

from store import es_bodies as bodies
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
    StoreUnavailable,
    TermCount,
    TopField,
    UpsertResult,
)
from store.engines import ELASTICSEARCH, Engine
from store.spool import Spool
from store.sqlite import query_phrases
from vigie.config import Config, ElasticsearchSettings
from vigie.models import Alert, AlertState, Candidate, CandidateState, CrawlRun, OutboxMessage, Post, SavedSearch, Subscription, TagMatch, as_utc, utcnow

log = logging.getLogger(__name__)

UNAVAILABLE_STATUSES = frozenset({401, 403, 429, 500, 502, 503, 504})
"""Answers after which posts are spooled rather than refused: the cluster (or our access to it) is down, not the post."""

BUSY_STATUSES = (429, 503)
"""Per-post rejections retried with exponential backoff before giving up on the cluster for this write."""

BACKOFF_FIRST, BACKOFF_MAX = 1, 30
"""Seconds before the first retry of busy posts, doubling each time up to the second figure."""

PIT_KEEP_ALIVE = "2m"
_ModelT = TypeVar("_ModelT", bound=BaseModel)
_StoreT = TypeVar("_StoreT", bound="SearchEngineStore")


class ClusterUnreachable(StoreUnavailable):
    """The cluster cannot be reached (or refuses our credentials); posts written meanwhile wait in the spool."""


@dataclass(frozen=True, slots=True)
class SignificantTerm:
    """A term unusually frequent in a foreground set of posts compared with a background set."""

    value: str
    count: int
    """Posts of the foreground that have it."""
    background_count: int
    """Posts of the background that have it."""
    score: float


@dataclass
class _Outcome:
    """What one write of posts did: counted, refused (id, reason) and left unsent by an unavailable cluster."""

    new: int = 0
    updated: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    unsent: list[Post] = field(default_factory=list)
    reason: str = ""

    def result(self) -> UpsertResult:
        return UpsertResult(new=self.new, updated=self.updated, errors=list(self.errors))


# ---------------------------------------------------------------- connection


def redact_url(url: str) -> str:
    """The URL without user:password, for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def client_options(settings: ElasticsearchSettings, environ: dict[str, str], config_dir: Path, engine: Engine = ELASTICSEARCH) -> dict[str, Any]:
    """Keyword arguments for `Elasticsearch(...)` (`engine.client` translates them for OpenSearch): URL from
    settings/VIGIE_ES_URL, credentials from the environment only.

    The 8.x client sends `compatible-with=8` headers, which 9.x servers also accept (REST API compatibility).
    """
    section = f"store.{engine.backend}"
    if not settings.url:
        raise StoreError(f"store.backend is {engine.backend} but no cluster URL is set: set {engine.url_env} (or {section}.url)")
    parts = urlsplit(settings.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StoreError(f"{section}.url: expected http(s)://host:port, got {redact_url(settings.url)!r}")
    options: dict[str, Any] = {
        "hosts": [redact_url(settings.url)],
        "request_timeout": settings.request_timeout,
        "max_retries": 3,
        "retry_on_timeout": True,
    }
    api_key = environ.get(engine.api_key_env)
    user, password = environ.get(engine.user_env), environ.get(engine.password_env)
    if api_key:
        options["api_key"] = api_key
    elif user or password:
        if not (user and password):
            raise StoreError(f"set both {engine.user_env} and {engine.password_env} (or {engine.api_key_env})")
        options["basic_auth"] = (user, password)
    elif parts.username is not None:
        options["basic_auth"] = (unquote(parts.username), unquote(parts.password or ""))
    if settings.ca_file:
        ca_file = config_dir / settings.ca_file
        if not ca_file.is_file():
            raise StoreError(f"{section}.ca_file: {ca_file} not found")
        options["ca_certs"] = str(ca_file)
    return options


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _item_reason(item: dict[str, Any]) -> str:
    """`type: reason (caused by ...)` of a bulk item error, one line."""
    error = item.get("error")
    if not isinstance(error, dict):
        return _one_line(f"status {item.get('status')}: {error}")
    reason = f"{error.get('type', 'error')}: {error.get('reason', '')}"
    cause = error.get("caused_by")
    if isinstance(cause, dict) and cause.get("reason"):
        reason += f" (caused by {cause.get('type', '')}: {cause['reason']})"
    return _one_line(reason)


def _credentials_hint(status: object, engine: Engine = ELASTICSEARCH) -> str:
    return f" (check {engine.api_key_env} or {engine.user_env}/{engine.password_env} and the user's privileges)" if status in (401, 403) else ""


def highlight_spans(marked: str, text: str) -> list[tuple[int, int]]:
    """Character spans of `text` between the highlight markers of `marked` (the whole text, marked up).

    Should the text itself contain a marker character, the stripped result differs from the text and no span is
    returned rather than wrong ones.
    """
    spans: list[tuple[int, int]] = []
    plain: list[str] = []
    start: int | None = None
    for char in marked:
        if char == bodies.HIGHLIGHT_PRE:
            start = len(plain)
        elif char == bodies.HIGHLIGHT_POST and start is not None:
            spans.append((start, len(plain)))
            start = None
        else:
            plain.append(char)
    return spans if "".join(plain) == text else []


def post_from_source(source: dict[str, Any]) -> Post:
    return Post.model_validate({name: source[name] for name in Post.model_fields if name in source})


def _from_millis(value: int | float) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


# ---------------------------------------------------------------- the store


class SearchEngineStore(Store):
    """Posts, crawl runs, cursors, alerts, subscriptions, saved searches and the outbox in one search-engine cluster.

    Subclasses name the engine (`engine`); everything else is shared.
    """

    name = "elasticsearch"
    engine: Engine = ELASTICSEARCH

    def __init__(self, client: Any, settings: ElasticsearchSettings, *, spool: Spool | None, where: str) -> None:
        self.client = client
        self.settings = settings
        self.names = bodies.IndexNames(settings.index_prefix)
        self.spool = spool
        self.where = where
        self._schema_checked = False
        self._known_indices: set[str] = set()

    @classmethod
    def from_config(cls: type[_StoreT], config: Config, *, spool: bool = True, index_prefix: str | None = None, environ: dict[str, str] | None = None) -> _StoreT:
        """Connect as configured; with `spool=False` an unreachable cluster is an error instead (`vigie store copy`).

        `index_prefix` replaces the configured one (copying between two sets of indices of one cluster).
        """
        settings = getattr(config.settings.store, cls.engine.backend)
        if index_prefix is not None:
            try:
                settings = type(settings).model_validate({**settings.model_dump(), "index_prefix": index_prefix})
            except ValidationError as exc:
                raise StoreError(f"index prefix {index_prefix!r}: {exc.errors()[0]['msg']}") from None
        options = client_options(settings, dict(os.environ if environ is None else environ), config.config_dir, cls.engine)
        spool_dir = Spool(config.data_dir / settings.spool_dir) if spool else None
        return cls(cls.engine.client(options), settings, spool=spool_dir, where=options["hosts"][0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where!r}, prefix={self.settings.index_prefix!r})"

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------ errors

    def _describe(self, exc: Exception, action: str) -> str:
        engine = self.engine
        status = engine.status(exc)
        if status is not None:
            body = engine.error_body(exc)
            detail = body.get("error", engine.error_message(exc)) if isinstance(body, dict) else engine.error_message(exc)
            if isinstance(detail, dict):
                detail = f"{detail.get('type', 'error')}: {detail.get('reason', '')}"
            return _one_line(f"{engine.name} at {self.where}: {action} failed: {status} {detail}{_credentials_hint(status, engine)}", 400)
        return _one_line(f"{engine.name} at {self.where} unreachable while {action}: {engine.error_message(exc)}", 400)

    def _unavailable(self, exc: Exception) -> bool:
        status = self.engine.status(exc)
        return status is None or status in UNAVAILABLE_STATUSES

    def _status_is(self, exc: Exception, *statuses: int) -> bool:
        return isinstance(exc, self.engine.errors) and self.engine.status(exc) in statuses

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except self.engine.errors as exc:
            error = ClusterUnreachable if self._unavailable(exc) else StoreError
            raise error(self._describe(exc, action)) from exc

    # ------------------------------------------------------------ schema

    def init_schema(self) -> list[str]:
        """Create or upgrade the small indices, the posts template and the existing monthly indices; idempotent.

        Returns one line per thing looked at, for `vigie store init`. Mappings only grow: adding a field is applied
        to existing indices in place; changing a field's type or an analyzer takes a reindex (docs/elasticsearch.md).
        """
        with self._errors("reading the server version"):
            done = [self.engine.check_server(self.engine.body(self.client.info()), self.where)]
        with self._errors("installing the index templates and indices"):
            indices = self.client.indices
            for kind, index in self.names.small_indices.items():
                if indices.exists(index=index):
                    indices.put_mapping(index=index, body=bodies.small_index_mappings(kind))
                    done.append(f"index {index}: exists, mapping up to date")
                else:
                    self._create_index(index, bodies.small_index_body(kind, self.settings.replicas))
                    done.append(f"index {index}: created")
            indices.put_index_template(name=self.names.posts_template, body=bodies.posts_index_template(self.names, self.settings.replicas))
            done.append(f"template {self.names.posts_template}: version {bodies.SCHEMA_VERSION} for {self.names.posts_pattern}")
            existing = self.engine.body(indices.get_alias(index=self.names.posts_pattern, allow_no_indices=True, ignore_unavailable=True))
            for index in sorted(existing):
                indices.put_mapping(index=index, body=bodies.post_mappings())
                if self.names.posts_alias not in existing[index].get("aliases", {}):
                    indices.put_alias(index=index, name=self.names.posts_alias)
                    done.append(f"index {index}: mapping up to date, added to alias {self.names.posts_alias}")
                else:
                    done.append(f"index {index}: mapping up to date")
        self._schema_checked = True
        return done

    def delete_indices(self) -> list[str]:
        """Delete this prefix's indices and template, and nothing of any other prefix (tests and benchmarks only)."""
        own = re.compile(rf"^{re.escape(self.names.posts_alias)}-\d{{4}}\.\d{{2}}$")
        with self._errors("deleting the indices"):
            small = ",".join(self.names.small_indices.values())
            existing = self.engine.body(self.client.indices.get_alias(index=f"{self.names.posts_pattern},{small}", allow_no_indices=True, ignore_unavailable=True))
            names = sorted(name for name in existing if own.match(name) or name in self.names.small_indices.values())
            if names:
                self.client.indices.delete(index=",".join(names))
            try:
                self.client.indices.delete_index_template(name=self.names.posts_template)
            except self.engine.errors as exc:
                if not self._status_is(exc, 404):
                    raise
        self._schema_checked = False
        self._known_indices.clear()
        return names

    def _ensure_schema(self) -> None:
        """Install the schema on first write if it is missing or older than this Vigie's (one request per process)."""
        if self._schema_checked:
            return
        try:
            found = self.engine.body(self.client.indices.get_index_template(name=self.names.posts_template))
        except self.engine.errors as exc:
            if not self._status_is(exc, 404):
                raise
            found = {}
        templates = found.get("index_templates", []) if isinstance(found, dict) else []
        installed = templates[0]["index_template"].get("version", 0) if templates else None
        if installed is None or installed < bodies.SCHEMA_VERSION:
            self.init_schema()
        elif installed > bodies.SCHEMA_VERSION:
            log.warning("%s at %s: index template %s is version %s, newer than this Vigie's %s; upgrade Vigie", self.engine.name, self.where, self.names.posts_template, installed, bodies.SCHEMA_VERSION)
        self._schema_checked = True

    def _create_index(self, index: str, body: dict[str, Any] | None = None) -> None:
        """Create an index unless it exists (another process may have created it a moment ago)."""
        try:
            self.client.indices.create(index=index, body=body)
        except self.engine.errors as exc:
            body = self.engine.error_body(exc)
            if not (self._status_is(exc, 400) and isinstance(body, dict) and body.get("error", {}).get("type") == "resource_already_exists_exception"):
                raise

    def _ensure_indices(self, indices: Iterable[str]) -> None:
        """Create missing monthly indices from the template (so a cluster without auto-create works too)."""
        for index in sorted(set(indices) - self._known_indices):
            self._create_index(index)
            self._known_indices.add(index)

    # ------------------------------------------------------------ posts: writing

    def upsert_posts(self, posts: Iterable[Post]) -> UpsertResult:
        """Bulk creates, and scripted upserts for the posts already stored; while the cluster is unavailable, posts go
        to the spool instead of being lost.

        Posts already in the spool are replayed first, so a post crawled twice is never overwritten by its older copy.
        """
        batch = list(posts)
        if self.spool is not None and self.spool.pending():
            with self.spool.replaying() as mine:
                if not mine:
                    return self._to_spool(batch, "another Vigie process is replaying the spool")
                try:
                    self._replay_locked()
                except StoreError as exc:
                    return self._to_spool(batch, str(exc))
        if not batch:
            return UpsertResult()
        outcome = self._write_posts(batch)
        if outcome.unsent:
            if self.spool is None:
                raise ClusterUnreachable(f"{outcome.reason}; {len(outcome.unsent)} posts not written")
            self._to_spool(outcome.unsent, outcome.reason)
        return outcome.result()

    def _to_spool(self, posts: list[Post], reason: str) -> UpsertResult:
        if posts:
            assert self.spool is not None
            segment = self.spool.append(posts)
            log.warning("%s: %d posts spooled to %s, replayed when the cluster is back", reason, len(posts), segment)
        return UpsertResult()

    def replay_spool(self) -> UpsertResult:
        """Send the spooled posts, oldest first; raises ClusterUnreachable if the cluster is still away."""
        if self.spool is None:
            return UpsertResult()
        with self.spool.replaying() as mine:
            if not mine:
                log.info("%s: another Vigie process is replaying this spool", self.spool.directory)
                return UpsertResult()
            return self._replay_locked()

    def _replay_locked(self) -> UpsertResult:
        assert self.spool is not None
        total = _Outcome()
        while segments := self.spool.segments():
            for segment in segments:
                for posts, bad_lines in self.spool.read(segment, self.settings.batch_size):
                    outcome = self._write_posts(posts)
                    if outcome.unsent:
                        raise ClusterUnreachable(f"{outcome.reason}; spooled posts stay in {self.spool.directory}")
                    refused = dict(outcome.errors)
                    self.spool.reject([(post, refused[post.id]) for post in posts if post.id in refused], bad_lines)
                    total.new, total.updated = total.new + outcome.new, total.updated + outcome.updated
                    total.errors += outcome.errors
                self.spool.discard(segment)
                log.info("replayed spool segment %s", segment.name)
        return total.result()

    def _write_posts(self, posts: list[Post]) -> _Outcome:
        """One write of posts: lanes by id hash, so each post's versions stay in order across concurrent requests."""
        outcome = _Outcome()
        try:
            self._ensure_schema()
            now = utcnow().isoformat()
            actions = [bodies.post_create_action(self.names.posts_index(post.published_at), bodies.post_document(post), now) for post in posts]
            self._ensure_indices(action["_index"] for action in actions)
        except ClusterUnreachable as exc:
            outcome.unsent, outcome.reason = list(posts), str(exc)
            return outcome
        except self.engine.errors as exc:
            reason = self._describe(exc, "preparing the posts indices")
            if not self._unavailable(exc):
                raise StoreError(reason) from exc
            outcome.unsent, outcome.reason = list(posts), reason
            return outcome
        lanes_count = max(1, min(self.settings.concurrency, len(actions)))
        lanes: list[list[dict[str, Any]]] = [[] for _ in range(lanes_count)]
        for action in actions:
            lanes[zlib.crc32(action["_id"].encode()) % lanes_count].append(action)
        if lanes_count == 1:
            results = [self._send_lane(lanes[0])]
        else:
            with ThreadPoolExecutor(max_workers=lanes_count, thread_name_prefix="vigie-bulk") as pool:
                results = list(pool.map(self._send_lane, lanes))
        done: set[str] = set()
        touched: set[str] = set()
        unavailable: set[str] = set()
        for items, failure in results:
            for ok, item in items:
                post_id = item.get("_id", "")
                if ok:
                    done.add(post_id)
                    touched.add(item.get("_index", ""))
                    if item.get("result") == "created":
                        outcome.new += 1
                    else:
                        outcome.updated += 1
                elif item.get("status") in UNAVAILABLE_STATUSES:
                    unavailable.add(post_id)
                    status = item.get("status")
                    outcome.reason = outcome.reason or f"{self.engine.name} at {self.where}: writing posts failed: {status} {_item_reason(item)}{_credentials_hint(status, self.engine)}"
                else:
                    done.add(post_id)
                    outcome.errors.append((post_id, _item_reason(item)))
            if failure is not None:
                outcome.reason = self._describe(failure, "writing posts")
        outcome.unsent = [post for post in posts if post.id in unavailable or post.id not in done]
        if touched and self.settings.refresh:
            try:
                self.client.indices.refresh(index=",".join(sorted(touched)))
            except self.engine.errors as exc:
                log.warning("%s", self._describe(exc, "refreshing after a write (the posts are stored)"))
        return outcome

    def _send_lane(self, actions: list[dict[str, Any]]) -> tuple[list[tuple[bool, dict[str, Any]]], Exception | None]:
        """Bulk requests of `batch_size` posts for one lane, in order; stops at the first failed request and says which.

        Posts go as `create`s; those the cluster already holds (409) go again at once as scripted upserts, before the
        lane's next request, so each post's versions stay in order.
        """
        items: list[tuple[bool, dict[str, Any]]] = []
        for start in range(0, len(actions), self.settings.batch_size):
            chunk = actions[start : start + self.settings.batch_size]
            answers, failure = self._bulk(chunk)
            known = [i for i, item in enumerate(answers) if item is not None and item.get("status") == 409]  # already stored
            if known and failure is None:
                upserts = [bodies.post_upsert_action(chunk[i]["_index"], chunk[i]["_source"], chunk[i]["_source"]["first_seen_at"]) for i in known]
                again, failure = self._bulk(upserts)
                for i, item in zip(known, again, strict=True):
                    answers[i] = item
            elif known:
                for i in known:
                    answers[i] = None  # not written: spooled with the rest of the request
            items += [(200 <= item.get("status", 0) < 300 and "error" not in item, item) for item in answers if item is not None]
            if failure is not None:
                return items, failure
        return items, None

    def _bulk(self, actions: list[dict[str, Any]]) -> tuple[list[dict[str, Any] | None], Exception | None]:
        """One bulk request and the answer to each action, in order (None where there was none).

        Posts the cluster is too busy for (429/503), and whole requests it refuses so, are sent again after 1 s,
        2 s, 4 s... (at most 30 s) up to `max_retries` times; the answer after the last try is kept.
        """
        answers: list[dict[str, Any] | None] = [None] * len(actions)
        pending = list(range(len(actions)))
        retries = self.settings.max_retries
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (attempt - 1)))
            try:
                answer = self.engine.body(self.client.bulk(body=bodies.bulk_lines([actions[i] for i in pending])))
            except self.engine.errors as exc:
                if attempt < retries and self.engine.status(exc) in BUSY_STATUSES:
                    continue
                return answers, exc
            busy: list[int] = []
            for i, entry in zip(pending, answer["items"], strict=True):
                item = next(iter(entry.values()))
                if attempt < retries and item.get("status", 0) in BUSY_STATUSES:
                    busy.append(i)
                else:
                    answers[i] = item
            pending = busy
            if not pending:
                break
        return answers, None

    def update_enrichment(self, post_id: str, *, tags: list[str], narratives: list[str], matches: list[TagMatch]) -> bool:
        hit = self._find_post(post_id)
        if hit is None:
            return False
        with self._errors(f"updating the watchlist fields of {post_id}"):
            try:
                self.client.update(index=hit["_index"], id=post_id, body=bodies.enrichment_update(tags, narratives, matches), refresh=self.settings.refresh, retry_on_conflict=3)
            except self.engine.errors as exc:
                if not self._status_is(exc, 404):
                    raise
                return False
        return True

    def delete_posts(self, before: datetime) -> int:
        """Retention: whole monthly indices that end before `before` are dropped, the rest by delete-by-query."""
        before = as_utc(before)
        deleted = 0
        with self._errors("deleting old posts"):
            existing = self.engine.body(self.client.indices.get_alias(index=self.names.posts_pattern, allow_no_indices=True, ignore_unavailable=True))
            remaining = []
            for index in sorted(existing):
                month_end = self._month_end(index)
                if month_end is not None and month_end <= before:
                    deleted += self.engine.body(self.client.count(index=index))["count"]
                    self.client.indices.delete(index=index)
                    self._known_indices.discard(index)
                else:
                    remaining.append(index)
            if remaining:
                answer = self.client.delete_by_query(index=",".join(remaining), body=bodies.published_before_body(before), conflicts="proceed", refresh=True)
                deleted += answer.get("deleted", 0)
        return deleted

    def _month_end(self, index: str) -> datetime | None:
        suffix = index.removeprefix(f"{self.names.posts_alias}-")
        try:
            start = datetime.strptime(suffix, "%Y.%m").replace(tzinfo=UTC)
        except ValueError:
            return None
        return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)

    # ------------------------------------------------------------ posts: reading

    def _search(self, index: str, body: dict[str, Any], action: str) -> dict[str, Any]:
        with self._errors(action):
            return self.engine.body(self.client.search(index=index, body=self.engine.search_body(body), ignore_unavailable=True, allow_no_indices=True))

    def _latest_hits(self, post_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored hit of each post, one `ids` search per MAX_PAGE_WINDOW / 2 ids: of a post in two monthly
        indices, the most recently collected."""
        latest: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(post_ids))
        for start in range(0, len(unique), bodies.MAX_PAGE_WINDOW // 2):
            chunk = unique[start : start + bodies.MAX_PAGE_WINDOW // 2]
            action = f"reading post {chunk[0]}" if len(chunk) == 1 else f"reading {len(chunk)} posts"
            for hit in self._search(self.names.posts_alias, bodies.ids_body(chunk), action)["hits"]["hits"]:
                known = latest.get(hit["_id"])
                if known is None or (hit["_source"].get("collected_at") or "") > (known["_source"].get("collected_at") or ""):
                    latest[hit["_id"]] = hit
        return latest

    def _find_post(self, post_id: str) -> dict[str, Any] | None:
        return self._latest_hits([post_id]).get(post_id)

    def get_post(self, post_id: str) -> Post | None:
        hit = self._find_post(post_id)
        return post_from_source(hit["_source"]) if hit else None

    def get_posts(self, post_ids: Sequence[str]) -> list[Post]:
        latest = self._latest_hits(post_ids)
        return [post_from_source(latest[post_id]["_source"]) for post_id in post_ids if post_id in latest]

    def _hit(self, hit: dict[str, Any], query: PostQuery) -> SearchHit:
        post = post_from_source(hit["_source"])
        marked = hit.get("highlight", {}).get("text")
        if not marked:
            return SearchHit(post=post, highlights=[])
        return SearchHit(post=post, highlights=self.engine.highlight_spans(highlight_spans(marked[0], post.text), post.text, query_phrases(query.text)))

    def search(self, query: PostQuery) -> SearchResult:
        if query.offset + query.limit <= bodies.MAX_PAGE_WINDOW:
            answer = self._search(self.names.posts_alias, bodies.search_body(query, size=query.limit, offset=query.offset), "searching posts")
            return SearchResult(total=answer["hits"]["total"]["value"], hits=[self._hit(hit, query) for hit in answer["hits"]["hits"]])
        hits: list[SearchHit] = []
        skipped = 0
        for page in self._pages(query, bodies.MAX_PAGE_WINDOW, with_highlight=True):
            if skipped + len(page) <= query.offset:
                skipped += len(page)
                continue
            start = max(0, query.offset - skipped)
            skipped += start
            hits += [self._hit(hit, query) for hit in page[start : start + query.limit - len(hits)]]
            if len(hits) >= query.limit:
                break
        return SearchResult(total=self.count_posts(query), hits=hits)

    def count_posts(self, query: PostQuery) -> int:
        with self._errors("counting posts"):
            return self.client.count(index=self.names.posts_alias, body=bodies.count_body(query), ignore_unavailable=True, allow_no_indices=True)["count"]

    def _pages(self, query: PostQuery, size: int, *, with_highlight: bool = False) -> Iterator[list[dict[str, Any]]]:
        """Pages of hits in `query.sort` order over a point in time: a consistent view, however deep."""
        with self._errors("opening a point in time on the posts"):
            opened = self.engine.open_pit(self.client, self.names.posts_alias, PIT_KEEP_ALIVE)
        if opened is None:
            return
        pit_id = opened
        try:
            after: list[Any] | None = None
            while True:
                body = bodies.page_body(query, pit_id=pit_id, size=size, search_after=after, keep_alive=PIT_KEEP_ALIVE, with_highlight=with_highlight)
                with self._errors("reading posts"):
                    answer = self.engine.body(self.client.search(body=self.engine.search_body(body)))
                pit_id = answer.get("pit_id", pit_id)
                page = answer["hits"]["hits"]
                if page:
                    yield page
                if len(page) < size:
                    return
                after = page[-1]["sort"]
        finally:
            try:
                self.engine.close_pit(self.client, pit_id)
            except self.engine.errors as exc:
                log.debug("%s", self._describe(exc, "closing a point in time (it expires by itself)"))

    def iter_posts(self, query: PostQuery, batch_size: int = 1000) -> Iterator[Post]:
        for page in self._pages(query, batch_size):
            for hit in page:
                yield post_from_source(hit["_source"])

    # ------------------------------------------------------------ posts: aggregates

    def count_buckets(self, query: PostQuery, interval: Interval, group_by: GroupField | None = None, *, distinct: bool = True) -> list[BucketCount]:
        counts: list[BucketCount] = []
        after: dict[str, Any] | None = None
        while True:
            answer = self._search(self.names.posts_alias, bodies.buckets_body(query, interval, group_by, after=after, distinct=distinct), "counting posts per bucket")
            aggregation = answer.get("aggregations", {}).get("buckets", {})
            for bucket in aggregation.get("buckets", []):
                counts.append(
                    BucketCount(
                        start=_from_millis(bucket["key"]["start"]),
                        key=bucket["key"].get("key"),
                        posts=bucket["doc_count"],
                        authors=bucket["authors"]["value"] if distinct else 0,
                        sources=bucket["sources"]["value"] if distinct else 0,
                    )
                )
            after = aggregation.get("after_key")
            if not after or len(aggregation.get("buckets", [])) < bodies.bucket_page(distinct):
                return counts

    def top_terms(self, query: PostQuery, field: TopField, limit: int = 10) -> list[TermCount]:
        answer = self._search(self.names.posts_alias, bodies.top_terms_body(query, field, limit), f"listing top {field} values")
        buckets = answer.get("aggregations", {}).get("top", {}).get("buckets", [])
        return [TermCount(value=str(bucket["key"]), count=bucket["doc_count"]) for bucket in buckets]

    def clusters(self, query: PostQuery, min_sources: int = 2, limit: int = 20) -> list[ClusterSummary]:
        answer = self._search(self.names.posts_alias, bodies.clusters_body(query, min_sources, limit), "listing copy-paste clusters")
        summaries = []
        for bucket in answer.get("aggregations", {}).get("clusters", {}).get("buckets", []):
            first = bucket["first"]["hits"]["hits"][0]["_source"]
            summaries.append(
                ClusterSummary(
                    cluster_id=bucket["key"],
                    posts=bucket["doc_count"],
                    sources=bucket["sources"]["value"],
                    first_post_id=first["id"],
                    first_source=first["source_id"],
                    first_published_at=as_utc(datetime.fromisoformat(first["published_at"])),
                )
            )
        return summaries

    def significant_terms(self, query: PostQuery, field: str = "term", background_query: PostQuery | None = None, limit: int = 20) -> list[SignificantTerm]:
        """Terms unusually frequent among `query`'s posts compared with `background_query`'s (default: all posts).

        Not part of `Store`: the emerging-terms detector uses it when the store has it. `field` is a `TopField`
        name (`term`, `hashtag`, `domain`...) or `text` for words of the post text (`significant_text`).
        """
        answer = self._search(self.names.posts_alias, bodies.significant_terms_body(query, field, background_query, limit), f"finding significant {field} values")
        aggregations = answer.get("aggregations", {})
        significant = aggregations.get("sample", aggregations).get("significant", {})
        return [
            SignificantTerm(value=str(bucket["key"]), count=bucket["doc_count"], background_count=bucket.get("bg_count", 0), score=bucket.get("score", 0.0))
            for bucket in significant.get("buckets", [])
        ]

    def find_near_duplicates(self, keys: Iterable[str], limit: int = 50) -> list[tuple[str, str | None]]:
        keys = sorted(set(keys))
        if not keys:
            return []
        answer = self._search(self.names.posts_alias, bodies.near_duplicates_body(keys, limit), "looking up near-duplicates")
        return [(hit["_source"]["id"], hit["_source"].get("cluster_id")) for hit in answer["hits"]["hits"]]

    # ------------------------------------------------------------ small indices

    def _put(self, kind: str, doc_id: str, document: dict[str, Any], action: str) -> None:
        with self._errors(action):
            self._ensure_schema()
            self.client.index(index=self.names.small(kind), id=doc_id, body=document, refresh=self.settings.refresh)

    def _get(self, kind: str, doc_id: str, action: str) -> dict[str, Any] | None:
        with self._errors(action):
            try:
                return self.client.get(index=self.names.small(kind), id=doc_id)["_source"]
            except self.engine.errors as exc:
                if not self._status_is(exc, 404):
                    raise
                return None

    def _delete(self, kind: str, doc_id: str, action: str) -> bool:
        with self._errors(action):
            try:
                self.client.delete(index=self.names.small(kind), id=doc_id, refresh=self.settings.refresh)
            except self.engine.errors as exc:
                if not self._status_is(exc, 404):
                    raise
                return False
        return True

    def _list(self, kind: str, model: type[_ModelT], query: dict[str, Any], sort: list[dict[str, Any]], limit: int | None, action: str) -> list[_ModelT]:
        """Records in `sort` order (which ends on a unique field), paged with search_after; all when `limit` is None."""
        records: list[_ModelT] = []
        after: list[Any] | None = None
        while limit is None or len(records) < limit:
            size = bodies.MAX_PAGE_WINDOW if limit is None else min(limit - len(records), bodies.MAX_PAGE_WINDOW)
            hits = self._search(self.names.small(kind), bodies.sorted_page(query, sort, size, after), action)["hits"]["hits"]
            records += [model.model_validate(hit["_source"]) for hit in hits]
            if len(hits) < size:
                break
            after = hits[-1]["sort"]
        return records

    def record_crawl_run(self, run: CrawlRun) -> None:
        self._put("runs", run.id, run.model_dump(mode="json"), f"recording crawl run {run.id}")

    def crawl_runs(self, source_id: str | None = None, limit: int = 50) -> list[CrawlRun]:
        return self._list("runs", CrawlRun, bodies.crawl_runs_query(source_id), bodies.CRAWL_RUNS_SORT, limit, "listing crawl runs")

    def last_runs(self, source_ids: Sequence[str]) -> dict[str, CrawlRun]:
        runs: dict[str, CrawlRun] = {}
        unique = list(dict.fromkeys(source_ids))
        for start in range(0, len(unique), bodies.BUCKET_PAGE):
            answer = self._search(self.names.small("runs"), bodies.last_runs_body(unique[start : start + bodies.BUCKET_PAGE]), "reading the sources' last runs")
            for bucket in answer.get("aggregations", {}).get("sources", {}).get("buckets", []):
                runs[str(bucket["key"])] = CrawlRun.model_validate(bucket["last"]["hits"]["hits"][0]["_source"])
        return runs

    def get_cursor(self, source_id: str) -> dict | None:
        found = self._get("cursors", source_id, f"reading the cursor of {source_id}")
        return found["cursor"] if found else None

    def set_cursor(self, source_id: str, cursor: dict) -> None:
        self._put("cursors", source_id, {"source_id": source_id, "cursor": cursor, "updated_at": utcnow().isoformat()}, f"saving the cursor of {source_id}")

    def save_alert(self, alert: Alert) -> None:
        self._put("alerts", alert.id, alert.model_dump(mode="json"), f"saving alert {alert.id}")

    def get_alert(self, alert_id: str) -> Alert | None:
        found = self._get("alerts", alert_id, f"reading alert {alert_id}")
        return Alert.model_validate(found) if found else None

    def list_alerts(self, states: Iterable[AlertState] = (), since: datetime | None = None, limit: int = 100) -> list[Alert]:
        return self._list("alerts", Alert, bodies.alerts_query(list(states), since), bodies.ALERTS_SORT, limit, "listing alerts")

    def save_candidate(self, candidate: Candidate) -> None:
        self._put("candidates", candidate.id, candidate.model_dump(mode="json"), f"saving candidate {candidate.id}")

    def get_candidate(self, candidate_id: str) -> Candidate | None:
        found = self._get("candidates", candidate_id, f"reading candidate {candidate_id}")
        return Candidate.model_validate(found) if found else None

    def list_candidates(self, states: Iterable[CandidateState] = (), since: datetime | None = None, limit: int = 100) -> list[Candidate]:
        return self._list("candidates", Candidate, bodies.alerts_query(list(states), since), bodies.ALERTS_SORT, limit, "listing candidates")

    def save_subscription(self, subscription: Subscription) -> None:
        self._put("subscriptions", subscription.id, subscription.model_dump(mode="json"), f"saving subscription {subscription.id}")

    def delete_subscription(self, subscription_id: str) -> bool:
        return self._delete("subscriptions", subscription_id, f"deleting subscription {subscription_id}")

    def list_subscriptions(self) -> list[Subscription]:
        return self._list("subscriptions", Subscription, {"match_all": {}}, bodies.BY_CREATION_SORT, None, "listing subscriptions")

    def save_search(self, saved: SavedSearch) -> None:
        self._put("searches", saved.id, saved.model_dump(mode="json"), f"saving search {saved.id}")

    def delete_search(self, search_id: str) -> bool:
        return self._delete("searches", search_id, f"deleting saved search {search_id}")

    def list_searches(self) -> list[SavedSearch]:
        return self._list("searches", SavedSearch, {"match_all": {}}, bodies.BY_CREATION_SORT, None, "listing saved searches")

    # ------------------------------------------------------------ outbox

    def enqueue(self, message: OutboxMessage) -> bool:
        """`op_type=create`: of several processes enqueueing the same message id, exactly one adds it."""
        with self._errors(f"queueing message {message.id}"):
            self._ensure_schema()
            try:
                self.client.index(index=self.names.small("outbox"), id=message.id, body=message.model_dump(mode="json"), op_type="create", refresh=self.settings.refresh)
            except self.engine.errors as exc:
                if not self._status_is(exc, 409):
                    raise
                return False
        return True

    def due_messages(self, now: datetime, limit: int = 100) -> list[OutboxMessage]:
        return self._list("outbox", OutboxMessage, bodies.due_messages_query(now), bodies.BY_CREATION_SORT, limit, "listing due messages")

    def _update_message(self, message_id: str, body: dict[str, Any], action: str) -> None:
        with self._errors(action):
            try:
                self.client.update(index=self.names.small("outbox"), id=message_id, body=body, refresh=self.settings.refresh, retry_on_conflict=5)
            except self.engine.errors as exc:
                if not self._status_is(exc, 404):
                    raise
                log.warning("outbox message %s is unknown; nothing to %s", message_id, action)

    def mark_sent(self, message_id: str, at: datetime) -> None:
        self._update_message(message_id, bodies.mark_sent_update(as_utc(at).isoformat()), "mark sent")

    def mark_failed(self, message_id: str, error: str, next_attempt_at: datetime) -> None:
        self._update_message(message_id, bodies.mark_failed_update(error, as_utc(next_attempt_at).isoformat()), "mark failed")


class ElasticsearchStore(SearchEngineStore):
    """The store on an Elasticsearch 8.9+ (or 9.x) cluster: `store.backend: elasticsearch`, `VIGIE_ES_URL`."""

    name = "elasticsearch"
    engine = ELASTICSEARCH
