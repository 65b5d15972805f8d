"""Hostile input on its way out: subscription addresses and saved-search names holding header syntax, and scraped
text in email subjects and webhook payloads, sent through a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from alerts.email import AddressError, alert_email, mime_message
from alerts.outbox import deliver_due
from alerts.rules import load_alerts
from alerts.webhook import alert_payload
from dashboard.actions import InvalidInput, check_email
from store.sqlite import SQLiteStore
from tests.alerts.mailserver import SmtpServer
from tests.support.factories import write_config
from vigie.config import Config, ConfigError, load_config
from vigie.models import Alert, OutboxMessage

NOW = datetime(2024, 5, 16, 12, 5, tzinfo=UTC)
VICTIM = "alice@example.org"
HOSTILE_ADDRESSES = [
    f"{VICTIM}\r\nBcc: mallory@evil.example",
    f"{VICTIM}\nBcc: mallory@evil.example",
    f"{VICTIM}, mallory@evil.example",
    f"{VICTIM};mallory@evil.example",
    f"Alice <{VICTIM}>, mallory@evil.example",
    f"{VICTIM} (mallory@evil.example)",
    "undisclosed:;",
]
ENCODED_BREAK = "=?utf-8?q?cure=0D=0ABcc:_mallory@evil.example?="
"""An RFC 2047 encoded word whose decoded text is a line break and a Bcc header."""
HOSTILE_NAMES = ["Cures\r\nBcc: mallory@evil.example", f"Cures {ENCODED_BREAK}", "Cures\u2028Bcc: mallory@evil.example\x00"]


@pytest.fixture
def config(tmp_path: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Config:
    for name, value in {"VIGIE_SMTP_HOST": "127.0.0.1", "VIGIE_SMTP_PORT": str(smtp.port), "VIGIE_SMTP_TLS": "none", "VIGIE_SMTP_FROM": "vigie@test.example"}.items():
        monkeypatch.setenv(name, value)
    folder = write_config(tmp_path / "config", settings={"dashboard": {"public_url": "http://vigie.test"}})
    return load_config(folder, tmp_path / "data", environ={})


def alert(subject: str, subject_type: str = "hashtag", kind: str = "emerging") -> Alert:
    return Alert(
        id=f"{kind}:{subject_type}:x",
        rule_id="rule",
        kind=kind,  # type: ignore[arg-type]
        subject_type=subject_type,  # type: ignore[arg-type]
        subject=subject,
        opened_at=NOW,
        updated_at=NOW,
        bucket_start=NOW - timedelta(hours=1),
        count=12,
        baseline=1.0,
        ratio=12.0,
        evidence={"rule_label": subject, "top_sources": [{"value": subject, "count": 12}]},
    )


@pytest.mark.parametrize("address", HOSTILE_ADDRESSES)
def test_an_address_holding_header_syntax_is_refused_where_it_is_typed_and_where_it_is_sent(address: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="is not an email address"):
        check_email(address)  # the dashboard's Subscriptions and Search pages
    folder = write_config(tmp_path / "config")
    (folder / "alerts.yaml").write_text(yaml.safe_dump({"subscriptions": [{"email": address}]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"alerts\.yaml.*subscriptions\[0\]\.email.*not one email address"):
        load_alerts(load_config(folder, tmp_path / "data", environ={}))
    with pytest.raises(AddressError):
        mime_message(OutboxMessage(id="m", recipient=address, subject="s", body_text="b"), "vigie@test.example")


def test_a_stored_hostile_address_fails_alone_and_mails_nobody_else(config: Config, store: SQLiteStore, smtp: SmtpServer) -> None:
    """A subscription written to the store by another tool: its message fails with one line, the others go out."""
    for number, recipient in enumerate([*HOSTILE_ADDRESSES, VICTIM]):
        store.enqueue(OutboxMessage(id=f"m{number}", recipient=recipient, subject="[Vigie] Spike", body_text="plain", created_at=NOW, next_attempt_at=NOW))
    report = deliver_due(config, store, NOW)
    assert (report.sent, report.failed) == (1, len(HOSTILE_ADDRESSES))
    assert all("recipient refused" in error and "\n" not in error for error in report.errors)
    assert smtp.inbox.recipients == [[VICTIM]] and smtp.inbox.messages[0]["To"] == VICTIM


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_name_or_scraped_term_stays_inside_the_subject(config: Config, store: SQLiteStore, smtp: SmtpServer, name: str) -> None:
    """A saved search's name (typed by an analyst) and a hashtag (scraped) reach the subject and the body."""
    for number, hostile in enumerate([alert(name, "search", "spike"), alert(name)]):
        store.enqueue(alert_email(hostile, [], config.settings).message(f"m{number}", VICTIM, NOW))
    assert deliver_due(config, store, NOW).sent == 2
    assert smtp.inbox.recipients == [[VICTIM], [VICTIM]]
    for message, raw in zip(smtp.inbox.messages, smtp.inbox.raw, strict=True):
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        names = [line.split(b":", 1)[0].lower() for line in head.splitlines() if line[:1] not in (b" ", b"\t")]
        assert sorted(names) == sorted([b"from", b"to", b"subject", b"date", b"message-id", b"content-type", b"mime-version"]), head
        subject = message["Subject"]
        assert "\r" not in subject and "\n" not in subject and "Cures" in subject and message["Bcc"] is None
    if "=?" in name:  # the encoded word is shown as the characters it was written with, never decoded
        assert "= ?utf-8?q?cure=0D=0ABcc:_mallory@evil.example?=" in smtp.inbox.messages[1]["Subject"]


def test_scraped_text_in_a_webhook_payload_stays_inert() -> None:
    scraped = "<!channel> @here <https://evil.example|click> [x](javascript:alert(1)) `tick` *bold*\n\nsecond line"
    text = alert_payload(alert(scraped), "http://vigie.test/alerts?alert=x")["text"]
    first, url = text.split("\n")  # the subject stays on one line; the dashboard link follows
    assert url == "http://vigie.test/alerts?alert=x"
    code = first[first.index("`") :]
    assert code.count("`") == 2 and code.startswith("`") and code.endswith("`: 12 posts now, 0 in the None before")
    assert "<" not in first and ">" not in first and "&lt;!channel&gt;" in first
