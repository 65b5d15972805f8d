"""Daily digests: one email per digest subscriber with the alerts raised during the day that ended at
`alerts.digest_time` (local time, `dashboard.timezone`), and the candidate narratives first proposed that day for
subscriptions naming `candidates`. Queuing is idempotent: the digest of a day has one outbox id
per subscriber, so running this twice (or after a restart) sends it once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.email import digest_email
from alerts.rules import CANDIDATES, EVERY, load_alerts, subscribers, subscriptions
from store.base import Store
from vigie.config import Config, parse_clock
from vigie.models import Alert, as_utc

_RAISED = ("opened", "escalated", "reopened")


def digest_period(now: datetime, digest_time: str, timezone: str) -> tuple[datetime, datetime]:
    """The day (UTC bounds) covered by the latest digest due at `now`: from one digest time to the next."""
    zone = ZoneInfo(timezone)
    local = as_utc(now).astimezone(zone)
    hour, minute = parse_clock(digest_time)
    end = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if end > local:
        end -= timedelta(days=1)
    start = end - timedelta(days=1)  # wall-clock arithmetic: a day is 23 or 25 hours across a DST change
    return start.astimezone(UTC), end.astimezone(UTC)


def raised_between(alert: Alert, start: datetime, end: datetime) -> bool:
    return any(event.action in _RAISED and start <= event.at < end for event in alert.history)


def queue_digests(config: Config, store: Store, now: datetime) -> int:
    """Queue the digest of the day that ended at the last digest time; returns how many were newly queued."""
    settings = config.settings
    start, end = digest_period(now, settings.alerts.digest_time, settings.dashboard.timezone)
    alerts = [alert for alert in store.list_alerts(since=start, limit=10_000) if raised_between(alert, start, end)]
    candidates = sorted((c for c in store.list_candidates(states=("new",), since=start, limit=10_000) if start <= c.detected_at < end), key=lambda c: (-c.growth, c.id))
    if not alerts and not candidates:
        return 0
    day = end.astimezone(ZoneInfo(settings.dashboard.timezone)).date()
    everyone = subscriptions(load_alerts(config).subscriptions, store.list_subscriptions())
    readers = [s for rule_id in {a.rule_id for a in alerts} for s in subscribers(rule_id, everyone, "digest")]
    readers += subscribers(CANDIDATES, everyone, "digest") if candidates else []
    queued = 0
    for subscription in {s.id: s for s in readers}.values():
        mine = sorted((a for a in alerts if EVERY in subscription.rules or a.rule_id in subscription.rules), key=lambda a: a.opened_at, reverse=True)
        rendered = digest_email(mine, start, end, settings, candidates if CANDIDATES in subscription.rules else [])
        queued += store.enqueue(rendered.message(f"digest:{day.isoformat()}:{subscription.id}", subscription.email, as_utc(now)))
    return queued
