"""Crawl several sources in one process: one Twisted reactor, one crawler per source, one shared store.

Each source gets its own crawler, with its own settings (caps, politeness from vigie.yaml) and its own
crawl-run record; a source that fails (bad config, dead host, unparsable pages) fails alone.
The reactor cannot be restarted, so `crawl_sources()` runs once per process; the scheduler runs
`vigie crawl SOURCE_ID` in a child process for that reason, forked from a launcher that has imported all
this and loaded the enrichment models once (scheduler/launcher.py).
"""

from __future__ import annotations

import gc
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.reactor import is_reactor_installed

from crawlers import settings as default_settings
from crawlers.context import CrawlResources, SourceRun, attach_resources, run_of
from crawlers.settings import process_settings
from store.base import StoreError
from vigie.models import CrawlError, CrawlRun, utcnow

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from store.base import Store
    from vigie.config import Config

logger = logging.getLogger(__name__)


SCRAPY_CHATTER = ("scrapy.utils.log", "scrapy.addons", "scrapy.middleware", "scrapy.crawler", "scrapy.core.engine", "scrapy.extensions.logstats", "scrapy.extensions.telnet")
"""Loggers of Scrapy's INFO lines at every crawl's start and end (versions, enabled components, overridden
settings, spider opened and closed): over 200 lines per crawl in the service log, where the crawl-run summary
says what matters. `log.level: DEBUG` shows them."""


ONE_LINE_LOGGERS = ("scrapy.core.scraper", "scrapy.downloadermiddlewares.robotstxt")
"""Loggers whose errors come with a traceback of a hundred lines or more: a host that is down, a page that
fails to parse. The source's own error line already says what failed and where."""


def _one_line(record: logging.LogRecord) -> bool:
    """A record without its traceback, its exception told in its message instead."""
    if record.exc_info and record.exc_info[1] is not None:
        error = " ".join(str(record.exc_info[1]).split()) or type(record.exc_info[1]).__name__
        message = record.getMessage()
        if error not in message:
            record.msg, record.args = f"{message} ({error})", ()
    record.exc_info, record.exc_text = None, None
    return True


def quiet_scrapy(level: str) -> None:
    """After `CrawlerProcess()`: its logging setup resets the levels of Scrapy's loggers. At DEBUG, all of it."""
    if level == "DEBUG":
        return
    for name in SCRAPY_CHATTER:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ONE_LINE_LOGGERS:
        if _one_line not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(_one_line)


def select_sources(config: Config, source_ids: Sequence[str] | None = None) -> list[Any]:
    """The named sources (enabled or not: naming one is asking for it), or every enabled source.

    An unknown id raises `ConfigError`."""
    if source_ids:
        return [config.source(source_id) for source_id in dict.fromkeys(source_ids)]
    return [source for source in config.sources if source.enabled]


def project_settings(config: Config, overrides: Mapping[str, Any] | None = None) -> Settings:
    settings = Settings()
    settings.setmodule(default_settings, priority="project")
    settings.setdict({**process_settings(config), **(overrides or {})}, priority="project")
    return settings


def _reactor_already_ran() -> bool:
    if not is_reactor_installed():
        return False
    from twisted.internet import reactor

    return bool(getattr(reactor, "_startedBefore", False))


CRAWL_GC_THRESHOLDS = (10_000, 10, 10)
"""A crawl allocates a container object or more for every node of every page and field of every post; at Python's
default 700, the collector ran every few posts, and the full collections, frequent because the warm launcher froze
everything it had (the collector counts only what it has not frozen), cost a crawl 20 to 60 µs per post."""


def crawl_sources(
    config: Config,
    source_ids: Sequence[str] | None = None,
    *,
    store: Store | None = None,
    on_progress: Callable[[CrawlRun], None] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> list[CrawlRun]:
    """Crawl the selected sources (default: every enabled one) and return their runs, in source order.

    `store`: write there instead of opening the configured store (the caller closes it).
    `on_progress`: called with a source's `CrawlRun` each time it changes (pages, posts, errors, end).
    `settings`: Scrapy settings for every crawler on top of `crawlers.settings` (the bench turns pipelines off).
    """
    sources = select_sources(config, source_ids)
    if not sources:
        return []
    if _reactor_already_ran():
        raise RuntimeError("crawl_sources() runs once per process (the Twisted reactor cannot restart): run `vigie crawl` in a child process")
    gc.set_threshold(*CRAWL_GC_THRESHOLDS)
    process = CrawlerProcess(project_settings(config, settings))
    quiet_scrapy(config.settings.log.level)
    resources = CrawlResources(config, store)
    if on_progress is not None:
        resources.listeners.append(lambda state: on_progress(state.run))
    crawlers: dict[str, Crawler] = {}
    startup_failures: dict[str, CrawlRun] = {}
    try:
        for source in sources:
            try:
                crawler = process.create_crawler(source.platform)
            except KeyError:
                startup_failures[source.id] = _failed_run(resources, source, f"no spider for platform {source.platform!r}")
                continue
            attach_resources(crawler, resources)
            crawlers[source.id] = crawler
            deferred = process.crawl(crawler, source=source.id, config=config)
            deferred.addErrback(_startup_failed, resources, source, crawler, startup_failures)
        if crawlers:
            process.start(install_signal_handlers=threading.current_thread() is threading.main_thread())
    finally:
        resources.close()
    runs = []
    for source in sources:
        if source.id in startup_failures:
            runs.append(startup_failures[source.id])
        else:
            runs.append(run_of(crawlers[source.id]).run)
    return runs


def _startup_failed(failure: Failure, resources: CrawlResources, source: Any, crawler: Crawler, failures: dict[str, CrawlRun]) -> None:
    """A crawler that could not start (store unreachable, spider error in __init__) is a failed run."""
    message = str(failure.value).strip().splitlines()[0] if str(failure.value).strip() else type(failure.value).__name__
    try:
        state: SourceRun | None = run_of(crawler)
    except KeyError:
        state = None
    if state is not None and state.run.finished_at is not None:
        return
    logger.debug("source %s: could not start", source.id, exc_info=(failure.type, failure.value, failure.getTracebackObject()))
    failures[source.id] = _failed_run(resources, source, f"could not start: {message}")


def _failed_run(resources: CrawlResources, source: Any, message: str) -> CrawlRun:
    now = utcnow()
    run = CrawlRun(
        id=uuid.uuid4().hex,
        source_id=source.id,
        platform=source.platform,
        started_at=now,
        finished_at=now,
        status="failed",
        errors=[CrawlError(message=message)],
    )
    logger.error("source %s: %s", source.id, message)
    try:
        resources.store.record_crawl_run(run)
    except StoreError as exc:
        logger.error("source %s: cannot record the crawl run: %s", source.id, exc)
    for listener in resources.listeners:
        listener(SourceRun(source=source, cursor=None, run=run))
    return run
