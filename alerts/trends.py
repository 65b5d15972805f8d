"""Trend series: posts, distinct authors and distinct sources per hour and per day, for every narrative, watchlist
term and hashtag, for all posts together, and for the searches alert rules watch.

They are counted by the store (`Store.count_buckets`, so both stores work) and kept in a JSON file under the data
dir. Each refresh re-counts only from the last counted hour minus a lateness margin (posts are collected after they
are published), never everything. The file is derived data: delete it, or let it be corrupted, and the next refresh
rebuilds it from the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from alerts.spikes import DAY, HOUR, Series, dense_series
from store.base import GroupField, Interval, PostQuery, Store
from vigie.models import as_utc

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
GROUPS: tuple[GroupField, ...] = ("narrative", "term", "hashtag")
TOTAL = "*"
"""Group and key of the series of all posts."""
STEPS: dict[Interval, timedelta] = {"hour": HOUR, "day": DAY}
_CRAWL_LOG_LOOKBACK = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Buckets = dict[int, tuple[int, int, int]]
"""Bucket number (since the epoch, in steps) -> (posts, distinct authors, distinct sources)."""


def floor(when: datetime, step: timedelta) -> datetime:
    return _EPOCH + ((as_utc(when) - _EPOCH) // step) * step


def query_fingerprint(query: PostQuery) -> str:
    """Identifies a search's filters, whatever its time range and paging."""
    filters = query.model_dump(mode="json", exclude={"since", "until", "limit", "offset", "sort"})
    return hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:16]


class TrendCache:
    """The cached series. `refresh()` brings them up to date; `series()` reads one as a dense `Series`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.observed_from: datetime | None = None
        """When collection started: before it, buckets are unknown rather than empty."""
        self.covered_from: datetime | None = None
        self.counted_until: datetime | None = None
        self._groups: dict[Interval, dict[str, dict[str, Buckets]]] = {interval: {} for interval in STEPS}
        self._searches: dict[str, dict[Interval, Buckets]] = {}

    # ------------------------------------------------------------ file

    @classmethod
    def open(cls, path: Path) -> TrendCache:
        cache = cls(path)
        if not path.exists():
            return cache
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != FORMAT_VERSION:
                raise ValueError(f"format version {data.get('version')!r}, expected {FORMAT_VERSION}")
            cache._load(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: unreadable trend cache (%s); rebuilding it from the store", path, exc)
            return cls(path)
        return cache

    def _load(self, data: dict[str, Any]) -> None:
        def when(value: str | None) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value)

        def buckets(rows: list[list[int]]) -> Buckets:
            return {row[0]: (row[1], row[2], row[3]) for row in rows}

        self.observed_from, self.covered_from, self.counted_until = when(data["observed_from"]), when(data["covered_from"]), when(data["counted_until"])
        for interval in STEPS:
            self._groups[interval] = {group: {key: buckets(rows) for key, rows in keys.items()} for group, keys in data["groups"][interval].items()}
        self._searches = {fp: {interval: buckets(rows) for interval, rows in by_interval.items()} for fp, by_interval in data["searches"].items()}

    def save(self) -> None:
        """Write atomically, so a crash mid-write leaves the previous file."""
        def rows(buckets: Buckets) -> list[list[int]]:
            return [[number, *counts] for number, counts in sorted(buckets.items())]

        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        data = {
            "version": FORMAT_VERSION,
            "observed_from": iso(self.observed_from),
            "covered_from": iso(self.covered_from),
            "counted_until": iso(self.counted_until),
            "groups": {interval: {group: {key: rows(b) for key, b in keys.items()} for group, keys in groups.items()} for interval, groups in self._groups.items()},
            "searches": {fp: {interval: rows(b) for interval, b in by_interval.items()} for fp, by_interval in self._searches.items()},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        temporary.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(temporary, self.path)

    # ------------------------------------------------------------ refresh

    def refresh(self, store: Store, now: datetime, *, keep_from: datetime, lateness: timedelta, searches: Iterable[PostQuery] = ()) -> None:
        """Re-count from the last counted hour minus `lateness`, extend back to `keep_from` if needed, drop what is older."""
        now, keep_from = as_utc(now), floor(keep_from, DAY)
        if self.observed_from is None:
            self.observed_from = _collection_start(store)
        extended = self.covered_from is not None and keep_from < self.covered_from
        if self.covered_from is None or self.counted_until is None:
            recount_from = keep_from
        else:
            if extended:
                self._count(store, keep_from, self.covered_from)
            recount_from = min(self.counted_until, floor(now, HOUR)) - lateness
        self._count(store, recount_from, None)

        wanted = {query_fingerprint(query): query for query in searches}
        for fingerprint in set(self._searches) - set(wanted):
            del self._searches[fingerprint]
        for fingerprint, query in wanted.items():
            since = recount_from if fingerprint in self._searches and not extended else keep_from
            self._count_search(store, fingerprint, query, since)

        self._prune(keep_from)
        self.covered_from = keep_from
        self.counted_until = max(floor(now, HOUR), self.counted_until or floor(now, HOUR))

    def _count(self, store: Store, since: datetime, until: datetime | None) -> None:
        for interval, step in STEPS.items():
            start = floor(since, step)
            query = PostQuery(since=start, until=until)
            groups = self._groups[interval]
            for group in (*GROUPS, TOTAL):
                counted = store.count_buckets(query, interval, None if group == TOTAL else group)
                by_key = groups.setdefault(group, {})
                for buckets in by_key.values():
                    _clear(buckets, start, until, step)
                for count in counted:
                    key = TOTAL if group == TOTAL else count.key
                    by_key.setdefault(key, {})[_number(count.start, step)] = (count.posts, count.authors, count.sources)

    def _count_search(self, store: Store, fingerprint: str, query: PostQuery, since: datetime) -> None:
        by_interval = self._searches.setdefault(fingerprint, {})
        for interval, step in STEPS.items():
            start = floor(since, step)
            buckets = by_interval.setdefault(interval, {})
            _clear(buckets, start, None, step)
            for count in store.count_buckets(query.model_copy(update={"since": start, "until": None}), interval):
                buckets[_number(count.start, step)] = (count.posts, count.authors, count.sources)

    def _prune(self, keep_from: datetime) -> None:
        for interval, step in STEPS.items():
            first = _number(floor(keep_from, step), step)
            for by_key in self._groups[interval].values():
                for key in list(by_key):
                    by_key[key] = {n: c for n, c in by_key[key].items() if n >= first}
                    if not by_key[key]:
                        del by_key[key]
            for by_interval in self._searches.values():
                by_interval[interval] = {n: c for n, c in by_interval.get(interval, {}).items() if n >= first}

    # ------------------------------------------------------------ reading

    def keys(self, group: GroupField | Literal["*"], interval: Interval = "hour") -> list[str]:
        return sorted(self._groups[interval].get(group, {}))

    def series(self, group: GroupField | Literal["*"], key: str, interval: Interval, start: datetime, end: datetime) -> Series:
        return self._dense(self._groups[interval].get(group, {}).get(key, {}), interval, start, end)

    def search_series(self, query: PostQuery, interval: Interval, start: datetime, end: datetime) -> Series:
        return self._dense(self._searches.get(query_fingerprint(query), {}).get(interval, {}), interval, start, end)

    def totals(self, group: GroupField, start: datetime, end: datetime) -> dict[str, int]:
        """Posts per key over `[start, end)`, summed from the hourly series."""
        first, stop = _number(floor(start, HOUR), HOUR), _number(floor(end, HOUR), HOUR)
        sums = {key: sum(c[0] for n, c in buckets.items() if first <= n < stop) for key, buckets in self._groups["hour"].get(group, {}).items()}
        return {key: total for key, total in sums.items() if total}

    def _dense(self, buckets: Mapping[int, tuple[int, int, int]], interval: Interval, start: datetime, end: datetime) -> Series:
        step = STEPS[interval]
        start, end = floor(start, step), floor(end, step)
        rows = ((_EPOCH + n * step, *counts) for n, counts in buckets.items())
        return dense_series(rows, start, end, step, observed_from=self.observed_from)


def _number(when: datetime, step: timedelta) -> int:
    return (as_utc(when) - _EPOCH) // step


def _clear(buckets: Buckets, start: datetime, until: datetime | None, step: timedelta) -> None:
    first = _number(start, step)
    last = None if until is None else _number(until, step)
    for number in [n for n in buckets if n >= first and (last is None or n < last)]:
        del buckets[number]


def _collection_start(store: Store) -> datetime | None:
    """When Vigie started collecting: the first crawl run if the crawl log reaches back that far, else the oldest post."""
    runs = store.crawl_runs(limit=_CRAWL_LOG_LOOKBACK)
    if runs and len(runs) < _CRAWL_LOG_LOOKBACK:
        return min(run.started_at for run in runs)
    oldest = next(iter(store.iter_posts(PostQuery(sort="oldest"), batch_size=1)), None)
    return None if oldest is None else oldest.published_at
