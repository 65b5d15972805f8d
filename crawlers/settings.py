"""Every Scrapy setting Vigie uses, in one place.

The module-level names are the project settings (`scrapy.cfg` points here, so `scrapy list` and
`scrapy crawl feed -a source=ID` read them). `source_settings()` turns `vigie.yaml`'s `crawl:` section
and one source's caps into the per-crawler settings a `SourceSpider` applies when it starts.
Spiders that read HTML pages set `ROBOTSTXT_OBEY = True` in their `custom_settings`.
"""

from __future__ import annotations

from typing import Any

from vigie.config import Config

BOT_NAME = "vigie"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

# Politeness. Overridden per source from vigie.yaml by `source_settings()`.
USER_AGENT = "Vigie/0.1 (public-interest monitoring; +https://github.com/vigie-watch/vigie)"
ROBOTSTXT_OBEY = False
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
DOWNLOAD_TIMEOUT = 30
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
"""Scrapy's remote control runs code sent over HTTP: never on a monitoring host."""
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024
REDIRECT_MAX_TIMES = 5

# Retries: Scrapy's RetryMiddleware is replaced by one that honours Retry-After and backs off.
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [408, 429, 500, 502, 503, 504, 522, 524]
RETRY_GIVE_UP_LOG_LEVEL = "WARNING"
VIGIE_BACKOFF_BASE = 1.0
"""Seconds before the first retry of a failed request; doubled at each further retry."""
VIGIE_BACKOFF_MAX = 60.0
"""Longest backoff between two retries, in seconds."""
VIGIE_MAX_RETRY_AFTER = 600.0
"""Longest Retry-After honoured; a longer one ends the run for that source."""

# Caps per run (a run with no cursor yet is a first-run backfill).
VIGIE_MAX_PAGES = 20
VIGIE_MAX_ITEMS = 2000
VIGIE_BACKFILL_PAGES = 3
VIGIE_YOUTUBE_DAILY_QUOTA = 10_000
"""YouTube Data API units that may be spent a day, across every crawl (`crawl.youtube_daily_quota`)."""
VIGIE_QUOTA_DIR = None
"""Folder of the daily quota ledgers of `QuotaMiddleware` (under the data dir)."""
VIGIE_HOST_INTERVAL = 0.0
"""Seconds between two requests to one host across every crawl on the machine (0: no such limit)."""
VIGIE_PACE_DIR = None
"""Folder of the per-host pace files of `HostPaceMiddleware` (under the data dir)."""
VIGIE_BACKFILL_DAYS = None
"""On a first run, posts older than this many days are not collected (None: no limit)."""

LOG_LEVEL = "INFO"
LOG_FORMATTER = "crawlers.extensions.QuietLogFormatter"
DEFAULT_DROPITEM_LOG_LEVEL = "INFO"
LOG_FORMAT = "%(asctime)s [%(name)s] %(levelname)s: %(message)s"
STATS_DUMP = False
"""The crawl-run log keeps what matters (pages, new, updated, errors); Scrapy's stats dump would flood the service log."""

DOWNLOADER_MIDDLEWARES = {
    "crawlers.middlewares.OutcomeMiddleware": 40,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.BackoffRetryMiddleware": 550,
    "crawlers.middlewares.HostPaceMiddleware": 560,
    "crawlers.quota.QuotaMiddleware": 570,
}
SPIDER_MIDDLEWARES = {
    "crawlers.middlewares.PageMiddleware": 600,
    "crawlers.middlewares.RunLimitsMiddleware": 610,
    "crawlers.middlewares.IncrementalMiddleware": 620,
}
ITEM_PIPELINES = {
    "crawlers.pipelines.ValidatePipeline": 100,
    "crawlers.pipelines.SourceTagsPipeline": 200,
    "crawlers.transcripts.TranscriptPipeline": 300,
    "crawlers.pipelines.StorePipeline": 900,
}
EXTENSIONS = {
    "crawlers.extensions.CrawlRunRecorder": 500,
}

HTML_PLATFORMS = frozenset({"feed", "forum", "telegram"})
"""Platforms whose pages are web pages rather than APIs: robots.txt is obeyed for them."""

PLATFORM_MIN_DELAY = {"imageboard": 1.0}
"""Seconds between two requests to one host that a platform's API rules demand, whatever vigie.yaml says
(4chan: one request per second); for these, one request at a time, no random shortening of the delay, and
the interval kept per host across crawls (`HostPaceMiddleware`)."""


def source_settings(config: Config, source: Any) -> dict[str, Any]:
    """Scrapy settings for one source's crawler, from vigie.yaml's `crawl:` section and the source's caps."""
    crawl = config.settings.crawl
    floor = PLATFORM_MIN_DELAY.get(source.platform)
    delay = max(crawl.download_delay, floor or 0.0)
    return {
        "USER_AGENT": crawl.user_agent.format(contact_url=crawl.contact_url),
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1 if floor else crawl.concurrent_requests_per_domain,
        "DOWNLOAD_DELAY": delay,
        "RANDOMIZE_DOWNLOAD_DELAY": not floor,
        "VIGIE_HOST_INTERVAL": floor or 0.0,
        "VIGIE_PACE_DIR": str(config.data_dir / "pace"),
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": delay,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(crawl.concurrent_requests_per_domain),
        "RETRY_TIMES": crawl.retry_times,
        "VIGIE_BACKOFF_BASE": crawl.backoff_base,
        "VIGIE_BACKOFF_MAX": crawl.backoff_max,
        "VIGIE_MAX_RETRY_AFTER": crawl.max_retry_after,
        "VIGIE_MAX_PAGES": source.max_pages or crawl.max_pages_per_run,
        "VIGIE_MAX_ITEMS": source.max_items or crawl.max_items_per_run,
        "VIGIE_BACKFILL_PAGES": source.backfill_pages or crawl.backfill_pages,
        "VIGIE_BACKFILL_DAYS": source.backfill_days,
        "VIGIE_YOUTUBE_DAILY_QUOTA": crawl.youtube_daily_quota,
        "VIGIE_QUOTA_DIR": str(config.data_dir / "quota"),
        "CLOSESPIDER_TIMEOUT": crawl.run_timeout.total_seconds(),
    }


def process_settings(config: Config) -> dict[str, Any]:
    """Settings shared by every crawler of one `crawl_sources()` process: logging goes to vigie.yaml's log file."""
    log = config.settings.log
    settings: dict[str, Any] = {"LOG_LEVEL": log.level}
    if log.level != "DEBUG":
        settings["LOG_VERSIONS"] = []  # the library versions banner, ten lines per crawl (see crawlers.run.quiet_scrapy)
    if log.file:
        path = config.data_dir / log.file
        path.parent.mkdir(parents=True, exist_ok=True)
        settings["LOG_FILE"] = str(path)
    return settings
