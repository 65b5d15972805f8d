"""Imageboards: a board's catalog finds the threads, each watched thread is fetched whole, each post is a post.

The layout is 4chan's read-only JSON API (`/BOARD/catalog.json`, `/BOARD/thread/N.json`); vichan boards
serve the same JSON under `/BOARD/res/N.json` (`layout: vichan`). The API's rules are kept: one request
per second per host (`crawlers.settings.PLATFORM_MIN_DELAY`), `If-Modified-Since` on every catalog and
thread refresh (a 304 is "nothing new", not an error), only threads the catalog says changed since the
cursor are fetched, each once per run, and a source may not run more often than every 10 s (config check).
Threads are fetched most recently modified first, so the page cap (one page per thread) keeps the liveliest.

Native id: `BOARD/NUMBER` (post numbers count per board). A post's comment HTML becomes plain text where
quotes stay `>>123`; the first post it quotes is its `reply_to`, else the thread's first post.

Posters are anonymous, and the spike rules count distinct authors (the author's handle, else id). So:
a tripcode (`!abc`, a proof of the same poster across threads) is the handle; else the board's per-thread
poster id (`BOARD/THREAD/ID`, on boards that show one); else `BOARD/THREAD/anonymous`: the anonymous
posters of one thread count as one author. A flood inside one thread therefore counts as one author, as
a flooding account would, and the same narrative surging across many threads counts one author per
thread, never every post as a new author nor the whole board as one.
"""

from __future__ import annotations

import email.utils
import html
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from crawlers.spiders._api import ApiSpider, ItemError, parse_timestamp
from crawlers.spiders._html import html_to_text
from crawlers.spiders.base import PageError
from enrich.entities import links_and_domains
from vigie.models import Author, Engagement, post_id

if TYPE_CHECKING:
    import scrapy
    from scrapy.http import Response

FOURCHAN_API = "https://a.4cdn.org"
FOURCHAN_WEB = "https://boards.4chan.org"
NOT_MODIFIED = 304

_QUOTE = re.compile(r'class="quotelink"[^>]*>&gt;&gt;(\d+)<')
_MEDIA = {
    **dict.fromkeys((".jpg", ".jpeg", ".png", ".webp"), "photo"),
    ".gif": "gif",
    **dict.fromkeys((".webm", ".mp4"), "video"),
    ".pdf": "document",
}


class ImageboardSpider(ApiSpider):
    name = "imageboard"
    stop_at_known = False
    """A thread's posts run oldest first, and threads are not one stream: known posts are dropped one by one."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site_url = self.source.api.rstrip("/")
        self.base_url = (self.source.base_url or self.site_url).rstrip("/")
        self.board = self.source.board

    def page_request(self, url: str, callback: Any = None, **kwargs: Any) -> scrapy.Request:
        """Every request asks only for what changed since the cursor; a 304 reaches the callback."""
        headers = {"If-Modified-Since": email.utils.format_datetime(self.since, usegmt=True)} if self.since else {}
        meta = {"handle_httpstatus_list": [NOT_MODIFIED], **kwargs.pop("meta", {})}
        return super().page_request(url, callback, headers=headers, meta=meta, **kwargs)

    def first_urls(self) -> list[str]:
        return [self.url(f"/{self.board}/catalog.json")]

    def thread_url(self, number: int) -> str:
        folder = "res" if self.source.layout == "vichan" else "thread"
        return self.url(f"/{self.board}/{folder}/{number}.json")

    def web_url(self, thread: int, number: int) -> str:
        if self.source.layout == "vichan":
            return f"{self.site_url}/{self.board}/res/{thread}.html#{number}"
        return f"{FOURCHAN_WEB}/{self.board}/thread/{thread}#p{number}"

    def parse(self, response: Response) -> Iterator[Any]:
        if response.status == NOT_MODIFIED:
            return
        threads = catalog_threads(self.read_json(response), response.url)
        since = self.since.timestamp() if self.since else None
        watched = sorted((t for t in threads if (since is None or _modified(t) > since) and self.watched(t)), key=_modified, reverse=True)
        for rank, thread in enumerate(watched):
            yield self.next_page(response, self.thread_url(thread["no"]), callback=self.parse_thread, priority=len(watched) - rank)

    def watched(self, thread: dict[str, Any]) -> bool:
        if not self.source.match:
            return True
        text = f"{html.unescape(thread.get('sub') or '')}\n{html_to_text(thread.get('com')).text}".casefold()
        return any(word.casefold() in text for word in self.source.match)

    def parse_thread(self, response: Response) -> Iterator[Any]:
        if response.status == NOT_MODIFIED:
            return
        payload = self.read_json(response)
        if not isinstance(payload, dict) or not isinstance(payload.get("posts"), list) or not payload["posts"]:
            raise PageError(f"{response.url}: expected a thread (an object with a posts array)")
        first = payload["posts"][0]
        thread = first.get("no") if isinstance(first, dict) else None
        if not isinstance(thread, int):
            raise PageError(f"{response.url}: the thread's first post has no number")
        yield from self.posts(response, payload["posts"], lambda post: self.post_fields(post, thread))

    def post_fields(self, post: dict[str, Any], thread: int) -> dict[str, Any]:
        """The Post fields of one post of `thread` (platform, source and evidence hash are added by `make_post`)."""
        number = post.get("no")
        if not isinstance(number, int):
            raise ItemError("post without number")
        native_id = f"{self.board}/{number}"
        if not isinstance(post.get("time"), int):
            raise ItemError("post without time", native_id)
        comment = post.get("com") or ""
        content = html_to_text(comment)
        links, domains = links_and_domains(content.links)
        quoted = _QUOTE.search(comment)
        parent = int(quoted[1]) if quoted else (thread if number != thread else None)
        return {
            "native_id": native_id,
            "url": self.web_url(thread, number),
            "author": poster(post, self.board, thread),
            "published_at": parse_timestamp(post["time"]),
            "title": html.unescape(post["sub"]) if post.get("sub") else None,
            "text": content.text,
            "links": links,
            "domains": domains,
            "media": [_MEDIA.get(str(post["ext"]).lower(), "document")] if post.get("ext") else [],
            "engagement": Engagement(replies=post.get("replies")),
            "reply_to": post_id("imageboard", f"{self.board}/{parent}") if parent else None,
        }


def catalog_threads(payload: Any, url: str) -> list[dict[str, Any]]:
    """The threads of a catalog: a list of pages, each `{"page": N, "threads": [first post + last_replies]}`."""
    if not isinstance(payload, list) or not all(isinstance(page, dict) and isinstance(page.get("threads"), list) for page in payload):
        raise PageError(f"{url}: expected a catalog (a list of pages with threads), got {type(payload).__name__}")
    return [thread for page in payload for thread in page["threads"] if isinstance(thread, dict) and isinstance(thread.get("no"), int)]


def _modified(thread: dict[str, Any]) -> int:
    """When the thread last changed: `last_modified`, else its newest post's time."""
    replies = thread.get("last_replies") or []
    return thread.get("last_modified") or max([thread.get("time") or 0, *(reply.get("time") or 0 for reply in replies)])


def poster(post: dict[str, Any], board: str, thread: int) -> Author:
    """Who wrote it, as the distinct-author counts need it (see the module's docstring)."""
    name = html.unescape(post["name"]) if post.get("name") else None
    trip = post.get("trip")
    if trip:
        return Author(id=trip, handle=trip, name=name)
    return Author(id=f"{board}/{thread}/{post.get('id') or 'anonymous'}", name=name)
