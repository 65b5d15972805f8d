"""Reddit: the public JSON listings of a subreddit's new posts and of a search sorted by date.

Native id: the post's fullname (`t3_…`), the name Reddit itself uses for the post everywhere.
Listings run newest first and page back with `after`; the cursor ends paging (see `IncrementalMiddleware`).
Reddit gives no language, so `platform_language` stays empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from crawlers.spiders._api import ApiSpider, ItemError, parse_timestamp
from crawlers.spiders.base import PageError
from enrich.entities import links_and_domains
from vigie.models import Author, Engagement, post_id

if TYPE_CHECKING:
    from scrapy.http import Response

PUBLIC_HOST = "https://www.reddit.com"
PAGE_SIZE = 100
"""The most posts Reddit returns per listing page."""

_DELETED = {"[deleted]", "[removed]"}


class RedditSpider(ApiSpider):
    name = "reddit"
    default_base_url = PUBLIC_HOST

    def first_urls(self) -> list[str]:
        return [self.listing_url()]

    def refusal_hint(self) -> str:
        return "the subreddit is private, quarantined or banned, or Reddit refuses this client"

    def listing_url(self, after: str | None = None) -> str:
        params: dict[str, Any] = {"limit": PAGE_SIZE, "raw_json": 1}
        if self.source.subreddit is not None:
            path = f"/r/{self.source.subreddit.removeprefix('/').removeprefix('r/')}/new.json"
        else:
            path = "/search.json"
            params = {"q": self.source.search, "sort": "new", "type": "link", **params}
        if after:
            params["after"] = after
        return self.url(f"{path}?{urlencode(params)}")

    def parse(self, response: Response) -> Iterator[Any]:
        things, after = listing_children(self.read_json(response), response.url)
        yield from self.posts(response, things, post_fields)
        if things and after:
            yield self.next_page(response, self.listing_url(after))


def listing_children(payload: Any, url: str) -> tuple[list[Any], str | None]:
    """The `t3` things of a Listing (comments and others left out) and its `after` token."""
    if isinstance(payload, dict) and "error" in payload and "data" not in payload:
        detail = payload.get("message") or payload.get("reason") or ""
        raise PageError(f"{url}: Reddit answered error {payload['error']} {detail}".rstrip())
    if not isinstance(payload, dict) or payload.get("kind") != "Listing" or not isinstance(payload.get("data"), dict):
        raise PageError(f"{url}: expected a Reddit Listing, got {type(payload).__name__}")
    children = payload["data"].get("children")
    if not isinstance(children, list):
        raise PageError(f"{url}: the Listing has no children array")
    return [child for child in children if not isinstance(child, dict) or child.get("kind") == "t3"], payload["data"].get("after")


def post_fields(thing: dict[str, Any]) -> dict[str, Any]:
    """The Post fields of one `t3` thing (platform, source and evidence hash are added by `make_post`).

    A link post's outbound URL is its `url`; a self post's `url` is its own permalink. The score can
    only be read as likes (Reddit hides the up and down votes); a crosspost names its parent in `repost_of`.
    """
    data = thing["data"]
    if not data.get("name"):
        raise ItemError("post without name")
    if data.get("created_utc") is None:
        raise ItemError("post without created_utc", data["name"])
    author = data.get("author")
    permalink = data.get("permalink")
    links, domains = links_and_domains([None if data.get("is_self") else data.get("url")])
    score = data.get("score")
    parent = data.get("crosspost_parent")
    return {
        "native_id": data["name"],
        "url": f"{PUBLIC_HOST}{permalink}" if permalink else None,
        "author": Author(id=data.get("author_fullname"), handle=None if author in _DELETED else author),
        "published_at": parse_timestamp(data["created_utc"]),
        "title": data.get("title"),
        "text": data.get("selftext") or "",
        "links": links,
        "domains": domains,
        "media": _media(data),
        "engagement": Engagement(likes=max(score, 0) if isinstance(score, int) else None, shares=data.get("num_crossposts"), replies=data.get("num_comments")),
        "repost_of": post_id("reddit", parent) if parent else None,
    }


def _media(data: dict[str, Any]) -> list[str]:
    hint = data.get("post_hint")
    if data.get("is_video") or hint in {"hosted:video", "rich:video"}:
        return ["video"]
    if data.get("is_gallery") or hint == "image":
        return ["photo"]
    if data.get("poll_data"):
        return ["poll"]
    if hint == "link":
        return ["link_preview"]
    return []
