"""The persisted schedule: a restart keeps each job's next run, follows config changes, and coalesces missed runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler.service import Service, build_scheduler, planned_jobs, sync_jobs
from tests.scheduler.support import FakeCrawls, gaps, wait_until


def next_runs(config) -> dict[str, datetime]:
    scheduler = build_scheduler(config)
    scheduler.start(paused=True)
    try:
        return {job.id: job.next_run_time for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown()


def sync(config, now: datetime):
    scheduler = build_scheduler(config)
    scheduler.start(paused=True)
    try:
        return sync_jobs(scheduler, planned_jobs(config), now=now)
    finally:
        scheduler.shutdown()


def test_restart_keeps_unchanged_jobs_reschedules_changed_ones_and_drops_removed_sources(fake_crawls: FakeCrawls) -> None:
    start = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    config = fake_crawls.config({"a": {"every": "1h"}, "b": {"every": "2h"}, "c": {"every": "30m", "enabled": False}}, settings={"schedule": {"retention": "90d"}})
    report = sync(config, start)
    assert sorted(report.added) == ["alerts:cycle", "alerts:digest", "crawl:a", "crawl:b", "store:retention"]
    first = next_runs(config)
    assert first["crawl:a"] == first["crawl:b"] == start  # new sources are crawled right away (jitter 0 here)
    assert first["alerts:cycle"] == start + timedelta(hours=1)
    assert first["alerts:digest"] == datetime(2025, 3, 2, 8, 0, tzinfo=UTC) - timedelta(hours=1)  # 08:00 Europe/Paris

    later = start + timedelta(minutes=20)
    report = sync(config, later)
    assert report.added == report.rescheduled == report.removed == []
    assert next_runs(config) == first

    changed = fake_crawls.config({"a": {"every": "1h"}, "b": {"every": "10m"}, "d": {"every": "1h"}})
    report = sync(changed, later)
    assert report.kept == ["crawl:a", "alerts:cycle", "alerts:digest"]
    assert report.rescheduled == ["crawl:b"]
    assert report.added == ["crawl:d"]
    assert report.removed == ["store:retention"]
    runs = next_runs(changed)
    assert runs["crawl:a"] == first["crawl:a"]
    assert runs["crawl:b"] == start  # still due: the earlier of the old next run and the new schedule's
    assert runs["crawl:d"] == later
    assert set(runs) == {"crawl:a", "crawl:b", "crawl:d", "alerts:cycle", "alerts:digest"}


def test_a_restart_resumes_without_duplicate_or_catch_up_runs(fake_crawls: FakeCrawls) -> None:
    config = fake_crawls.config({"steady": {"every": "2s"}, "late": {"every": "1s"}})

    service = Service(config, dashboard=False)
    service.start()
    wait_until(lambda: fake_crawls.starts("steady") and fake_crawls.starts("late"), timeout=20)
    service.stop()
    # Pretend the service was down for a long time: `late` missed many runs.
    scheduler = build_scheduler(config)
    scheduler.start(paused=True)
    scheduler.modify_job("crawl:late", next_run_time=datetime.now(UTC) - timedelta(seconds=30))
    scheduler.shutdown()
    late_before = len(fake_crawls.starts("late"))

    restarted = Service(config, dashboard=False)
    report = restarted.start()
    try:
        assert report.added == []
        wait_until(lambda: len(fake_crawls.starts("steady")) >= 3, timeout=20)
    finally:
        restarted.stop()

    steady = fake_crawls.starts("steady")
    # The first run after the restart is the one the schedule had, not an extra one at start-up.
    assert min(gaps(steady)) > 1.5, steady
    # 30 missed one-second runs are coalesced into one, then the schedule goes on at its pace.
    late_after = fake_crawls.starts("late")[late_before:]
    assert len(late_after) >= 2
    assert min(gaps(late_after)) > 0.5, late_after
