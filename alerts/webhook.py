"""The webhook channel: one JSON POST per alert, `{"text": ...}`, which Mattermost and Slack incoming webhooks both
accept. The URL usually embeds a secret token, so it is read at delivery time and never stored, logged or shown."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx

from vigie.config import Settings
from vigie.models import Alert

WEBHOOK_ENV = "VIGIE_WEBHOOK_URL"
TIMEOUT = 10.0


class WebhookError(Exception):
    """The webhook did not take the message; the text never contains the URL."""


def webhook_url(settings: Settings, environ: Mapping[str, str] | None = None) -> str | None:
    environ = os.environ if environ is None else environ
    return environ.get(WEBHOOK_ENV) or settings.alerts.webhook_url


def _inert(value: str) -> str:
    """A scraped value as a code span: no markup, link or @-mention is acted on, in Slack or in Mattermost."""
    text = " ".join(value.replace("`", "'").split())
    return "`" + text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "`"


def alert_payload(alert: Alert, dashboard_url: str) -> dict[str, Any]:
    kind = {"spike": "spike", "emerging": "emerging", "source_silent": "source silent"}[alert.kind]
    subject = _inert(f"#{alert.subject}" if alert.subject_type == "hashtag" else alert.subject)
    if alert.kind == "source_silent":
        detail = "failing runs" if alert.evidence.get("reason") == "failing" else f"nothing published for {alert.evidence.get('silent_for', 'a while')}"
    elif alert.kind == "emerging":
        detail = f"{alert.count} posts now, {alert.evidence.get('baseline_count', 0)} in the {alert.evidence.get('baseline_window')} before"
    else:
        detail = f"{alert.count} posts, {alert.ratio:.1f}x the {alert.baseline:.1f} expected"
    return {"text": f"Vigie {kind}: {alert.subject_type} {subject}: {detail}\n{dashboard_url}"}


def post_webhook(url: str, payload: Mapping[str, Any], client: httpx.Client | None = None) -> None:
    try:
        if client is None:
            response = httpx.post(url, json=payload, timeout=TIMEOUT)
        else:
            response = client.post(url, json=payload)
    except httpx.HTTPError as exc:
        raise WebhookError(f"webhook unreachable ({type(exc).__name__})") from None
    if response.status_code >= 300:
        raise WebhookError(f"webhook answered HTTP {response.status_code}")
