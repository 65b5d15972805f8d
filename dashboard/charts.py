"""Vega-Lite charts of the store's counts, drawn in the analyst's time zone; daily counts keep their UTC dates.

The specs are plain dicts drawn with `st.vega_lite_chart`: building the same charts with Altair objects (channel
wrapping, schema validation, `to_dict`) was most of a Narrative page's server time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from store.base import BucketCount, TermCount
from vigie.models import Arrival


class Chart(NamedTuple):
    data: pd.DataFrame
    spec: dict[str, Any]


def _local(moments: Iterable[datetime], zone: tzinfo) -> list[datetime]:
    """Naive local times: Vega would otherwise redraw them in the browser's zone, not the analyst's choice."""
    return [moment.astimezone(zone).replace(tzinfo=None) for moment in moments]


def _axis_zone(zone: ZoneInfo, interval: str) -> tzinfo:
    """The store counts days from UTC midnight: drawn in a zone west of UTC, each day would show the day before's date."""
    return zone if interval == "hour" else UTC


def _time(interval: str, title: str | None = None) -> dict[str, Any]:
    return {"field": "time", "type": "temporal", "timeUnit": "yearmonthdatehours" if interval == "hour" else "yearmonthdate", "title": title}


def _field(name: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"field": name, "type": kind, **extra}


def volume(buckets: list[BucketCount], zone: ZoneInfo, interval: str) -> Chart:
    frame = pd.DataFrame({"time": _local((b.start for b in buckets), _axis_zone(zone, interval)), "platform": [b.key for b in buckets], "posts": [b.posts for b in buckets]})
    posts = _field("posts", "quantitative", aggregate="sum", title="posts")
    spec = {
        "mark": {"type": "bar"},
        "height": 260,
        "encoding": {
            "x": _time(interval),
            "y": posts,
            "color": {**_field("platform", "nominal"), "legend": {"orient": "bottom", "title": None}},
            "tooltip": [_time(interval, "time"), _field("platform", "nominal"), posts],
        },
    }
    return Chart(frame, spec)


def timeline(buckets: list[BucketCount], spikes: Iterable[datetime], zone: ZoneInfo, interval: str) -> Chart:
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
    tooltip = [_time(interval, "time"), _field("posts", "quantitative"), _field("authors", "quantitative")]
    spec = {
        "height": 260,
        "encoding": {"x": _time(interval)},
        "layer": [
            {"mark": {"type": "area", "line": True, "opacity": 0.3}, "encoding": {"y": _field("posts", "quantitative", title="posts"), "tooltip": tooltip}},
            {
                "transform": [{"filter": "datum.spike === 'spike'"}],
                "mark": {"type": "point", "color": "#d62728", "size": 120, "filled": True},
                "encoding": {"y": _field("posts", "quantitative"), "tooltip": [*tooltip, _field("spike", "nominal", title="flag")]},
            },
        ],
    }
    return Chart(frame, spec)


def share(terms: list[TermCount], field: str) -> Chart:
    frame = pd.DataFrame({field: [t.value for t in terms], "posts": [t.count for t in terms]})
    spec = {
        "mark": {"type": "arc", "innerRadius": 50},
        "height": 220,
        "encoding": {
            "theta": _field("posts", "quantitative"),
            "color": {**_field(field, "nominal"), "legend": {"title": None}},
            "tooltip": [_field(field, "nominal"), _field("posts", "quantitative")],
        },
    }
    return Chart(frame, spec)


def spread(arrivals: list[Arrival], zone: ZoneInfo) -> Chart:
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
    spec = {
        "height": 240,
        "encoding": {"x": _field("time", "temporal", title=None), "y": _field("sources", "quantitative", title="sources reached")},
        "layer": [
            {"mark": {"type": "line", "interpolate": "step-after"}},
            {
                "mark": {"type": "circle", "size": 90},
                "encoding": {
                    "color": {**_field("platform", "nominal"), "legend": {"orient": "bottom", "title": None}},
                    "tooltip": [
                        _field("source", "nominal"),
                        _field("platform", "nominal"),
                        _field("time", "temporal", title="first post", format="%Y-%m-%d %H:%M"),
                        _field("posts", "quantitative"),
                    ],
                },
            },
        ],
    }
    return Chart(frame, spec)


def draw(chart: Chart, key: str | None = None) -> None:
    st.vega_lite_chart(chart.data, chart.spec, width="stretch", key=key)
