"""Delivery without a mail server: .eml files for the offline demo, the webhook channel against a loopback HTTP
server, retry backoff, SMTP settings from the environment, and what emails do with hostile text."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from alerts.email import alert_email, mime_message, one_line, safe_link
from alerts.digest import queue_digests
from alerts.outbox import SmtpSettings, deliver_due, retry_at
from alerts.webhook import alert_payload
from store.sqlite import SQLiteStore
from tests.alerts.posts import watch_post
from tests.support.factories import write_config
from vigie.config import Config, ConfigError, load_config
from vigie.models import Alert, Arrival, Candidate, OutboxMessage, PostRef, TagMatch

NOW = datetime(2024, 5, 16, 12, 5, tzinfo=UTC)
HOSTILE = '<b onmouseover="steal()">Cure</b> @channel [click](https://evil.example) `code` & more'


class Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers["Content-Length"])
        type(self).received.append({"path": self.path, "content_type": self.headers["Content-Type"], "body": json.loads(self.rfile.read(length))})
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[Hook]]]:
    handler = type("Recorder", (Hook,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token", handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    folder = write_config(tmp_path / "config", settings={"dashboard": {"public_url": "http://vigie.test"}})
    return load_config(folder, tmp_path / "data", environ={})


def spike_alert(subject: str = "miracle_healing", subject_type: str = "narrative") -> Alert:
    return Alert(
        id=f"spikes:{subject_type}:{subject}:20240516T1100",
        rule_id="spikes",
        kind="spike",
        subject_type=subject_type,  # type: ignore[arg-type]
        subject=subject,
        opened_at=NOW,
        updated_at=NOW,
        bucket_start=NOW - timedelta(hours=1, minutes=5),
        count=42,
        baseline=4.2,
        ratio=10.0,
        score=12.5,
        evidence={"top_sources": [{"value": "tg-<eveil>", "count": 30}], "top_authors": [{"value": "<troll>", "count": 3}], "interval": "hour", "authors": 20, "span_label": "1 hour"},
    )


def email_message(message_id: str = "alert:one:0:alice") -> OutboxMessage:
    return OutboxMessage(id=message_id, recipient="alice@example.org", subject="[Vigie] Spike", body_text="plain", body_html="<p>html</p>", created_at=NOW, next_attempt_at=NOW)


def test_without_smtp_host_each_email_is_an_eml_file_and_counts_as_sent(config: Config, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIGIE_SMTP_HOST", raising=False)
    assert store.enqueue(email_message())
    assert not store.enqueue(email_message()), "the same id is never queued twice"
    report = deliver_due(config, store, NOW)
    assert (report.sent, report.failed) == (1, 0)
    [eml] = (config.data_dir / "outbox").glob("*.eml")
    parsed = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert parsed["To"] == "alice@example.org" and parsed.get_content_type() == "multipart/alternative"
    assert store.due_messages(NOW + timedelta(days=1)) == []
    assert deliver_due(config, store, NOW + timedelta(hours=1)).sent == 0


def test_smtp_down_keeps_the_message_with_growing_backoff(config: Config, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("VIGIE_SMTP_PORT", "9")  # discard port: nothing listens there
    monkeypatch.setenv("VIGIE_SMTP_TLS", "none")
    monkeypatch.setenv("VIGIE_SMTP_PASSWORD", "hunter2")
    store.enqueue(email_message())
    first = deliver_due(config, store, NOW)
    assert (first.sent, first.failed) == (0, 1) and "unavailable" in first.errors[0] and "hunter2" not in first.errors[0]
    assert deliver_due(config, store, NOW + timedelta(seconds=30)).failed == 0, "not retried before its time"
    deliver_due(config, store, NOW + timedelta(minutes=1))
    [waiting] = store.due_messages(NOW + timedelta(days=1))
    assert waiting.attempts == 2 and waiting.sent_at is None and waiting.next_attempt_at == NOW + timedelta(minutes=3)


def test_backoff_doubles_up_to_the_cap(config: Config) -> None:
    delays = [retry_at(config, email_message().model_copy(update={"attempts": n}), NOW) - NOW for n in range(9)]
    assert delays[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert delays[-1] == timedelta(hours=1) and delays == sorted(delays)


@pytest.mark.parametrize(
    ("environ", "problem"),
    [({"VIGIE_SMTP_TLS": "ssl"}, "VIGIE_SMTP_TLS"), ({"VIGIE_SMTP_PORT": "smtp"}, "VIGIE_SMTP_PORT"), ({"VIGIE_SMTP_PORT": "70000"}, "VIGIE_SMTP_PORT")],
)
def test_bad_smtp_environment_is_one_clear_line(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        SmtpSettings.from_env(environ)


def test_smtp_settings_defaults_and_secret_kept_out_of_repr() -> None:
    settings = SmtpSettings.from_env({"VIGIE_SMTP_HOST": "mail.example", "VIGIE_SMTP_TLS": "tls", "VIGIE_SMTP_PASSWORD": "hunter2"})
    assert (settings.port, settings.tls, settings.sender) == (465, "tls", "vigie@localhost")
    assert "hunter2" not in repr(settings)
    assert SmtpSettings.from_env({}).port == 587


def test_webhook_gets_one_json_post_per_alert(config: Config, store: SQLiteStore, webhook: tuple[str, type[Hook]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, hook = webhook
    monkeypatch.setenv("VIGIE_WEBHOOK_URL", url)
    alert = spike_alert(subject="guérison<script>", subject_type="hashtag")
    store.enqueue(OutboxMessage(id="alert:x:0:webhook", channel="webhook", recipient="webhook", payload=alert_payload(alert, "http://vigie.test/alerts?alert=x"), created_at=NOW, next_attempt_at=NOW))
    assert deliver_due(config, store, NOW).sent == 1
    [post] = hook.received
    assert post["path"] == "/hooks/secret-token" and post["content_type"] == "application/json"
    text = post["body"]["text"]
    assert "`#guérison&lt;script&gt;`" in text and "42 posts, 10.0x the 4.2 expected" in text and text.endswith("http://vigie.test/alerts?alert=x")


def test_webhook_failure_waits_without_revealing_the_url(config: Config, store: SQLiteStore, webhook: tuple[str, type[Hook]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, hook = webhook
    hook.status = 500
    monkeypatch.setenv("VIGIE_WEBHOOK_URL", url)
    store.enqueue(OutboxMessage(id="alert:y:0:webhook", channel="webhook", recipient="webhook", payload={"text": "hello"}, created_at=NOW, next_attempt_at=NOW))
    report = deliver_due(config, store, NOW)
    assert report.failed == 1 and "HTTP 500" in report.errors[0] and "secret-token" not in report.errors[0]
    hook.status = 200
    assert deliver_due(config, store, NOW + timedelta(minutes=1)).sent == 1
    assert len(hook.received) == 2


def test_alert_email_explains_why_each_sample_was_tagged(config: Config) -> None:
    rule = "five-g NEAR/15 virus AND NOT debunk"
    text = "<i>5G</i> and the coronavirus"
    post = watch_post("r1", "anti-5g", NOW - timedelta(minutes=5), "a", text=text).model_copy(update={"matches": [
        TagMatch(narrative="anti-5g", term="5G", start=3, end=5, rule=rule, group="five-g"),
        TagMatch(narrative="anti-5g", term="corona*", start=18, end=29, rule=rule, group="virus"),
    ]})
    rendered = alert_email(spike_alert(), [post], config.settings)
    why = "anti-5g: rule five-g NEAR/15 virus AND NOT debunk: five-g: \"5G\" · virus: \"corona*\""
    assert f"   Why: {why}\n" in rendered.text
    assert f"<br><small>Why: {html.escape(why)}</small>" in rendered.html


def test_alert_email_escapes_scraped_text_and_links_only_http(config: Config) -> None:
    hostile = watch_post("h1", "miracle_healing", NOW - timedelta(minutes=30), "<troll>", text=HOSTILE + " miracle healing").model_copy(update={"url": "javascript:alert(1)"})
    fine = watch_post("h2", "miracle_healing", NOW - timedelta(minutes=20), "friend")
    rendered = alert_email(spike_alert(), [hostile, fine], config.settings)
    assert '<b onmouseover' not in rendered.html and "&lt;b onmouseover=&quot;steal()&quot;&gt;" in rendered.html
    assert "tg-&lt;eveil&gt;" in rendered.html and "&lt;troll&gt;" in rendered.html
    assert "javascript:" not in rendered.html and "javascript:" not in rendered.text
    assert 'href="https://example.org/h2"' in rendered.html
    assert 'href="http://vigie.test/alerts?alert=spikes%3Anarrative%3Amiracle_healing%3A20240516T1100"' in rendered.html
    assert HOSTILE in rendered.text, "the plain-text part shows the post as written"


def test_headers_are_single_lines() -> None:
    message = email_message().model_copy(update={"subject": "[Vigie] #evil\r\nBcc: victim@example.org"})
    parsed = message_from_bytes(bytes(mime_message(message, "vigie@example.org")), policy=policy.default)
    assert parsed["Bcc"] is None and "\n" not in parsed["Subject"]
    assert one_line("a\u202eb\tc" + "x" * 300).startswith("a b c") and len(one_line("x" * 300)) == 160


@pytest.mark.parametrize(("url", "kept"), [("https://t.me/s/chan/1", True), ("http://a.example/x", True), ("javascript:alert(1)", False), ("data:text/html,x", False), ("//evil.example", False), (None, False)])
def test_only_http_links(url: str | None, kept: bool) -> None:
    assert (safe_link(url) is not None) is kept


def test_candidate_digest_goes_to_those_who_subscribed_to_candidates(tmp_path: Path) -> None:
    folder = write_config(tmp_path / "config", settings={"dashboard": {"public_url": "http://vigie.test", "timezone": "UTC"}, "alerts": {"digest_time": "08:00"}})
    subscribers = [{"email": "cand@example.org", "rules": ["candidates"], "mode": "digest"}, {"email": "all@example.org", "rules": ["*"], "mode": "digest"}]
    (folder / "alerts.yaml").write_text(json.dumps({"subscriptions": subscribers}), encoding="utf-8")
    config = load_config(folder, tmp_path / "data", environ={})
    config.data_dir.mkdir(parents=True)
    day = datetime(2024, 5, 16, 8, tzinfo=UTC)
    first = PostRef(id="telegram:c1", platform="telegram", source_id="tg-<eveil>", published_at=day - timedelta(hours=20), url="https://t.me/eveil/1")
    candidate = Candidate(
        id="cand-1", terms=["#azurite", "protocole", "<thalassine>"], posts=14, authors=9, baseline=0.3, growth=47.0, first_post_at=first.published_at,
        detected_at=day - timedelta(hours=15), updated_at=day - timedelta(hours=2), earliest=[first], sources={"tg-<eveil>": 8, "rss-a": 6},
        platforms={"telegram": 8, "feed": 6}, languages={"fr": 14},
        spread=[Arrival(key="tg-<eveil>", platform="telegram", first_at=first.published_at, posts=8), Arrival(key="rss-a", platform="feed", first_at=first.published_at + timedelta(hours=3), posts=6)],
    )
    with SQLiteStore(config.sqlite_path) as store:
        store.save_candidate(candidate)
        store.save_candidate(candidate.model_copy(update={"id": "cand-old", "detected_at": day - timedelta(days=3)}))
        assert queue_digests(config, store, day + timedelta(minutes=5)) == 1
        assert queue_digests(config, store, day + timedelta(minutes=10)) == 0, "once a day"
        [message] = store.due_messages(day + timedelta(hours=1))
    assert message.recipient == "cand@example.org" and message.subject == "[Vigie] Daily digest: 0 alerts and 1 candidate narrative"
    assert "#azurite, protocole, <thalassine>: 14 posts, 47x, 2 sources" in message.body_text
    assert "Origin: first seen on Telegram (tg-<eveil>) at 2024-05-15 12:00 UTC, then 1 source in 3 hours" in message.body_text
    assert "http://vigie.test/candidates" in message.body_text
    assert "&lt;thalassine&gt;" in message.body_html and "<thalassine>" not in message.body_html
