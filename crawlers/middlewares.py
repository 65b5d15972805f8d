"""What every spider gets without asking: retries with backoff, error lines, page counts, caps, the cursor.

Downloader side: `BackoffRetryMiddleware` (Retry-After and exponential backoff), `OutcomeMiddleware`
(the final outcome of every request: an HTTP error, a dead host, a timeout or a login page becomes one
error line of the source) and `HostPaceMiddleware` (a host's minimum interval, across every crawl). Spider side: `PageMiddleware` (pages read, evidence archive),
`RunLimitsMiddleware` (page and item caps) and `IncrementalMiddleware` (known posts dropped, paging
stops at the cursor).
"""

from __future__ import annotations

import email.utils
import fcntl
import logging
import re
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware
from scrapy.utils.asyncio import sleep
from scrapy.utils.defer import deferred_from_coro
from twisted.internet import error as net

from crawlers.context import RunComponent, cursor_position, resources_of, run_of
from crawlers.evidence import EvidenceError, Fetch
from vigie.models import Post, as_utc, utcnow

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from crawlers.spiders.base import SourceSpider

logger = logging.getLogger(__name__)

_LOGIN_PATH = re.compile(r"(?i)(?:^|[/_.?=&-])(login|log-in|signin|sign-in|sign_in|auth|authorize|consent|captcha|challenge)(?:$|[/_.?=&-])")


REPORTED = "vigie_reported"
"""Request meta: a component already gave this request's failure its error line."""


def retry_after_seconds(response: Response, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: a number (`120`) or an HTTP date; None when absent or unreadable."""
    value = response.headers.get(b"Retry-After")
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (as_utc(when) - (now or utcnow())).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, waiting first: Retry-After when the server gives one (429, 503), else 1 s, 2 s, 4 s...

    A Retry-After longer than `crawl.max_retry_after` ends the run for that source: waiting that long
    would hold the crawl, and hammering earlier would be rude.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler.settings)
        self.crawler = crawler
        self.backoff_base = crawler.settings.getfloat("VIGIE_BACKOFF_BASE")
        self.backoff_max = crawler.settings.getfloat("VIGIE_BACKOFF_MAX")
        self.max_retry_after = crawler.settings.getfloat("VIGIE_MAX_RETRY_AFTER")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        return cls(crawler)

    def backoff(self, request: Request) -> float:
        return min(self.backoff_base * 2 ** request.meta.get("retry_times", 0), self.backoff_max)

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        wait = retry_after_seconds(response)
        if wait is not None and wait > self.max_retry_after:
            run_of(self.crawler).error(
                f"HTTP {response.status} at {request.url}: the server asks to wait {wait:.0f} s, more than"
                f" crawl.max_retry_after ({self.max_retry_after:.0f} s); stopping this source for this run",
                url=request.url,
                status=response.status,
            )
            # not awaited: closing waits for the downloader, which waits for this very call
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="retry_after_too_long"))
            raise IgnoreRequest("Retry-After too long")
        delay = self.backoff(request) if wait is None else wait
        retry = self._retry(request, f"HTTP {response.status}")
        if retry is None:
            return response
        await sleep(delay)
        return retry

    async def process_exception(self, request: Request, exception: Exception) -> Request | Response | None:
        if request.meta.get("dont_retry") or not isinstance(exception, self.exceptions_to_retry):
            return None
        delay = self.backoff(request)
        retry = self._retry(request, exception)
        if retry is not None:
            await sleep(delay)
        return retry


class HostPaceMiddleware:
    """At most one request per `VIGIE_HOST_INTERVAL` seconds to a host, counted across every crawl on this
    machine (two boards of one imageboard crawled at once, or by two processes, share the host's pace).

    Each host's last request time lives in a small file under `VIGIE_PACE_DIR`, read and written under an
    exclusive lock held for microseconds; a request that comes too early waits without blocking the reactor.
    Off (interval 0) for the platforms that set no minimum (`crawlers.settings.PLATFORM_MIN_DELAY`).
    """

    def __init__(self, interval: float, folder: Path) -> None:
        self.interval = interval
        self.folder = folder

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HostPaceMiddleware:
        return cls(crawler.settings.getfloat("VIGIE_HOST_INTERVAL"), Path(crawler.settings.get("VIGIE_PACE_DIR") or "."))

    async def process_request(self, request: Request) -> None:
        if self.interval <= 0:
            return
        host = urlsplit(request.url).netloc.replace(":", "_") or "_"
        while (wait := self._claim(self.folder / f"{host}.pace")) > 0:
            await sleep(wait)

    def _claim(self, path: Path) -> float:
        """0 after recording this request's time; else how long to wait before trying again."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a+", encoding="ascii") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            text = handle.read().strip()
            now = time.time()
            ready = (float(text) if text else 0.0) + self.interval
            if now < ready:
                return ready - now
            handle.seek(0)
            handle.truncate()
            handle.write(repr(now))
        return 0.0


def _is_robots(request: Request) -> bool:
    return bool(request.meta.get("dont_obey_robotstxt")) and request.url.endswith("/robots.txt")


def _after_retries(request: Request) -> str:
    retries = request.meta.get("retry_times", 0)
    return f" (after {retries} retr{'y' if retries == 1 else 'ies'})" if retries else ""


def describe_failure(request: Request, exception: BaseException) -> str:
    """One line for a request that got no usable response."""
    if isinstance(exception, net.ConnectionRefusedError | DownloadConnectionRefusedError):
        what = "connection refused"
    elif isinstance(exception, net.DNSLookupError | CannotResolveHostError):
        what = "DNS lookup failed"
    elif isinstance(exception, net.TimeoutError | net.TCPTimedOutError | TimeoutError | DownloadTimeoutError):
        what = f"timed out after {request.meta.get('download_timeout', '?')} s"
    elif isinstance(exception, net.ConnectError | net.ConnectionLost | net.ConnectionDone | DownloadFailedError | ResponseDataLossError):
        what = f"connection failed ({_first_line(exception) or type(exception).__name__})"
    elif isinstance(exception, IgnoreRequest):
        what = str(exception).lower() or "request ignored"
    else:
        detail = _first_line(exception)
        what = f"{type(exception).__name__}: {detail}" if detail else type(exception).__name__
    return f"{what} at {request.url}{_after_retries(request)}"


def _first_line(exception: BaseException) -> str:
    text = str(exception).strip()
    return text.splitlines()[0] if text else ""


class OutcomeMiddleware(RunComponent):
    """The final outcome of every request, after retries and redirects: errors become the source's error lines.

    Placed first (engine side), so it sees what is left once the other middlewares are done. A request
    redirected to a login, consent or captcha page is an error too: the page is not the content asked for.
    """

    def process_response(self, request: Request, response: Response) -> Response:
        if _is_robots(request):
            return response
        redirects = request.meta.get("redirect_urls")
        if redirects and _LOGIN_PATH.search(response.url.split("://", 1)[-1].partition("/")[2]):
            self.state.error(f"redirected to a login page ({response.url}) from {redirects[0]}", url=redirects[0], status=response.status)
            raise IgnoreRequest(f"redirected to a login page: {response.url}")
        if response.status >= 400:
            try:
                phrase = HTTPStatus(response.status).phrase
            except ValueError:
                phrase = ""
            described = f"HTTP {response.status} {phrase}".rstrip()
            self.state.error(f"{described} at {request.url}{_after_retries(request)}", url=request.url, status=response.status)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        if not _is_robots(request) and not request.meta.get(REPORTED):
            self.state.error(describe_failure(request, exception), url=request.url)


class PageMiddleware(RunComponent):
    """Counts the pages handed to the spider and, for sources with `archive: true`, keeps their raw body."""

    def process_spider_input(self, response: Response) -> None:
        state = self.state
        state.page()
        if getattr(state.source, "archive", False):
            fetch = Fetch(url=response.url, status=response.status, fetched_at=utcnow(), content_type=_header(response, b"Content-Type"))
            spider: SourceSpider = self.crawler.spider  # type: ignore[assignment]
            try:
                resources_of(self.crawler).archive.put(response.body, fetch, spider.raw_sha256(response))
            except EvidenceError as exc:
                state.error(str(exc), url=response.url)


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


class RunLimitsMiddleware(BaseSpiderMiddleware):
    """Page and item caps per run: `max_pages`/`max_items`, or `backfill_pages` on a source's first run."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        settings = crawler.settings
        self.max_items = settings.getint("VIGIE_MAX_ITEMS")
        self.max_pages = settings.getint("VIGIE_MAX_PAGES")
        self.backfill_pages = settings.getint("VIGIE_BACKFILL_PAGES")
        self.pages = 0
        self.items = 0
        self._announced: set[str] = set()

    @property
    def page_cap(self) -> int:
        return self.backfill_pages if run_of(self.crawler).first_run else self.max_pages

    def _reached(self, what: str, cap: int) -> None:
        if what not in self._announced:
            self._announced.add(what)
            logger.info("source %s: %s cap (%d) reached for this run", run_of(self.crawler).source.id, what, cap)
        self.crawler.stats.inc_value(f"vigie/{what}_cap_dropped")

    def get_processed_request(self, request: Request, response: Response | None) -> Request | None:
        if self.items >= self.max_items:
            self._reached("item", self.max_items)
            return None
        if self.pages >= self.page_cap:
            self._reached("page", self.page_cap)
            return None
        self.pages += 1
        return request

    def get_processed_item(self, item: Any, response: Response | None) -> Any:
        if isinstance(item, Post):
            if self.items >= self.max_items:
                self._reached("item", self.max_items)
                return None
            self.items += 1
        return item


class IncrementalMiddleware(BaseSpiderMiddleware):
    """Drops posts the source already stored (at or before its cursor) and, on a first run, posts older than
    `backfill_days`. Pages are read newest first, so a page that reached known posts is the last one:
    its follow-up requests are dropped. Spiders whose pages run oldest first set `stop_at_known = False`."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        days = crawler.settings.get("VIGIE_BACKFILL_DAYS")
        self.backfill_days = int(days) if days else None

    def _cutoff(self) -> tuple[datetime, set[str]] | None:
        state = run_of(self.crawler)
        position = cursor_position(state.cursor)
        if position is None and self.backfill_days:
            return utcnow() - timedelta(days=self.backfill_days), set()
        return position

    def _known(self, post: Post, cutoff: tuple[datetime, set[str]]) -> bool:
        since, ids = cutoff
        return post.published_at < since or (post.published_at == since and (not ids or post.native_id in ids))

    def process_spider_output(self, response: Response | None, result: Iterable[Any]) -> Iterator[Any]:
        page = _PageFilter(self, response)
        for output in result:
            if page.keep(output):
                yield output
        yield from page.follow_ups()

    async def process_spider_output_async(self, response: Response | None, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        page = _PageFilter(self, response)
        async for output in result:
            if page.keep(output):
                yield output
        for request in page.follow_ups():
            yield request


class _PageFilter:
    """The incremental decision for one page's output: known posts out, follow-ups held until the page is read."""

    def __init__(self, middleware: IncrementalMiddleware, response: Response | None) -> None:
        self.middleware = middleware
        self.cutoff = middleware._cutoff() if response is not None else None
        self.held: list[Request] = []
        self.reached = False

    def keep(self, output: Any) -> bool:
        if self.cutoff is None:
            return True
        if isinstance(output, Request):
            self.held.append(output)
            return False
        if isinstance(output, Post) and self.middleware._known(output, self.cutoff):
            self.reached = True
            self.middleware.crawler.stats.inc_value("vigie/known_dropped")
            return False
        return True

    def follow_ups(self) -> list[Request]:
        if self.reached and getattr(self.middleware.crawler.spider, "stop_at_known", True):
            self.middleware.crawler.stats.inc_value("vigie/paging_stopped_at_cursor")
            return []
        return self.held
