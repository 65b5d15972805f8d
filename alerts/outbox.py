"""Delivering the persisted outbox: emails through SMTP, webhooks through httpx.

SMTP settings come from the environment only (`VIGIE_SMTP_HOST`, `_PORT`, `_TLS` none/starttls/tls, `_USER`,
`_PASSWORD`, `_FROM`). A message that cannot go out stays in the outbox and is retried with exponential backoff
(`alerts.retry_delay`, doubling, at most `alerts.max_retry_delay`), so an SMTP outage delays mail without losing it;
enqueueing is idempotent by message id, so nothing is sent twice. Every email is also written as an .eml file under
`data/<alerts.outbox_dir>`; with no `VIGIE_SMTP_HOST` that file is the delivery (the offline demo shows its emails).
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import httpx

from alerts.email import AddressError, mime_message, one_line
from alerts.webhook import TIMEOUT, WebhookError, post_webhook, webhook_url
from store.base import Store
from vigie.config import Config, ConfigError
from vigie.models import OutboxMessage, sha256_hex, utcnow

log = logging.getLogger(__name__)

BATCH = 100
SMTP_TIMEOUT = 30.0
_DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


class DeliveryError(Exception):
    """A message did not go out; the text says why in one line, without secrets."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None
    port: int
    tls: Literal["none", "starttls", "tls"]
    user: str | None
    password: str | None = field(repr=False)
    sender: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings:
        environ = os.environ if environ is None else environ
        tls = (environ.get("VIGIE_SMTP_TLS") or "starttls").strip().lower()
        if tls not in _DEFAULT_PORTS:
            raise ConfigError(f"environment VIGIE_SMTP_TLS: expected none, starttls or tls, got {tls!r}")
        raw_port = environ.get("VIGIE_SMTP_PORT") or str(_DEFAULT_PORTS[tls])
        if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
            raise ConfigError(f"environment VIGIE_SMTP_PORT: expected a port number, got {raw_port!r}")
        return cls(
            host=environ.get("VIGIE_SMTP_HOST") or None,
            port=int(raw_port),
            tls=tls,  # type: ignore[arg-type]
            user=environ.get("VIGIE_SMTP_USER") or None,
            password=environ.get("VIGIE_SMTP_PASSWORD") or None,
            sender=environ.get("VIGIE_SMTP_FROM") or "vigie@localhost",
        )


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class Transport:
    """One delivery run's connections, opened on first use: the SMTP session is reused for every email of the run."""

    def __init__(self, config: Config, environ: Mapping[str, str] | None = None) -> None:
        self.smtp_settings = SmtpSettings.from_env(environ)
        self.webhook_url = webhook_url(config.settings, environ)
        self.eml_dir = config.data_dir / config.settings.alerts.outbox_dir
        self._smtp: smtplib.SMTP | None = None
        self._smtp_down: str | None = None
        self._http: httpx.Client | None = None

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None
        if self._http is not None:
            self._http.close()
            self._http = None

    def send(self, message: OutboxMessage) -> str:
        """Deliver one message; returns where it went, raises DeliveryError."""
        try:
            return self._deliver(message)
        except smtplib.SMTPServerDisconnected as exc:
            self.close()
            raise DeliveryError(f"SMTP server disconnected: {one_line(str(exc), 200)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {one_line(str(exc), 200)}") from None
        except AddressError as exc:
            raise DeliveryError(f"recipient refused: {exc}; fix the subscription") from None

    def _deliver(self, message: OutboxMessage) -> str:
        if message.channel == "webhook":
            return self._post(message)
        if self.smtp_settings.host is None:
            return f"written to {self._write_eml(message)} (no VIGIE_SMTP_HOST)"
        self._connection().send_message(mime_message(message, self.smtp_settings.sender))
        try:
            self._write_eml(message)
        except OSError as exc:
            log.warning("outbox: %s was sent but its .eml copy could not be written: %s", message.id, exc)
        return f"sent to {message.recipient} through {self.smtp_settings.host}"

    def _write_eml(self, message: OutboxMessage) -> Path:
        self.eml_dir.mkdir(parents=True, exist_ok=True)
        name = f"{message.created_at:%Y%m%dT%H%M%S}-{_UNSAFE_FILENAME.sub('_', message.id)[:80]}-{sha256_hex(message.id.encode())[:8]}.eml"
        path = self.eml_dir / name
        path.write_bytes(bytes(mime_message(message, self.smtp_settings.sender)))
        return path

    def _connection(self) -> smtplib.SMTP:
        if self._smtp_down is not None:
            raise DeliveryError(self._smtp_down)
        if self._smtp is None:
            settings = self.smtp_settings
            try:
                if settings.tls == "tls":
                    self._smtp = smtplib.SMTP_SSL(settings.host or "", settings.port, timeout=SMTP_TIMEOUT, context=ssl.create_default_context())
                else:
                    self._smtp = smtplib.SMTP(settings.host or "", settings.port, timeout=SMTP_TIMEOUT)
                    if settings.tls == "starttls":
                        self._smtp.starttls(context=ssl.create_default_context())
                if settings.user:
                    self._smtp.login(settings.user, settings.password or "")
            except (smtplib.SMTPException, OSError) as exc:
                self._smtp = None
                self._smtp_down = f"SMTP {settings.host}:{settings.port} unavailable: {one_line(str(exc) or type(exc).__name__, 200)}"
                raise DeliveryError(self._smtp_down) from None
        return self._smtp

    def _post(self, message: OutboxMessage) -> str:
        if not self.webhook_url:
            raise DeliveryError("no webhook URL configured (VIGIE_WEBHOOK_URL or alerts.webhook_url)")
        if self._http is None:
            self._http = httpx.Client(timeout=TIMEOUT)
        try:
            post_webhook(self.webhook_url, message.payload or {"text": message.body_text}, self._http)
        except WebhookError as exc:
            raise DeliveryError(str(exc)) from None
        return "posted to the webhook"


def retry_at(config: Config, message: OutboxMessage, now: datetime) -> datetime:
    settings = config.settings.alerts
    return now + min(settings.retry_delay * (2 ** min(message.attempts, 30)), settings.max_retry_delay)


def deliver_due(config: Config, store: Store, now: datetime | None = None) -> DeliveryReport:
    """Send every message whose time has come; failures are kept for a later retry."""
    now = now or utcnow()
    report = DeliveryReport()
    with Transport(config) as transport:
        seen: set[str] = set()
        while batch := [m for m in store.due_messages(now, limit=BATCH) if m.id not in seen]:
            for message in batch:
                seen.add(message.id)
                try:
                    where = transport.send(message)
                except DeliveryError as exc:
                    store.mark_failed(message.id, str(exc), retry_at(config, message, now))
                    report.failed += 1
                    report.errors.append(f"{message.id}: {exc}")
                    log.warning("outbox: %s not delivered (attempt %d): %s", message.id, message.attempts + 1, exc)
                    continue
                store.mark_sent(message.id, now)
                report.sent += 1
                log.info("outbox: %s %s", message.id, where)
    return report

