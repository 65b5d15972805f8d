"""youtube: a channel's Atom feed, `https://www.youtube.com/feeds/videos.xml?channel_id=UC…`.

One post per video (native id: the video id): title, the description (`media:group/media:description`,
plain text with its line breaks), publication date, views (`media:statistics`) and the star-rating count
as likes. YouTube answers an unknown channel with a 404 HTML page, which is the source's error line.
The feed holds the latest 15 videos; there is no older page.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from parsel import Selector
from scrapy.http import Response

from crawlers.spiders.base import MalformedPost, PageError, SourceSpider
from vigie.models import Author, Engagement, Post

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


class YoutubeSpider(SourceSpider):
    name = "youtube"
    default_base_url = "https://www.youtube.com"

    def first_urls(self) -> list[str]:
        return [self.url(f"/feeds/videos.xml?channel_id={self.source.channel_id}")]

    def parse(self, response: Response) -> Iterator[Post | MalformedPost]:
        feed = Selector(body=response.body, type="xml")
        for prefix, uri in NAMESPACES.items():
            feed.register_namespace(prefix, uri)
        if not feed.xpath("/atom:feed"):
            raise PageError(f"{response.url}: not a YouTube channel feed (no Atom <feed> element)")
        channel_name = feed.xpath("/atom:feed/atom:author/atom:name/text()").get()
        for entry in feed.xpath("/atom:feed/atom:entry"):
            yield self.video_post(response, entry, channel_name)

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
