"""The pages' shared query cache (`dashboard/cache.py`, used by `dashboard/queries.py`): answers keyed on the filters,
kept for the TTL or for as long as they were costly, refreshed in the background after it when new posts arrive.

The cache's own rules run on a clock the tests move. For the query cache as the server runs it, the TTL is read as `dashboard.queries` is imported, so the cache runs in a child process given a 2 s TTL (as
`vigie dashboard` passes `dashboard.cache_ttl` to its server); the test writes the posts and asks it for counts.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from dashboard.cache import SharedCache
from store.base import PostQuery
from store.sqlite import SQLiteStore
from tests.support.factories import make_post
from vigie.models import utcnow

TTL = 2.0
CHILD = """
import json, sys
from datetime import datetime
from dashboard import queries
from store.base import PostQuery
from store.sqlite import SQLiteStore

store = SQLiteStore(sys.argv[1])
day, week = (PostQuery(since=datetime.fromisoformat(since), until=datetime.fromisoformat(sys.argv[4])) for since in sys.argv[2:4])
for _ in sys.stdin:
    print(json.dumps([queries.coverage(store, "test", day), queries.coverage(store, "test", week)]), flush=True)
"""


def test_a_cached_count_refreshes_after_its_ttl_when_new_posts_arrive(tmp_path: Path) -> None:
    now = utcnow()
    path = tmp_path / "vigie.db"
    with SQLiteStore(path) as store:
        store.upsert_posts([make_post(f"old{i}", published_at=now - timedelta(days=3)) for i in range(2)] + [make_post(f"new{i}", published_at=now - timedelta(hours=2)) for i in range(3)])
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")} | {"VIGIE_DASHBOARD__CACHE_TTL": f"{TTL:g}s"}
        args = [str(path), (now - timedelta(days=1)).isoformat(), (now - timedelta(days=7)).isoformat(), (now + timedelta(hours=1)).isoformat()]
        child = subprocess.Popen([sys.executable, "-c", CHILD, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=Path(__file__).resolve().parents[2])

        def counts() -> list[int]:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write("\n")
            child.stdin.flush()
            return json.loads(child.stdout.readline())

        try:
            assert counts() == [3, 5]  # each period its own answer
            filled = time.monotonic()
            store.upsert_posts([make_post(f"later{i}", published_at=now - timedelta(minutes=5)) for i in range(4)])
            kept = counts()
            assert time.monotonic() - filled < TTL, "the machine is too slow for this test's TTL"
            assert kept == [3, 5]  # within the TTL: the kept answers, not a recount
            time.sleep(TTL - (time.monotonic() - filled) + 0.1)
            assert counts() == [3, 5]  # past the TTL: the kept answer at once, while the store is asked again in the background
            refreshed = counts()
            while refreshed != [7, 9] and time.monotonic() - filled < 2 * TTL:
                time.sleep(0.05)
                refreshed = counts()
            assert refreshed == [7, 9] and time.monotonic() - filled < 2 * TTL  # the background refresh, before any hard expiry
        finally:
            child.stdin.close()  # type: ignore[union-attr]
            child.wait(30)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settled(condition, seconds: float = 5.0) -> bool:
    """Wait for a background refresh to land."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_answers_are_shared_per_arguments_for_the_ttl() -> None:
    clock = Clock()
    cache = SharedCache(30, clock=clock)
    asked: list[PostQuery] = []

    @cache
    def count(_store: object, store_key: str, query: PostQuery, limit: int = 10) -> int:
        asked.append(query)
        return len(asked)

    assert count(object(), "a", PostQuery(text="miracle")) == 1
    assert count(object(), "a", PostQuery(text="miracle"), limit=10) == 1  # same filters, another store object: kept
    assert count(object(), "a", PostQuery(text="vaccin")) == 2
    assert count(object(), "b", PostQuery(text="miracle")) == 3  # another store
    assert count(object(), "a", PostQuery(text="miracle"), 5) == 4
    clock.now += 29.9
    assert count(None, "a", PostQuery(text="miracle")) == 1 and len(asked) == 4


def test_a_costly_answer_is_kept_for_its_cost_times_the_factor_then_refreshed_in_the_background() -> None:
    clock = Clock()
    cache = SharedCache(30, cost_factor=60, clock=clock)
    answers = iter(range(1, 100))
    refreshed = threading.Event()

    @cache
    def month(subject: str) -> int:
        clock.now += 2.0  # two seconds of aggregation: fresh for two minutes
        answer = next(answers)
        if answer > 1:
            refreshed.set()
        return answer

    assert month("anti-5g") == 1
    clock.now += 119
    assert month("anti-5g") == 1
    time.sleep(0.1)
    assert not refreshed.is_set()  # past the TTL, within 60 x its cost: no new query
    clock.now += 2
    assert month("anti-5g") == 1  # stale: the kept answer at once, and a new one asked for in the background
    assert refreshed.wait(5)
    assert settled(lambda: month("anti-5g") == 2)
    clock.now += 2 * 120 + 1
    assert month("anti-5g") == 3  # older than twice its freshness: computed while the visit waits


def test_visits_missing_the_same_answer_at_once_compute_it_once() -> None:
    cache = SharedCache(30)
    release, calls = threading.Event(), []

    @cache
    def slow(subject: str) -> str:
        calls.append(subject)
        release.wait(5)
        return subject.upper()

    results: list[str] = []
    visits = [threading.Thread(target=lambda: results.append(slow("qanon"))) for _ in range(5)]
    for visit in visits:
        visit.start()
    time.sleep(0.1)
    release.set()
    for visit in visits:
        visit.join(5)
    assert results == ["QANON"] * 5 and calls == ["qanon"]


def test_clear_forgets_one_functions_answers_and_drops_a_refresh_under_way() -> None:
    clock = Clock()
    cache = SharedCache(30, clock=clock)
    started, release, counts = threading.Event(), threading.Event(), {"a": 0, "b": 0}

    @cache
    def a() -> int:
        counts["a"] += 1
        if counts["a"] == 2:  # the background refresh: it waits until the function's answers were cleared
            started.set()
            release.wait(5)
        return counts["a"]

    @cache
    def b() -> int:
        counts["b"] += 1
        return counts["b"]

    assert (a(), b()) == (1, 1)
    clock.now += 31
    assert a() == 1 and started.wait(5)
    a.clear()
    release.set()
    assert settled(lambda: counts["a"] == 2)
    time.sleep(0.05)
    assert a() == 3  # the refresh begun before the clear was not kept
    assert b() == 1  # another function's answers stay
    cache.forget()
    assert (a(), b()) == (4, 2)


def test_a_failed_refresh_keeps_the_answer_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    cache = SharedCache(30, clock=clock)
    calls = []

    @cache
    def total() -> int:
        calls.append(1)
        if len(calls) > 1:
            raise OSError("store offline")
        return 7

    assert total() == 7
    clock.now += 31
    with caplog.at_level(logging.WARNING, logger="dashboard.cache"):
        assert total() == 7
        assert settled(lambda: "store offline" in caplog.text)
    assert "refreshing total in the background failed" in caplog.text
    assert total() == 7 and settled(lambda: len(calls) == 3)  # asked again on the next stale visit
    clock.now += 60
    with pytest.raises(OSError, match="store offline"):
        total()  # too old to show: the visit sees the error


def test_the_least_recently_used_answers_go_first() -> None:
    cache = SharedCache(30, max_entries=2)
    calls: list[int] = []

    @cache
    def square(n: int) -> int:
        calls.append(n)
        return n * n

    square(1), square(2), square(1), square(3)
    assert (square(1), square(3)) == (1, 9) and calls == [1, 2, 3]
    assert square(2) == 4 and calls == [1, 2, 3, 2]


def test_a_prefetched_answer_is_computed_in_the_background_once() -> None:
    clock = Clock()
    cache = SharedCache(30, clock=clock)
    started, release, threads = threading.Event(), threading.Event(), []

    @cache
    def origin(subject: str) -> str:
        threads.append(threading.current_thread().name)
        started.set()
        release.wait(5)
        return f"first post of {subject}"

    origin.prefetch("qanon")
    assert started.wait(5)
    origin.prefetch("qanon")  # under way: not asked twice
    release.set()
    assert origin("qanon") == "first post of qanon"  # waits for the background computation, does not compute again
    origin.prefetch("qanon")  # kept: nothing to do
    time.sleep(0.05)
    assert len(threads) == 1 and threads[0].startswith("vigie-cache-refresh")


def test_a_failed_prefetch_leaves_the_error_to_the_call() -> None:
    cache = SharedCache(30)
    calls = []

    @cache
    def broken() -> int:
        calls.append(1)
        raise OSError("store offline")

    broken.prefetch()
    assert settled(lambda: len(calls) == 1)
    with pytest.raises(OSError, match="store offline"):
        broken()
    assert len(calls) == 2
