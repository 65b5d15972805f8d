"""Altair charts of the store's counts, drawn in the analyst's time zone; daily counts keep their UTC dates."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd

from store.base import BucketCount, TermCount
from vigie.models import Arrival


def _local(moments: Iterable[datetime], zone: tzinfo) -> list[datetime]:
    """Naive local times: Vega would otherwise redraw them in the browser's zone, not the analyst's choice."""
    return [moment.astimezone(zone).replace(tzinfo=None) for moment in moments]


def _axis_zone(zone: ZoneInfo, interval: str) -> tzinfo:
    """The store counts days from UTC midnight: drawn in a zone west of UTC, each day would show the day before's date."""
    return zone if interval == "hour" else UTC


def volume(buckets: list[BucketCount], zone: ZoneInfo, interval: str) -> alt.Chart:
    frame = pd.DataFrame({"time": _local((b.start for b in buckets), _axis_zone(zone, interval)), "platform": [b.key for b in buckets], "posts": [b.posts for b in buckets]})
    unit = "yearmonthdatehours" if interval == "hour" else "yearmonthdate"
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(f"{unit}(time):T", title=None),
            y=alt.Y("sum(posts):Q", title="posts"),
            color=alt.Color("platform:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=[alt.Tooltip(f"{unit}(time):T", title="time"), "platform:N", alt.Tooltip("sum(posts):Q", title="posts")],
        )
        .properties(height=260)
    )


def timeline(buckets: list[BucketCount], spikes: Iterable[datetime], zone: ZoneInfo, interval: str) -> alt.Chart:
    """Posts per bucket, with the buckets the spike detector flags marked in red."""
    flagged = set(spikes)
    frame = pd.DataFrame(
        {
            "time": _local((b.start for b in buckets), _axis_zone(zone, interval)),
            "posts": [b.posts for b in buckets],
            "authors": [b.authors for b in buckets],
            "spike": ["spike" if b.start in flagged else "" for b in buckets],
        }
    )
    unit = "yearmonthdatehours" if interval == "hour" else "yearmonthdate"
    base = alt.Chart(frame).encode(x=alt.X(f"{unit}(time):T", title=None))
    tooltip = [alt.Tooltip(f"{unit}(time):T", title="time"), "posts:Q", "authors:Q"]
    line = base.mark_area(line=True, opacity=0.3).encode(y=alt.Y("posts:Q", title="posts"), tooltip=tooltip)
    marks = base.transform_filter(alt.datum.spike == "spike").mark_point(color="#d62728", size=120, filled=True).encode(y="posts:Q", tooltip=[*tooltip, alt.Tooltip("spike:N", title="flag")])
    return (line + marks).properties(height=260)


def share(terms: list[TermCount], field: str) -> alt.Chart:
    frame = pd.DataFrame({field: [t.value for t in terms], "posts": [t.count for t in terms]})
    return (
        alt.Chart(frame)
        .mark_arc(innerRadius=50)
        .encode(theta="posts:Q", color=alt.Color(f"{field}:N", legend=alt.Legend(title=None)), tooltip=[f"{field}:N", "posts:Q"])
        .properties(height=220)
    )



def spread(arrivals: list[Arrival], zone: ZoneInfo) -> alt.Chart:
    """Sources reached over time: a step line of the count, a point per source at its first post, coloured by platform."""
    ordered = sorted(arrivals, key=lambda a: a.first_at)
    frame = pd.DataFrame(
        {
            "time": _local((a.first_at for a in ordered), zone),
            "sources": list(range(1, len(ordered) + 1)),
            "source": [a.key for a in ordered],
            "platform": [a.platform for a in ordered],
            "posts": [a.posts for a in ordered],
        }
    )
    base = alt.Chart(frame).encode(x=alt.X("time:T", title=None), y=alt.Y("sources:Q", title="sources reached"))
    line = base.mark_line(interpolate="step-after")
    points = base.mark_circle(size=90).encode(
        color=alt.Color("platform:N", legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["source:N", "platform:N", alt.Tooltip("time:T", title="first post", format="%Y-%m-%d %H:%M"), "posts:Q"],
    )
    return (line + points).properties(height=240)
