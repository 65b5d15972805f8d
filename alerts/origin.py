"""Where a narrative or a copy-paste cluster started: its earliest post, then its first appearance in each source and
platform over time. Analysts ask it first ("who posted it first, and how fast did it travel?").

`arrivals` and `Origin` are pure; `load_origin` reads them from the store with counts per hour and source (both
stores answer that from their indexes), never by loading every post.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from store.base import PostQuery, Store
from vigie.models import Arrival, PostRef

PLATFORM_NAMES = {"telegram": "Telegram", "mastodon": "Mastodon", "reddit": "Reddit", "bluesky": "Bluesky", "youtube": "YouTube", "feed": "a feed", "forum": "a forum"}


def arrivals(refs: Iterable[PostRef], by: Literal["source", "platform"]) -> list[Arrival]:
    """First post and number of posts per source (or platform), earliest first."""
    first: dict[str, Arrival] = {}
    for ref in refs:
        key = ref.source_id if by == "source" else ref.platform
        seen = first.get(key)
        if seen is None:
            first[key] = Arrival(key=key, platform=ref.platform, first_at=ref.published_at, posts=1)
        else:
            first[key] = seen.model_copy(update={"first_at": min(seen.first_at, ref.published_at), "posts": seen.posts + 1})
    return sorted(first.values(), key=lambda a: (a.first_at, a.key))


@dataclass(frozen=True)
class Origin:
    first: PostRef | None
    sources: list[Arrival] = field(default_factory=list)
    platforms: list[Arrival] = field(default_factory=list)

    @property
    def spread_hours(self) -> int:
        """Hours from the first post to the first post of the last source reached."""
        if self.first is None or len(self.sources) < 2:
            return 0
        return math.ceil((self.sources[-1].first_at - self.first.published_at) / timedelta(hours=1))

    def summary(self, zone: ZoneInfo) -> str:
        return "" if self.first is None else describe(self.first, len(self.sources), self.spread_hours, zone)


def describe(first: PostRef, sources: int, hours: int, zone: ZoneInfo) -> str:
    """`first seen on Telegram (tg-news) at 2024-05-30 06:12 CEST, then 7 sources in 5 hours`."""
    when = first.published_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    line = f"first seen on {PLATFORM_NAMES.get(first.platform, first.platform)} ({first.source_id}) at {when}"
    others = sources - 1
    if others > 0:
        line += f", then {others} source{'s' if others != 1 else ''} in {hours} hour{'s' if hours != 1 else ''}"
    return line


def load_origin(store: Store, query: PostQuery) -> Origin:
    """The origin of the posts `query` selects (its period included): one search and one count per platform."""
    query = query.model_copy(update={"limit": 1, "offset": 0, "sort": "oldest"})
    earliest = store.search(query).posts
    if not earliest:
        return Origin(None)
    post = earliest[0]
    first = PostRef(id=post.id, platform=post.platform, source_id=post.source_id, published_at=post.published_at, url=post.url, shares=post.engagement.shares or 0)
    platforms = _from_buckets(store, query, "platform", None)
    sources = [arrival for platform in platforms for arrival in _from_buckets(store, query.model_copy(update={"platforms": (platform.key,)}), "source", platform.key)]
    sources = [_exact(arrival, first) for arrival in sources]
    platforms = [_exact(arrival, first) if arrival.key == first.platform else arrival for arrival in platforms]
    return Origin(first, sorted(sources, key=lambda a: (a.first_at, a.key)), platforms)


def _from_buckets(store: Store, query: PostQuery, group: Literal["source", "platform"], platform: str | None) -> list[Arrival]:
    first: dict[str, datetime] = {}
    posts: dict[str, int] = {}
    for bucket in store.count_buckets(query, "hour", group, distinct=False):
        key = bucket.key or ""
        first[key] = min(first.get(key, bucket.start), bucket.start)
        posts[key] = posts.get(key, 0) + bucket.posts
    return sorted((Arrival(key=key, platform=platform or key, first_at=at, posts=posts[key]) for key, at in first.items()), key=lambda a: (a.first_at, a.key))


def _exact(arrival: Arrival, first: PostRef) -> Arrival:
    """Hour buckets give the hour; the earliest post gives the minute where it is known."""
    if arrival.key in (first.source_id, first.platform) and arrival.first_at <= first.published_at:
        return arrival.model_copy(update={"first_at": first.published_at})
    return arrival
