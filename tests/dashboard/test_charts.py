"""The dashboard's charts are valid Vega-Lite (checked against the schema Altair ships) and carry the right data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from altair.utils.schemapi import validate_jsonschema
from altair.vegalite.v6.schema import core

from dashboard import charts
from store.base import BucketCount, TermCount
from vigie.models import Arrival

START = datetime(2026, 3, 1, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
SCHEMA = core.load_schema()


def hours(count: int) -> list[BucketCount]:
    return [BucketCount(start=START + timedelta(hours=n), key=("telegram", "reddit")[n % 2], posts=n, authors=1, sources=1) for n in range(count)]


def valid(chart: charts.Chart) -> dict:
    """The spec with its data inline, as Vega-Lite receives it; raises if the schema refuses it."""
    spec = {**chart.spec, "data": {"values": chart.data.astype(str).to_dict("records")}}
    validate_jsonschema(spec, SCHEMA)
    return spec


@pytest.mark.parametrize(
    "chart",
    [
        charts.volume(hours(48), PARIS, "hour"),
        charts.volume(hours(48), PARIS, "day"),
        charts.timeline(hours(48), [START + timedelta(hours=5)], PARIS, "hour"),
        charts.share([TermCount(value="fr", count=3), TermCount(value="en", count=1)], "language"),
        charts.spread([Arrival(key="tg-a", platform="telegram", first_at=START, posts=2), Arrival(key="r-b", platform="reddit", first_at=START + timedelta(hours=2), posts=1)], PARIS),
    ],
    ids=["volume by hour", "volume by day", "timeline", "share", "spread"],
)
def test_every_chart_is_valid_vega_lite(chart: charts.Chart) -> None:
    valid(chart)


def test_the_timeline_marks_flagged_buckets_in_local_time() -> None:
    chart = charts.timeline(hours(3), [START + timedelta(hours=1)], PARIS, "hour")
    assert chart.data["spike"].tolist() == ["", "spike", ""]
    assert chart.data["time"].tolist()[0] == datetime(2026, 3, 1, 1, 0), "drawn in the analyst's zone (UTC+1 in March)"
    (area, points) = valid(chart)["layer"]
    assert points["transform"] == [{"filter": "datum.spike === 'spike'"}] and points["mark"]["color"] == "#d62728"


def test_daily_volumes_keep_their_utc_dates() -> None:
    chart = charts.volume([BucketCount(start=START, key="telegram", posts=4, authors=0, sources=0)], ZoneInfo("America/New_York"), "day")
    assert chart.data["time"].tolist() == [datetime(2026, 3, 1)]
    assert chart.spec["encoding"]["x"]["timeUnit"] == "yearmonthdate"
