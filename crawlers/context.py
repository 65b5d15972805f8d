"""What the components of one crawl share, found from the Scrapy `Crawler` they were built for.

`CrawlResources` belong to a process (config, store, enricher, evidence archive): `crawl_sources()` opens
them once and attaches them to every crawler, so ten sources share one store connection and one set of
language models. A spider started by `scrapy crawl` opens its own and closes them when the engine stops.

`SourceRun` belongs to one crawler: the `CrawlRun` being recorded, the cursor the run started from and
what was really stored, so the cursor only moves past posts that are in the store.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from scrapy import signals

from crawlers.evidence import EvidenceArchive
from vigie.models import CrawlError, CrawlRun, Post, utcnow

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.crawler import Crawler

    from enrich import Enricher
    from store.base import Store
    from vigie.config import Config

logger = logging.getLogger(__name__)


class CrawlResources:
    """Config, store, enricher and archive for every crawler of a process."""

    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        self._store = store
        self._owns_store = store is None
        self.listeners: list[Callable[[SourceRun], None]] = []
        """Called with a source's run each time it changes (progress display)."""
        self.archive = EvidenceArchive(config.data_dir / "evidence")

    @cached_property
    def store(self) -> Store:
        if self._store is None:
            from store import open_store

            self._store = open_store(self.config)
        return self._store

    @cached_property
    def enricher(self) -> Enricher:
        from enrich import Enricher

        return Enricher.from_config(self.config, self.store)

    def close(self) -> None:
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None
            self.__dict__.pop("store", None)


_resources: WeakKeyDictionary[Crawler, CrawlResources] = WeakKeyDictionary()
_runs: WeakKeyDictionary[Crawler, SourceRun] = WeakKeyDictionary()


def attach_resources(crawler: Crawler, resources: CrawlResources) -> None:
    _resources[crawler] = resources


def resources_of(crawler: Crawler, config: Config | None = None) -> CrawlResources:
    """The attached resources, or (for `scrapy crawl`) new ones from `config`, closed when the engine stops."""
    found = _resources.get(crawler)
    if found is not None:
        return found
    if config is None:
        raise RuntimeError("no Vigie resources attached to this crawler and no config given")
    resources = CrawlResources(config)
    _resources[crawler] = resources
    crawler.signals.connect(resources.close, signal=signals.engine_stopped, weak=False)
    return resources


@dataclass
class SourceRun:
    """One source's run as it happens; the pipelines and middlewares of its crawler all write here."""

    source: Any
    cursor: dict[str, Any] | None
    run: CrawlRun
    parse_failures: int = 0
    newest_at: datetime | None = None
    newest_ids: set[str] = field(default_factory=set)
    drop_reasons: Counter[str] = field(default_factory=Counter)
    cursor_extras: dict[str, Any] = field(default_factory=dict)
    """Keys other components keep in the source's cursor (the videos whose transcript is still to fetch)."""
    listeners: list[Callable[[SourceRun], None]] = field(default_factory=list)

    @classmethod
    def start(cls, source: Any, cursor: dict[str, Any] | None, run_id: str | None = None) -> SourceRun:
        run = CrawlRun(id=run_id or uuid.uuid4().hex, source_id=source.id, platform=source.platform, started_at=utcnow())
        return cls(source=source, cursor=cursor, run=run)

    @property
    def first_run(self) -> bool:
        """No post stored yet by an earlier clean run: the backfill limits apply."""
        return cursor_position(self.cursor) is None

    def error(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        """One line for this source, in the log and in the crawl-run record."""
        self.run.errors.append(CrawlError(url=url, status=status, message=message))
        logger.error("source %s: %s", self.source.id, message, extra={"source": self.source.id})
        self.changed()

    def page(self) -> None:
        self.run.pages += 1
        self.changed()

    def stored(self, posts: list[Post], new: int, updated: int) -> None:
        """Posts the store accepted: counted, and remembered for the cursor."""
        self.run.new_posts += new
        self.run.updated_posts += updated
        for post in posts:
            if self.newest_at is None or post.published_at > self.newest_at:
                self.newest_at, self.newest_ids = post.published_at, {post.native_id}
            elif post.published_at == self.newest_at:
                self.newest_ids.add(post.native_id)
        self.changed()

    def dropped(self, kind: str) -> None:
        self.run.dropped_items += 1
        self.drop_reasons[kind] += 1
        self.changed()

    def next_cursor(self) -> dict[str, Any]:
        """The cursor after a clean run: the newest post stored, by this run or an earlier one."""
        cursor = dict(self.cursor or {})
        previous = cursor_position(cursor)
        if self.newest_at is not None:
            if previous is None or self.newest_at > previous[0]:
                cursor.update(newest_at=self.newest_at.isoformat(), newest_ids=sorted(self.newest_ids))
            elif self.newest_at == previous[0]:
                cursor["newest_ids"] = sorted(previous[1] | self.newest_ids)
        cursor.update(self.cursor_extras)
        cursor["last_run_id"] = self.run.id
        return cursor

    def changed(self) -> None:
        for listener in self.listeners:
            listener(self)


def cursor_position(cursor: dict[str, Any] | None) -> tuple[datetime, set[str]] | None:
    """(newest published_at, native ids published at that instant) of a stored cursor."""
    if not cursor or not cursor.get("newest_at"):
        return None
    return datetime.fromisoformat(cursor["newest_at"]), set(cursor.get("newest_ids") or ())


class RunComponent:
    """A middleware or pipeline built per crawler, that reports to the crawler's `SourceRun`."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        return cls(crawler)

    @property
    def state(self) -> SourceRun:
        return run_of(self.crawler)


def begin_run(crawler: Crawler, source: Any, cursor: dict[str, Any] | None, run_id: str | None = None) -> SourceRun:
    state = SourceRun.start(source, cursor, run_id)
    _runs[crawler] = state
    return state


def run_of(crawler: Crawler) -> SourceRun:
    return _runs[crawler]
