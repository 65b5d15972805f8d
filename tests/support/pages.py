"""More pages than the recordings hold, built from the recorded ones, for paging tests and the crawl bench.

A Telegram channel of any length: the real message widgets of `telegram/page_example.html`, in turn, given
new ids and dates, 20 to a page with the `?before=` links t.me puts on its pages. An RSS feed of any
length: the real items of `rss/TechCrunch.xml`, in turn, with new guids and dates. Nothing else of the
recorded markup changes, so the spiders parse what platforms really send.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
START = datetime(2024, 1, 1, tzinfo=UTC)

_WRAP = '<div class="tgme_widget_message_wrap js-widget_message_wrap">'
_DATETIME = re.compile(r'datetime="[^"]+"')


@lru_cache(maxsize=1)
def _telegram_parts() -> tuple[str, list[str], str]:
    page = (FIXTURES / "telegram" / "page_example.html").read_text(encoding="utf-8")
    first, last = page.index(_WRAP), page.rindex("</section>")
    widgets = [_WRAP + chunk for chunk in page[first:last].split(_WRAP) if chunk.strip()]
    return page[:first], widgets, page[last:]


def telegram_message_date(message_id: int) -> datetime:
    return START + timedelta(minutes=message_id)


def telegram_page(channel: str, newest: int, per_page: int = 20) -> str:
    """The t.me/s page showing messages `newest - per_page + 1 .. newest` (down to 1), with its `?before=` link."""
    head, widgets, tail = _telegram_parts()
    oldest = max(1, newest - per_page + 1)
    body = []
    for message_id in range(oldest, newest + 1):
        widget = widgets[message_id % len(widgets)].replace('data-post="feedjam/', f'data-post="{channel}/')
        widget = re.sub(r'data-post="[^"/]+/\d+"', f'data-post="{channel}/{message_id}"', widget)
        widget = re.sub(r"https://t\.me/feedjam/\d+", f"https://t.me/{channel}/{message_id}", widget)
        widget = _DATETIME.sub(f'datetime="{telegram_message_date(message_id).isoformat()}"', widget)
        body.append(widget)
    head = head.replace('<link rel="canonical" href="/s/feedjam?before=8">', f'<link rel="canonical" href="/s/{channel}?before={newest + 1}">')
    if oldest > 1:
        head = head.replace("</head>", f'<link rel="prev" href="/s/{channel}?before={oldest}">\n</head>', 1)
    return head + "".join(body) + tail


def telegram_channel(channel: str, total: int, per_page: int = 20) -> dict[str, str]:
    """Every page of a channel of `total` messages: `{path: html}`, `/s/<channel>` being the newest."""
    pages = {f"/s/{channel}": telegram_page(channel, total, per_page)}
    newest = total - per_page
    while newest >= 1:
        pages[f"/s/{channel}?before={newest + 1}"] = telegram_page(channel, newest, per_page)
        newest -= per_page
    return pages


@lru_cache(maxsize=2)
def _feed_parts(relative: str, tag: str) -> tuple[str, list[str], str]:
    """A recorded feed cut into what precedes its `tag` elements, the elements, and what follows them."""
    feed = (FIXTURES / relative).read_text(encoding="utf-8")
    first, last = feed.index(f"<{tag}>"), feed.rindex(f"</{tag}>") + len(f"</{tag}>")
    elements = [f"<{tag}>" + chunk for chunk in feed[first:last].split(f"<{tag}>") if chunk.strip()]
    return feed[:first], elements, feed[last:]


def rss_feed(first: int, count: int) -> str:
    """An RSS feed of items `first .. first + count - 1`, newest first, each a real TechCrunch item re-numbered."""
    head, items, tail = _feed_parts("rss/TechCrunch.xml", "item")
    body = []
    for number in range(first + count - 1, first - 1, -1):
        item = items[number % len(items)]
        item = re.sub(r"<guid[^>]*>[^<]*</guid>", f'<guid isPermaLink="false">http://techcrunch.com/?p=bench-{number}</guid>', item)
        date = (START + timedelta(minutes=number)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        item = re.sub(r"<pubDate>[^<]*</pubDate>", f"<pubDate>{date}</pubDate>", item)
        body.append(item)
    return head + "".join(body) + tail


def youtube_video_id(number: int) -> str:
    return f"v{number:010d}"


def youtube_feed(channel_id: str, first: int, count: int = 15) -> str:
    """A channel feed of videos `first .. first + count - 1`: the recorded Kurzgesagt entries in turn, each given
    the video id `youtube_video_id(number)` and the channel id."""
    head, entries, tail = _feed_parts("youtube/kurzgesagt_videos.xml", "entry")
    body = []
    for number in range(first, first + count):
        entry = entries[number % len(entries)]
        original = re.search(r"<yt:videoId>([^<]+)</yt:videoId>", entry)
        assert original is not None
        body.append(entry.replace(original[1], youtube_video_id(number)).replace("UCsXVk37bltHxD1rDPwtNM8Q", channel_id))
    return head.replace("UCsXVk37bltHxD1rDPwtNM8Q", channel_id) + "".join(body) + tail


@lru_cache(maxsize=4)
def _sentences(language: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in (FIXTURES / "langid" / "sentences" / f"{language}.txt").read_text(encoding="utf-8").splitlines() if line.strip())


def timed_text(number: int, cues: int, language: str = "fr", words_per_cue: int = 8) -> str:
    """An `/api/timedtext` answer in the recorded layout (`<transcript><text start= dur=>`) of `cues` cues: real
    sentences of `tests/fixtures/langid/`, from a place that depends on `number`, cut every `words_per_cue` words."""
    sentences = _sentences(language)
    words: list[str] = []
    index = number * 7
    while len(words) < cues * words_per_cue:
        words += sentences[index % len(sentences)].split()
        index += 1
    lines = []
    for cue in range(cues):
        text = "".join(char for char in " ".join(words[cue * words_per_cue : (cue + 1) * words_per_cue]) if char.isprintable())  # XML 1.0 has no control characters
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;").replace('"', "&quot;")
        lines.append(f'    <text start="{cue * 2.5:.3f}" dur="2.5">{escaped}</text>')
    return "<transcript>\n" + "\n".join(lines) + "\n</transcript>\n"
