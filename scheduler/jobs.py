"""The scheduled jobs. They live in the persistent job store, so each is a module-level function whose
arguments are plain ids; what they work with (config, the child-process runner) is bound once by the service.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from crawlers.evidence import EvidenceArchive
from scheduler.child import Child, ChildProcesses, spawn
from scheduler.launcher import CrawlLauncher
from store import open_store
from store.base import Store, StoreUnavailable
from vigie.config import Config, ConfigError
from vigie.models import CrawlError, CrawlRun, utcnow

log = logging.getLogger("vigie.scheduler")

CLOCK_SLACK = timedelta(seconds=2)
"""A run recorded by the crawler may carry a start time a little before ours (clocks read in two processes)."""


class JobsNotBoundError(RuntimeError):
    """A job ran before the service bound its context (see `bind`)."""


@dataclass(frozen=True)
class JobContext:
    config: Config
    children: ChildProcesses
    launcher: CrawlLauncher | None = None
    """Where crawls are forked from, warm; without it (the service starts none with `schedule.crawl_command`)
    they run as commands (`crawl_argv`)."""


_context: JobContext | None = None


def bind(context: JobContext | None) -> None:
    global _context
    _context = context


def _bound() -> JobContext:
    if _context is None:
        raise JobsNotBoundError("scheduler jobs need a context: call scheduler.jobs.bind() first")
    return _context


def crawl_argv(config: Config, source_id: str) -> list[str]:
    """`schedule.crawl_command` with `{source}` and `{platform}` filled in, or this Python's `vigie crawl SOURCE_ID`."""
    command = config.settings.schedule.crawl_command
    if command:
        platform = config.source(source_id).platform
        return [part.replace("{source}", source_id).replace("{platform}", platform) for part in command]
    return [sys.executable, "-m", "vigie.cli", "crawl", "--json", source_id]


def child_env(config: Config, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent's environment, with the config and data folders made absolute (children may run elsewhere).

    Children log to their output, which the service relays into its own log: one writer for the log file,
    and every line of a child tagged with it (`child=crawl <source>`).
    """
    env = dict(os.environ if base is None else base)
    env["VIGIE_CONFIG"] = str(config.config_dir.resolve())
    env["VIGIE_DATA_DIR"] = str(config.data_dir.resolve())
    env["VIGIE_LOG__FILE"] = ""
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def crawl_starter(context: JobContext, source_id: str, timeout: float) -> Callable[[], Child]:
    """How to start the crawl of a source: forked from the warm launcher (once it is warm, waiting at most
    `timeout` seconds for it), else as a command, `crawl_argv()`."""
    config = context.config
    env = child_env(config)
    argv = crawl_argv(config, source_id)
    launcher = context.launcher
    if launcher is None or not launcher.wait_ready(timeout):
        return lambda: spawn(argv, env)

    def forked() -> Child:
        try:
            return launcher.launch(source_id, env)
        except (OSError, EOFError) as exc:  # the launcher died: this crawl runs as a command
            log.warning("crawl launcher failed (%s): crawling as a command", exc, extra={"source": source_id})
            return spawn(argv, env)

    return forked


def _started() -> tuple[float, float]:
    return time.monotonic(), time.thread_time()


def _took(started: tuple[float, float]) -> dict[str, float]:
    """What a job's line says it took: real seconds (on a simulated clock too) and the CPU seconds of its thread."""
    wall, cpu = started
    return {"seconds": round(time.monotonic() - wall, 3), "cpu_seconds": round(time.thread_time() - cpu, 3)}


def crawl_source(source_id: str) -> None:
    """Crawl one source in a child process, within `crawl.run_timeout`; a failure is recorded and retried next time.

    One line per run in the service log: `crawl finished` (INFO) or `crawl failed`/`crawl partial` with the
    first error (WARNING; ERROR when the crawl crashed or timed out). The crawl's own output, Scrapy's
    retries and the crawler's error lines among it, is relayed at DEBUG (`log.level: DEBUG` shows it).
    """
    context = _bound()
    config = context.config
    try:
        source = config.source(source_id)
    except ConfigError as exc:
        log.warning("skipping crawl: %s", exc, extra={"source": source_id})
        return
    timeout = config.settings.crawl.run_timeout.total_seconds()
    started, clock_started = utcnow(), time.monotonic()  # the crawl's CPU is spent in its own process
    log.debug("crawl started", extra={"source": source_id})
    result = context.children.run(crawl_starter(context, source_id, timeout), timeout=timeout, name=f"crawl {source_id}", output_level=logging.DEBUG)
    seconds = round(time.monotonic() - clock_started, 3)
    if result.ok:
        log_crawl_run(recorded_run(result.output_tail, source_id), source_id, seconds)
        return
    if result.returncode is None:
        log.info("crawl not started: the service is stopping", extra={"source": source_id})
        return
    with open_store(config) as store:
        # Stopped at shutdown before the crawler recorded anything: nothing was crawled, nothing to record.
        run = record_failed_crawl(store, source_id, source.platform, started, result.error_line(timeout), record_if_missing=not result.stopped)
    if run is None:
        log.info("crawl stopped before it began: the service is stopping", extra={"source": source_id})
        return
    log.error("crawl failed: %s", run.errors[-1].message if run.errors else "see the crawl-run log", extra={"source": source_id, "run_id": run.id, "seconds": seconds})


def recorded_run(output: list[str], source_id: str) -> CrawlRun | None:
    """The crawl-run record `vigie crawl --json` printed (None for a `schedule.crawl_command` that prints none)."""
    for line in reversed(output):
        if line.startswith("{"):
            try:
                run = CrawlRun.model_validate_json(line)
            except ValueError:
                continue
            if run.source_id == source_id:
                return run
    return None


def log_crawl_run(run: CrawlRun | None, source_id: str, seconds: float) -> None:
    """The one line of a crawl that ran to its end: what it brought, or why it failed."""
    if run is None:
        log.info("crawl finished", extra={"source": source_id, "seconds": seconds})
        return
    fields = {"source": source_id, "run_id": run.id, "pages": run.pages, "new_posts": run.new_posts, "updated_posts": run.updated_posts, "seconds": seconds}
    if run.status == "ok":
        log.info("crawl finished", extra=fields)
        return
    first = run.errors[0].message if run.errors else "no detail"
    more = f" (and {len(run.errors) - 1} more)" if len(run.errors) > 1 else ""
    log.warning("crawl %s: %s%s", run.status, first, more, extra=fields)


def record_failed_crawl(store: Store, source_id: str, platform: str, started: datetime, error: str, record_if_missing: bool = True) -> CrawlRun | None:
    """Close the run the crawler left open, or record one when the crawler died before recording anything.

    A run the crawler already closed itself (it failed and said why) is kept as it is.
    """
    now = utcnow()
    recent = [run for run in store.crawl_runs(source_id, limit=10) if run.started_at >= started - CLOCK_SLACK]
    for run in recent:
        if run.status == "running":
            closed = run.model_copy(update={"status": "failed", "finished_at": now, "errors": [*run.errors, CrawlError(message=error)]})
            store.record_crawl_run(closed)
            return closed
    if recent:
        return recent[0]
    if not record_if_missing:
        return None
    run = CrawlRun(
        id=f"{source_id}-{started:%Y%m%dT%H%M%S%f}-scheduler",
        source_id=source_id,
        platform=platform,
        started_at=started,
        finished_at=now,
        status="failed",
        errors=[CrawlError(message=error)],
    )
    store.record_crawl_run(run)
    return run


def alert_cycle() -> None:
    """Detect spikes and silent sources, then send what the outbox has due."""
    from alerts.cycle import run_cycle
    from alerts.outbox import deliver_due

    config = _bound().config
    started = _started()
    try:
        with open_store(config) as store:
            alerts = run_cycle(config, store)
            deliver_due(config, store)
    except StoreUnavailable as exc:
        log.warning("alert cycle skipped, store unavailable: %s", exc)
        return
    log.info("alert cycle done", extra={"alerts": len(alerts), **_took(started)})


def send_digests() -> None:
    from alerts.digest import queue_digests
    from alerts.outbox import deliver_due

    config = _bound().config
    started = _started()
    try:
        with open_store(config) as store:
            queue_digests(config, store, utcnow())
            deliver_due(config, store)
    except StoreUnavailable as exc:
        log.warning("digests not sent yet, store unavailable: %s", exc)
        return
    log.info("digests queued and delivered", extra=_took(started))


def apply_retention() -> None:
    """Delete posts older than `schedule.retention`, and the archived responses first fetched before then."""
    config = _bound().config
    retention = config.settings.schedule.retention
    if retention is None:
        return
    started, cut = _started(), utcnow() - retention
    with open_store(config) as store:
        deleted = store.delete_posts(cut)
    pruned = EvidenceArchive(config.data_dir / "evidence").prune(cut)
    log.info("retention applied", extra={"deleted_posts": deleted, "deleted_evidence": pruned, "older_than": str(retention), **_took(started)})
