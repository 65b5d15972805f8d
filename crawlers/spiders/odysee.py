"""Odysee / LBRY: a channel's streams, or a tag or text search, through the public `claim_search` JSON-RPC proxy.

Native id: the claim id, the same on every LBRY node and app. Pages are POSTed JSON-RPC calls
(`{"method": "claim_search", "params": {..., "page": N, "page_size": 50}}`) ordered by `release_time`,
newest first, as Odysee's own "New" tab asks; the source's cursor ends paging (`IncrementalMiddleware`).

A stream is dated by its `release_time`, the date its publisher gives (Odysee shows it too); channels
mirrored from YouTube carry the YouTube date, so a mirror of old videos made after the cursor is not
collected on later runs, only on the first (backfill). A repost is a claim of its own (its id, the reposting
channel as author, the repost's date) with the original's title, text and tags, and `repost_of` the original.
`claim_search` gives no view or like counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from crawlers.spiders._api import ApiSpider, ItemError, parse_timestamp, unique
from crawlers.spiders.base import PageError
from vigie.models import Author, post_id

if TYPE_CHECKING:
    import scrapy
    from scrapy.http import Response

PROXY = "https://api.na-backend.odysee.com"
PROXY_PATH = "/api/v1/proxy?m=claim_search"
WEB = "https://odysee.com"
PAGE_SIZE = 50
"""The most claims the LBRY hub returns per page."""

_CLAIM_ID = re.compile(r"^[0-9a-f]{40}$")
_MEDIA = {"video": "video", "audio": "audio", "image": "photo", "document": "document"}


class OdyseeSpider(ApiSpider):
    name = "odysee"
    default_base_url = PROXY

    def first_urls(self) -> list[str]:
        return [self.url(PROXY_PATH)]

    def page_request(self, url: str, callback: Any = None, **kwargs: Any) -> scrapy.Request:
        page = kwargs.get("cb_kwargs", {}).get("page", 1)
        body = json.dumps({"jsonrpc": "2.0", "method": "claim_search", "params": self.search_params(page), "id": page})
        return super().page_request(url, callback, method="POST", body=body, headers={"Content-Type": "application/json"}, **kwargs)

    def search_params(self, page: int) -> dict[str, Any]:
        source = self.source
        params: dict[str, Any] = {"claim_type": ["stream", "repost"], "order_by": ["release_time"], "page": page, "page_size": PAGE_SIZE}
        if source.channel is not None:
            channel = source.channel
            params.update({"channel_ids": [channel]} if _CLAIM_ID.match(channel) else {"channel": channel if channel.startswith("@") else f"@{channel}"})
        elif source.tags is not None:
            params["any_tags"] = source.tags
        else:
            params["text"] = source.text
        return params

    def parse(self, response: Response, page: int = 1) -> Iterator[Any]:
        claims, total_pages = claim_page(self.read_json(response), response.url)
        yield from self.posts(response, claims, claim_fields)
        if claims and page < total_pages:
            yield self.next_page(response, self.url(PROXY_PATH), cb_kwargs={"page": page + 1})


def claim_page(payload: Any, url: str) -> tuple[list[Any], int]:
    """The claims of a JSON-RPC `claim_search` answer and its `total_pages`."""
    if isinstance(payload, dict) and payload.get("error") is not None:
        error = payload["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise PageError(f"{url}: claim_search answered an error: {message}")
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, dict) or not isinstance(result.get("items"), list):
        raise PageError(f"{url}: expected a JSON-RPC claim_search result with items, got {type(payload).__name__}")
    total_pages = result.get("total_pages")
    return result["items"], total_pages if isinstance(total_pages, int) else result.get("page", 1)


def web_url(claim: dict[str, Any]) -> str | None:
    """`lbry://@channel#c/name#1` as Odysee shows it: `https://odysee.com/@channel:c/name:1`."""
    lbry = claim.get("canonical_url") or claim.get("permanent_url")
    if not lbry or not lbry.startswith("lbry://"):
        return None
    return f"{WEB}/{quote(lbry.removeprefix('lbry://').replace('#', ':'), safe='@:/')}"


def _released(claim: dict[str, Any]) -> Any:
    value = claim.get("value") or {}
    return value.get("release_time") or (claim.get("meta") or {}).get("creation_timestamp") or claim.get("timestamp")


def _author(claim: dict[str, Any]) -> Author:
    channel = claim.get("signing_channel") or {}
    return Author(
        id=channel.get("claim_id"),
        handle=(channel.get("name") or "").lstrip("@") or None,
        name=(channel.get("value") or {}).get("title") or channel.get("name"),
    )


def claim_fields(claim: dict[str, Any]) -> dict[str, Any]:
    """The Post fields of one stream or repost claim (platform, source and evidence hash are added by `make_post`)."""
    if not isinstance(claim, dict) or not claim.get("claim_id"):
        raise ItemError("claim without claim_id")
    released = _released(claim)
    if released is None:
        raise ItemError("claim without release_time or timestamp", claim["claim_id"])
    original = claim.get("reposted_claim") if claim.get("value_type") == "repost" else claim
    if not isinstance(original, dict) or not original.get("claim_id"):
        raise ItemError("repost without its reposted claim", claim["claim_id"])
    value = original.get("value") or {}
    stream_type = value.get("stream_type") or (value.get("source") or {}).get("media_type", "").partition("/")[0]
    return {
        "native_id": claim["claim_id"],
        "url": web_url(claim),
        "author": _author(claim),
        "published_at": parse_timestamp(int(released)),
        "title": value.get("title"),
        "text": value.get("description") or "",
        "platform_language": (value.get("languages") or [None])[0],
        "hashtags": unique((tag for tag in value.get("tags") or [] if isinstance(tag, str) and tag), lower=True),
        "media": [_MEDIA[stream_type]] if stream_type in _MEDIA else [],
        "repost_of": post_id("odysee", original["claim_id"]) if original is not claim else None,
    }
