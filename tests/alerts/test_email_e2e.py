"""End to end: posts surge in a real SQLite store, the real `vigie alerts` command runs, a real SMTP server (aiosmtpd)
on loopback receives the mail. One surge sends one email; the digest goes out once; while the SMTP server is down the
message waits in the outbox and goes out when it is back."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from store.sqlite import SQLiteStore
from tests.alerts.mailserver import SmtpServer
from tests.alerts.posts import daily_life, surge, watch_post
from tests.support.factories import write_config
from vigie.models import CrawlRun

START = datetime(2024, 5, 1, tzinfo=UTC)
FIRST_CHECK = datetime(2024, 5, 16, 12, 5, tzinfo=UTC)
DIGEST_DUE = datetime(2024, 5, 17, 6, 1, tzinfo=UTC)  # 08:01 in Paris
SECOND_CHECK = datetime(2024, 5, 17, 12, 5, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script> Guérison <img src=x onerror=alert(1)> miracle healing'
SENDER = "Vigie <vigie@test.example>"


@pytest.fixture
def install(tmp_path: Path) -> dict[str, str]:
    """A config with the shipped alerts.yaml (subscribers changed), a store with two weeks of two narratives."""
    config = write_config(
        tmp_path / "config",
        sources=[{"id": "tg-eveil", "platform": "telegram", "channel": "eveil_test"}],
        settings={"dashboard": {"public_url": "http://vigie.test", "timezone": "Europe/Paris"}},
    )
    shipped = (Path(__file__).resolve().parents[2] / "config" / "alerts.yaml").read_text(encoding="utf-8")
    subscriptions = "subscriptions:\n  - email: alice@example.org\n  - email: bob@example.org\n    mode: digest\n"
    (config / "alerts.yaml").write_text(shipped.split("subscriptions:")[0] + subscriptions, encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    with SQLiteStore(data / "vigie.db") as store:
        store.record_crawl_run(CrawlRun(id="first", source_id="tg-eveil", platform="telegram", started_at=START, finished_at=START, status="ok"))
        store.upsert_posts(daily_life("miracle_healing", START, SECOND_CHECK))
        store.upsert_posts(daily_life("end_times", START, SECOND_CHECK, seed=2))
        hostile = watch_post("hostile", "miracle_healing", FIRST_CHECK - timedelta(minutes=10), "troll", text=HOSTILE)
        store.upsert_posts([*surge("miracle_healing", FIRST_CHECK - timedelta(hours=1, minutes=5), posts=40, authors=25), hostile.model_copy(update={"url": "javascript:alert(1)"})])
    return {"VIGIE_CONFIG": str(config), "VIGIE_DATA_DIR": str(data)}


def vigie(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")} | env
    done = subprocess.run([sys.executable, "-m", "vigie.cli", *args], env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def outcomes(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


def test_one_surge_one_email_digest_once_and_outbox_survives_smtp_outage(install: dict[str, str], smtp: SmtpServer) -> None:
    inbox = smtp.inbox
    env = install | {"VIGIE_SMTP_HOST": "127.0.0.1", "VIGIE_SMTP_PORT": str(smtp.port), "VIGIE_SMTP_TLS": "none", "VIGIE_SMTP_FROM": SENDER}

    # The surge opens one alert and its subscriber gets one well-formed email.
    first = outcomes(vigie(env, "alerts", "check", "--at", FIRST_CHECK.isoformat(), "--json"))
    assert [(o["action"], o["kind"], o["subject"]) for o in first] == [("opened", "spike", "miracle_healing")]
    alert = first[0]
    assert alert["count"] >= 40 and alert["ratio"] >= 3 and len(alert["evidence"]["sample_post_ids"]) == 5
    assert {s["value"] for s in alert["evidence"]["top_sources"]} == {"tg-eveil", "masto-sante", "rss-bienetre"}
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert (mail["From"], mail["To"]) == (SENDER, "alice@example.org")
    assert mail["Subject"].startswith("[Vigie] Spike: narrative miracle_healing:") and mail["Message-ID"]
    assert mail.get_content_type() == "multipart/alternative"
    body = parts(mail)
    assert set(body) == {"text/plain", "text/html"}
    assert f"http://vigie.test/alerts?alert={alert['id'].replace(':', '%3A')}" in body["text/plain"]
    assert "expected" in body["text/plain"] and "Since:" in body["text/plain"] and "tg-eveil" in body["text/plain"]
    assert re.search(r"Origin: first seen on (Telegram|Mastodon|a feed) \([a-z-]+\) at \d{4}-\d\d-\d\d \d\d:\d\d \S+, then 2 sources in \d+ hours?", body["text/plain"])
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body["text/html"]
    assert "<script" not in body["text/html"] and "<img" not in body["text/html"] and "javascript:" not in body["text/html"]

    # Five minutes later the surge is still there: the cool-down holds, nothing more is sent.
    second = outcomes(vigie(env, "alerts", "check", "--at", (FIRST_CHECK + timedelta(minutes=5)).isoformat(), "--json"))
    assert [(o["action"], o["id"]) for o in second] == [("ongoing", alert["id"])]
    assert len(inbox.messages) == 1
    assert [a["id"] for a in outcomes(vigie(env, "alerts", "list", "--json"))] == [alert["id"]]

    # The digest subscriber gets the day's alerts once, however often the digest job runs.
    vigie(env, "alerts", "send", "--at", DIGEST_DUE.isoformat())
    vigie(env, "alerts", "send", "--at", (DIGEST_DUE + timedelta(minutes=10)).isoformat())
    digests = inbox.to("bob@example.org")
    assert len(digests) == 1 and digests[0]["Subject"] == "[Vigie] Daily digest: 1 alert"
    assert "miracle_healing" in parts(digests[0])["text/plain"] and len(inbox.to("alice@example.org")) == 1

    # SMTP down: the next alert waits in the outbox, then goes out once the server is back.
    smtp.stop()
    with SQLiteStore(Path(install["VIGIE_DATA_DIR"]) / "vigie.db") as store:
        store.upsert_posts(surge("end_times", SECOND_CHECK - timedelta(hours=1, minutes=5), posts=45, authors=30))
    down = vigie(env, "alerts", "check", "--at", SECOND_CHECK.isoformat(), "--json")
    assert ("opened", "end_times") in [(o["action"], o["subject"]) for o in outcomes(down)]
    assert "waiting for a retry" in down.stderr and "unavailable" in down.stderr
    with SQLiteStore(Path(install["VIGIE_DATA_DIR"]) / "vigie.db") as store:
        waiting = store.due_messages(SECOND_CHECK + timedelta(hours=1))
    assert [(m.recipient, m.attempts, m.sent_at) for m in waiting] == [("alice@example.org", 1, None)]
    assert len(inbox.messages) == 2

    smtp.start()
    vigie(env, "alerts", "send", "--at", (SECOND_CHECK + timedelta(minutes=2)).isoformat())
    vigie(env, "alerts", "send", "--at", (SECOND_CHECK + timedelta(minutes=30)).isoformat())
    to_alice = inbox.to("alice@example.org")
    assert len(to_alice) == 2 and to_alice[1]["Subject"].startswith("[Vigie] Spike: narrative end_times:")
