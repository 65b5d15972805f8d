"""The trend cache against a real SQLite store: same counts as the store, refreshed incrementally, rebuilt when lost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.trends import TrendCache
from store.base import PostQuery
from store.sqlite import SQLiteStore
from tests.alerts.posts import daily_life, surge, watch_post
from vigie.models import CrawlRun

START = datetime(2024, 5, 1, tzinfo=UTC)
NOW = START + timedelta(days=4, hours=10, minutes=5)
LATENESS = timedelta(hours=3)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "vigie.db") as opened:
        opened.upsert_posts(daily_life("miracle_healing", START, NOW - timedelta(minutes=5), hashtags=("guerison",)))
        opened.upsert_posts(daily_life("end_times", START, NOW - timedelta(minutes=5), seed=2))
        yield opened


def refreshed(path: Path, store: SQLiteStore, now: datetime = NOW, **kwargs: object) -> TrendCache:
    cache = TrendCache.open(path)
    cache.refresh(store, now, keep_from=START, lateness=LATENESS, **kwargs)  # type: ignore[arg-type]
    cache.save()
    return cache


def as_rows(cache: TrendCache, group: str, key: str, interval: str = "hour") -> list[tuple[datetime, int, int, int]]:
    step = timedelta(hours=1) if interval == "hour" else timedelta(days=1)
    s = cache.series(group, key, interval, START, NOW + step)  # type: ignore[arg-type]
    return [(s.bucket_start(i), s.posts[i], s.authors[i], s.sources[i]) for i in range(len(s)) if s.posts[i]]


def from_store(store: SQLiteStore, interval: str, **filters: object) -> list[tuple[datetime, int, int, int]]:
    return [(b.start, b.posts, b.authors, b.sources) for b in store.count_buckets(PostQuery(**filters), interval)]  # type: ignore[arg-type]


def test_series_are_the_store_counts(tmp_path: Path, store: SQLiteStore) -> None:
    cache = refreshed(tmp_path / "trends.json", store)
    assert cache.keys("narrative") == ["end_times", "miracle_healing"]
    assert cache.keys("hashtag") == ["guerison"]
    for interval in ("hour", "day"):
        assert as_rows(cache, "narrative", "miracle_healing", interval) == from_store(store, interval, narratives=("miracle_healing",))
        assert as_rows(cache, "hashtag", "guerison", interval) == from_store(store, interval, hashtags=("guerison",))
        assert as_rows(cache, "term", "end times", interval) == from_store(store, interval, terms=("end times",))
        assert as_rows(cache, "*", "*", interval) == from_store(store, interval)


def test_refresh_recounts_only_the_recent_stretch(tmp_path: Path, store: SQLiteStore) -> None:
    path = tmp_path / "trends.json"
    refreshed(path, store)
    late = NOW - timedelta(hours=2)
    too_late = NOW - timedelta(days=2)
    store.upsert_posts([*surge("miracle_healing", late, posts=20, authors=10), watch_post("very-late", "miracle_healing", too_late, "someone")])

    cache = refreshed(path, store, NOW + timedelta(minutes=5))
    counted = dict((when, posts) for when, posts, _, _ in as_rows(cache, "narrative", "miracle_healing"))
    stored = dict((when, posts) for when, posts, _, _ in from_store(store, "hour", narratives=("miracle_healing",)))
    late_hour, old_hour = late.replace(minute=0), too_late.replace(minute=0)
    assert counted[late_hour] == stored[late_hour], "a post collected within the lateness margin is counted"
    assert counted.get(old_hour, 0) == stored[old_hour] - 1, "older buckets are not recounted: no rescan of everything"

    path.unlink()
    rebuilt = refreshed(path, store, NOW + timedelta(minutes=5))
    assert as_rows(rebuilt, "narrative", "miracle_healing") == from_store(store, "hour", narratives=("miracle_healing",))


def test_cache_survives_reopening_and_a_corrupt_file_is_rebuilt(tmp_path: Path, store: SQLiteStore) -> None:
    path = tmp_path / "trends.json"
    first = as_rows(refreshed(path, store), "narrative", "end_times")
    assert as_rows(TrendCache.open(path), "narrative", "end_times") == first
    path.write_text('{"version": 1, "groups": ', encoding="utf-8")
    assert TrendCache.open(path).keys("narrative") == []
    assert as_rows(refreshed(path, store), "narrative", "end_times") == first


def test_old_buckets_are_dropped(tmp_path: Path, store: SQLiteStore) -> None:
    cache = TrendCache.open(tmp_path / "trends.json")
    cache.refresh(store, NOW, keep_from=NOW - timedelta(days=2), lateness=LATENESS)
    series = cache.series("narrative", "miracle_healing", "hour", START, NOW)
    assert sum(series.posts[: 24 * 2]) == 0
    assert sum(series.posts[24 * 3 :]) > 0


def test_collection_starts_with_the_first_crawl_run(tmp_path: Path, store: SQLiteStore) -> None:
    started = START + timedelta(days=1, hours=3)
    store.record_crawl_run(CrawlRun(id="run-1", source_id="tg-eveil", platform="telegram", started_at=started, status="ok"))
    cache = refreshed(tmp_path / "trends.json", store)
    assert cache.observed_from == started
    assert cache.series("narrative", "end_times", "hour", START, NOW).first_observed == 27


def test_without_crawl_runs_collection_starts_with_the_oldest_post(tmp_path: Path, store: SQLiteStore) -> None:
    cache = refreshed(tmp_path / "trends.json", store)
    oldest = next(iter(store.iter_posts(PostQuery(sort="oldest"))))
    assert cache.observed_from == oldest.published_at


def test_search_series_follow_their_query(tmp_path: Path, store: SQLiteStore) -> None:
    query = PostQuery(narratives=("miracle_healing",), sources=("tg-eveil",))
    cache = refreshed(tmp_path / "trends.json", store, searches=[query])
    s = cache.search_series(query, "day", START, NOW + timedelta(days=1))
    assert sum(s.posts) == store.count_posts(query)
    assert sum(cache.search_series(PostQuery(text="other"), "day", START, NOW).posts) == 0


def test_a_longer_window_extends_the_cache_back(tmp_path: Path, store: SQLiteStore) -> None:
    query = PostQuery(narratives=("end_times",))
    cache = TrendCache.open(tmp_path / "trends.json")
    cache.refresh(store, NOW, keep_from=NOW - timedelta(days=1), lateness=LATENESS, searches=[query])
    cache.refresh(store, NOW, keep_from=START, lateness=LATENESS, searches=[query])
    assert as_rows(cache, "narrative", "end_times") == from_store(store, "hour", narratives=("end_times",))
    assert sum(cache.search_series(query, "hour", START, NOW + timedelta(hours=1)).posts) == store.count_posts(query)
