"""telegram: a public channel's web preview, `https://t.me/s/<channel>`, newest messages first.

Each `tgme_widget_message` is a post: native id `channel/123` (its `data-post`), URL `https://t.me/channel/123`,
text with line breaks kept, date, views ("1.2K" → 1200), signature, forwarded-from, reply-to, links and
media kinds. Older messages are on `?before=<id>` pages (the page's `rel="prev"` link).
When t.me has no preview for the name it redirects to the contact page `t.me/<channel>`: a deleted
channel, a group or a channel with its preview turned off. That is one clear error for the source.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import urlsplit

from parsel import Selector
from scrapy.http import Response

from crawlers.spiders._html import element_text
from crawlers.spiders.base import MalformedPost, PageError, SourceSpider
from vigie.models import Author, Engagement, Post, post_id

_COUNT = re.compile(r"^\s*([\d.,]+)\s*([KMB]?)\s*$", re.IGNORECASE)
_MULTIPLIERS = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}
_MESSAGE_LINK = re.compile(r"^/(?:s/)?([A-Za-z0-9_]{3,64})/(\d+)")

# (CSS selector inside the message bubble, media kind), first match per kind
_MEDIA = (
    (".tgme_widget_message_photo_wrap", "photo"),
    (".tgme_widget_message_video_player.message_video_gif, .message_video_gif", "gif"),
    (".tgme_widget_message_video_player:not(.message_video_gif), .tgme_widget_message_video", "video"),
    (".tgme_widget_message_roundvideo_player, .tgme_widget_message_roundvideo", "round_video"),
    (".tgme_widget_message_voice", "voice"),
    (".tgme_widget_message_document_icon.audio, .tgme_widget_message_document_wrap.audio", "audio"),
    (".tgme_widget_message_document_wrap", "document"),
    (".tgme_widget_message_sticker_wrap, .tgme_widget_message_tgsticker", "sticker"),
    (".tgme_widget_message_poll", "poll"),
    (".tgme_widget_message_link_preview", "link_preview"),
)
_OUTSIDE_QUOTES = "not(ancestor::*[contains(@class, 'tgme_widget_message_link_preview') or contains(@class, 'tgme_widget_message_reply')])"


def parse_count(text: str | None) -> int | None:
    """`2`, `1.2K`, `3.4M`, `12,345` → an int; None when absent or unreadable."""
    match = _COUNT.match(text or "")
    if not match:
        return None
    return round(float(match[1].replace(",", "")) * _MULTIPLIERS[match[2].upper()])


def message_ref(url: str | None) -> str | None:
    """`https://t.me/chan/12` → `chan/12` (the native id of a message link), else None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.netloc and parts.netloc.lower() not in ("t.me", "telegram.me"):
        return None
    match = _MESSAGE_LINK.match(parts.path)
    return f"{match[1]}/{match[2]}" if match else None


def _text(selector: Selector, css: str) -> str | None:
    found = selector.css(css)
    if not found:
        return None
    text = " ".join("".join(found[0].xpath(".//text()").getall()).split())
    return text or None


class TelegramSpider(SourceSpider):
    name = "telegram"
    default_base_url = "https://t.me"
    custom_settings = {"ROBOTSTXT_OBEY": True}

    def first_urls(self) -> list[str]:
        return [self.url(f"/s/{self.source.channel}")]

    def parse(self, response: Response) -> Iterator[Post | MalformedPost | object]:
        messages = response.css(".tgme_widget_message[data-post]")
        if not messages:
            self.check_empty_page(response)
            return
        for message in messages:
            yield self.message_post(response, message)
        older = response.css('link[rel="prev"]::attr(href), .tme_messages_more[data-before]::attr(href)').get()
        if older:
            yield self.next_page(response, older)

    def check_empty_page(self, response: Response) -> None:
        """A preview page with no messages is an empty channel; anything else cannot be this channel."""
        if response.css(".tgme_channel_history"):
            return
        name = f"t.me/{self.source.channel}"
        if response.css(".tgme_page"):
            title = _text(response, ".tgme_page_title")
            extra = _text(response, ".tgme_page_extra") or ""
            if not title:
                raise PageError(f"{name}: no such channel (deleted or never created; t.me shows an empty contact page at {response.url})")
            if "member" in extra:
                raise PageError(f"{name} is a group ({title}, {extra}), not a channel with a public preview")
            raise PageError(f"{name} ({title}, {extra}) has no public web preview (t.me shows its contact page at {response.url})")
        raise PageError(f"{response.url}: not a Telegram channel page (no message widgets)")

    def message_post(self, response: Response, message: Selector) -> Post | MalformedPost:
        native_id = message.attrib["data-post"]
        channel = native_id.split("/", 1)[0]
        text_node = message.xpath(f".//div[contains(@class, 'tgme_widget_message_text')][{_OUTSIDE_QUOTES}]")
        body = element_text(text_node[0].root, response.url) if text_node else None
        text = body.text if body else ""
        poll = self.poll_text(message)
        if poll:
            text = f"{text}\n\n{poll}" if text else poll
        published = message.css(".tgme_widget_message_date time::attr(datetime)").get()
        forwarded = message.css(".tgme_widget_message_forwarded_from")
        forward_ref = message_ref(forwarded.css("a::attr(href)").get()) if forwarded else None
        reply_ref = message_ref(message.css("a.tgme_widget_message_reply::attr(href)").get())
        preview = message.css("a.tgme_widget_message_link_preview::attr(href)").get()
        links = [*(body.links if body else []), *([preview] if preview else [])]
        anchors = text_node[0].css("a") if text_node else []
        return self.make_post(
            response,
            native_id=native_id,
            published_at=datetime.fromisoformat(published) if published else None,
            url=f"https://t.me/{native_id}",
            text=text,
            author=Author(
                id=channel,
                handle=channel,
                name=_text(message, ".tgme_widget_message_from_author") or _text(message, ".tgme_widget_message_owner_name"),
            ),
            engagement=Engagement(views=parse_count(message.css(".tgme_widget_message_views::text").get())),
            forwarded_from=(_text(forwarded, ".tgme_widget_message_forwarded_from_name") or _text(forwarded, "a")) if forwarded else None,
            repost_of=post_id("telegram", forward_ref) if forward_ref else None,
            reply_to=post_id("telegram", reply_ref) if reply_ref else None,
            links=[link for link in dict.fromkeys(links) if not _is_hashtag_search(link)],
            hashtags=_anchor_words(anchors, "#"),
            mentions=_anchor_words(anchors, "@"),
            media=[kind for css, kind in _MEDIA if message.css(css)],
        )

    def poll_text(self, message: Selector) -> str | None:
        question = _text(message, ".tgme_widget_message_poll_question")
        if not question:
            return None
        options = [" ".join("".join(o.xpath(".//text()").getall()).split()) for o in message.css(".tgme_widget_message_poll_option_text")]
        return "\n".join([question, *(f"- {option}" for option in options)])


def _is_hashtag_search(url: str) -> bool:
    return urlsplit(url).query.startswith("q=%23")


def _anchor_words(anchors: list[Selector], sigil: str) -> list[str]:
    words = (" ".join(a.xpath(".//text()").getall()).strip() for a in anchors)
    return list(dict.fromkeys(word[1:].lower() for word in words if word.startswith(sigil) and len(word) > 1))
