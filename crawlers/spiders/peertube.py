"""PeerTube: a channel's or an account's videos, or a video search, from any instance's public REST API.

Native id: the video's `uuid`, which every instance that federates the video reports, so the same video
crawled through two instances is one record. Lists run newest first (`sort=-publishedAt`) and page with
`start`/`count`; the source's cursor ends paging (`IncrementalMiddleware`).

What a list item gives is what is kept: the name as title, the description as text (instances since
PeerTube 5 send a `truncatedDescription` in lists, older ones the description), tags when the instance
includes them, the declared language, views, likes and the comment count. The channel publishes the
video, so it is the author (`handle` `channel@host`, `name` its display name); the account that owns the
channel is `author.id` (`account@host`), the one stable identity behind its channels.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from crawlers.spiders._api import ApiSpider, ItemError, parse_timestamp, unique
from crawlers.spiders.base import PageError
from vigie.models import Author, Engagement

if TYPE_CHECKING:
    from scrapy.http import Response

PAGE_SIZE = 100
"""The most videos PeerTube returns per page (`count`)."""


class PeertubeSpider(ApiSpider):
    name = "peertube"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.instance = self.site_url = self.source.instance.rstrip("/")
        self.base_url = (self.source.base_url or self.instance).rstrip("/")

    def refusal_hint(self) -> str:
        return "this instance does not list these videos to visitors: watch them through another instance"

    def first_urls(self) -> list[str]:
        return [self.list_url(0)]

    def list_url(self, start: int) -> str:
        params: dict[str, Any] = {"start": start, "count": PAGE_SIZE, "sort": "-publishedAt"}
        if self.source.channel is not None:
            path = f"/api/v1/video-channels/{quote(self.source.channel.lstrip('@'), safe='@')}/videos"
        elif self.source.account is not None:
            path = f"/api/v1/accounts/{quote(self.source.account.lstrip('@'), safe='@')}/videos"
        else:
            path = "/api/v1/search/videos"
            params = {"search": self.source.search, **params}
        return self.url(f"{path}?{urlencode(params)}")

    def parse(self, response: Response, start: int = 0) -> Iterator[Any]:
        videos, total = video_list(self.read_json(response), response.url)
        host = urlsplit(self.instance).netloc
        yield from self.posts(response, videos, lambda video: video_fields(video, host))
        following = start + len(videos)
        if videos and following < total:
            yield self.next_page(response, self.list_url(following), cb_kwargs={"start": following})


def video_list(payload: Any, url: str) -> tuple[list[Any], int]:
    """`{"total": N, "data": [video, ...]}`, the answer of every PeerTube list endpoint."""
    if isinstance(payload, dict) and "error" in payload and "data" not in payload:
        raise PageError(f"{url}: the instance answered an error: {payload['error']}")
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise PageError(f"{url}: expected a PeerTube list (an object with a data array), got {type(payload).__name__}")
    total = payload.get("total")
    return payload["data"], total if isinstance(total, int) else len(payload["data"])


def _handle(actor: dict[str, Any], instance_host: str) -> str | None:
    """`name@host`: actors of the instance asked may come without a host."""
    name = actor.get("name")
    return f"{name}@{actor.get('host') or instance_host}" if name else None


def video_fields(video: dict[str, Any], instance_host: str) -> dict[str, Any]:
    """The Post fields of one video of a list (platform, source and evidence hash are added by `make_post`)."""
    if not isinstance(video, dict) or not video.get("uuid"):
        raise ItemError("video without uuid")
    if not video.get("publishedAt"):
        raise ItemError("video without publishedAt", video["uuid"])
    channel = video.get("channel") or {}
    account = video.get("account") or {}
    origin = account.get("host") or channel.get("host") or instance_host
    description = video.get("description") or video.get("truncatedDescription") or ""
    return {
        "native_id": video["uuid"],
        "url": video.get("url") or f"https://{origin}/videos/watch/{video['uuid']}",
        "author": Author(
            id=_handle(account, instance_host),
            handle=_handle(channel, instance_host),
            name=channel.get("displayName") or account.get("displayName"),
        ),
        "published_at": parse_timestamp(video["publishedAt"]),
        "title": video.get("name"),
        "text": description,
        "platform_language": (video.get("language") or {}).get("id"),
        "hashtags": unique((tag for tag in video.get("tags") or [] if isinstance(tag, str) and tag), lower=True),
        "media": ["video"],
        "engagement": Engagement(views=video.get("views"), likes=video.get("likes"), replies=video.get("comments")),
    }
