"""Turning hostile scraped text into inert Markdown, and posts into cards.

Everything a post carries (text, title, author, hashtags, URLs) is attacker-controlled. Streamlit renders Markdown,
so every dynamic string shown through a Markdown-capable call goes through `md()`: each ASCII punctuation
character is backslash-escaped (CommonMark allows it for all of them), which leaves no link, image, emphasis,
HTML, entity, directive, emoji shortcode or LaTeX syntax for the renderer to act on. HTML is never enabled.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import streamlit as st

from enrich.rules import explain
from vigie.models import Post, timed_matches, url_at, video_clock

_ESCAPED = {ord(char): "\\" + char for char in string.punctuation}
HIGHLIGHT = "orange-background"


def md(text: object) -> str:
    """`text` as Markdown that displays exactly as written, on one line."""
    return " ".join(str(text).split()).translate(_ESCAPED)


def md_block(text: str) -> str:
    """Multi-line text as Markdown that keeps its line breaks and displays exactly as written."""
    return "  \n".join(line.replace("\t", " ").translate(_ESCAPED) for line in text.split("\n"))


def merge_spans(spans: Iterable[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Sorted, non-overlapping spans clipped to the text; empty and out-of-range spans dropped."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted((max(0, a), min(length, b)) for a, b in spans):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlighted(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """Inert Markdown of `text` with the spans marked by a coloured background."""
    pieces, cursor = [], 0
    for start, end in merge_spans(spans, len(text)):
        pieces.append(text[cursor:start])
        pieces.append((start, end))
        cursor = end
    pieces.append(text[cursor:])
    out = []
    for piece in pieces:
        if isinstance(piece, tuple):
            out.append(f":{HIGHLIGHT}[{md(text[piece[0]:piece[1]])}]")
        else:
            out.append(md_block(piece))
    return "".join(out)


def safe_url(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) URL with a host, else None: nothing else becomes a link."""
    if not url or any(char in url for char in " \t\r\n\"'<>\\"):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def local_time(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if moment else "—"


def badges(values: Sequence[str], colour: str = "gray") -> str:
    return " ".join(f":{colour}-badge[{md(value)}]" for value in values)


def opened(label: str, *, key: str, expanded: bool = False) -> Any:
    """An expander whose content is drawn only while it is open (opening it reruns the page), or None while closed:
    a list of fifty alerts or candidates would otherwise send and draw every one's evidence on each visit."""
    box = st.expander(label, expanded=expanded, key=key, on_change="rerun")
    return box if box.open else None


def post_card(post: Post, zone: ZoneInfo, spans: Iterable[tuple[int, int]] = (), key: str = "") -> None:
    """Platform, source, author, local date, title, text (with `spans` marked), tags and a link to the original."""
    with st.container(border=True):
        author = post.author.name or post.author.handle or post.author.id or "unknown author"
        handle = f" (@{post.author.handle})" if post.author.handle and post.author.handle != author else ""
        st.markdown(
            f"**{md(post.platform)}** · {md(post.source_id)} · {md(author + handle)} · {md(local_time(post.published_at, zone))}"
            + (f" · {md(post.language)}" if post.language else "")
        )
        if post.title:
            st.markdown(f"**{md(post.title)}**")
        text_spans = list(spans) + [(m.start, m.end) for m in post.matches if m.field == "text"]
        st.markdown(highlighted(post.text, text_spans) if post.text else "*no text*")
        reasons = explain(post.matches)
        if reasons:
            st.caption("  \n".join(f"Why {md(narrative)}: {md(reason)}" for narrative, reason in reasons.items()))
        labels = [*dict.fromkeys(post.narratives)]
        tags = [*dict.fromkeys([*post.tags, *(f"#{h}" for h in post.hashtags)])]
        if labels or tags:
            st.markdown(" ".join(filter(None, [badges(labels, "violet"), badges(tags)])))
        url = safe_url(post.url)
        if url:
            st.link_button("Open the original ↗", url, key=f"open-{key}-{post.id}")
            said = said_in_video(post, url)
            if said:
                st.markdown(said)


def said_in_video(post: Post, url: str) -> str | None:
    """Markdown links to the moments of the video where watchlist terms are said (`&t=NNs`), or None."""
    moments = [(match, _link_target(url_at(url, match.at or 0.0))) for match in timed_matches(post)]
    if not moments:
        return None
    return "Said in the video: " + " · ".join(f"[▶ {video_clock(match.at or 0.0)} {md(match.term)}]({link})" for match, link in moments)


def _link_target(url: str) -> str:
    """A safe URL as a Markdown link target: parentheses encoded, so the link cannot end early."""
    return url.replace("(", "%28").replace(")", "%29")

def source_url(source: Any) -> str | None:
    """The public page of a configured source, for analysts to open; None when the platform has none to show."""
    platform = source.platform
    if platform == "telegram":
        url = f"https://t.me/s/{source.channel}"
    elif platform == "mastodon":
        instance = source.instance.rstrip("/")
        url = f"{instance}/tags/{quote(source.hashtag.lstrip('#'))}" if source.hashtag else f"{instance}/@{quote(source.account.split('@')[0])}"
    elif platform == "reddit":
        url = f"https://www.reddit.com/r/{quote(source.subreddit)}/" if source.subreddit else f"https://www.reddit.com/search/?q={quote(source.search)}"
    elif platform == "bluesky":
        url = f"https://bsky.app/profile/{quote(source.actor)}" if source.actor else f"https://bsky.app/search?q={quote(source.search)}"
    elif platform == "youtube":
        url = f"https://www.youtube.com/channel/{source.channel_id}" if source.channel_id else f"https://www.youtube.com/results?search_query={quote(source.search)}"
    elif platform == "peertube":
        instance = source.instance.rstrip("/")
        if source.channel:
            url = f"{instance}/video-channels/{quote(source.channel.lstrip('@'), safe='@')}"
        elif source.account:
            url = f"{instance}/accounts/{quote(source.account.lstrip('@'), safe='@')}"
        else:
            url = f"{instance}/search?search={quote(source.search)}"
    elif platform == "odysee":
        if source.channel:
            url = f"https://odysee.com/{quote(source.channel, safe='@')}" if source.channel.startswith("@") else None
        else:
            url = f"https://odysee.com/$/search?q={quote(source.text or ' '.join(source.tags))}"
    elif platform == "imageboard":
        board = quote(source.board)
        url = f"https://boards.4chan.org/{board}/catalog" if source.api.rstrip("/") == "https://a.4cdn.org" else f"{source.api.rstrip('/')}/{board}/"
    else:
        url = source.url
    return safe_url(url)
