"""`vigie status`: the schedule with each job's next run, each source's last run, the open alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from click.testing import CliRunner

from scheduler.service import Service
from store.sqlite import SQLiteStore
from tests.scheduler.support import FakeCrawls, wait_until
from vigie.cli import cli
from vigie.models import Alert, CrawlError, CrawlRun


def status(fake_crawls: FakeCrawls, *args: str) -> str:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["--config", str(fake_crawls.root / "config"), "--data-dir", str(fake_crawls.data_dir), "status", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_status_shows_the_schedule_last_runs_and_open_alerts(fake_crawls: FakeCrawls) -> None:
    config = fake_crawls.config({"quick": {"every": "1h"}, "later": {"every": "2h"}})
    before = [json.loads(line) for line in status(fake_crawls, "--json").splitlines()]
    assert before[0] == {"kind": "service", "running": False, "pid": None}
    assert {line["id"]: line["state"] for line in before if line["kind"] == "job"} == dict.fromkeys(
        ["crawl:quick", "crawl:later", "alerts:cycle", "alerts:digest"], "not scheduled yet"
    )

    service = Service(config, dashboard=False)
    service.start()
    try:
        wait_until(lambda: len(fake_crawls.events("end")) == 2, timeout=20)
        running = [json.loads(line) for line in status(fake_crawls, "--json").splitlines()]
    finally:
        service.stop()
    assert running[0]["running"] is True and running[0]["pid"] > 0

    started = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    with SQLiteStore(config.sqlite_path) as store:
        store.record_crawl_run(CrawlRun(id="r1", source_id="quick", platform="feed", started_at=started, finished_at=started, status="failed", errors=[CrawlError(message="HTTP 404 on the feed")]))
        store.save_alert(Alert(id="a1", rule_id="spikes", kind="spike", subject_type="narrative", subject="miracle-cure", opened_at=started, updated_at=started, count=24, baseline=1.5, ratio=16.0))
        store.save_alert(Alert(id="a2", rule_id="spikes", kind="spike", subject_type="narrative", subject="old-news", state="resolved", opened_at=started, updated_at=started))

    lines = [json.loads(line) for line in status(fake_crawls, "--json").splitlines()]
    assert lines[0]["running"] is False
    jobs = {line["id"]: line for line in lines if line["kind"] == "job"}
    assert set(jobs) == {"crawl:quick", "crawl:later", "alerts:cycle", "alerts:digest"}
    assert all(job["state"] == "scheduled" and job["next_run_at"] for job in jobs.values())
    assert datetime.fromisoformat(jobs["crawl:quick"]["next_run_at"]) > datetime.now(UTC)
    sources = {line["id"]: line for line in lines if line["kind"] == "source"}
    assert sources["quick"]["last_run"]["status"] == "failed"
    assert sources["later"]["last_run"] is None
    assert [line["alert"]["subject"] for line in lines if line["kind"] == "alert"] == ["miracle-cure"]

    table = status(fake_crawls)
    assert "crawl quick every 1h" in table and "HTTP 404 on the feed" in table and "miracle-cure" in table
