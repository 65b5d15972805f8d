"""Mastodon: hashtag timelines and account statuses from any instance's public API.

Native id: the status `uri` (its ActivityPub id). Every instance that federates a status reports the same
`uri`, whereas the numeric `id` is local to the instance that was asked; so the same status crawled through
two instances is one record. A boost has its own `uri` (`…/activity`) and names the original's in `repost_of`.

Paging: a first run walks back from the newest status with `max_id`. Later runs walk forward from the
cursor with `min_id`, oldest new statuses first, so a run stopped by the page cap leaves no gap: the next
run carries on from what was stored. Mastodon ids are Snowflakes (milliseconds since 1970 shifted left
16 bits), so the cursor's date gives the first `min_id`.
"""

from __future__ import annotations

import os.path
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import lxml.html
from lxml import etree

from crawlers.spiders._api import ApiSpider, ItemError, parse_timestamp, unique
from crawlers.spiders._html import element_text
from crawlers.spiders.base import PageError
from enrich.entities import links_and_domains
from vigie.models import Author, Engagement, post_id

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

PAGE_SIZE = 40
"""The most statuses Mastodon returns per timeline page."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MEDIA_KINDS = {"image": "photo", "video": "video", "gifv": "gif", "audio": "audio"}
_EXTENSION_KINDS = {
    **dict.fromkeys((".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".heic"), "photo"),
    **dict.fromkeys((".mp4", ".webm", ".mov", ".m4v"), "video"),
    **dict.fromkeys((".mp3", ".ogg", ".oga", ".opus", ".wav", ".flac", ".m4a"), "audio"),
}


class MastodonSpider(ApiSpider):
    name = "mastodon"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.instance = self.site_url = self.source.instance.rstrip("/")
        self.base_url = (self.source.base_url or self.instance).rstrip("/")

    def refusal_hint(self) -> str:
        return "this instance shows its timelines to logged-in users only: watch the hashtag or account through another instance"

    @property
    def stop_at_known(self) -> bool:
        """Backfill pages go back in time and end at known posts; incremental pages go forward and end empty."""
        return self.first_run

    async def start(self) -> AsyncIterator[Request]:
        account = self.source.account
        if account is not None and not account.isdigit():
            yield self.page_request(self.url(f"/api/v1/accounts/lookup?{urlencode({'acct': account.lstrip('@')})}"), callback=self.parse_account)
        else:
            yield self.page_request(self.timeline_url(account), cb_kwargs={"account_id": account})

    def timeline_url(self, account_id: str | None, **paging: str) -> str:
        """The hashtag's timeline, or the account's statuses; without `paging`, the first page of this run
        (the newest statuses, or on an incremental run those just after the cursor)."""
        if account_id is not None:
            path = f"/api/v1/accounts/{quote(account_id, safe='')}/statuses"
        else:
            path = f"/api/v1/timelines/tag/{quote(self.source.hashtag.lstrip('#'), safe='')}"
        if not paging and self.since is not None:
            paging = {"min_id": str(snowflake_at(self.since))}
        return self.url(f"{path}?{urlencode({'limit': PAGE_SIZE, **paging})}")

    def parse_account(self, response: Response) -> Iterator[Request]:
        account = self.read_json(response)
        if not isinstance(account, dict) or not account.get("id"):
            raise PageError(f"{response.url}: the instance did not answer an account for {self.source.account!r}")
        yield self.page_request(self.timeline_url(str(account["id"])), cb_kwargs={"account_id": str(account["id"])})

    def parse(self, response: Response, account_id: str | None = None) -> Iterator[Any]:
        statuses = statuses_of(self.read_json(response), response.url)
        yield from self.posts(response, statuses, lambda status: status_fields(status, self.instance))
        ids = sorted((str(s["id"]) for s in statuses if isinstance(s, dict) and s.get("id")), key=id_order)
        if not ids:
            return
        paging = {"max_id": ids[0]} if self.first_run else {"min_id": ids[-1]}
        yield self.next_page(response, self.timeline_url(account_id, **paging), cb_kwargs={"account_id": account_id})


def snowflake_at(moment: datetime) -> int:
    """The smallest Mastodon id of a status received at `moment`."""
    return ((moment - _EPOCH) // timedelta(milliseconds=1)) << 16


def id_order(status_id: str) -> tuple[int, str]:
    """Sort key of status ids: numeric strings on Mastodon, fixed-width flake ids on Pleroma/Akkoma."""
    return len(status_id), status_id


def statuses_of(payload: Any, url: str) -> list[Any]:
    """A timeline is a JSON array of statuses; `/api/v1/statuses/:id` answers one status object."""
    if isinstance(payload, dict) and "error" in payload:
        raise PageError(f"{url}: the instance answered an error: {payload['error']}")
    if isinstance(payload, dict) and "uri" in payload and "content" in payload:
        return [payload]
    if not isinstance(payload, list):
        raise PageError(f"{url}: expected a JSON array of statuses, got {type(payload).__name__}")
    return payload


@dataclass
class Content:
    """A status's HTML `content` read as an analyst reads it."""

    text: str = ""
    hashtags: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)


def read_content(html: str) -> Content:
    """Plain text with <br> and paragraph breaks kept; a link keeps its whole text, hidden parts included
    (Mastodon hides `https://` and the tail of long URLs in `invisible` spans, but they are the URL)."""
    if not html.strip():
        return Content()
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return Content(text=html)
    content = Content(text=element_text(root).text)
    for anchor in root.iter("a"):
        _anchor(anchor, content)
    return content


def _anchor(node: etree._Element, content: Content) -> None:
    classes = (node.get("class") or "").split()
    if "hashtag" in classes or node.get("rel") == "tag":
        tag = node.text_content().strip().lstrip("#")
        if tag:
            content.hashtags.append(tag)
    elif "mention" not in classes and node.get("href"):
        content.links.append(node.get("href"))


def qualified_acct(acct: str, profile_url: str | None, instance_host: str) -> str:
    """`user@domain`: local accounts come without a domain; their profile URL (or the instance) gives it."""
    if "@" in acct:
        return acct
    host = urlsplit(profile_url).netloc if profile_url else None
    return f"{acct}@{host or instance_host}"


def media_kinds(status: dict[str, Any]) -> list[str]:
    kinds = [_attachment_kind(item) for item in status.get("media_attachments") or []]
    if status.get("card"):
        kinds.append("link_preview")
    if status.get("poll"):
        kinds.append("poll")
    return unique(kinds)


def _attachment_kind(item: dict[str, Any]) -> str:
    kind = _MEDIA_KINDS.get(item.get("type") or "")
    if kind is None:  # `unknown`: the instance could not fetch the remote file; its name still says what it is
        name = urlsplit(item.get("remote_url") or item.get("url") or "").path
        kind = _EXTENSION_KINDS.get(os.path.splitext(name)[1].lower(), "document")
    return kind


def status_fields(status: dict[str, Any], instance: str) -> dict[str, Any]:
    """The Post fields of one status (platform, source and evidence hash are added by `make_post`).

    A boost keeps its own id, author, date and counters, and takes its text, tags, links and language
    from the boosted status. `reply_to` is the parent's API URL on the instance asked: only its local id is known.
    """
    if not isinstance(status, dict) or not status.get("uri"):
        raise ItemError("status without uri")
    original = status.get("reblog") or status
    if not original.get("uri"):
        raise ItemError("boosted status without uri", status["uri"])
    if not status.get("created_at"):
        raise ItemError("status without created_at", status["uri"])
    instance_host = urlsplit(instance).netloc
    quoted = _quoted_status(original)
    account = status.get("account") or {}
    content = read_content(original.get("content") or "")
    links, domains = links_and_domains([*content.links, (original.get("card") or {}).get("url")])
    parent = status.get("in_reply_to_id")
    return {
        "native_id": status["uri"],
        "url": status.get("url") or original.get("url") or original["uri"],
        "author": Author(
            id=account.get("id"),
            handle=qualified_acct(account["acct"], account.get("url"), instance_host) if account.get("acct") else None,
            name=account.get("display_name") or account.get("username"),
        ),
        "published_at": parse_timestamp(status["created_at"]),
        "title": original.get("spoiler_text") or None,
        "text": content.text,
        "platform_language": original.get("language"),
        "hashtags": unique([*content.hashtags, *(tag["name"] for tag in original.get("tags") or [] if tag.get("name"))], lower=True),
        "mentions": unique((qualified_acct(m["acct"], m.get("url"), instance_host) for m in original.get("mentions") or [] if m.get("acct")), lower=True),
        "links": links,
        "domains": domains,
        "media": media_kinds(original),
        "engagement": Engagement(likes=status.get("favourites_count"), shares=status.get("reblogs_count"), replies=status.get("replies_count")),
        "reply_to": f"{instance}/api/v1/statuses/{parent}" if parent else None,
        "repost_of": post_id("mastodon", original["uri"]) if original is not status else None,
        "quote_of": post_id("mastodon", quoted["uri"]) if quoted else None,
    }


def _quoted_status(status: dict[str, Any]) -> dict[str, Any] | None:
    """Mastodon 4.5 wraps the quoted status (`quote.quoted_status`); forks such as Fedibird give it directly."""
    quote = status.get("quote")
    if not isinstance(quote, dict):
        return None
    inner = quote.get("quoted_status") if "state" in quote or "quoted_status" in quote else quote
    return inner if isinstance(inner, dict) and inner.get("uri") else None
