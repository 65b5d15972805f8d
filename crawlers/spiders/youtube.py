"""youtube: a channel's Atom feed, `https://www.youtube.com/feeds/videos.xml?channel_id=UC…`, or a keyword search
and the comments of a channel's videos through the YouTube Data API v3 (with the user's key, `VIGIE_YOUTUBE_API_KEY`).

Feed: one post per video (native id: the video id): title, the description (`media:group/media:description`,
plain text with its line breaks), publication date, views (`media:statistics`) and the star-rating count
as likes. YouTube answers an unknown channel with a 404 HTML page, which is the source's error line.
The feed holds the latest 15 videos; there is no older page.

Data API: `search.list` (`type=video`, `order=date`, the source's `language`/`region`; after the first run only
videos published after the cursor) pages back with `nextPageToken`, 100 quota units a page; with `comments: true`,
each video of the feed gets `commentThreads.list` (`order=time`), 1 unit a page, each top-level comment a post
replying to its video. The key travels in the `X-Goog-Api-Key` header, never in a URL (URLs reach the logs).
What each call costs is counted against the day's budget by `crawlers.quota.QuotaMiddleware`.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from parsel import Selector
from scrapy.http import Response

from crawlers.spiders._api import ApiSpider, ItemError, parse_timestamp
from crawlers.spiders.base import MalformedPost, PageError
from vigie.models import Author, Engagement, Post, post_id

KEY_ENV = "VIGIE_YOUTUBE_API_KEY"
DATA_API = "https://www.googleapis.com"
SEARCH_UNITS = 100
LIST_UNITS = 1

NAMESPACES = {
    "atom": "http://www.w3.org/2005/Atom",
    "yt": "http://www.youtube.com/xml/schemas/2015",
    "media": "http://search.yahoo.com/mrss/",
}


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _date(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.strip()) if value else None
    except ValueError:
        return None


class YoutubeSpider(ApiSpider):
    name = "youtube"
    default_base_url = "https://www.youtube.com"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        source = self.source
        self.api_key = os.environ.get(KEY_ENV, "")
        if (source.search is not None or source.comments) and not self.api_key:
            what = "a YouTube search" if source.search is not None else "the comments of a channel's videos"
            raise ValueError(f"{what} needs a YouTube Data API key: set {KEY_ENV} in the environment")
        self.api_url = (source.base_url or DATA_API).rstrip("/") + "/youtube/v3"

    @property
    def allowed_domains(self) -> list[str]:
        """The feed's host and the Data API's (the comment pages of a feed's videos)."""
        return list(dict.fromkeys([*super().allowed_domains, *([urlsplit(self.api_url).hostname] if urlsplit(self.api_url).hostname else [])]))

    @property
    def stop_at_known(self) -> bool:
        """Search pages run newest first; a feed is one page, followed by its videos' comment pages."""
        return self.source.search is not None

    def refusal_hint(self) -> str:
        return f"the YouTube Data API refused the key in {KEY_ENV} (invalid, restricted, or its project's quota is spent)"

    def first_urls(self) -> list[str]:
        return [self.url(f"/feeds/videos.xml?channel_id={self.source.channel_id}")]

    async def start(self) -> Any:
        """A channel's feed, or a search's first page (an API call, with its cost and the key)."""
        if self.source.search is None:
            async for request in super().start():
                yield request
            return
        yield self.api_request(self.search_url(), SEARCH_UNITS, self.parse_search, meta={"allow_offsite": True})

    def search_url(self, page_token: str | None = None) -> str:
        params: dict[str, Any] = {"part": "snippet", "type": "video", "order": "date", "maxResults": 50, "q": self.source.search}
        if self.source.language:
            params["relevanceLanguage"] = self.source.language
        if self.source.region:
            params["regionCode"] = self.source.region
        if self.since is not None:
            params["publishedAfter"] = self.since.strftime("%Y-%m-%dT%H:%M:%SZ")
        if page_token:
            params["pageToken"] = page_token
        return f"{self.api_url}/search?{urlencode(params)}"

    def comments_url(self, video_id: str, page_token: str | None = None) -> str:
        params = {"part": "snippet", "videoId": video_id, "order": "time", "maxResults": 100, "textFormat": "plainText"}
        return f"{self.api_url}/commentThreads?{urlencode({**params, **({'pageToken': page_token} if page_token else {})})}"

    def api_request(self, url: str, units: int, callback: Any, **kwargs: Any) -> Any:
        meta = {"quota_units": units, **kwargs.pop("meta", {})}
        return self.page_request(url, callback, headers={"X-Goog-Api-Key": self.api_key, "Accept": "application/json"}, meta=meta, **kwargs)

    def parse(self, response: Response) -> Iterator[Post | MalformedPost]:
        if not response.body.strip():
            raise PageError(f"{response.url}: empty response, not a YouTube channel feed")
        feed = Selector(body=response.body, type="xml")
        for prefix, uri in NAMESPACES.items():
            feed.register_namespace(prefix, uri)
        if not feed.xpath("/atom:feed"):
            raise PageError(f"{response.url}: not a YouTube channel feed (no Atom <feed> element)")
        channel_name = feed.xpath("/atom:feed/atom:author/atom:name/text()").get()
        for entry in feed.xpath("/atom:feed/atom:entry"):
            post = self.video_post(response, entry, channel_name)
            yield post
            if self.source.comments and isinstance(post, Post):
                yield self.api_request(self.comments_url(post.native_id), LIST_UNITS, self.parse_comments)

    def parse_search(self, response: Response) -> Iterator[Any]:
        items, token = api_items(self.read_json(response), response.url)
        videos = [item for item in items if not isinstance(item, dict) or (item.get("id") or {}).get("kind") == "youtube#video"]
        yield from self.posts(response, videos, search_fields)
        if videos and token:
            yield self.api_request(self.search_url(token), SEARCH_UNITS, self.parse_search)

    def parse_comments(self, response: Response) -> Iterator[Any]:
        items, token = api_items(self.read_json(response), response.url)
        posts = list(self.posts(response, items, comment_fields))
        yield from posts
        dates = [post.published_at for post in posts if isinstance(post, Post)]
        if token and dates and (self.since is None or min(dates) > self.since):
            video = next((post.reply_to for post in posts if isinstance(post, Post) and post.reply_to), "").partition(":")[2]
            if video:
                yield self.api_request(self.comments_url(video, token), LIST_UNITS, self.parse_comments)

    def video_post(self, response: Response, entry: Selector, channel_name: str | None) -> Post | MalformedPost:
        group = entry.xpath("media:group")
        return self.make_post(
            response,
            native_id=(entry.xpath("yt:videoId/text()").get() or "").strip(),
            published_at=_date(entry.xpath("atom:published/text()").get()) or _date(entry.xpath("atom:updated/text()").get()),
            url=entry.xpath("atom:link[@rel='alternate']/@href").get(),
            title=(entry.xpath("atom:title/text()").get() or group.xpath("media:title/text()").get() or "").strip() or None,
            text=group.xpath("media:description/text()").get() or "",
            author=Author(
                id=entry.xpath("yt:channelId/text()").get(),
                name=entry.xpath("atom:author/atom:name/text()").get() or channel_name,
            ),
            engagement=Engagement(
                views=_int(group.xpath("media:community/media:statistics/@views").get()),
                likes=_int(group.xpath("media:community/media:starRating/@count").get()),
            ),
            media=["video"],
        )


def api_items(payload: Any, url: str) -> tuple[list[Any], str | None]:
    """The `items` of a Data API list answer and its `nextPageToken`; an error answer is the page's error."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error = payload["error"]
        reasons = ", ".join(str(e.get("reason")) for e in error.get("errors") or [] if isinstance(e, dict) and e.get("reason"))
        raise PageError(f"{url}: the YouTube Data API answered {error.get('code')}: {error.get('message') or reasons}")
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise PageError(f"{url}: expected a YouTube Data API list (an object with items), got {type(payload).__name__}")
    return payload["items"], payload.get("nextPageToken") or None


def search_fields(item: dict[str, Any]) -> dict[str, Any]:
    """A `search.list` video result: its snippet has the title and the start of the description (HTML-escaped)."""
    video = (item.get("id") or {}).get("videoId")
    if not video:
        raise ItemError("search result without videoId")
    snippet = item.get("snippet") or {}
    if not snippet.get("publishedAt"):
        raise ItemError("search result without publishedAt", video)
    return {
        "native_id": video,
        "url": f"https://www.youtube.com/watch?v={video}",
        "author": Author(id=snippet.get("channelId"), name=html.unescape(snippet["channelTitle"]) if snippet.get("channelTitle") else None),
        "published_at": parse_timestamp(snippet["publishedAt"]),
        "title": html.unescape(snippet.get("title") or "") or None,
        "text": html.unescape(snippet.get("description") or ""),
        "media": ["video"],
    }


def comment_fields(thread: dict[str, Any]) -> dict[str, Any]:
    """A `commentThreads.list` thread: its top-level comment, replying to the video."""
    comment = ((thread.get("snippet") or {}).get("topLevelComment")) or {}
    snippet = comment.get("snippet") or {}
    comment_id = comment.get("id") or thread.get("id")
    if not comment_id:
        raise ItemError("comment thread without id")
    video = snippet.get("videoId") or (thread.get("snippet") or {}).get("videoId")
    if not video or not snippet.get("publishedAt"):
        raise ItemError("comment without video or publishedAt", comment_id)
    return {
        "native_id": comment_id,
        "url": f"https://www.youtube.com/watch?v={video}&lc={comment_id}",
        "author": Author(id=(snippet.get("authorChannelId") or {}).get("value"), name=snippet.get("authorDisplayName")),
        "published_at": parse_timestamp(snippet["publishedAt"]),
        "text": snippet.get("textOriginal") or snippet.get("textDisplay") or "",
        "engagement": Engagement(likes=snippet.get("likeCount"), replies=(thread.get("snippet") or {}).get("totalReplyCount")),
        "reply_to": post_id("youtube", video),
    }
