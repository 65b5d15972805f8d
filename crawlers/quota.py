"""The YouTube Data API's daily quota, spent knowingly: every API request says what it costs, and none goes out
that would spend more than `crawl.youtube_daily_quota` units in YouTube's day (which ends at midnight, Pacific time).

A request carries its cost in `meta["quota_units"]` (search pages 100 units, list calls 1). The units spent each
day live in a small ledger file under the data dir, read and written under an exclusive lock, so parallel crawls
and processes share one budget. When the next request would go past it, the source's run stops there with one
line saying so; each run logs what it spent and what the day has spent.
"""

from __future__ import annotations

import fcntl
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import deferred_from_coro

from crawlers.context import RunComponent
from crawlers.middlewares import REPORTED
from vigie.models import utcnow

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

QUOTA_DAY = ZoneInfo("America/Los_Angeles")
"""YouTube resets the Data API quota at midnight Pacific time."""


class QuotaLedger:
    """Units spent per day, in `folder/youtube-YYYY-MM-DD.json`, shared by every process of the machine."""

    def __init__(self, folder: Path, budget: int) -> None:
        self.folder = folder
        self.budget = budget

    def _path(self, now: datetime | None = None) -> Path:
        return self.folder / f"youtube-{(now or utcnow()).astimezone(QUOTA_DAY).date().isoformat()}.json"

    def spent(self, now: datetime | None = None) -> int:
        path = self._path(now)
        return int(json.loads(path.read_text(encoding="ascii"))["units"]) if path.exists() else 0

    def spend(self, units: int, now: datetime | None = None) -> tuple[bool, int]:
        """(True, spent after) when `units` fit in today's budget and were counted; else (False, spent so far)."""
        path = self._path(now)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a+", encoding="ascii") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            text = handle.read().strip()
            spent = int(json.loads(text)["units"]) if text else 0
            if spent + units > self.budget:
                return False, spent
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"units": spent + units}))
        return True, spent + units


class QuotaMiddleware(RunComponent):
    """Counts each API request's units against the day's budget, and stops the source before it would overspend."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        settings = crawler.settings
        self.ledger = QuotaLedger(Path(settings.get("VIGIE_QUOTA_DIR") or "quota"), settings.getint("VIGIE_YOUTUBE_DAILY_QUOTA"))
        self.run_units = 0
        self.stopped = False
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    def process_request(self, request: Request) -> None:
        units = request.meta.get("quota_units")
        if not units:
            return
        if self.stopped:
            request.meta[REPORTED] = True
            raise IgnoreRequest("the YouTube Data API daily quota is spent")
        fits, spent = self.ledger.spend(units)
        if fits:
            self.run_units += units
            return
        self.stopped = True
        request.meta[REPORTED] = True
        self.state.error(
            f"YouTube Data API quota: {spent:,} of the {self.ledger.budget:,} daily units (crawl.youtube_daily_quota) are spent"
            f" and the next call costs {units}; stopping this source until YouTube's day ends (midnight, Pacific time)",
            url=request.url,
        )
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="quota_spent"))
        raise IgnoreRequest("the YouTube Data API daily quota is spent")

    def spider_closed(self) -> None:
        if self.run_units or self.stopped:
            logger.info(
                "source %s: YouTube Data API: %d units this run, %d of %d today",
                self.state.source.id, self.run_units, self.ledger.spent(), self.ledger.budget,
            )
