"""feed: RSS 0.9x/1.0/2.0, Atom and JSON Feed, whatever their encoding and however broken their dates.

feedparser reads RSS and Atom (it copes with wrong encodings and malformed XML); JSON Feed is plain
JSON. Entry id (or link) is the native id; descriptions are HTML turned into plain text; `xml:lang`,
RSS `<language>` or JSON Feed `language` is the platform language. An entry's date that cannot be read
falls back to the entry's other dates, then the feed's, then the time of the fetch.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
from dateutil import parser as dateparser
from scrapy.http import Response

from crawlers.spiders._html import html_to_text
from crawlers.spiders.base import MalformedPost, PageError, SourceSpider
from vigie.models import Author, Post, as_utc, utcnow

_MEDIA_KINDS = {"image": "photo", "video": "video", "audio": "audio"}


def parse_date(*candidates: Any) -> datetime | None:
    """The first readable date among feedparser's parsed tuples and raw strings (read leniently)."""
    for value in candidates:
        if not value:
            continue
        if isinstance(value, time.struct_time):
            return datetime(*value[:6], tzinfo=UTC)
        try:
            parsed = dateparser.parse(str(value))  # not fuzzy: a garbled date must not become some other date
        except (ValueError, OverflowError):
            continue
        return as_utc(parsed)
    return None


def media_kind(mime: str | None, medium: str | None = None) -> str | None:
    kind = (medium or (mime or "").split("/")[0]).lower()
    return _MEDIA_KINDS.get(kind)


def xml_declaration_first(body: bytes) -> bytes:
    """Blank lines before `<?xml` make the document invalid, and feedparser then falls back to its slow
    lenient parser; many real feeds (TechCrunch, Sam Ruby, AWS here) have them."""
    stripped = body.lstrip(b" \t\r\n")
    return stripped if stripped is not body and stripped.startswith(b"<?xml") else body


def entry_body(entry: Any) -> dict[str, Any]:
    """The entry's fullest HTML: an HTML `content` (Atom content, content:encoded), else the description.
    (feedparser also files `media:description` captions under `content`, as plain text.)"""
    contents = [c for c in entry.get("content", []) if c.get("value")]
    html = [c for c in contents if "html" in (c.get("type") or "")]
    if html:
        return html[0]
    if entry.get("summary"):
        return {**(entry.get("summary_detail") or {}), "value": entry["summary"]}
    return contents[0] if contents else {}


def feed_address(feed: Any, fetched_from: str) -> str:
    """Where the feed says it lives (its `rel="self"` link), so relative links point at the real site even
    when the feed was fetched from a mirror or a replay server; else where it was fetched from."""
    for link in feed.get("links", []):
        href = link.get("href") or ""
        if link.get("rel") == "self" and href.startswith(("http://", "https://")):
            return href
    return fetched_from


def _fallback_id(*parts: str | None) -> str:
    return "sha1:" + hashlib.sha1("\n".join(p or "" for p in parts).encode()).hexdigest()


class FeedSpider(SourceSpider):
    name = "feed"
    custom_settings = {"ROBOTSTXT_OBEY": True}

    def first_urls(self) -> list[str]:
        return [self.on_base(self.source.url)]

    def parse(self, response: Response) -> Iterator[Post | MalformedPost]:
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower()
        if "json" in content_type or response.body.lstrip()[:1] == b"{":
            yield from self.parse_json_feed(response)
        else:
            yield from self.parse_xml_feed(response, content_type)

    def fetched_at(self, response: Response) -> datetime:
        return parse_date((response.headers.get(b"Date") or b"").decode("latin-1")) or utcnow()

    def parse_xml_feed(self, response: Response, content_type: str) -> Iterator[Post | MalformedPost]:
        parsed = feedparser.parse(
            xml_declaration_first(response.body),
            response_headers={"content-type": content_type or "application/xml"},
            sanitize_html=False,  # never rendered: html_to_text keeps only the text (scripts and styles dropped)
            resolve_relative_uris=False,  # resolved here, against the feed's own address
        )
        if not parsed.entries and (parsed.bozo or not parsed.get("version")):  # no `version` at all in some truncated feeds
            problem = parsed.get("bozo_exception") or "no feed element"
            raise PageError(f"{response.url}: not a readable RSS or Atom feed ({type(problem).__name__ if isinstance(problem, Exception) else ''}: {problem})".replace("(: ", "("))
        feed = parsed.feed
        feed_date = parse_date(feed.get("updated_parsed"), feed.get("updated"), feed.get("published_parsed"), feed.get("published"))
        site = urljoin(feed_address(feed, response.url), feed.get("link") or "")
        for entry in parsed.entries:
            yield self.xml_entry(response, entry, feed, site, feed_date)

    def xml_entry(self, response: Response, entry: Any, feed: Any, site: str, feed_date: datetime | None) -> Post | MalformedPost:
        link = urljoin(site, entry["link"]) if entry.get("link") else None
        body = entry_body(entry)
        html = body.get("value") or ""
        text = html_to_text(html, link or site)
        title = html_to_text(entry.get("title")).text.strip() or None
        detail = entry.get("author_detail") or feed.get("author_detail") or {}
        author_url = urljoin(site, detail["href"]) if detail.get("href") else detail.get("email")
        author = Author(id=author_url, name=detail.get("name") or entry.get("author") or feed.get("author"))
        published = parse_date(
            entry.get("published_parsed"), entry.get("published"), entry.get("updated_parsed"), entry.get("updated"), entry.get("created_parsed"), entry.get("created")
        ) or feed_date or self.fetched_at(response)
        language = body.get("language") or (entry.get("title_detail") or {}).get("language") or feed.get("language")
        media = [kind for kind in (media_kind(e.get("type")) for e in entry.get("enclosures", [])) if kind]
        media += [kind for kind in (media_kind(m.get("type"), m.get("medium")) for m in entry.get("media_content", [])) if kind]
        return self.make_post(
            response,
            native_id=entry.get("id") or link or _fallback_id(title, html),
            published_at=published,
            url=link,
            title=title,
            text=text.text,
            author=author,
            links=text.links,
            media=list(dict.fromkeys(media)),
            platform_language=language,
        )

    def parse_json_feed(self, response: Response) -> Iterator[Post | MalformedPost]:
        try:
            feed = json.loads(response.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PageError(f"{response.url}: not a readable JSON Feed ({exc})") from None
        except RecursionError:
            raise PageError(f"{response.url}: not a readable JSON Feed (nested too deeply)") from None
        if not isinstance(feed, dict) or not isinstance(feed.get("items"), list):
            raise PageError(f"{response.url}: not a JSON Feed (no `items` list)")
        try:
            feed_author = _json_author(feed)
        except (LookupError, TypeError, AttributeError, ValueError):
            feed_author = None
        site = feed.get("home_page_url") if isinstance(feed.get("home_page_url"), str) else response.url
        for item in feed["items"]:
            if not isinstance(item, dict):
                yield MalformedPost("JSON Feed item is not an object", response.url)
                continue
            try:
                yield self.json_item(response, item, feed, site, feed_author)
            except (LookupError, TypeError, AttributeError, ValueError) as exc:  # a field of the wrong type: this item only
                yield MalformedPost(f"unexpected JSON Feed item shape ({type(exc).__name__})", response.url, str(item.get("id") or "") or None)

    def json_item(self, response: Response, item: dict[str, Any], feed: dict[str, Any], site: str, feed_author: Author | None) -> Post | MalformedPost:
        link = urljoin(site, item["url"]) if item.get("url") else None
        html = item.get("content_html")
        text = html_to_text(html, link or site) if html else html_to_text(None)
        plain = text.text if html else item.get("content_text") or item.get("summary") or ""
        media = [media_kind(a.get("mime_type")) for a in item.get("attachments") or [] if isinstance(a, dict)]
        return self.make_post(
            response,
            native_id=str(item.get("id") or link or ""),
            published_at=parse_date(item.get("date_published"), item.get("date_modified")) or self.fetched_at(response),
            url=link,
            title=item.get("title") or None,
            text=plain,
            author=_json_author(item) or feed_author or Author(),
            links=text.links,
            media=[kind for kind in dict.fromkeys(media) if kind],
            platform_language=item.get("language") or feed.get("language"),
        )


def _json_author(holder: dict[str, Any]) -> Author | None:
    authors = holder.get("authors") or ([holder["author"]] if isinstance(holder.get("author"), dict) else [])
    first = next((a for a in authors if isinstance(a, dict)), None)
    if first is None:
        return None
    return Author(id=first.get("url"), name=first.get("name"))
