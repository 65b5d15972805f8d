"""The time windows analysts pick from, as (since, until) pairs in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

PRESETS: dict[str, timedelta] = {
    "Last 24 hours": timedelta(hours=24),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "Last 90 days": timedelta(days=90),
    "Last 365 days": timedelta(days=365),
}
DEFAULT = "Last 7 days"


def pick(label: str, key: str, now: datetime, default: str = DEFAULT) -> tuple[datetime, datetime]:
    choice = st.selectbox(label, list(PRESETS), index=list(PRESETS).index(default), key=key)
    return now - PRESETS[choice], now


def day_range(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """From the start of `start` to the end of `end`, both local days of the analyst."""
    since = datetime.combine(start, time.min, tzinfo=zone)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone)
    return since.astimezone(UTC), until.astimezone(UTC)
