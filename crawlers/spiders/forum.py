"""forum: any HTML page of posts (vBulletin, phpBB, a blog without feed), read with the source's selectors.

`selectors:` in sources.yaml: `post` (one element per post, required), `text` (required), `author`, `date`,
`link`, `next`. Each is CSS, or XPath when it starts with `/`, `(`, `./` or `..`. Inside a post, an XPath
starting with `//` is taken relative to the post. A selector may end in `::text` / `::attr(name)` (CSS)
or `/text()` / `/@name` (XPath) to pick strings; otherwise the element's text is used (its `href` for
`link` and `next`).

Dates are read leniently: `03.03.2011, 14:17`, `26/10/13, 03:48 pm` (day first unless the page is in
American English), `21 janvier 2009`, ISO `datetime` attributes, "Heute"/"today"/"hier", "6 years ago".
A post without a readable date gets the time of the fetch. Native id: the post element's `id` on its site, or its link.
Thread pages run oldest first, so the page of known posts is not the last one: every `next` page is
followed up to the page cap, and known posts are dropped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from dateutil import parser as dateparser
from parsel import Selector, SelectorList
from scrapy.http import Response

from crawlers.spiders._html import element_text
from crawlers.spiders.base import MalformedPost, PageError, SourceSpider
from vigie.models import Author, Post, as_utc, utcnow

_SESSION_PARAMS = frozenset({"s", "sid", "phpsessid", "sessionid", "session", "jsessionid", "sess"})
_DOTTED_DATE = re.compile(r"\b\d{1,2}\.\s?\d{1,2}\.\s?\d{2,4}\b")
_TIME = re.compile(r"(\d{1,2})[:h](\d{2})")
_TODAY = re.compile(r"(?i)\b(heute|today|aujourd'hui|aujourd’hui|hoy|oggi|vandaag)\b")
_YESTERDAY = re.compile(r"(?i)\b(gestern|yesterday|hier|ayer|ieri|gisteren)\b")
_AGO = re.compile(
    r"(?i)(?:\b(\d+)\s+(second|minute|hour|day|week|month|year)s?\s+ago\b"
    r"|\bil y a\s+(\d+)\s+(seconde|minute|heure|jour|semaine|mois|an|année)s?\b"
    r"|\bvor\s+(\d+)\s+(sekunde|minute|stunde|tag|woche|monat|jahr)(?:e|en|n)?\b)"
)
_UNIT_SECONDS = {
    **dict.fromkeys(("second", "seconde", "sekunde"), 1),
    **dict.fromkeys(("minute",), 60),
    **dict.fromkeys(("hour", "heure", "stunde"), 3600),
    **dict.fromkeys(("day", "jour", "tag"), 86400),
    **dict.fromkeys(("week", "semaine", "woche"), 604800),
    **dict.fromkeys(("month", "mois", "monat"), 2629746),
    **dict.fromkeys(("year", "an", "année", "jahr"), 31556952),
}
_MONTHS = {
    "janvier": "january", "février": "february", "fevrier": "february", "mars": "march", "avril": "april", "mai": "may",
    "juin": "june", "juillet": "july", "août": "august", "aout": "august", "septembre": "september", "octobre": "october",
    "novembre": "november", "décembre": "december", "decembre": "december",
    "januar": "january", "jänner": "january", "februar": "february", "märz": "march", "maerz": "march", "juni": "june",
    "juli": "july", "oktober": "october", "dezember": "december",
}
_MONTH_WORD = re.compile(r"(?i)\b(" + "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True)) + r")\b")


def lenient_date(text: str | None, now: datetime | None = None, dayfirst: bool = True) -> datetime | None:
    """A forum's date as written, in UTC (a date without zone is taken as UTC); None if unreadable.

    `dayfirst` decides `05/06/14` (pages in American English write the month first); dotted dates
    (`05.06.2014`) are always day first. Relative dates ("6 years ago", "il y a 3 jours", "vor 2 Stunden",
    "Heute, 14:17") count back from `now`."""
    if not text or not text.strip():
        return None
    text = " ".join(text.replace("\xa0", " ").split())
    now = now or utcnow()
    ago = _AGO.search(text)
    if ago:
        number, unit = next((ago[i], ago[i + 1]) for i in (1, 3, 5) if ago[i])
        return now - timedelta(seconds=int(number) * _UNIT_SECONDS[unit.lower()])
    relative = 0 if _TODAY.search(text) else 1 if _YESTERDAY.search(text) else None
    if relative is not None:
        day = (now - timedelta(days=relative)).date()
        clock = _TIME.search(text)
        hour, minute = (int(clock[1]), int(clock[2])) if clock else (0, 0)
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
    text = _MONTH_WORD.sub(lambda m: _MONTHS[m[1].lower()], text)
    try:
        parsed = dateparser.parse(text, fuzzy=True, dayfirst=dayfirst or bool(_DOTTED_DATE.search(text)))
    except (ValueError, OverflowError):
        return None
    return as_utc(parsed)


def without_session(url: str) -> str:
    """A URL without session-id parameters (vBulletin `s=`, phpBB `sid=`), so the same post keeps one URL."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in _SESSION_PARAMS]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def select(scope: Selector | Response, expression: str, inside_post: bool = False) -> SelectorList:
    """CSS, or XPath when the expression starts with `/`, `(`, `./` or `..`; `//` inside a post means below the post."""
    if expression.startswith(("/", "(", "./", "..")):
        if inside_post and expression.startswith("//"):
            expression = "." + expression
        return scope.xpath(expression)
    return scope.css(expression)


def _strings(found: SelectorList) -> str:
    return " ".join(" ".join(item.get() for item in found).split())


def _is_text_selection(found: SelectorList) -> bool:
    return bool(found) and isinstance(found[0].root, str)


class ForumSpider(SourceSpider):
    name = "forum"
    custom_settings = {"ROBOTSTXT_OBEY": True}
    stop_at_known = False

    def first_urls(self) -> list[str]:
        return [self.on_base(self.source.url)]

    def parse(self, response: Response) -> Iterator[Post | MalformedPost | object]:
        selectors = self.source.selectors
        try:
            posts = select(response, selectors.post)
        except ValueError as exc:
            raise PageError(f"selectors.post {selectors.post!r} is not a valid selector: {exc}") from None
        if not posts:
            raise PageError(f"{response.url}: no post matches selectors.post {selectors.post!r}")
        dayfirst = not (response.xpath("/html/@lang").get() or "").lower().startswith("en-us")
        page_url = self.on_site(response.url)
        for index, post in enumerate(posts):
            yield self.forum_post(response, page_url, post, index, dayfirst)
        if selectors.next:
            try:
                found = select(response, selectors.next)
                href = found.get() if _is_text_selection(found) else found.attrib.get("href") if found else None
            except ValueError:  # lxml on a tag name it cannot represent, in broken markup: no next page
                href = None
            if href and href.strip():
                yield self.next_page(response, without_session(urljoin(page_url, href.strip())))

    def field(self, post: Selector, expression: str | None) -> str | None:
        if not expression:
            return None
        found = select(post, expression, inside_post=True)
        if not found:
            return None
        if _is_text_selection(found):
            return _strings(found) or None
        return " ".join(element_text(found[0].root).text.split()) or None

    def forum_post(self, response: Response, page_url: str, post: Selector, index: int, dayfirst: bool) -> Post | MalformedPost:
        selectors = self.source.selectors
        text_nodes = select(post, selectors.text, inside_post=True)
        if _is_text_selection(text_nodes):
            text, links = "\n".join(t.get() for t in text_nodes), []
        elif text_nodes:
            body = element_text(text_nodes[0].root, page_url)
            text, links = body.text, body.links
        else:
            return MalformedPost(f"selectors.text {selectors.text!r} matches nothing in post {index + 1}", response.url)
        link = self.post_link(page_url, post)
        author = self.field(post, selectors.author)
        date_text = self.field(post, selectors.date)
        element_id = post.attrib.get("id")
        host = urlsplit(self.source.url).netloc
        native_id = f"{host}#{element_id}" if element_id else link or f"{host}#{hashlib.sha1(f'{author}|{date_text}|{text}'.encode()).hexdigest()}"
        return self.make_post(
            response,
            native_id=native_id,
            published_at=lenient_date(date_text, dayfirst=dayfirst) or utcnow(),
            url=link or page_url,
            text=text,
            author=Author(id=author, handle=author, name=author) if author else Author(),
            links=links,
        )

    def post_link(self, page_url: str, post: Selector) -> str | None:
        expression = self.source.selectors.link
        if not expression:
            return None
        found = select(post, expression, inside_post=True)
        if not found:
            return None
        href = found.get() if _is_text_selection(found) else found[0].attrib.get("href") or found[0].css("a::attr(href)").get()
        return without_session(urljoin(page_url, href.strip())) if href and href.strip() else None
