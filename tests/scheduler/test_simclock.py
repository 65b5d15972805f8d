"""The simulated clock the soak runs the service on (`vigie.clock`, `scheduler.simclock`): off by default, the same in
every process, and the real scheduler running its jobs at simulated intervals."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scheduler.service import Service
from scheduler.simclock import SimulatedTrigger
from store.sqlite import SQLiteStore
from tests.scheduler.support import FakeCrawls, wait_until
from vigie import clock
from vigie.clock import ClockError, SimClock
from vigie.models import utcnow

ORIGIN = datetime(2030, 3, 1, 6, 0, tzinfo=UTC)


def test_without_the_variable_vigie_runs_on_the_system_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.ENV, raising=False)
    before = datetime.now(UTC)
    assert clock.simulated() is None
    assert before <= utcnow() <= datetime.now(UTC)


def test_the_simulated_clock_runs_faster_from_its_origin_in_this_process_and_in_a_child(monkeypatch: pytest.MonkeyPatch) -> None:
    sim = SimClock.starting_now(ORIGIN, speed=3600)
    monkeypatch.setenv(clock.ENV, sim.env_value())
    first = utcnow()
    assert ORIGIN <= first < ORIGIN + timedelta(minutes=10)
    time.sleep(0.2)
    assert utcnow() - first >= timedelta(minutes=12)  # 0.2 s real are 12 simulated minutes
    child = subprocess.run([sys.executable, "-c", "from vigie.models import utcnow; print(utcnow().isoformat())"], capture_output=True, text=True, check=True)
    seen = datetime.fromisoformat(child.stdout.strip())
    assert first < seen < utcnow()
    assert sim.to_sim(sim.to_real(ORIGIN + timedelta(days=30))) - (ORIGIN + timedelta(days=30)) < timedelta(milliseconds=5)


@pytest.mark.parametrize("value", ["2030-03-01T06:00:00+00:00", "2030-03-01T06:00:00+00:00@1.0x0", "2030-03-01T06:00:00@1.0x10", "soon@1.0x10"])
def test_a_malformed_clock_is_one_line_naming_the_variable(value: str) -> None:
    with pytest.raises(ClockError, match=f"^{clock.ENV}") as error:
        SimClock.parse(value)
    assert "\n" not in str(error.value)


def test_triggers_fire_at_simulated_times_converted_to_real_ones() -> None:
    sim = SimClock(ORIGIN, real_origin=datetime(2026, 1, 1, tzinfo=UTC).timestamp(), speed=3600)
    real_start = sim.to_real(ORIGIN)
    hourly = SimulatedTrigger(IntervalTrigger(hours=1, start_date=ORIGIN, timezone=UTC), sim)
    first = hourly.get_next_fire_time(None, real_start)
    second = hourly.get_next_fire_time(first, first)
    assert first == real_start and second - first == timedelta(seconds=1)  # an hour simulated, a second real
    daily = SimulatedTrigger(CronTrigger(hour=8, minute=0, timezone="Europe/Paris"), sim)
    digest = daily.get_next_fire_time(None, real_start)
    assert sim.to_sim(digest).astimezone(CronTrigger(timezone="Europe/Paris").timezone).hour == 8
    assert digest - real_start == timedelta(hours=1) / 3600  # 06:00 UTC is 07:00 in Paris in March


def test_the_service_on_a_simulated_clock_crawls_every_simulated_hour(fake_crawls: FakeCrawls, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV, SimClock.starting_now(ORIGIN, speed=3600).env_value())
    # `hourly` fails, so the scheduler records its runs itself, dated by its own (simulated) clock
    config = fake_crawls.config({"hourly": {"every": "1h"}, "daily": {"every": "1d"}}, behaviour={"hourly": {"exit": 3}})
    service = Service(config, dashboard=False)
    service.start()
    try:
        wait_until(lambda: len(fake_crawls.starts("hourly")) >= 5, timeout=60)
        with SQLiteStore(config.sqlite_path) as store:
            wait_until(lambda: len(store.crawl_runs("hourly")) >= 5, timeout=30)
            runs = sorted(run.started_at for run in store.crawl_runs("hourly"))
    finally:
        service.stop()
    starts = fake_crawls.starts("hourly")
    assert all(0.5 < later - earlier < 1.5 for earlier, later in zip(starts, starts[1:], strict=False)), starts  # a real second apart
    assert len(fake_crawls.starts("daily")) == 1  # a simulated day is 24 real seconds
    assert ORIGIN <= runs[0] < ORIGIN + timedelta(hours=1)  # recorded in simulated time
    assert runs[-1] - runs[0] >= timedelta(hours=len(runs) - 2)
