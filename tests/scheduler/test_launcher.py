"""Crawls forked from the warm launcher, as `vigie up` runs them: real crawls of the loopback replay server
into a real store, real signals, the service's own log records."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scheduler import jobs
from scheduler.child import ChildProcesses, ChildResult
from scheduler.launcher import CrawlLauncher, ForkedCrawl
from scheduler.service import Service
from store.base import PostQuery
from tests.scheduler.support import wait_until
from tests.support.crawling import VigieProject
from tests.support.pages import telegram_channel
from tests.support.replay import Reply, ReplayServer, replay  # noqa: F401 (a fixture)
from vigie.config import Config

FEED = Path(__file__).parents[1] / "fixtures" / "rss" / "TechCrunch.xml"
"""20 English items."""
TWO_LANGUAGES = {"enrich": {"language": {"languages": ["en", "fr"]}}}
"""lingua restricted to two languages: the launcher warms up in about two seconds."""


@pytest.fixture
def vigie(tmp_path: Path) -> VigieProject:
    return VigieProject(tmp_path)


def configure(vigie: VigieProject, replay: ReplayServer, *, settings: dict | None = None) -> Config:
    replay.add("/feed", FEED, content_type="application/rss+xml")
    merged = {**TWO_LANGUAGES, "schedule": {"jitter": 0, "stop_grace": 2}, "log": {"file": None}, **(settings or {})}
    return vigie.configure([{"id": "tc", "platform": "feed", "url": replay.url("/feed"), "every": "1h"}], settings=merged)


def child_lines(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if getattr(record, "child", None) == name]


@contextmanager
def launched(config: Config) -> Iterator[CrawlLauncher]:
    launcher = CrawlLauncher(jobs.child_env(config))
    launcher.start()
    try:
        assert launcher.wait_ready(120)
        yield launcher
    finally:
        launcher.stop()


def test_the_service_forks_crawls_from_the_warm_launcher_which_stores_posts_and_reuses_the_loaded_models(vigie: VigieProject, replay: ReplayServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the crawl's own lines are relayed at DEBUG
    config = configure(vigie, replay)
    service = Service(config, dashboard=False)
    service.start()
    try:
        wait_until(lambda: "crawl finished" in [r.getMessage() for r in caplog.records if r.name == "vigie.scheduler"], timeout=120)
    finally:
        service.stop()

    assert service.launcher is not None and service.launcher.warm_up is not None
    assert service.launcher.warm_up.error is None and service.launcher.warm_up.models == ("fasttext", "lingua")
    lines = child_lines(caplog, "crawl tc")
    assert any('"source_id": "tc"' in line and '"status": "ok"' in line for line in lines)  # `vigie crawl --json`'s record
    # The crawl found the language models loaded by the launcher before it forked, and loaded none itself.
    assert "language models loaded before this crawl was forked: fasttext, lingua; loaded by the crawl: none" in lines
    posts = vigie.posts("tc")
    assert len(posts) == 20 and {post.language for post in posts} == {"en"}
    with vigie.store() as store:
        (run,) = store.crawl_runs("tc")
    assert run.status == "ok" and run.new_posts == 20


def test_a_warm_up_failure_is_one_log_line_and_crawls_still_run_forked_loading_cold(vigie: VigieProject, replay: ReplayServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the crawl's own lines are relayed at DEBUG
    config = configure(vigie, replay, settings={"enrich": {"language": {"languages": ["en", "klingon"]}}})
    with launched(config) as launcher:
        jobs.bind(jobs.JobContext(config=config, children=ChildProcesses(grace=2), launcher=launcher))
        try:
            jobs.crawl_source("tc")
        finally:
            jobs.bind(None)

    assert launcher.warm_up is not None and launcher.warm_up.error is not None and "klingon" in launcher.warm_up.error
    (warning, crawl) = [r.getMessage() for r in caplog.records if r.name == "vigie.scheduler" and r.levelno == logging.WARNING]
    assert warning.startswith("crawl launcher could not warm up: ConfigError:") and "\n" not in warning
    assert crawl.startswith("crawl partial: enrichment failed")
    assert "language models loaded before this crawl was forked: none; loaded by the crawl: none" in child_lines(caplog, "crawl tc")
    posts = vigie.posts("tc")
    assert len(posts) == 20 and {post.language for post in posts} == {None}  # stored unenriched, as a cold crawl does
    with vigie.store() as store:
        (run,) = store.crawl_runs("tc")
    assert run.new_posts == 20 and "enrichment failed" in run.errors[0].message


def slow_channel(vigie: VigieProject, replay: ReplayServer, seconds_per_page: float) -> Config:
    """A Telegram channel of 40 pages, each answered after `seconds_per_page`."""
    for path, html in telegram_channel("slow", 40 * 20).items():
        replay.add(path, Reply(body=html.encode(), headers={"Content-Type": "text/html; charset=utf-8"}, delay=seconds_per_page))
    source = {"id": "slow", "platform": "telegram", "channel": "slow", "base_url": replay.base_url, "backfill_pages": 40, "max_pages": 40}
    settings = {**TWO_LANGUAGES, "crawl": {"timeout": 60}, "log": {"file": None}}
    return vigie.configure([source], settings=settings)


def run_in_thread(children: ChildProcesses, launcher: CrawlLauncher, config: Config, timeout: float) -> tuple[threading.Thread, list[ForkedCrawl], list[ChildResult]]:
    """`children.run()` of a forked crawl of `slow`, in a thread; the crawl process and the result appear in the lists."""
    started: list[ForkedCrawl] = []
    results: list[ChildResult] = []

    def start() -> ForkedCrawl:
        started.append(launcher.launch("slow", jobs.child_env(config)))
        return started[0]

    thread = threading.Thread(target=lambda: results.append(children.run(start, timeout=timeout, name="crawl slow")))
    thread.start()
    return thread, started, results


def test_a_forked_crawl_is_its_own_process_group_and_a_timeout_stops_it_with_sigterm(vigie: VigieProject, replay: ReplayServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    config = slow_channel(vigie, replay, seconds_per_page=0.3)
    with launched(config) as launcher:
        thread, started, results = run_in_thread(ChildProcesses(grace=20), launcher, config, timeout=4)
        wait_until(lambda: started, timeout=30)
        pid = started[0].pid
        wait_until(lambda: os.getpgid(pid) == pid and os.getsid(pid) == pid, timeout=10)
        assert os.getpgid(pid) != os.getpgid(0)  # a terminal's Ctrl-C reaches the service, not the crawl
        thread.join(60)

    (result,) = results
    assert result.timed_out and not result.killed and result.returncode == 0
    assert result.error_line(4) == "run timed out after 4s and was stopped (SIGTERM)"
    assert any("source slow: interrupted (shutdown requested)" in line for line in child_lines(caplog, "crawl slow"))
    with vigie.store() as store:
        (run,) = store.crawl_runs("slow")
        stored = store.count_posts(PostQuery())
    assert run.status == "partial" and any("shutdown" in error.message for error in run.errors)
    assert 0 < stored == run.new_posts < 40 * 20  # stopped part-way, with the batches it finished


def test_a_forked_crawl_that_does_not_stop_within_the_grace_is_killed(vigie: VigieProject, replay: ReplayServer) -> None:
    config = slow_channel(vigie, replay, seconds_per_page=30)  # Scrapy waits for the page in flight before it closes
    with launched(config) as launcher:
        thread, _, results = run_in_thread(ChildProcesses(grace=1), launcher, config, timeout=2)
        thread.join(60)

    (result,) = results
    assert result.timed_out and result.killed and result.returncode == -signal.SIGKILL
    assert result.error_line(2) == "run timed out after 2s and was killed (SIGKILL)"
    with vigie.store() as store:
        (run,) = store.crawl_runs("slow")
    assert run.status == "running"  # the scheduler's job closes it (`record_failed_crawl`), as for a killed command


def test_a_source_that_cannot_be_reached_is_one_line_per_run_in_the_service_log(vigie: VigieProject, caplog: pytest.LogCaptureFixture) -> None:
    """As `make run` without network: the feed's host refuses every connection (robots.txt first, then the feed)."""
    caplog.set_level(logging.DEBUG)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = {**TWO_LANGUAGES, "crawl": {"backoff_base": 0.05}, "log": {"file": None}}
    config = vigie.configure([{"id": "down", "platform": "feed", "url": f"http://127.0.0.1:{port}/feed", "every": "1h"}], settings=settings)
    with launched(config) as launcher:
        jobs.bind(jobs.JobContext(config=config, children=ChildProcesses(grace=2), launcher=launcher))
        try:
            for _ in range(2):
                jobs.crawl_source("down")
        finally:
            jobs.bind(None)

    about_down = [r for r in caplog.records if getattr(r, "source", None) == "down" or getattr(r, "child", None) == "crawl down"]
    shown = [r for r in about_down if r.levelno >= logging.INFO]
    assert [(r.levelname, r.getMessage().split(":")[0]) for r in shown] == [("WARNING", "crawl failed")] * 2, [r.getMessage() for r in shown]
    assert "connection refused" in shown[0].getMessage() and f"127.0.0.1:{port}/feed" in shown[0].getMessage()
    assert "\n" not in shown[0].getMessage() and shown[0].run_id and shown[0].new_posts == 0
    # The rest is still there at DEBUG: Scrapy's retries, the robots.txt error, the run record, the models line.
    debug = [r.getMessage() for r in about_down if r.levelno == logging.DEBUG]
    assert any("Gave up retrying" in line and "robots.txt" in line for line in debug)
    assert any(line.startswith('{"id": ') for line in debug) and any(line.startswith("language models loaded") for line in debug)
    with vigie.store() as store:
        assert [run.status for run in store.crawl_runs("down")] == ["failed", "failed"]
