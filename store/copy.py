"""Moving data between stores (embedded SQLite ⇄ Elasticsearch, or between two index prefixes).

Posts are streamed oldest first in batches through the `Store` interface, so any store can be the source or the
destination, in constant memory. After each batch is written, a checkpoint records the publication time reached:
a copy that stops (cluster down, Ctrl-C) resumes from there, re-sending at most the posts published at that very
instant, which the destination's upsert by id absorbs. Then the small records the interface can list follow:
crawl runs, source cursors, alerts, candidate narratives, subscriptions, saved searches and unsent outbox messages.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from store.base import PostQuery, Store, StoreError
from vigie.models import Post

ALL = 1_000_000_000
"""`limit` meaning everything, for the listing methods of the interface."""


@dataclass
class Checkpoint:
    """How far a copy from `source` to `destination` went, kept in a small JSON file replaced atomically."""

    path: Path
    source: str
    destination: str
    published_at: datetime | None = None
    """Every post published before this instant is in the destination."""
    copied: int = 0

    @classmethod
    def load(cls, path: Path, source: str, destination: str) -> Checkpoint:
        if not path.exists():
            return cls(path, source, destination)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            reached = data["published_at"]
            checkpoint = cls(path, data["source"], data["destination"], datetime.fromisoformat(reached) if reached else None, int(data["copied"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{path}: not a copy checkpoint ({exc}); remove it or use --restart") from exc
        if (checkpoint.source, checkpoint.destination) != (source, destination):
            raise StoreError(f"{path}: checkpoint of a copy from {checkpoint.source} to {checkpoint.destination}, not from {source} to {destination}")
        return checkpoint

    def save(self) -> None:
        data = {
            "source": self.source,
            "destination": self.destination,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "copied": self.copied,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class CopyReport:
    posts: int = 0
    new: int = 0
    updated: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    """(post id, reason) of posts the destination refused; the copy goes on without them."""
    records: dict[str, int] = field(default_factory=dict)
    resumed_from: datetime | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "posts": self.posts,
            "new": self.new,
            "updated": self.updated,
            "errors": [{"id": post_id, "reason": reason} for post_id, reason in self.errors],
            "records": self.records,
            "resumed_from": self.resumed_from.isoformat() if self.resumed_from else None,
        }


def posts_to_copy(source: Store, checkpoint: Checkpoint) -> int:
    """How many posts the copy will read (for the progress bar), counted from the checkpoint."""
    return source.count_posts(PostQuery(since=checkpoint.published_at, limit=0))


def copy_posts(source: Store, destination: Store, checkpoint: Checkpoint, *, batch_size: int = 1000, on_batch: Callable[[int], None] = lambda n: None) -> CopyReport:
    """Stream every post from `source` into `destination`, oldest first, saving the checkpoint after each batch."""
    report = CopyReport(resumed_from=checkpoint.published_at)
    posts = source.iter_posts(PostQuery(since=checkpoint.published_at, sort="oldest"), batch_size=batch_size)
    while batch := list(islice(posts, batch_size)):
        _write(destination, batch, checkpoint, report)
        on_batch(len(batch))
    return report


def _write(destination: Store, batch: list[Post], checkpoint: Checkpoint, report: CopyReport) -> None:
    result = destination.upsert_posts(batch)
    report.posts += len(batch)
    report.new += result.new
    report.updated += result.updated
    report.errors += result.errors
    checkpoint.published_at = batch[-1].published_at
    checkpoint.copied += len(batch)
    checkpoint.save()


def copy_records(source: Store, destination: Store, source_ids: Iterable[str]) -> dict[str, int]:
    """The small records, replaced by id in the destination (so running it twice changes nothing)."""
    counts: dict[str, int] = {}
    runs = source.crawl_runs(None, limit=ALL)
    for run in reversed(runs):
        destination.record_crawl_run(run)
    counts["crawl runs"] = len(runs)
    cursors = 0
    for source_id in source_ids:
        cursor = source.get_cursor(source_id)
        if cursor is not None:
            destination.set_cursor(source_id, cursor)
            cursors += 1
    counts["cursors"] = cursors
    alerts = source.list_alerts(limit=ALL)
    for alert in alerts:
        destination.save_alert(alert)
    counts["alerts"] = len(alerts)
    candidates = source.list_candidates(limit=ALL)
    for candidate in candidates:
        destination.save_candidate(candidate)
    counts["candidates"] = len(candidates)
    subscriptions = source.list_subscriptions()
    for subscription in subscriptions:
        destination.save_subscription(subscription)
    counts["subscriptions"] = len(subscriptions)
    searches = source.list_searches()
    for saved in searches:
        destination.save_search(saved)
    counts["saved searches"] = len(searches)
    pending = source.due_messages(datetime.max.replace(tzinfo=UTC), limit=ALL)
    counts["unsent messages"] = sum(destination.enqueue(message) for message in pending)
    return counts
