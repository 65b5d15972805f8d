"""`vigie up` as a real process, crawling for real: SIGTERM during a crawl stops it cleanly and leaves the store consistent."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scheduler.demo_replay import DemoItem, ReplayTimeline, serving
from store.base import PostQuery
from store.sqlite import SQLiteStore
from tests.scheduler.support import wait_until
from tests.support.factories import write_config
from vigie.config import load_config

FIXTURES = Path(__file__).parents[1] / "fixtures"


def slow_timeline(statuses: int, seconds_per_page: float) -> ReplayTimeline:
    """A hashtag timeline of many statuses (the recorded ones, repeated) whose every page takes a while."""
    templates = json.loads((FIXTURES / "mastodon" / "tag_timeline.json").read_text())
    start = datetime.now(UTC) - timedelta(days=1)
    times = [start + timedelta(seconds=30 * seq) for seq in range(statuses)]
    timeline = ReplayTimeline([DemoItem("mastodon", seq, at, at, templates[seq % len(templates)]) for seq, at in enumerate(times)])
    visible = timeline.visible

    def slowly(platform: str, now: datetime | None = None) -> list[DemoItem]:
        time.sleep(seconds_per_page)
        return visible(platform, now)

    timeline.visible = slowly  # type: ignore[method-assign]
    return timeline


def test_sigterm_during_a_crawl_leaves_the_store_consistent(tmp_path: Path) -> None:
    with serving(slow_timeline(1200, 0.4)) as server:
        folder = write_config(
            tmp_path / "config",
            sources=[{"id": "toots", "platform": "mastodon", "instance": server.base_url, "hashtag": "mastodon", "every": "1h"}],
            settings={
                "store": {"batch_size": 10},
                "crawl": {"download_delay": 0, "autothrottle": False, "backfill_pages": 30, "max_pages_per_run": 30},
                "schedule": {"jitter": 0, "stop_grace": 20},
                "log": {"json_lines": True},
            },
        )
        config = load_config(folder, tmp_path / "data")
        service = subprocess.Popen(
            [sys.executable, "-m", "vigie.cli", "--config", str(folder), "--data-dir", str(config.data_dir), "up", "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(config.sqlite_path.exists, timeout=60)
            with SQLiteStore(config.sqlite_path) as store:
                wait_until(lambda: store.count_posts(PostQuery()) >= 30, timeout=90)  # a few batches are in
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)
        finally:
            service.kill()
    assert service.returncode == 0

    with sqlite3.connect(config.sqlite_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with SQLiteStore(config.sqlite_path) as store:
        (run,) = store.crawl_runs("toots")
        stored = store.count_posts(PostQuery())
        posts = store.search(PostQuery(limit=10_000)).posts
    assert run.status == "partial" and run.finished_at is not None
    assert any("shutdown" in error.message for error in run.errors)
    assert 30 <= stored < 1200  # stopped part-way, with every batch it finished
    assert stored == run.new_posts  # what the run says it wrote is there, and nothing more
    assert all(post.source_id == "toots" and post.text and post.published_at for post in posts)  # no half-written row
    # One JSON object per line; the crawl is one of them, with its fields (its own output is at DEBUG).
    log_lines = [json.loads(line) for line in (config.data_dir / "logs" / "vigie.log").read_text().splitlines()]
    (crawl,) = [line for line in log_lines if line.get("source") == "toots"]
    assert crawl["level"] == "WARNING" and crawl["msg"].startswith("crawl partial: ") and "shutdown" in crawl["msg"]
    assert crawl["run_id"] == run.id and crawl["new_posts"] == stored
    service_lines = [line["msg"] for line in log_lines if line["logger"] == "vigie.scheduler"]
    assert "received SIGTERM" in service_lines and service_lines[-1] == "stopped"
