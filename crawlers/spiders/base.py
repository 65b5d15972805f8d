"""`SourceSpider`: the base of every Vigie spider. A spider only parses; everything else is shared.

Writing a spider
----------------
::

    class TelegramSpider(SourceSpider):
        name = "telegram"                       # == the `platform:` of its sources; `scrapy crawl telegram`
        default_base_url = "https://t.me"       # a source's `base_url:` replaces it (tests, offline demo)
        custom_settings = {"ROBOTSTXT_OBEY": True}   # HTML sites only; APIs leave it off
        stop_at_known = True                    # pages run newest first (False for forum threads)

        def first_urls(self) -> list[str]:
            return [self.url(f"/s/{self.source.channel}")]

        def parse(self, response):
            for message in ...:
                yield self.make_post(response, native_id=..., published_at=..., text=..., url=...)
            yield self.next_page(response, self.url(f"/s/{channel}?before={oldest}"))

Started with `scrapy crawl <platform> -a source=ID` (the config comes from `VIGIE_CONFIG`/`VIGIE_DATA_DIR`)
or by `crawlers.run.crawl_sources(config)`, which passes the loaded config as `config=`. `from_crawler`
applies the source's settings (`crawlers.settings.source_settings`: politeness from vigie.yaml, caps)
to the crawler before Scrapy freezes them, and reads the cursor from the store.

Class attributes
----------------
- ``name``: the platform, as in `sources.yaml` (`vigie.models.Platform`).
- ``default_base_url``: the platform's fixed host (``""`` when the source's own URL says where to go).
- ``custom_settings``: Scrapy's; set ``{"ROBOTSTXT_OBEY": True}`` for HTML sites.
- ``stop_at_known``: True (default) when pages run newest first, so the first page that reaches known posts
  is the last one fetched; False when they run oldest first (every page is followed up to the page cap).

What a spider gets (read-only)
------------------------------
- ``self.source``: the source's typed model from `sources.yaml` (`vigie.config.TelegramSource`, ...).
- ``self.config``: the loaded `vigie.config.Config`.
- ``self.cursor``: the cursor stored for this source by the last clean run, or None on a first run.
  Keys: ``newest_at`` (ISO datetime of the newest post stored) and ``newest_ids`` (native ids published
  at that instant). The pipeline moves it after a clean run, only past posts the store accepted.
- ``self.since``: ``newest_at`` as an aware datetime, or None. Spiders whose API can ask for newer posts
  only (Mastodon ``min_id``, ...) may use it; the others need not: the incremental middleware drops posts
  at or before the cursor and stops paging at the first page that reaches it.
- ``self.first_run``: True until a clean run has stored a post (a backfill: ``backfill_pages`` and ``backfill_days`` apply).
- ``self.base_url``: the source's ``base_url``, else the class's ``default_base_url``, else the origin of the
  source's ``url`` (feed, forum); without a trailing ``/``. ``self.site_url``: the real site's origin.

What a spider calls
-------------------
- ``self.url(path)``: ``base_url + path``. ``self.on_base(url)``: a URL of the real site moved onto ``base_url``;
  ``self.on_site(url)``: the reverse (resolve a page's relative links against ``self.on_site(response.url)``).
- ``first_urls()``: override it to return the URL(s) of the first page(s); ``start()`` requests them
  with ``self.parse`` as callback. Override ``start()`` itself only for something else (POST, headers).
- ``self.page_request(url, callback=None, **kwargs)``: a `scrapy.Request` for a page of this source.
- ``self.next_page(response, url, **kwargs)``: the request for the following (older) page; relative URLs
  are joined to the page's, real-site URLs moved onto ``base_url``. The page cap, the item cap and the
  cursor decide whether it is really fetched; yield it unconditionally. Follow-up requests to another
  host are dropped (``allowed_domains`` is the host of ``base_url``); first requests may redirect anywhere.
- ``self.make_post(response, native_id=..., published_at=..., **fields)``: a `vigie.models.Post` with
  ``platform``, ``source_id``, ``collected_at`` and ``raw_sha256 = sha256_hex(response.body)`` filled in
  (``self.raw_sha256(response)``, hashed once per response);
  ``fields`` are any other Post fields (text, title, url, author, engagement, ...). When the fields are
  invalid it returns a `MalformedPost` instead: yield it anyway, the validation pipeline drops it and
  counts the reason.
- Raise `PageError("what is wrong")` (or any exception) from a callback when a page cannot be read: the
  message becomes the one error line of this source for that page; the other pages and sources go on.

What a spider never does: retry, sleep, count pages, check caps, filter known posts, write to the store,
tag, enrich or archive. Middlewares, pipelines and the `CrawlRunRecorder` extension do that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

import scrapy
from pydantic import ValidationError

from crawlers.context import begin_run, cursor_position, resources_of
from crawlers.settings import source_settings
from vigie.config import Config, load_config
from vigie.models import Post, sha256_hex, utcnow

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class PageError(Exception):
    """A page that cannot be read as this platform's page; str() is the one line recorded for the source."""


@dataclass(frozen=True)
class MalformedPost:
    """What `make_post` returns when the fields do not make a valid Post; dropped by the validation pipeline."""

    reason: str
    url: str
    native_id: str | None = None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


class SourceSpider(scrapy.Spider):
    default_base_url: ClassVar[str] = ""

    def __init__(self, *, source: Any, config: Config, cursor: dict[str, Any] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.config = config
        self.cursor: MappingProxyType[str, Any] | None = MappingProxyType(dict(cursor)) if cursor else None
        position = cursor_position(cursor)
        self.since: datetime | None = position[0] if position else None
        self.site_url: str = (self.default_base_url or _origin(getattr(source, "url", None) or "")).rstrip("/")
        self.base_url: str = (getattr(source, "base_url", None) or self.site_url).rstrip("/")
        self._hashes: WeakKeyDictionary[Response, str] = WeakKeyDictionary()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, source: str, config: Config | None = None, _job: str | None = None, **kwargs: Any) -> SourceSpider:
        """`_job` is the id Scrapyd gives a job (`-a _job=`): the run takes it as its id, so `vigie crawl --scrapyd`
        finds the run its job recorded, and Scrapyd's log of the job (`<job>.log`) is named after the run."""
        config = config or load_config()
        source_model = config.source(source)
        if source_model.platform != cls.name:
            raise ValueError(f"source {source!r} is a {source_model.platform} source, not {cls.name}")
        resources = resources_of(crawler, config)
        cursor = resources.store.get_cursor(source_model.id)
        crawler.settings.setdict(source_settings(config, source_model), priority="spider")
        begin_run(crawler, source_model, cursor, run_id=_job).listeners.extend(resources.listeners)
        spider = cls(*args, source=source_model, config=config, cursor=cursor, **kwargs)
        spider._set_crawler(crawler)
        return spider

    @property
    def first_run(self) -> bool:
        return self.since is None

    @property
    def allowed_domains(self) -> list[str]:
        """Follow-up pages stay on the source's site (Scrapy's OffsiteMiddleware reads this)."""
        host = urlsplit(self.base_url).hostname
        return [host] if host else []

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def on_base(self, url: str) -> str:
        """A URL of the real site moved onto `base_url` (identity when no `base_url` is configured)."""
        if self.site_url and self.base_url != self.site_url and url.startswith(self.site_url):
            return self.base_url + url[len(self.site_url) :]
        return url

    def on_site(self, url: str) -> str:
        """The reverse: a fetched URL as it is on the real site, to resolve a page's relative links."""
        if self.site_url and self.base_url != self.site_url and url.startswith(self.base_url):
            return self.site_url + url[len(self.base_url) :]
        return url

    def first_urls(self) -> list[str]:
        raise NotImplementedError(f"{type(self).__name__} must define first_urls()")

    async def start(self) -> AsyncIterator[Any]:
        for url in self.first_urls():
            yield self.page_request(url, meta={"allow_offsite": True})

    def page_request(self, url: str, callback: Any = None, **kwargs: Any) -> scrapy.Request:
        return scrapy.Request(url, callback=callback or self.parse, **kwargs)

    def next_page(self, response: Response, url: str, callback: Any = None, **kwargs: Any) -> scrapy.Request:
        return self.page_request(self.on_base(response.urljoin(url)), callback=callback, **kwargs)

    def raw_sha256(self, response: Response) -> str:
        digest = self._hashes.get(response)
        if digest is None:
            digest = self._hashes[response] = sha256_hex(response.body)
        return digest

    def make_post(self, response: Response, *, native_id: str, published_at: datetime | None, **fields: Any) -> Post | MalformedPost:
        if not native_id:
            return MalformedPost("no native id", response.url)
        if published_at is None:
            return MalformedPost("no publication date", response.url, native_id)
        try:
            return Post(
                platform=self.name,
                native_id=native_id,
                source_id=self.source.id,
                published_at=published_at,
                collected_at=utcnow(),
                raw_sha256=self.raw_sha256(response),
                **fields,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "post"
            return MalformedPost(f"invalid {where}: {first['msg']}", response.url, native_id)
