"""HTML fragments (feed descriptions, Telegram messages, forum posts) read as an analyst reads them:
plain text with the line and paragraph breaks kept, and the links they point to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html

_SKIPPED = frozenset({"script", "style", "noscript", "head", "title", "template", "svg", "iframe", "object"})
_PARAGRAPHS = frozenset({"p", "blockquote", "pre", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "figure"})
_LINES = frozenset({"div", "li", "tr", "dd", "dt", "section", "article", "header", "footer", "aside", "figcaption", "address"})
_CELLS = frozenset({"td", "th"})
_WHITESPACE = re.compile(r"[ \t\r\n\f]+")


@dataclass
class HtmlText:
    text: str = ""
    links: list[str] = field(default_factory=list)


def html_to_text(html: str | None, base_url: str | None = None) -> HtmlText:
    """Text of an HTML fragment; `links` are the http(s) targets of its anchors, absolute, in order, once each."""
    if not html or not html.strip():
        return HtmlText()
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return HtmlText(text=html)
    return element_text(root, base_url)


def element_text(element: lxml.html.HtmlElement, base_url: str | None = None) -> HtmlText:
    parts: list[str] = []
    links: dict[str, None] = {}
    _walk(element, parts, links, base_url, preformatted=False)
    return HtmlText(text="".join(parts), links=list(links))


def _walk(node: lxml.etree._Element, parts: list[str], links: dict[str, None], base_url: str | None, preformatted: bool) -> None:
    """Whitespace in the source collapses to one space, as a browser shows it; line breaks come from
    <br> and block elements (and from the source inside <pre>)."""
    tag = node.tag.lower() if isinstance(node.tag, str) else None
    if tag is not None and tag not in _SKIPPED:
        inner_pre = preformatted or tag == "pre"
        if tag == "br":
            parts.append("\n")
        elif tag in _PARAGRAPHS:
            _break(parts, 2)
        elif tag in _LINES:
            _break(parts, 1)
        elif tag in _CELLS:
            parts.append(" ")
        if tag == "a":
            _link(node.get("href"), links, base_url)
        if node.text:
            parts.append(_collapse(node.text, inner_pre))
        for child in node:
            _walk(child, parts, links, base_url, inner_pre)
        if tag in _PARAGRAPHS:
            _break(parts, 2)
        elif tag in _LINES:
            _break(parts, 1)
    if node.tail:
        parts.append(_collapse(node.tail, preformatted))


def _break(parts: list[str], newlines: int) -> None:
    """End the current line (1) or paragraph (2), counting the breaks already there: nested blocks do not
    pile up blank lines, while each <br> still counts."""
    tail = "".join(parts[-8:]).rstrip(" ")
    present = len(tail) - len(tail.rstrip("\n"))
    if newlines > present:
        parts.append("\n" * (newlines - present))


def _collapse(text: str, preformatted: bool) -> str:
    return text if preformatted else _WHITESPACE.sub(" ", text)


def _link(href: str | None, links: dict[str, None], base_url: str | None) -> None:
    if not href:
        return
    url = urljoin(base_url, href.strip()) if base_url else href.strip()
    if urlsplit(url).scheme in ("http", "https"):
        links.setdefault(url, None)
