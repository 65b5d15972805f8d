"""The scheduler on a schedule of seconds, with a test-only crawl command (`fake_crawl.py`) in real child processes."""

from __future__ import annotations

import math
import os
import time

import pytest

from scheduler.service import Service
from store.sqlite import SQLiteStore
from tests.scheduler.support import FakeCrawls, gaps, wait_until

STARTUP_SLACK = 0.5
"""A child logs its start a little after it was due, by a varying delay (Python startup on a loaded machine)."""


def run_bounds(starts: list[float], stop: float, every: float) -> tuple[int, int]:
    """Fewest and most runs of a job first started at `starts[0]`, due every `every` seconds, until `stop`."""
    most = math.floor((stop - starts[0] + STARTUP_SLACK) / every) + 1
    return most - 2, most


def test_two_sources_at_different_intervals_run_the_expected_number_of_times_one_at_a_time(fake_crawls: FakeCrawls) -> None:
    config = fake_crawls.config(
        {"fast": {"every": "1s"}, "slow": {"every": "3s"}, "busy": {"every": "1s"}},
        behaviour={"busy": {"seconds": 2.2}},
    )
    service = Service(config, dashboard=False)
    service.start()
    try:
        wait_until(lambda: len(fake_crawls.starts("fast")) >= 7, timeout=30)
    finally:
        stopped_at = time.time()
        service.stop()

    fast, slow = fake_crawls.starts("fast"), fake_crawls.starts("slow")
    fewest, most = run_bounds(fast, stopped_at, 1)
    assert fewest <= len(fast) <= most
    fewest, most = run_bounds(slow, stopped_at, 3)
    assert fewest <= len(slow) <= most
    assert len(slow) < len(fast)
    # No duplicate or catch-up burst: consecutive runs are about one interval apart.
    assert min(gaps(fast)) > 1 - STARTUP_SLACK, fast
    assert min(gaps(slow)) > 3 - STARTUP_SLACK, slow

    # `busy` takes 2.2s on a 1s schedule: never two at once, the overlapping runs are skipped, not queued.
    busy_starts, busy_ends = fake_crawls.starts("busy"), [at for source, at in fake_crawls.events("end") if source == "busy"]
    assert len(busy_starts) >= 2
    assert all(start >= end for start, end in zip(busy_starts[1:], busy_ends, strict=False))
    assert len(busy_starts) < len(fast)


def test_a_hung_crawl_is_killed_recorded_as_failed_and_retried(fake_crawls: FakeCrawls) -> None:
    config = fake_crawls.config(
        {"stuck": {"every": "1s"}, "broken": {"every": "1s"}},
        settings={"crawl": {"run_timeout": 1}, "schedule": {"stop_grace": 0.5}},
        behaviour={"stuck": {"seconds": 600, "ignore_term": True}, "broken": {"exit": 3}},
    )
    service = Service(config, dashboard=False)
    service.start()
    try:
        with SQLiteStore(config.sqlite_path) as store:
            wait_until(lambda: len(store.crawl_runs("stuck")) >= 2 and len(store.crawl_runs("broken")) >= 2, timeout=30)
            stuck, broken = store.crawl_runs("stuck"), store.crawl_runs("broken")
    finally:
        service.stop()

    assert {run.status for run in stuck} == {"failed"}
    assert stuck[0].errors[-1].message == "run timed out after 1s and was killed (SIGKILL)"
    assert stuck[0].finished_at is not None and stuck[0].platform == "feed"
    for line in fake_crawls.log.read_text().splitlines():
        pid = int(line.split()[3])
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)

    assert {run.status for run in broken} == {"failed"}
    assert broken[0].errors[-1].message == "crashed: exit code 3; last output: RuntimeError: the fake crawler broke"
