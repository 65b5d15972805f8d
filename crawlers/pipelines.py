"""Item pipelines, in order: validate, add the source's tags, then enrich and store in batches.

Each pipeline is built per crawler (one source) and reports to that source's `SourceRun`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import DropItem

from crawlers.context import RunComponent, resources_of
from crawlers.spiders.base import MalformedPost
from store.base import StoreError
from vigie.models import Post, utcnow

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

FUTURE_TOLERANCE = timedelta(days=2)
"""A post dated further ahead than this has a broken date, not a scheduled one."""


class ValidatePipeline(RunComponent):
    """Lets through complete Posts of this source; drops the rest, counting each reason."""

    def drop(self, kind: str, detail: str) -> DropItem:
        self.state.dropped(kind)
        self.crawler.stats.inc_value(f"vigie/dropped/{kind}")
        return DropItem(f"{kind}: {detail}")

    def process_item(self, item: Any) -> Post:
        if isinstance(item, MalformedPost):
            raise self.drop(item.reason, item.native_id or item.url)
        if not isinstance(item, Post):
            raise self.drop("not a post", type(item).__name__)
        if item.source_id != self.state.source.id:
            raise self.drop("post of another source", f"{item.id} from {item.source_id}")
        if not (item.text or item.title or item.media):
            raise self.drop("empty post", item.id)
        if item.published_at > utcnow() + FUTURE_TOLERANCE:
            raise self.drop("publication date in the future", f"{item.id} dated {item.published_at.isoformat()}")
        return item


class SourceTagsPipeline(RunComponent):
    """Copies the source's `tags` from sources.yaml onto each post, before enrichment adds the watchlist ones."""

    def process_item(self, item: Post) -> Post:
        tags = self.state.source.tags
        if not tags:
            return item
        return item.model_copy(update={"tags": list(dict.fromkeys([*item.tags, *tags]))})


class StorePipeline(RunComponent):
    """Enriches and writes posts in batches of `store.batch_size`; what is left is written when the spider closes.

    Only posts the store accepted count for the run and for the cursor. When enrichment fails the posts
    are still stored, unenriched (`vigie reenrich` can finish the job); when the store fails the batch is
    reported and the cursor does not move, so the next run fetches those posts again.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.resources = resources_of(crawler)
        self.batch_size = self.resources.config.settings.store.batch_size
        self.buffer: list[Post] = []

    def process_item(self, item: Post) -> Post:
        self.buffer.append(item)
        if len(self.buffer) >= self.batch_size:
            self.flush()
        return item

    def close_spider(self) -> None:
        self.flush()

    def flush(self) -> None:
        batch, self.buffer = self.buffer, []
        if not batch:
            return
        state = self.state
        try:
            batch = self.resources.enricher.enrich(batch)
        except Exception as exc:  # enrichment is not worth losing posts over: store them as they are
            logger.exception("source %s: enrichment failed", state.source.id)
            state.error(f"enrichment failed for {len(batch)} posts, stored unenriched: {type(exc).__name__}: {exc}")
        try:
            result = self.resources.store.upsert_posts(batch)
        except StoreError as exc:
            state.error(f"store refused a batch of {len(batch)} posts: {exc}")
            return
        refused = dict(result.errors)
        for post_id, reason in result.errors:
            state.error(f"store refused post {post_id}: {reason}")
        state.stored([post for post in batch if post.id not in refused], result.new, result.updated)
