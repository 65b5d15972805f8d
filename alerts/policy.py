"""The re-alert policy: one surge, one alert. Pure functions over alerts; the cycle stores what they return.

A detection for a rule and subject that already has an alert seen within the cool-down updates that alert instead
of opening another; it notifies again only when the surge has grown (its ratio reached `growth` times the ratio last
notified). An alert not seen for the cool-down is resolved; a later surge of the same subject opens a new alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from vigie.models import Alert, AlertEvent, AlertKind

SubjectType = Literal["narrative", "term", "hashtag", "search", "source"]
Action = Literal["opened", "escalated", "reopened", "ongoing", "resolved"]
SYSTEM = "vigie"


@dataclass(frozen=True, slots=True)
class Detection:
    """What one rule found about one subject in this cycle."""

    rule_id: str
    kind: AlertKind
    subject_type: SubjectType
    subject: str
    started_at: datetime
    count: int
    baseline: float
    ratio: float
    score: float
    detail: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.rule_id, self.subject_type, self.subject)


@dataclass(frozen=True, slots=True)
class Outcome:
    alert: Alert
    action: Action

    @property
    def notify(self) -> bool:
        return self.action in ("opened", "escalated", "reopened")


def alert_key(alert: Alert) -> tuple[str, str, str]:
    return (alert.rule_id, alert.subject_type, alert.subject)


def last_seen(alert: Alert) -> datetime:
    seen = alert.evidence.get("last_seen_at")
    return datetime.fromisoformat(seen) if seen else alert.updated_at


def apply_detection(detection: Detection, previous: Alert | None, at: datetime, cooldown: timedelta, growth: float) -> Outcome:
    """Open, update or escalate the alert for this detection."""
    detail = {**detection.detail, "last_seen_at": at.isoformat()}
    if previous is None or (previous.state == "resolved" and at - last_seen(previous) >= cooldown):
        alert = Alert(
            id=f"{detection.rule_id}:{detection.subject_type}:{detection.subject}:{detection.started_at:%Y%m%dT%H%M}",
            rule_id=detection.rule_id,
            kind=detection.kind,
            subject_type=detection.subject_type,
            subject=detection.subject,
            opened_at=at,
            updated_at=at,
            bucket_start=detection.started_at,
            count=detection.count,
            baseline=detection.baseline,
            ratio=detection.ratio,
            score=detection.score,
            evidence={**detail, "peak_ratio": detection.ratio},
            history=[AlertEvent(at=at, action="opened", by=SYSTEM)],
        )
        return Outcome(alert, "opened")

    grown = previous.notified_ratio is not None and previous.notified_ratio > 0 and detection.ratio >= previous.notified_ratio * growth
    evidence = {**previous.evidence, **detail, "peak_ratio": max(detection.ratio, previous.evidence.get("peak_ratio", 0.0))}
    changes: dict[str, Any] = {
        "updated_at": at,
        "count": detection.count,
        "baseline": detection.baseline,
        "ratio": detection.ratio,
        "score": detection.score,
        "evidence": evidence,
    }
    if not grown:
        # A resolved alert stays resolved while its surge lingers within the cool-down; the analyst closed it.
        return Outcome(previous.model_copy(update=changes), "ongoing")
    action: Action = "reopened" if previous.state == "resolved" else "escalated"
    history = [*previous.history, AlertEvent(at=at, action=action, by=SYSTEM, comment=f"ratio {detection.ratio:.1f}, was {previous.notified_ratio:.1f} when last notified")]
    state = "open" if previous.state == "resolved" else previous.state
    return Outcome(previous.model_copy(update={**changes, "state": state, "history": history}), action)


def resolve_if_quiet(alert: Alert, at: datetime, cooldown: timedelta) -> Outcome | None:
    """Resolve an open or acknowledged alert whose surge has not been seen for the cool-down."""
    if alert.state == "resolved" or at - last_seen(alert) < cooldown:
        return None
    event = AlertEvent(at=at, action="resolved", by=SYSTEM, comment=f"not seen since {last_seen(alert):%Y-%m-%d %H:%M} UTC")
    return Outcome(alert.model_copy(update={"state": "resolved", "updated_at": at, "history": [*alert.history, event]}), "resolved")


def mark_notified(alert: Alert, at: datetime, recipients: list[str]) -> Alert:
    """Record that this version of the alert went out (or that nobody wanted it immediately)."""
    comment = ", ".join(recipients) if recipients else "no immediate subscriber or webhook"
    event = AlertEvent(at=at, action="notified", by=SYSTEM, comment=comment)
    return alert.model_copy(update={"last_notified_at": at, "notified_ratio": alert.ratio, "history": [*alert.history, event]})


def notification_number(alert: Alert) -> int:
    """How many times this alert has been notified: makes each notification's outbox id unique and stable."""
    return sum(1 for event in alert.history if event.action == "notified")
