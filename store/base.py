"""The one storage interface: the embedded SQLite store and Elasticsearch both implement it.

Nothing outside `store/` writes SQL or query DSL; everything goes through `Store`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vigie.models import (
    Alert,
    AlertState,
    Candidate,
    CandidateState,
    CrawlRun,
    OutboxMessage,
    Post,
    SavedSearch,
    Subscription,
    TagMatch,
    as_utc,
)

Interval = Literal["hour", "day"]
GroupField = Literal["narrative", "tag", "term", "hashtag", "platform", "source", "language"]
TopField = Literal["narrative", "tag", "term", "hashtag", "domain", "author", "source", "platform", "language", "mention"]
Sort = Literal["newest", "oldest", "relevance"]


class StoreError(Exception):
    """The store cannot do what was asked (offline, full disk, corrupt); the message says which and where."""


class StoreUnavailable(StoreError):
    """The store's server cannot be reached now (down, restarting, refusing us): a later try may well succeed."""


class PostQuery(BaseModel):
    """Filters shared by search, counts and top lists. Empty tuples mean no filter; values within one filter are OR-ed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str | None = Field(None, description="Full-text query; words are AND-ed, accents and case folded, `\"a phrase\"` kept together.")
    since: datetime | None = Field(None, description="published_at >= since")
    until: datetime | None = Field(None, description="published_at < until")
    platforms: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    narratives: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    terms: tuple[str, ...] = Field((), description="Watchlist terms that matched (TagMatch.term).")
    hashtags: tuple[str, ...] = ()
    authors: tuple[str, ...] = Field((), description="Author handles or ids.")
    cluster_id: str | None = None
    sort: Sort = "newest"
    limit: int = Field(50, ge=0, le=10_000)
    offset: int = Field(0, ge=0)

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)


@dataclass(frozen=True, slots=True)
class SearchHit:
    post: Post
    highlights: list[tuple[int, int]] = field(default_factory=list)
    """Character spans in `post.text` that matched the full-text query."""


@dataclass(frozen=True, slots=True)
class SearchResult:
    total: int
    hits: list[SearchHit]

    @property
    def posts(self) -> list[Post]:
        return [hit.post for hit in self.hits]


@dataclass(frozen=True, slots=True)
class BucketCount:
    start: datetime
    key: str | None
    """Value of the group field, or None when counts are not grouped."""
    posts: int
    authors: int
    sources: int


@dataclass(frozen=True, slots=True)
class TermCount:
    value: str
    count: int


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    cluster_id: str
    posts: int
    sources: int
    first_post_id: str
    first_source: str
    first_published_at: datetime


@dataclass(frozen=True, slots=True)
class UpsertResult:
    new: int = 0
    updated: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    """(post id, one-line reason) for posts the store refused; the rest of the batch is kept."""


class Store(ABC):
    """Posts, crawl runs, cursors, alerts, candidate narratives, subscriptions, saved searches and the outbox.

    Implementations are safe to use from one thread; open one per process.
    """

    name: str

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None: ...

    # posts
    @abstractmethod
    def upsert_posts(self, posts: Iterable[Post]) -> UpsertResult:
        """Insert new posts, update known ones: counters, text and enrichment refresh; first_seen_at is kept."""

    @abstractmethod
    def get_post(self, post_id: str) -> Post | None: ...

    def get_posts(self, post_ids: Sequence[str]) -> list[Post]:
        """The stored posts among these ids, in their order (an alert's sample posts). A store that can fetch them in
        one request overrides it."""
        found = (self.get_post(post_id) for post_id in post_ids)
        return [post for post in found if post is not None]

    @abstractmethod
    def search(self, query: PostQuery) -> SearchResult: ...

    @abstractmethod
    def count_posts(self, query: PostQuery) -> int: ...

    @abstractmethod
    def iter_posts(self, query: PostQuery, batch_size: int = 1000) -> Iterator[Post]:
        """Every post matching the filters (limit/offset ignored), in `query.sort` order, in constant memory."""

    @abstractmethod
    def count_buckets(self, query: PostQuery, interval: Interval, group_by: GroupField | None = None, *, distinct: bool = True) -> list[BucketCount]:
        """Posts, distinct authors and distinct sources per time bucket (UTC), per group value; empty buckets omitted.

        With `distinct=False` authors and sources are left at 0: a chart of posts alone need not pay for the distinct
        counts, most of the cost of a long hourly series on a search engine.
        """

    @abstractmethod
    def top_terms(self, query: PostQuery, field: TopField, limit: int = 10) -> list[TermCount]:
        """Most frequent values of a field among matching posts, most frequent first, ties by value."""

    @abstractmethod
    def clusters(self, query: PostQuery, min_sources: int = 2, limit: int = 20) -> list[ClusterSummary]:
        """Copy-paste clusters among matching posts that span at least `min_sources` sources, widest first."""

    @abstractmethod
    def find_near_duplicates(self, keys: Iterable[str], limit: int = 50) -> list[tuple[str, str | None]]:
        """(post id, cluster id) of stored posts sharing any LSH band key."""

    def near_duplicate_clusters(self, groups: Sequence[Iterable[str]], limit: int = 50) -> list[set[str]]:
        """For each group of band keys, the clusters of (up to `limit`) stored posts sharing one: what enrichment
        asks for a batch. A store that can answer every group in one request overrides it."""
        return [clusters_of(self.find_near_duplicates(keys, limit)) for keys in groups]

    @abstractmethod
    def update_enrichment(self, post_id: str, *, tags: list[str], narratives: list[str], matches: list[TagMatch]) -> bool:
        """Replace a post's watchlist tags and nothing else (re-enrichment); False when the post is unknown."""

    @abstractmethod
    def delete_posts(self, before: datetime) -> int:
        """Retention: delete posts published before `before`; returns how many."""

    # crawl runs and cursors
    @abstractmethod
    def record_crawl_run(self, run: CrawlRun) -> None:
        """Insert or replace the run with this id (a run is recorded when it starts and again when it ends)."""

    @abstractmethod
    def crawl_runs(self, source_id: str | None = None, limit: int = 50) -> list[CrawlRun]:
        """Most recent first."""

    def last_runs(self, source_ids: Sequence[str]) -> dict[str, CrawlRun]:
        """The most recent run of each of these sources that has one (the sources' health). A store that can answer
        for every source in one request overrides it."""
        return {source_id: runs[0] for source_id in source_ids if (runs := self.crawl_runs(source_id, limit=1))}

    @abstractmethod
    def get_cursor(self, source_id: str) -> dict | None: ...

    @abstractmethod
    def set_cursor(self, source_id: str, cursor: dict) -> None: ...

    # alerts
    @abstractmethod
    def save_alert(self, alert: Alert) -> None: ...

    @abstractmethod
    def get_alert(self, alert_id: str) -> Alert | None: ...

    @abstractmethod
    def list_alerts(self, states: Iterable[AlertState] = (), since: datetime | None = None, limit: int = 100) -> list[Alert]:
        """Most recently updated first."""

    # candidate narratives
    @abstractmethod
    def save_candidate(self, candidate: Candidate) -> None:
        """Insert or replace the candidate with this id (a dismissal is a save with the state `dismissed`)."""

    @abstractmethod
    def get_candidate(self, candidate_id: str) -> Candidate | None: ...

    @abstractmethod
    def list_candidates(self, states: Iterable[CandidateState] = (), since: datetime | None = None, limit: int = 100) -> list[Candidate]:
        """Most recently updated first."""

    # subscriptions and saved searches
    @abstractmethod
    def save_subscription(self, subscription: Subscription) -> None: ...

    @abstractmethod
    def delete_subscription(self, subscription_id: str) -> bool: ...

    @abstractmethod
    def list_subscriptions(self) -> list[Subscription]: ...

    @abstractmethod
    def save_search(self, saved: SavedSearch) -> None: ...

    @abstractmethod
    def delete_search(self, search_id: str) -> bool: ...

    @abstractmethod
    def list_searches(self) -> list[SavedSearch]: ...

    # outbox
    @abstractmethod
    def enqueue(self, message: OutboxMessage) -> bool:
        """Add a message unless one with the same id exists; True when added."""

    @abstractmethod
    def due_messages(self, now: datetime, limit: int = 100) -> list[OutboxMessage]:
        """Unsent messages whose next attempt is due, oldest first."""

    @abstractmethod
    def mark_sent(self, message_id: str, at: datetime) -> None: ...

    @abstractmethod
    def mark_failed(self, message_id: str, error: str, next_attempt_at: datetime) -> None:
        """Count the attempt, keep the error, and retry at `next_attempt_at`."""


def clusters_of(posts: Iterable[tuple[str, str | None]]) -> set[str]:
    """The cluster ids among (post id, cluster id) pairs, as `find_near_duplicates` returns them."""
    return {cluster for _, cluster in posts if cluster}
