"""Re-tagging stored posts after a watchlist edit, resumable, touching only tags, narratives and matches.

Progress is saved in the store's cursor table under `reenrich:<hash>`, the hash naming the watchlists'
content and the options: after an interruption the same command carries on where it stopped; after a
new edit of the watchlists it starts again from the beginning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from enrich.pipeline import retag
from enrich.watchlists import Watchlist, WatchlistMatcher
from store.base import PostQuery, Store
from vigie.models import Post, TagMatch, as_utc

CHECKPOINT_PREFIX = "reenrich:"


def checkpoint_key(watchlists: list[Watchlist], since: datetime | None, only: str | None) -> str:
    digest = hashlib.sha256()
    for watchlist in watchlists:
        digest.update(watchlist.id.encode() + b"\0" + watchlist.path.read_bytes() + b"\0")
    digest.update(f"{since.isoformat() if since else ''}\0{only or ''}".encode())
    return CHECKPOINT_PREFIX + digest.hexdigest()[:16]


@dataclass
class ReenrichReport:
    key: str
    total: int
    seen: int = 0
    changed: int = 0
    resumed_from: str | None = None
    already_done: bool = False


def new_tagging(post: Post, matcher: WatchlistMatcher, only: str | None) -> tuple[list[str], list[str], list[TagMatch]]:
    """The post's tags, narratives and matches under the current watchlists (only one of them with `only`)."""
    tagging = matcher.tag(post.text, post.title)
    if only is None:
        return retag(post, tagging)
    kept = [m for m in post.matches if m.watchlist != only]
    replaced = [m for m in post.matches if m.watchlist == only]
    tags, _, matches = retag(post, tagging, replaced)
    matches = kept + matches
    narratives = list(dict.fromkeys(m.narrative for m in matches))
    return tags, narratives, matches


def reenrich(
    store: Store,
    watchlists: list[Watchlist],
    *,
    since: datetime | None = None,
    only: str | None = None,
    batch_size: int = 500,
    restart: bool = False,
    on_start: Callable[[ReenrichReport], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> ReenrichReport:
    """Re-tag every stored post published since `since`, oldest first, saving progress after each batch."""
    since = as_utc(since) if since else None
    selected = [w for w in watchlists if only is None or w.id == only]
    matcher = WatchlistMatcher(selected)
    key = checkpoint_key(watchlists, since, only)
    checkpoint = {} if restart else (store.get_cursor(key) or {})
    report = ReenrichReport(key=key, total=store.count_posts(PostQuery(since=since)))
    if checkpoint.get("finished"):
        report.already_done = True
        report.seen = report.total
        return report
    start = since
    done_at_start: set[str] = set()
    if checkpoint.get("published_at"):
        start = datetime.fromisoformat(checkpoint["published_at"])
        done_at_start = set(checkpoint.get("ids", []))
        report.resumed_from = checkpoint["published_at"]
        report.seen = checkpoint.get("seen", 0)
        report.changed = checkpoint.get("changed", 0)
    if on_start:
        on_start(report)
    posts = store.iter_posts(PostQuery(since=start, sort="oldest"), batch_size=batch_size)
    while batch := list(islice(posts, batch_size)):
        todo = [post for post in batch if not (post.published_at == start and post.id in done_at_start)]
        for post in todo:
            tags, narratives, matches = new_tagging(post, matcher, only)
            if (tags, narratives, matches) != (post.tags, post.narratives, post.matches):
                store.update_enrichment(post.id, tags=tags, narratives=narratives, matches=matches)
                report.changed += 1
            report.seen += 1
        last = batch[-1].published_at
        ids = [p.id for p in batch if p.published_at == last] + (sorted(done_at_start) if last == start else [])
        store.set_cursor(key, {"published_at": last.isoformat(), "ids": ids, "seen": report.seen, "changed": report.changed})
        if on_batch:
            on_batch(len(todo))
    store.set_cursor(key, {"finished": True, "seen": report.seen, "changed": report.changed})
    return report
