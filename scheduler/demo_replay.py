"""The offline demo's loopback server: recorded platform responses, replayed as live public APIs.

It answers the paths the real services answer (a Mastodon instance's hashtag timeline, Reddit's
`/r/<sub>/new.json`, a Telegram channel's `/s/<channel>` preview), with their paging parameters, so the
real spiders crawl it through `base_url` or `instance`. Its items are the recorded ones under `demo_data/fixtures/`, given fresh ids and dates:
the recorded items are already there when the demo starts, more appear as time passes, and a burst of
posts on one narrative (the surge) appears at a set time.
"""

from __future__ import annotations

import copy
import html
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from vigie.models import utcnow

log = logging.getLogger("vigie.demo")


@dataclass(frozen=True)
class DemoItem:
    """One post as the replay server will serve it, from `appears_at` on."""

    platform: str
    seq: int
    """Increasing with publication time: the item's id on the server."""
    appears_at: datetime
    published_at: datetime
    """The date the platform gives the post; the demo's platforms publish a while before the server shows a post."""
    template: Any
    """The recorded Mastodon status, Reddit `t3` data or Telegram message widget (HTML) this item is made from."""
    text: str | None = None
    """Replaces the recorded text (surge posts); None keeps it."""
    author: str | None = None
    """Replaces the recorded author (surge posts come from many accounts)."""


def mastodon_id(item: DemoItem) -> int:
    """A Snowflake, as Mastodon makes them (milliseconds since 1970 shifted left 16 bits): spiders derive `min_id` from dates."""
    return (int(item.published_at.timestamp() * 1000) << 16) | (item.seq & 0xFFFF)


def mastodon_status(item: DemoItem, base_url: str) -> dict[str, Any]:
    status = copy.deepcopy(item.template)
    status_id = str(mastodon_id(item))
    account = status.get("account") or {}
    if item.author:
        account = {**account, "id": f"demo-{item.author}", "username": item.author, "acct": item.author, "display_name": item.author, "url": f"{base_url}/@{item.author}"}
    handle = account.get("username") or "demo"
    status.update(
        id=status_id,
        uri=f"{base_url}/users/{handle}/statuses/{status_id}",
        url=f"{base_url}/@{handle}/{status_id}",
        created_at=item.published_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        account=account,
        in_reply_to_id=None,
        in_reply_to_account_id=None,
        reblog=None,
    )
    if item.text is not None:
        status.update(content=f"<p>{html.escape(item.text)}</p>", mentions=[], tags=[], media_attachments=[], card=None, spoiler_text="")
    return status


def reddit_thing(item: DemoItem, subreddit: str) -> dict[str, Any]:
    data = copy.deepcopy(item.template)
    native = _base36(item.seq)
    permalink = f"/r/{subreddit}/comments/{native}/demo/"
    data.update(
        id=native,
        name=f"t3_{native}",
        subreddit=subreddit,
        created_utc=item.published_at.timestamp(),
        created=item.published_at.timestamp(),
        permalink=permalink,
    )
    if data.get("is_self"):
        data["url"] = f"https://www.reddit.com{permalink}"
    if item.author:
        data["author"] = item.author
    if item.text is not None:
        title, _, body = item.text.partition("\n")
        data.update(title=title, selftext=body, selftext_html=None, is_self=True, url=f"https://www.reddit.com{permalink}", domain=f"self.{subreddit}")
    return {"kind": "t3", "data": data}


_TELEGRAM_TEXT = re.compile(r'(<div class="tgme_widget_message_text[^"]*"[^>]*>).*?(</div>)', re.DOTALL)


def telegram_widget(item: DemoItem, channel: str, title: str) -> str:
    """The recorded message widget, re-addressed to `channel` with the item's id, date and text."""
    widget: str = item.template
    recorded_ref = re.search(r'data-post="([^"/]+)/(\d+)"', widget)
    assert recorded_ref is not None, "the Telegram template has no data-post"
    recorded_channel, recorded_id = recorded_ref.groups()
    widget = widget.replace(f"{recorded_channel}/{recorded_id}", f"{channel}/{item.seq}").replace(f"t.me/{recorded_channel}", f"t.me/{channel}")
    widget = re.sub(r'datetime="[^"]*"', f'datetime="{item.published_at.isoformat(timespec="seconds")}"', widget)
    widget = re.sub(r'(class="tgme_widget_message_owner_name"[^>]*><span[^>]*>)[^<]*', lambda m: m[1] + html.escape(title), widget)
    body = "<br/>".join(html.escape(line) for line in (item.text or "").split("\n"))
    return _TELEGRAM_TEXT.sub(lambda m: m[1] + body + m[2], widget, count=1)


def telegram_page(items: list[DemoItem], channel: str, title: str, before: int | None, per_page: int = 20) -> str:
    """A `t.me/s/<channel>` page: up to 20 messages, oldest first, and a `rel="prev"` link to older ones."""
    older = sorted((item for item in items if before is None or item.seq < before), key=lambda item: item.seq)
    page = older[-per_page:]
    prev = f'<link rel="prev" href="/s/{channel}?before={page[0].seq}">' if page and len(older) > len(page) else ""
    widgets = "\n".join(telegram_widget(item, channel, title) for item in page)
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)} - Telegram</title>{prev}</head>\n'
        f'<body><section class="tgme_channel_history js-message_history">\n{widgets}\n</section></body></html>\n'
    )


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text


def _page(items: list[DemoItem], query: dict[str, str], item_key: Callable[[DemoItem], int], parse_key: Callable[[str | None], int | None], limit_cap: int) -> tuple[list[DemoItem], bool]:
    """Newest first, like the real APIs: `max_id`/`after` for older pages, `since_id`/`before` for newer, `min_id` for the page just after it."""
    limit = max(1, min(int(query.get("limit") or 20), limit_cap))
    older_than = parse_key(query.get("max_id") or query.get("after"))
    newer_than = parse_key(query.get("since_id") or query.get("before") or query.get("min_id"))
    selected = [
        item for item in sorted(items, key=item_key, reverse=True)
        if (older_than is None or item_key(item) < older_than) and (newer_than is None or item_key(item) > newer_than)
    ]
    if query.get("min_id"):
        return selected[-limit:], len(selected) > limit
    return selected[:limit], len(selected) > limit


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _reddit_key(item: DemoItem) -> int:
    return item.seq


def _reddit_id(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value.removeprefix("t3_"), 36)
    except ValueError:
        return None


class ReplayTimeline:
    """Which items exist at a given moment; items are added before the server starts and only appear when due."""

    def __init__(self, items: list[DemoItem]) -> None:
        self._items = sorted(items, key=lambda item: item.seq)

    def visible(self, platform: str, now: datetime | None = None) -> list[DemoItem]:
        now = now or utcnow()
        return [item for item in self._items if item.platform == platform and item.appears_at <= now]

    @property
    def items(self) -> list[DemoItem]:
        return list(self._items)


class _Handler(BaseHTTPRequestHandler):
    server: ReplayServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        parts = [part for part in url.path.split("/") if part]
        if url.path == "/robots.txt":
            self._send(200, b"User-agent: *\nAllow: /\n", "text/plain")
        elif parts[:4] == ["api", "v1", "timelines", "tag"] and len(parts) == 5:
            self._mastodon(query, url.path)
        elif len(parts) == 3 and parts[0] == "r" and parts[2] == "new.json":
            self._reddit(parts[1], query)
        elif len(parts) == 2 and parts[0] == "s":
            before = _number(query.get("before"))
            page = telegram_page(self.server.timeline.visible("telegram"), parts[1], self.server.telegram_title, before)
            self._send(200, page.encode(), "text/html; charset=utf-8")
        else:
            self._send(404, b'{"error": "Record not found"}', "application/json")

    def _mastodon(self, query: dict[str, str], path: str) -> None:
        page, more = _page(self.server.timeline.visible("mastodon"), query, mastodon_id, _number, 40)
        base = self.server.base_url
        body = json.dumps([mastodon_status(item, base) for item in page]).encode()
        links = []
        if page and more:
            links.append(f'<{base}{path}?{urlencode({**query, "max_id": mastodon_id(page[-1])})}>; rel="next"')
        if page:
            links.append(f'<{base}{path}?{urlencode({"min_id": mastodon_id(page[0])})}>; rel="prev"')
        self._send(200, body, "application/json; charset=utf-8", {"Link": ", ".join(links)} if links else {})

    def _reddit(self, subreddit: str, query: dict[str, str]) -> None:
        page, more = _page(self.server.timeline.visible("reddit"), query, _reddit_key, _reddit_id, 100)
        children = [reddit_thing(item, subreddit) for item in page]
        after = children[-1]["data"]["name"] if page and more else None
        listing = {"kind": "Listing", "data": {"modhash": "", "dist": len(children), "children": children, "after": after, "before": None}}
        self._send(200, json.dumps(listing).encode(), "application/json; charset=UTF-8")

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("replay: " + format, *args)


class ReplayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, timeline: ReplayTimeline, host: str = "127.0.0.1", port: int = 0, telegram_title: str = "Demo channel") -> None:
        super().__init__((host, port), _Handler)
        self.timeline = timeline
        self.telegram_title = telegram_title

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


@contextmanager
def serving(timeline: ReplayTimeline, host: str = "127.0.0.1", port: int = 0, telegram_title: str = "Demo channel") -> Iterator[ReplayServer]:
    server = ReplayServer(timeline, host, port, telegram_title)
    thread = threading.Thread(target=server.serve_forever, name="demo replay server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
