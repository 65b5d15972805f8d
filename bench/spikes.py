"""How well the spike detector finds surges: precision, recall and detection delay of the detector at default
settings, against a fixed-threshold detector, in the same run.

The series are shaped by the recorded fixtures' timing: the hour-of-day profile is the real `published_at` of the
posts in `tests/fixtures/` (Reddit, Mastodon, Bluesky, Telegram, RSS/Atom, YouTube), each file weighing at most 20
posts so one busy listing does not make the day. On top, drawn from a seeded generator: day-to-day level changes,
bursty (overdispersed) hourly counts, a pool of authors where a few are loud, then injected events of known size and
time: surges of 2x, 3x and 5x the expected count lasting 3 hours (where at least 10 posts are expected over them), and
non-spikes: the daily peak (every day) and one author flooding the narrative for an hour (30 posts or more).

Run: `.venv/bin/python bench/spikes.py [--series 36] [--seed 7]`.
"""

from __future__ import annotations

import argparse
import calendar
import json
import math
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.spikes import HOUR, Series, SpikeParams, detect  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
START = datetime(2024, 3, 4, tzinfo=UTC)
DAYS = 28
WARM_UP_DAYS = 14
SURGE_HOURS = 3
FILE_WEIGHT_CAP = 20
LEVELS = (3.0, 8.0, 20.0)
"""Average posts per hour of the simulated narratives."""
SURGES = (3, 3, 2, 5)
"""Surge sizes injected in each series (multiples of the expected count)."""
MIN_SURGE_BASE = 10.0
"""Surges start where the narrative expects at least this many posts over their 3 hours: tripling fewer is a handful
of posts that no count test (not even one told the true rate) can tell from noise."""
FLOODS = 2
"""Single-author floods injected in each series."""
HOURLY_SHAPE = 25.0
"""Gamma shape of the hour-to-hour noise on the rate (coefficient of variation 1/sqrt(shape) = 20%)."""
DAILY_SIGMA = 0.10
"""Day-to-day level changes (log-normal sigma); weekends are 15% quieter."""
MERGE_GAP = 3
"""Detections less than this many buckets apart are one alert, as the re-alert cool-down makes them."""


# ---------------------------------------------------------------- timing of the recorded posts


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _feed_times(path: Path) -> list[datetime]:
    parsed = feedparser.parse(path.read_bytes())
    stamps = (entry.get("published_parsed") or entry.get("updated_parsed") for entry in parsed.entries)
    return [datetime.fromtimestamp(calendar.timegm(stamp), UTC) for stamp in stamps if stamp]


def _cassette_times(path: Path) -> list[datetime]:
    times = []
    for interaction in yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]:
        body = json.loads(interaction["response"]["body"]["string"] or "null")
        for status in body if isinstance(body, list) else [body]:
            if isinstance(status, dict) and "created_at" in status:
                times.append(_iso(status["created_at"]))
    return times


def fixture_times() -> dict[str, list[datetime]]:
    """Real publication times of the recorded posts, per fixture file."""
    times: dict[str, list[datetime]] = {}
    reddit = json.loads((FIXTURES / "reddit" / "TestSubredditListings.test_new.body.json").read_text(encoding="utf-8"))
    times["reddit"] = [datetime.fromtimestamp(child["data"]["created_utc"], UTC) for child in reddit["data"]["children"]]
    for path in sorted((FIXTURES / "mastodon").glob("*.json")):
        times[path.name] = [_iso(status["created_at"]) for status in json.loads(path.read_text(encoding="utf-8"))]
    for path in sorted((FIXTURES / "mastodon").glob("*.yaml")):
        times[path.name] = _cassette_times(path)
    author_feed = json.loads((FIXTURES / "bluesky" / "getAuthorFeed.json").read_text(encoding="utf-8"))
    times["bluesky"] = [_iso(item["post"]["record"]["createdAt"]) for item in author_feed["feed"]]
    for path in sorted((FIXTURES / "telegram").rglob("*.html")):
        times[path.name] = [_iso(value) for value in re.findall(r'<time[^>]*datetime="([^"]+)"', path.read_text(encoding="utf-8"))]
    for path in sorted([*(FIXTURES / "rss").glob("*.xml"), *(FIXTURES / "rss").glob("*.atom"), *(FIXTURES / "youtube").glob("*.xml")]):
        times[path.name] = _feed_times(path)
    json_feed = json.loads((FIXTURES / "rss" / "json_feed.json").read_text(encoding="utf-8"))
    times["json_feed"] = [_iso(item["date_published"]) for item in json_feed["items"] if item.get("date_published")]
    return {name: stamps for name, stamps in times.items() if stamps}


def hour_profile(times: dict[str, list[datetime]]) -> list[float]:
    """Share of posts per UTC hour: each file weighs at most FILE_WEIGHT_CAP posts, smoothed over +-2 hours."""
    raw = [0.0] * 24
    for stamps in times.values():
        weight = min(len(stamps), FILE_WEIGHT_CAP) / len(stamps)
        for stamp in stamps:
            raw[stamp.hour] += weight
    kernel = (1, 2, 3, 2, 1)
    smooth = [sum(k * raw[(h + offset - 2) % 24] for offset, k in enumerate(kernel)) for h in range(24)]
    total = sum(smooth)
    return [value / total for value in smooth]


# ---------------------------------------------------------------- simulated narratives


@dataclass
class Scenario:
    level: float
    series: Series
    surges: list[tuple[int, int]]
    """(first bucket, size) of each injected surge."""
    floods: list[int]
    """First bucket of each single-author flood."""


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def simulate(rng: random.Random, level: float, profile: list[float]) -> Scenario:
    hours = DAYS * 24
    day_factor = [math.exp(rng.gauss(0, DAILY_SIGMA)) * (0.85 if (START + timedelta(days=d)).weekday() >= 5 else 1.0) for d in range(DAYS)]
    expected = [level * 24 * profile[(START + i * HOUR).hour] * day_factor[i // 24] for i in range(hours)]
    pool = [f"author-{n}" for n in range(300)]
    loudness = [1 / (n + 1) for n in range(300)]
    posts: list[list[str]] = [rng.choices(pool, loudness, k=_poisson(rng, mu * rng.gammavariate(HOURLY_SHAPE, 1 / HOURLY_SHAPE))) for mu in expected]

    # Injected events on separate days, two days apart, all after the warm-up.
    days = rng.sample(range(WARM_UP_DAYS + 1, DAYS - 1, 2), len(SURGES) + FLOODS)
    surges, floods = [], []
    for size, day in zip(SURGES, days, strict=False):
        first = day * 24 + rng.randrange(24)
        while sum(expected[first : first + SURGE_HOURS]) < MIN_SURGE_BASE:
            first = day * 24 + rng.randrange(24)
        for i in range(first, first + SURGE_HOURS):
            posts[i] += rng.choices(pool, k=_poisson(rng, (size - 1) * expected[i]))
        surges.append((first, size))
    for n, day in enumerate(days[len(SURGES) :]):
        first = day * 24 + rng.randrange(24)
        posts[first] += [f"flooder-{n}"] * max(30, round(10 * expected[first]))
        floods.append(first)
    series = Series(START, HOUR, tuple(len(p) for p in posts), tuple(len(set(p)) for p in posts), tuple(1 for _ in posts), observed_from=START)
    return Scenario(level, series, surges, floods)


# ---------------------------------------------------------------- detectors and scoring


def fixed_threshold(series: Series, index: int) -> bool:
    """The simple rule many dashboards ship: at least twice the trailing 14-day hourly mean, and at least 5 posts."""
    history = series.posts[max(0, index - 14 * 24) : index]
    mean = sum(history) / len(history) if history else 0.0
    return series.posts[index] >= max(5, 2 * mean)


def default_detector(series: Series, index: int) -> bool:
    return detect(series, index, SpikeParams()) is not None


@dataclass
class Score:
    surges: dict[int, int] = field(default_factory=dict)
    found: dict[int, int] = field(default_factory=dict)
    delays: dict[int, list[int]] = field(default_factory=dict)
    by_level: dict[float, list[int]] = field(default_factory=dict)
    """Average posts per hour -> [3x surges found, 3x surges injected]."""
    alerts: int = 0
    true_alerts: int = 0
    flood_alerts: int = 0
    peak_alerts: int = 0
    seconds: float = 0.0


def evaluate(name: str, detector: Callable[[Series, int], bool], scenarios: list[Scenario], peak_hours: set[int]) -> Score:
    score = Score()
    started = time.perf_counter()
    for scenario in scenarios:
        series = scenario.series
        fired = [i for i in range(WARM_UP_DAYS * 24, len(series)) if detector(series, i)]
        starts = [i for n, i in enumerate(fired) if n == 0 or i - fired[n - 1] > MERGE_GAP]
        score.alerts += len(starts)
        matched: set[int] = set()
        for first, size in scenario.surges:
            score.surges[size] = score.surges.get(size, 0) + 1
            hit = next((i for i in starts if first <= i < first + SURGE_HOURS + max(SpikeParams().spans)), None)
            if size == 3:
                tally = score.by_level.setdefault(scenario.level, [0, 0])
                tally[0] += hit is not None
                tally[1] += 1
            if hit is not None:
                matched.add(hit)
                score.found[size] = score.found.get(size, 0) + 1
                score.delays.setdefault(size, []).append(hit - first + 1)
        score.true_alerts += len(matched)
        for i in set(starts) - matched:
            if any(flood <= i < flood + max(SpikeParams().spans) for flood in scenario.floods):
                score.flood_alerts += 1
            elif series.phase(i) in peak_hours:
                score.peak_alerts += 1
    score.seconds = time.perf_counter() - started
    return score


def report(name: str, score: Score) -> None:
    precision = score.true_alerts / score.alerts if score.alerts else 1.0
    print(f"\n{name}")
    print(f"  alerts {score.alerts}: {score.true_alerts} on injected surges, {score.flood_alerts} on single-author floods, "
          f"{score.peak_alerts} on the daily peak hours, {score.alerts - score.true_alerts - score.flood_alerts - score.peak_alerts} elsewhere")
    print(f"  precision {precision:.3f}")
    for size in sorted(score.surges):
        found, total = score.found.get(size, 0), score.surges[size]
        delays = score.delays.get(size, [])
        delay = f"median {statistics.median(delays):.0f} h, mean {statistics.mean(delays):.1f} h" if delays else "n/a"
        print(f"  recall {size}x surges {found / total:.3f} ({found}/{total}), delay {delay}")
    levels = ", ".join(f"{level:g}/h: {found}/{total}" for level, (found, total) in sorted(score.by_level.items()))
    print(f"  3x surges found by narrative volume: {levels}")
    print(f"  time {score.seconds:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=36, help="simulated narratives, spread over the levels")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    times = fixture_times()
    profile = hour_profile(times)
    peak = max(profile)
    peak_hours = {h for h, share in enumerate(profile) if share >= 0.75 * peak}
    print(f"intra-day profile from {sum(len(t) for t in times.values())} recorded posts in {len(times)} fixture files")
    print("  share per UTC hour: " + " ".join(f"{h:02d}:{100 * s:.1f}%" for h, s in enumerate(profile)))
    print(f"  peak/trough {peak / min(profile):.1f}, peak hours {sorted(peak_hours)}")

    rng = random.Random(args.seed)
    scenarios = [simulate(rng, LEVELS[n % len(LEVELS)], profile) for n in range(args.series)]
    print(f"{len(scenarios)} series of {DAYS} days (hourly), levels {', '.join(f'{v:g}' for v in LEVELS)} posts/hour on average; "
          f"scored after a {WARM_UP_DAYS}-day warm-up; surges last {SURGE_HOURS} h")

    default = evaluate("default", default_detector, scenarios, peak_hours)
    fixed = evaluate("fixed", fixed_threshold, scenarios, peak_hours)
    report("default detector (alerts.spikes, default SpikeParams)", default)
    report("fixed threshold (>= 2x trailing hourly mean and >= 5 posts)", fixed)

    precision = default.true_alerts / default.alerts if default.alerts else 1.0
    recall3 = default.found.get(3, 0) / default.surges[3]
    ok = recall3 >= 0.9 and precision >= 0.9 and default.flood_alerts == 0 and default.peak_alerts == 0
    print(f"\ntargets (recall 3x >= 0.9, precision >= 0.9, no alert on daily peaks or floods): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
