"""The crawl-run log: each source's run is recorded when it starts and again, complete, when it ends.

At the end the run gets its status (ok, partial, failed) and, only when it was clean, the source's
cursor moves past what was stored. A run that ended early, hit an error on some page or was killed keeps
the old cursor: the next run fetches the same posts again, and the idempotent upsert makes that harmless.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.logformatter import LogFormatter

from crawlers.context import SourceRun, resources_of, run_of
from crawlers.spiders.base import PageError
from store.base import StoreError
from vigie.models import CrawlError, CrawlStatus, utcnow

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

_EARLY_END = {
    "shutdown": "interrupted (shutdown requested)",
    "cancelled": "interrupted (cancelled)",
    "closespider_timeout": "stopped by crawl.run_timeout before the end",
}
_ALREADY_REPORTED = {"retry_after_too_long", "quota_spent"}


def run_status(state: SourceRun) -> CrawlStatus:
    run = state.run
    if not run.errors:
        return "ok"
    if run.pages > state.parse_failures or run.new_posts or run.updated_posts:
        return "partial"
    return "failed"


def describe_parse_failure(exception: BaseException, url: str) -> str:
    """A spider's own message (PageError, or any message naming the page) as it is; anything else with its type."""
    message = str(exception).strip().splitlines()[0] if str(exception).strip() else ""
    if message and url in message:
        return message
    if isinstance(exception, PageError):
        return f"{url}: {message}"
    kind = type(exception).__name__
    return f"cannot parse the page at {url}: {kind}: {message}" if message else f"cannot parse the page at {url}: {kind}"


class CrawlRunRecorder:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlRunRecorder:
        recorder = cls(crawler)
        crawler.signals.connect(recorder.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(recorder.spider_error, signal=signals.spider_error)
        crawler.signals.connect(recorder.spider_closed, signal=signals.spider_closed)
        return recorder

    def _record(self, state: SourceRun) -> None:
        try:
            resources_of(self.crawler).store.record_crawl_run(state.run)
        except StoreError as exc:
            logger.error("source %s: cannot record the crawl run: %s", state.source.id, exc)

    def spider_opened(self) -> None:
        state = run_of(self.crawler)
        logger.info("source %s: run %s started", state.source.id, state.run.id)
        self._record(state)

    def spider_error(self, failure: Failure, response: Response) -> None:
        state = run_of(self.crawler)
        state.parse_failures += 1
        state.error(describe_parse_failure(failure.value, response.url), url=response.url, status=response.status)

    def spider_closed(self, reason: str) -> None:
        state = run_of(self.crawler)
        if reason in _EARLY_END:
            state.error(_EARLY_END[reason])
        elif reason not in ("finished", *_ALREADY_REPORTED) and not reason.startswith("closespider_"):
            state.error(f"run ended early: {reason}")
        status = run_status(state)
        if state.drop_reasons:
            detail = ", ".join(f"{kind} ({count})" for kind, count in state.drop_reasons.most_common())
            state.run.errors.append(CrawlError(message=f"dropped {state.run.dropped_items} malformed items: {detail}"))
        state.run.finished_at = utcnow()
        state.run.status = status
        if status == "ok":
            try:
                resources_of(self.crawler).store.set_cursor(state.source.id, state.next_cursor())
            except StoreError as exc:
                state.run.status = "partial"
                state.error(f"cannot save the cursor: {exc}")
        self._record(state)
        run = state.run
        logger.info(
            "source %s: run %s %s: %d pages, %d new, %d updated, %d dropped, %d errors",
            run.source_id, run.id, run.status, run.pages, run.new_posts, run.updated_posts, run.dropped_items, len(run.errors),
        )
        state.changed()


class QuietLogFormatter(LogFormatter):
    """Scrapy's log lines without the items: post text is hostile and long, its id says which post it was."""

    def scraped(self, item: Any, response: Any, spider: Any) -> dict[str, Any]:
        entry = super().scraped(item, response, spider)
        entry["args"] = {**entry["args"], "item": getattr(item, "id", type(item).__name__)}
        return entry

    def dropped(self, item: Any, exception: BaseException, response: Any, spider: Any = None) -> dict[str, Any]:
        entry = super().dropped(item, exception, response, spider)
        entry["args"] = {**entry["args"], "item": getattr(item, "id", type(item).__name__)}
        return entry
