"""`vigie up`: the scheduler, the crawls it starts and the dashboard, kept running until SIGINT/SIGTERM.

The schedule lives in a SQLite job store (`schedule.jobs_db` under the data dir). On start the jobs the
config asks for are reconciled with the stored ones: an unchanged job keeps its next run time (so a
restart neither repeats a crawl nor bursts with catch-up runs: missed runs are coalesced into one),
a job whose schedule changed is rescheduled, a new source is crawled soon, and the jobs of sources
removed from the config are deleted.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scheduler import jobs
from scheduler.child import ChildProcesses, SupervisedChild
from scheduler.launcher import CrawlLauncher, forking_available
from scheduler.simclock import SimulatedTrigger, scheduled_time
from vigie import clock
from vigie.config import Config, parse_clock
from vigie.models import utcnow

log = logging.getLogger("vigie.scheduler")

CRAWL_EXECUTOR = "crawls"
RETENTION_EVERY = timedelta(hours=1)


class ServiceError(Exception):
    """The service cannot start (another one holds the data dir, ...); the message says why."""


@dataclass(frozen=True)
class PlannedJob:
    id: str
    name: str
    """Says what runs and when; a job whose name changed has a new schedule."""
    func: str
    every: timedelta | None = None
    daily_at: tuple[int, int, str] | None = None
    """(hour, minute, time zone)."""
    jitter: float = 0.0
    args: tuple[str, ...] = ()
    executor: str = "default"
    first_run: Literal["soon", "trigger"] = "trigger"
    """`soon`: a new crawl job runs right away (within the jitter) rather than one interval later."""

    def trigger(self, start: datetime) -> BaseTrigger:
        """The trigger, its interval counted from `start`."""
        if self.every is not None:
            return IntervalTrigger(seconds=self.every.total_seconds(), start_date=start, jitter=self.jitter or None, timezone=UTC)
        assert self.daily_at is not None
        hour, minute, zone = self.daily_at
        return CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(zone))


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def planned_jobs(config: Config) -> list[PlannedJob]:
    """Every job the config asks for: one crawl per enabled source, the alert cycle, digests, retention."""
    settings = config.settings
    jitter = settings.schedule.jitter.total_seconds()
    spread = f" (+ up to {format_duration(settings.schedule.jitter)})" if jitter else ""
    planned = [
        PlannedJob(
            id=f"crawl:{source.id}",
            name=f"crawl {source.id} every {format_duration(source.every)}{spread}",
            func="scheduler.jobs:crawl_source",
            args=(source.id,),
            every=source.every,
            jitter=jitter,
            executor=CRAWL_EXECUTOR,
            first_run="soon",
        )
        for source in config.sources
        if source.enabled
    ]
    check_every = settings.alerts.check_every
    planned.append(
        PlannedJob(
            id="alerts:cycle",
            name=f"alert cycle every {format_duration(check_every)}",
            func="scheduler.jobs:alert_cycle",
            every=check_every,
        )
    )
    hour, minute = parse_clock(settings.alerts.digest_time)
    timezone = settings.dashboard.timezone
    planned.append(
        PlannedJob(
            id="alerts:digest",
            name=f"digests daily at {settings.alerts.digest_time} {timezone}",
            func="scheduler.jobs:send_digests",
            daily_at=(hour, minute, timezone),
        )
    )
    retention = settings.schedule.retention
    if retention is not None:
        planned.append(
            PlannedJob(
                id="store:retention",
                name=f"delete posts older than {format_duration(retention)}, every {format_duration(RETENTION_EVERY)}",
                func="scheduler.jobs:apply_retention",
                every=RETENTION_EVERY,
                first_run="soon",
            )
        )
    sim = clock.simulated()
    if sim is not None:  # a new name: going back to the system clock reschedules every job
        planned = [replace(job, name=f"{job.name} (simulated clock x{sim.speed:g})") for job in planned]
    return planned


def jobs_db_path(config: Config) -> Path:
    return config.data_dir / config.settings.schedule.jobs_db


def job_store(config: Config) -> SQLAlchemyJobStore:
    path = jobs_db_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    return SQLAlchemyJobStore(url=f"sqlite:///{path}")


class VigieScheduler(BackgroundScheduler):
    """APScheduler's background scheduler without one quirk: while shutting down, its loop looks for due
    jobs once more, fails to submit them to the stopped executors and moves their next run past them,
    so that run would be lost on restart (agronholm/apscheduler#285)."""

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


def build_scheduler(config: Config) -> VigieScheduler:
    schedule = config.settings.schedule
    grace = schedule.misfire_grace_time
    sim = clock.simulated()
    if grace is not None and sim is not None:
        grace = sim.real_duration(grace)
    return VigieScheduler(
        jobstores={"default": job_store(config)},
        executors={"default": ThreadPoolExecutor(4), CRAWL_EXECUTOR: ThreadPoolExecutor(schedule.max_parallel_crawls)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None if grace is None else grace.total_seconds()},
        timezone=UTC,
    )


def _first_run(planned: PlannedJob, now: datetime) -> datetime:
    if planned.first_run == "soon":
        return now + timedelta(seconds=random.uniform(0, planned.jitter))
    if planned.every is not None:
        return now + planned.every
    next_fire = planned.trigger(now).get_next_fire_time(None, now)
    assert next_fire is not None
    return next_fire


def _unchanged(job: Job, planned: PlannedJob) -> bool:
    return (job.name, job.func_ref, tuple(job.args), job.executor) == (planned.name, planned.func, planned.args, planned.executor)


def sync_jobs(scheduler: BackgroundScheduler, planned: list[PlannedJob], now: datetime | None = None) -> SyncReport:
    """Make the stored schedule match the config; call it on a started (paused) scheduler.

    On a simulated clock (`vigie.clock`) the jobs' times are worked out in simulated time (`now` is simulated)
    and their triggers wrapped in `SimulatedTrigger`."""
    sim = clock.simulated()
    now = now or utcnow()
    report = SyncReport()
    stored: dict[str, Job] = {job.id: job for job in scheduler.get_jobs()}
    for job in planned:
        old = stored.pop(job.id, None)
        if old is not None and _unchanged(old, job):
            report.kept.append(job.id)
            continue
        next_run = _first_run(job, now)
        if old is not None:
            if (stored_next := scheduled_time(old.next_run_time)) is not None:
                next_run = min(stored_next, next_run)
            report.rescheduled.append(job.id)
        else:
            report.added.append(job.id)
        trigger = job.trigger(next_run)
        scheduler.add_job(
            job.func,
            SimulatedTrigger(trigger, sim) if sim is not None else trigger,
            args=job.args,
            id=job.id,
            name=job.name,
            executor=job.executor,
            next_run_time=sim.to_real(next_run) if sim is not None else next_run,
            replace_existing=True,
        )
    for job_id in stored:
        scheduler.remove_job(job_id)
        report.removed.append(job_id)
    return report


def stored_jobs(config: Config) -> list[Job]:
    """The persisted schedule, read without starting a scheduler (for `vigie status`); empty before the first `vigie up`."""
    if not jobs_db_path(config).exists():
        return []
    store = job_store(config)
    store.start(BackgroundScheduler(timezone=UTC), "default")
    try:
        return store.get_all_jobs()
    finally:
        store.shutdown()


def lock_path(data_dir: Path) -> Path:
    return data_dir / "scheduler.lock"


class DataDirLock:
    """One `vigie up` per data dir: two schedulers sharing a job store would run every job twice."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise ServiceError(f"{self.path}: another `vigie up` (pid {holder}) is already running on this data dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    @staticmethod
    def holder(path: Path) -> int | None:
        """The pid of the `vigie up` holding the lock at `path` (-1 if unreadable), or None when nobody does."""
        if not path.exists():
            return None
        with path.open("r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = handle.read().strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(handle, fcntl.LOCK_UN)
        return None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def dashboard_argv(config: Config) -> list[str]:
    dashboard = config.settings.dashboard
    return [sys.executable, "-m", "vigie.cli", "dashboard", "--host", dashboard.host, "--port", str(dashboard.port)]


class _ReloggedByVigie(logging.Filter):
    """Drops APScheduler's own lines for what `_log_job_event` logs with the job's id as a field."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(('Execution of job "%s" skipped', 'Job "%s" raised an exception', 'Run time of job "%s" was missed'))


def quiet_apscheduler() -> None:
    for name in ("apscheduler.scheduler", "apscheduler.executors.default", f"apscheduler.executors.{CRAWL_EXECUTOR}"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ReloggedByVigie) for f in logger.filters):
            logger.addFilter(_ReloggedByVigie())


def _log_job_event(event: JobEvent) -> None:
    if event.code == EVENT_JOB_ERROR:
        log.error("job failed: %s", event.exception, exc_info=event.exception, extra={"job": event.job_id})
    elif event.code == EVENT_JOB_MISSED:
        log.warning("run missed (service was down or busy past misfire_grace_time)", extra={"job": event.job_id})
    elif event.code == EVENT_JOB_MAX_INSTANCES:
        log.info("run skipped: the previous one is still running", extra={"job": event.job_id})


def crawl_launcher(config: Config) -> CrawlLauncher | None:
    """The warm launcher crawls are forked from, unless `schedule.crawl_command` says how to crawl, or
    this system cannot fork them (then each crawl runs `vigie crawl` and loads its own models)."""
    if config.settings.schedule.crawl_command:
        return None
    if not forking_available():
        log.warning("crawls run as commands, each loading its own models: this system has no fork server")
        return None
    return CrawlLauncher(jobs.child_env(config))


class Service:
    """The scheduler with its jobs, the crawl children, the launcher they are forked from and the dashboard child."""

    def __init__(self, config: Config, *, dashboard: bool = True) -> None:
        self.config = config
        schedule = config.settings.schedule
        self.children = ChildProcesses(grace=schedule.stop_grace.total_seconds())
        self.scheduler = build_scheduler(config)
        self.scheduler.add_listener(_log_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        quiet_apscheduler()
        self.dashboard = (
            SupervisedChild(dashboard_argv(config), name="dashboard", env=jobs.child_env(config), grace=schedule.stop_grace.total_seconds())
            if dashboard
            else None
        )
        self.launcher = crawl_launcher(config)
        self._lock = DataDirLock(lock_path(config.data_dir))
        self._started = False

    def start(self) -> SyncReport:
        self._lock.acquire()
        jobs.bind(jobs.JobContext(config=self.config, children=self.children, launcher=self.launcher))
        self.scheduler.start(paused=True)
        self._started = True
        if self.launcher is not None:
            self.launcher.start()
        report = sync_jobs(self.scheduler, planned_jobs(self.config))
        log.info(
            "schedule loaded",
            extra={"added": len(report.added), "kept": len(report.kept), "rescheduled": len(report.rescheduled), "removed": len(report.removed)},
        )
        self.scheduler.resume()
        if self.dashboard is not None:
            self.dashboard.start()
        return report

    def supervise(self, stop: threading.Event, poll: float = 1.0) -> None:
        """Block until `stop` is set, restarting the dashboard if it dies."""
        while not stop.wait(poll):
            if self.dashboard is not None:
                self.dashboard.check()

    def stop(self) -> None:
        """No new runs; running crawls get SIGTERM (SIGKILL after the grace); running jobs end; the dashboard stops."""
        if not self._started:
            self._lock.release()
            return
        log.info("stopping: no new runs; waiting for running crawls", extra={"running_crawls": self.children.running})
        self.scheduler.pause()
        stopping = [threading.Thread(target=self.children.stop_all, name="stop crawls")]
        if self.dashboard is not None:
            stopping.append(threading.Thread(target=self.dashboard.stop, name="stop dashboard"))
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        self.scheduler.shutdown(wait=True)
        if self.launcher is not None:
            self.launcher.stop()
        jobs.bind(None)
        self._started = False
        self._lock.release()
        log.info("stopped")

    def kill(self) -> None:
        self.children.kill_all()
        if self.dashboard is not None:
            self.dashboard.kill()

    def run(self, stop: threading.Event | None = None, on_started: Callable[[SyncReport], None] | None = None) -> None:
        """Start, run until SIGINT/SIGTERM (or `stop` is set), then stop cleanly. A second signal kills the children."""
        stop = stop or threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            if stop.is_set():
                log.warning("second %s: killing running children", signal.Signals(signum).name)
                self.kill()
                return
            log.info("received %s", signal.Signals(signum).name)
            stop.set()

        previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            report = self.start()
            if on_started is not None:
                on_started(report)
            self.supervise(stop)
        finally:
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
