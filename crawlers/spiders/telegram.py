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

from lxml.html import HtmlElement
from parsel import Selector
from scrapy.http import Response

from crawlers.spiders._html import element_text
from crawlers.spiders.base import MalformedPost, PageError, SourceSpider
from vigie.models import Author, Engagement, Post, post_id

_COUNT = re.compile(r"^\s*([\d.,]+)\s*([KMB]?)\s*$", re.IGNORECASE)
_MULTIPLIERS = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}
_MESSAGE_LINK = re.compile(r"^/(?:s/)?([A-Za-z0-9_]{3,64})/(\d+)")

_MEDIA_CLASSES = (
    ("tgme_widget_message_photo_wrap", "photo"),
    ("tgme_widget_message_video_player", "video"),
    ("tgme_widget_message_roundvideo_player", "round_video"),
    ("tgme_widget_message_voice", "voice"),
    ("tgme_widget_message_document_wrap", "document"),
    ("tgme_widget_message_sticker_wrap", "sticker"),
    ("tgme_widget_message_tgsticker", "sticker"),
    ("tgme_widget_message_poll", "poll"),
    ("tgme_widget_message_link_preview", "link_preview"),
)
"""Class of the element that shows a kind of media in a message widget."""
_QUOTES = ("tgme_widget_message_link_preview", "tgme_widget_message_reply")
"""Parts of a widget that show another text than the message's own."""


def class_index(element: HtmlElement) -> dict[str, list[HtmlElement]]:
    """Every element of a widget by class, in document order: one pass instead of a query per field."""
    index: dict[str, list[HtmlElement]] = {}
    for node in element.iter():
        classes = node.get("class")
        if classes:
            for name in classes.split():
                index.setdefault(name, []).append(node)
    return index


def media_kinds(index: dict[str, list[HtmlElement]]) -> list[str]:
    kinds = []
    for css_class, kind in _MEDIA_CLASSES:
        nodes = index.get(css_class)
        if not nodes:
            continue
        if kind == "video" and all(video.get("loop") is not None for video in index.get("tgme_widget_message_video", [])) and index.get("tgme_widget_message_video"):
            kind = "gif"  # t.me plays GIFs as looping videos
        if kind == "document" and any("audio" in (node.get("class") or "") for node in nodes):
            kind = "audio"
        kinds.append(kind)
    return list(dict.fromkeys(kinds))


def _text_of(node: HtmlElement | None) -> str | None:
    if node is None:
        return None
    text = " ".join(node.text_content().split())
    return text or None


def _first(index: dict[str, list[HtmlElement]], css_class: str) -> HtmlElement | None:
    nodes = index.get(css_class)
    return nodes[0] if nodes else None


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
        widget: HtmlElement = message.root
        native_id = widget.get("data-post")
        channel = native_id.split("/", 1)[0]
        index = class_index(widget)
        quotes = {node for name in _QUOTES for node in index.get(name, [])}
        text_node = next((node for node in index.get("tgme_widget_message_text", []) if quotes.isdisjoint(node.iterancestors())), None)
        body = element_text(text_node, response.url) if text_node is not None else None
        text = body.text if body else ""
        poll = self.poll_text(index)
        if poll:
            text = f"{text}\n\n{poll}" if text else poll
        date = _first(index, "tgme_widget_message_date")
        published = next((t.get("datetime") for t in date.iter("time")), None) if date is not None else None
        forwarded = _first(index, "tgme_widget_message_forwarded_from")
        forward_link = next((a.get("href") for a in forwarded.iter("a")), None) if forwarded is not None else None
        forward_ref = message_ref(forward_link)
        reply = _first(index, "tgme_widget_message_reply")
        reply_ref = message_ref(reply.get("href")) if reply is not None else None
        preview = _first(index, "tgme_widget_message_link_preview")
        links = [*(body.links if body else []), *([preview.get("href")] if preview is not None and preview.get("href") else [])]
        anchors = list(text_node.iter("a")) if text_node is not None else []
        return self.make_post(
            response,
            native_id=native_id,
            published_at=datetime.fromisoformat(published) if published else None,
            url=f"https://t.me/{native_id}",
            text=text,
            author=Author(
                id=channel,
                handle=channel,
                name=_text_of(_first(index, "tgme_widget_message_from_author")) or _text_of(_first(index, "tgme_widget_message_owner_name")),
            ),
            engagement=Engagement(views=parse_count(_text_of(_first(index, "tgme_widget_message_views")))),
            forwarded_from=(_text_of(_first(index, "tgme_widget_message_forwarded_from_name")) or _text_of(forwarded)) if forwarded is not None else None,
            repost_of=post_id("telegram", forward_ref) if forward_ref else None,
            reply_to=post_id("telegram", reply_ref) if reply_ref else None,
            links=[link for link in dict.fromkeys(links) if not _is_hashtag_search(link)],
            hashtags=_anchor_words(anchors, "#"),
            mentions=_anchor_words(anchors, "@"),
            media=media_kinds(index),
        )

    def poll_text(self, index: dict[str, list[HtmlElement]]) -> str | None:
        question = _text_of(_first(index, "tgme_widget_message_poll_question"))
        if not question:
            return None
        options = [_text_of(option) or "" for option in index.get("tgme_widget_message_poll_option_text", [])]
        return "\n".join([question, *(f"- {option}" for option in options)])


def _is_hashtag_search(url: str) -> bool:
    return urlsplit(url).query.startswith("q=%23")


def _anchor_words(anchors: list[HtmlElement], sigil: str) -> list[str]:
    words = (a.text_content().strip() for a in anchors)
    return list(dict.fromkeys(word[1:].lower() for word in words if word.startswith(sigil) and len(word) > 1))
