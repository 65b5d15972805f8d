"""Bluesky: an actor's author feed and post search on the public AppView (XRPC, JSON).

Native id: the post's AT URI (`at://did/app.bsky.feed.post/rkey`), stable whatever the handle becomes.
A repost has no record of its own in older AppView answers; it is named by its `reason.uri` when the
AppView gives one, else `<original AT URI>#repost-by-<reposter DID>` (one repost per account and post).
Feeds run newest first and page back with `cursor`; the source's cursor ends paging (`IncrementalMiddleware`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from crawlers.spiders._api import ApiSpider, ItemError, parse_timestamp, unique
from crawlers.spiders.base import PageError
from enrich.entities import links_and_domains
from vigie.models import Author, Engagement, post_id

if TYPE_CHECKING:
    from scrapy.http import Response

PUBLIC_APPVIEW = "https://public.api.bsky.app"
PAGE_SIZE = 100
"""The most items the AppView returns per page."""
_POST_COLLECTION = "app.bsky.feed.post"
_FACET = "app.bsky.richtext.facet"
_EMBED_MEDIA = {
    "app.bsky.embed.images": "photo",
    "app.bsky.embed.video": "video",
    "app.bsky.embed.external": "link_preview",
}


class BlueskySpider(ApiSpider):
    name = "bluesky"
    default_base_url = PUBLIC_APPVIEW

    def first_urls(self) -> list[str]:
        return [self.feed_url()]

    def feed_url(self, cursor: str | None = None) -> str:
        if self.source.actor is not None:
            method, params = "app.bsky.feed.getAuthorFeed", {"actor": self.source.actor.lstrip("@")}
        else:
            method, params = "app.bsky.feed.searchPosts", {"q": self.source.search, "sort": "latest"}
        params["limit"] = PAGE_SIZE
        if cursor:
            params["cursor"] = cursor
        return self.url(f"/xrpc/{method}?{urlencode(params)}")

    def parse(self, response: Response) -> Iterator[Any]:
        items, cursor = feed_items(self.read_json(response), response.url)
        yield from self.posts(response, items, item_fields)
        if items and cursor:
            yield self.next_page(response, self.feed_url(cursor))

    def refusal_hint(self) -> str:
        method = "searchPosts" if self.source.search is not None else "getAuthorFeed"
        return f"this AppView does not serve {method} without an account: set base_url to one that does"


def feed_items(payload: Any, url: str) -> tuple[list[Any], str | None]:
    """`{feed: [feedViewPost]}` (author and custom feeds) or `{posts: [postView]}` (search), and the cursor."""
    if not isinstance(payload, dict):
        raise PageError(f"{url}: expected a JSON object, got {type(payload).__name__}")
    if "error" in payload and "feed" not in payload and "posts" not in payload:
        raise PageError(f"{url}: the AppView answered {payload['error']}: {payload.get('message') or ''}".rstrip(": "))
    if isinstance(payload.get("feed"), list):
        items = payload["feed"]
    elif isinstance(payload.get("posts"), list):
        items = [{"post": post} for post in payload["posts"]]
    else:
        raise PageError(f"{url}: the answer has neither a feed nor a posts array")
    return items, payload.get("cursor") or None


def post_url(uri: str, handle: str | None) -> str:
    """`https://bsky.app/profile/<handle>/post/<rkey>`; the DID stands in for an invalid handle."""
    did, _, rest = uri.removeprefix("at://").partition("/")
    rkey = rest.rpartition("/")[2]
    profile = handle if handle and handle != "handle.invalid" else did
    return f"https://bsky.app/profile/{profile}/post/{rkey}"


def item_fields(item: dict[str, Any]) -> dict[str, Any]:
    """The Post fields of one feed item (platform, source and evidence hash are added by the spider).

    A repost gets the reposter as author and the repost time as date, the original's text and
    entities, and `repost_of`; the counters belong to the original, so it has none of its own.
    """
    view = item.get("post")
    if not isinstance(view, dict) or not view.get("uri") or not isinstance(view.get("record"), dict):
        raise ItemError("feed item without a post view (uri and record)")
    fields = _post_view_fields(view)
    reason = item.get("reason") or {}
    if reason.get("$type") != "app.bsky.feed.defs#reasonRepost":
        return fields
    by = reason.get("by") or {}
    if not by.get("did") or not reason.get("indexedAt"):
        raise ItemError("repost without reposter or date", view["uri"])
    return fields | {
        "native_id": reason.get("uri") or f"{view['uri']}#repost-by-{by['did']}",
        "author": _author(by),
        "published_at": parse_timestamp(reason["indexedAt"]),
        "engagement": Engagement(),
        "reply_to": None,
        "quote_of": None,
        "repost_of": post_id("bluesky", view["uri"]),
    }


def _post_view_fields(view: dict[str, Any]) -> dict[str, Any]:
    record = view["record"]
    if not record.get("createdAt"):
        raise ItemError("post without createdAt", view["uri"])
    facets = _facet_features(record)
    embed = record.get("embed") or {}
    quoted = _quoted_uri(embed)
    parent = ((record.get("reply") or {}).get("parent") or {}).get("uri")
    author = view.get("author") or {}
    links, domains = links_and_domains([f.get("uri") for f in facets if f.get("$type") == f"{_FACET}#link"] + _embed_links(embed))
    quotes = view.get("quoteCount") or 0
    reposts = view.get("repostCount")
    return {
        "native_id": view["uri"],
        "url": post_url(view["uri"], author.get("handle")),
        "author": _author(author),
        "published_at": parse_timestamp(record["createdAt"]),
        "text": record.get("text") or "",
        "platform_language": (record.get("langs") or [None])[0],
        "hashtags": unique((f["tag"].lstrip("#") for f in facets if f.get("$type") == f"{_FACET}#tag" and f.get("tag")), lower=True),
        "mentions": _mentions(record),
        "links": links,
        "domains": domains,
        "media": _media(embed),
        "engagement": Engagement(
            likes=view.get("likeCount"),
            shares=None if reposts is None else reposts + quotes,
            replies=view.get("replyCount"),
        ),
        "reply_to": post_id("bluesky", parent) if parent else None,
        "quote_of": post_id("bluesky", quoted) if quoted else None,
    }


def _author(profile: dict[str, Any]) -> Author:
    return Author(id=profile.get("did"), handle=profile.get("handle"), name=profile.get("displayName") or None)


def _facet_features(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [feature for facet in record.get("facets") or [] for feature in facet.get("features") or [] if isinstance(feature, dict)]


def _mentions(record: dict[str, Any]) -> list[str]:
    """Mentioned handles as written in the text (the facet's byte range), else the mentioned DID."""
    text = (record.get("text") or "").encode("utf-8")
    found = []
    for facet in record.get("facets") or []:
        index = facet.get("index") or {}
        for feature in facet.get("features") or []:
            if feature.get("$type") != f"{_FACET}#mention":
                continue
            start, end = index.get("byteStart"), index.get("byteEnd")
            written = text[start:end].decode("utf-8", "replace").strip().lstrip("@") if isinstance(start, int) and isinstance(end, int) else ""
            found.append(written or feature.get("did") or "")
    return unique((m for m in found if m), lower=True)


def _embed_links(embed: dict[str, Any]) -> list[str]:
    external = embed.get("external") or (embed.get("media") or {}).get("external") or {}
    return [external["uri"]] if external.get("uri") else []


def _media(embed: dict[str, Any]) -> list[str]:
    kind = embed.get("$type")
    if kind == "app.bsky.embed.recordWithMedia":
        return _media(embed.get("media") or {})
    return [_EMBED_MEDIA[kind]] if kind in _EMBED_MEDIA else []


def _quoted_uri(embed: dict[str, Any]) -> str | None:
    """The post a record embed quotes (`embed.record` or `recordWithMedia`); feeds and lists are not quotes."""
    kind = embed.get("$type")
    ref = embed.get("record") or {}
    if kind == "app.bsky.embed.recordWithMedia":
        ref = ref.get("record") or {}
    elif kind != "app.bsky.embed.record":
        return None
    uri = ref.get("uri") or ""
    return uri if f"/{_POST_COLLECTION}/" in uri else None

