"""The retention and digest jobs, run as the scheduler runs them, on a real store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import yaml

from alerts.digest import digest_period
from crawlers.evidence import EvidenceArchive, Fetch
from scheduler import jobs
from scheduler.child import ChildProcesses
from store.base import PostQuery
from store.sqlite import SQLiteStore
from tests.support.factories import make_post, write_config
from vigie.config import Config, load_config
from vigie.models import Alert, AlertEvent, utcnow


@pytest.fixture
def bound(tmp_path: Path) -> Iterator[Config]:
    folder = write_config(tmp_path / "config", settings={"schedule": {"retention": "30d"}})
    (folder / "alerts.yaml").write_text(
        yaml.safe_dump(
            {
                "rules": [{"id": "surges", "kind": "spike", "watch": {"narrative": "*"}}],
                "subscriptions": [{"email": "night-shift@example.org", "mode": "digest"}],
            }
        )
    )
    config = load_config(folder, tmp_path / "data")
    config.data_dir.mkdir()
    jobs.bind(jobs.JobContext(config=config, children=ChildProcesses(grace=1)))
    yield config
    jobs.bind(None)


def test_retention_deletes_posts_older_than_the_setting(bound: Config) -> None:
    now = utcnow()
    with SQLiteStore(bound.sqlite_path) as store:
        store.upsert_posts([make_post("old", "a post from long ago", published_at=now - timedelta(days=40)), make_post("recent", "a recent post", published_at=now - timedelta(days=1))])
    jobs.apply_retention()
    with SQLiteStore(bound.sqlite_path) as store:
        assert [post.native_id for post in store.search(PostQuery()).posts] == ["recent"]


def test_retention_deletes_the_archived_responses_first_fetched_before_the_cut_off_and_empties_the_wal(bound: Config) -> None:
    now = utcnow()
    archive = EvidenceArchive(bound.data_dir / "evidence")
    old = archive.put(b"<html>a page of long ago</html>", Fetch(url="https://example.org/old", status=200, fetched_at=now - timedelta(days=40)))
    recent = archive.put(b"<html>yesterday's page</html>", Fetch(url="https://example.org/new", status=200, fetched_at=now - timedelta(days=1)))
    with SQLiteStore(bound.sqlite_path) as store:
        store.upsert_posts([make_post(f"old-{n}", f"post number {n} from long ago " * 40, published_at=now - timedelta(days=40)) for n in range(300)])
        wal = bound.sqlite_path.with_name(bound.sqlite_path.name + "-wal")
        assert wal.stat().st_size > 0
        jobs.apply_retention()  # while this connection is open, as the dashboard's would be
        assert wal.stat().st_size == 0
    assert archive.get(old) is None and archive.fetch_of(old) is None
    assert archive.get(recent) == b"<html>yesterday's page</html>"


def test_the_digest_job_sends_yesterdays_alerts_to_digest_subscribers(bound: Config) -> None:
    _, end = digest_period(utcnow(), bound.settings.alerts.digest_time, bound.settings.dashboard.timezone)
    raised = end - timedelta(hours=2)
    alert = Alert(
        id="surges:narrative:miracle-cure", rule_id="surges", kind="spike", subject_type="narrative", subject="miracle-cure",
        opened_at=raised, updated_at=raised, count=24, baseline=1.0, ratio=24.0, history=[AlertEvent(at=raised, action="opened")],
    )
    with SQLiteStore(bound.sqlite_path) as store:
        store.save_alert(alert)
    jobs.send_digests()
    jobs.send_digests()  # a second run (a restart) sends nothing twice

    (eml,) = (bound.data_dir / bound.settings.alerts.outbox_dir).glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "night-shift@example.org"
    assert "miracle-cure" in message.get_body(("plain",)).get_content()
