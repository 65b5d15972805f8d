"""The spike detector on crafted series: each test builds the counts it relies on, from a seeded generator."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from alerts.spikes import DAY, HOUR, Series, SpikeParams, assess, dense_series, detect, fit_baseline, log_upper_tail, scan

START = datetime(2024, 4, 1, tzinfo=UTC)
DAYS = 21
PEAKED = [1, 1, 1, 1, 1, 1, 2, 4, 6, 8, 8, 8, 9, 9, 9, 10, 12, 16, 20, 20, 16, 10, 4, 2]
"""Posts per hour of a narrative with a strong evening peak (20 at 18:00 and 19:00, 1 at night)."""


def poisson(rng: random.Random, mean: float) -> int:
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def simulate(rates: list[float], seed: int = 1, authors: int = 400) -> tuple[list[int], list[int]]:
    """Posts per hour drawn around `rates`, each post by one of `authors` accounts (a few are loud)."""
    rng = random.Random(seed)
    pool = range(authors)
    loudness = [1 / (n + 1) for n in pool]
    posts, distinct = [], []
    for rate in rates:
        who = rng.choices(pool, loudness, k=poisson(rng, rate))
        posts.append(len(who))
        distinct.append(len(set(who)))
    return posts, distinct


def series(posts: list[int], authors: list[int], observed_from: datetime | None = START) -> Series:
    return Series(START, HOUR, tuple(posts), tuple(authors), tuple(1 for _ in posts), observed_from)


def hours(days: int = DAYS) -> range:
    return range(days * 24)


def last_days(s: Series, days: int = 5) -> int:
    return len(s) - days * 24


def test_flat_series_never_fires() -> None:
    posts, authors = simulate([5.0 for _ in hours()])
    assert scan(series(posts, authors), start=last_days(series(posts, authors), 7)) == []


def test_daily_cycle_peaks_do_not_fire() -> None:
    rates = [PEAKED[h % 24] for h in hours()]
    posts, authors = simulate(rates, seed=2)
    s = series(posts, authors)
    assert scan(s, start=last_days(s, 7)) == []
    evening = [i for i in range(last_days(s, 7), len(s)) if i % 24 == 18]
    assert all(assess(s, i).ratio < 1.5 for i in evening), "the baseline must expect the evening peak"


def peaked_with_burst(first: int, length: int, factor: float, seed: int) -> Series:
    """The PEAKED narrative with its rate multiplied by `factor` for `length` hours from hour `first`."""
    rates = [PEAKED[h % 24] * (factor if first <= h < first + length else 1) for h in hours()]
    return series(*simulate(rates, seed=seed))


def test_true_spike_fires_where_it_starts() -> None:
    surge = (DAYS - 2) * 24 + 10
    s = peaked_with_burst(surge, 3, 4, seed=3)
    spikes = scan(s, start=last_days(s, 7))
    assert spikes, "a 4x surge over three hours must fire"
    assert spikes[0].start <= s.bucket_start(surge + 2) and spikes[0].end > s.bucket_start(surge)
    assert all(s.bucket_start(surge) <= spike.end and spike.start < s.bucket_start(surge + 4) for spike in spikes)
    assert spikes[0].ratio >= 2.0 and spikes[0].authors >= 3 and spikes[0].p_value <= SpikeParams().p_value


def test_single_author_flood_is_not_a_surge() -> None:
    rates = [PEAKED[h % 24] for h in hours()]
    posts, authors = simulate(rates, seed=4)
    flood = (DAYS - 1) * 24 + 11
    posts[flood] += 200
    authors[flood] += 1
    s = series(posts, authors)
    verdict = assess(s, flood)
    assert verdict.ratio > 10 and verdict.p_value < 1e-20, "the post count alone looks like a huge spike"
    assert verdict.blocked_by == "author_significance"
    assert scan(s, start=flood) == []


def test_gradual_rise_is_followed_not_alerted() -> None:
    rates = [PEAKED[h % 24] * 1.065 ** (h / 24) for h in hours(28)]
    posts, authors = simulate(rates, seed=5)
    s = series(posts, authors)
    assert rates[-1] / rates[-24 * 14 - 1] > 2.4, "the level more than doubles over the window"
    assert scan(s, start=last_days(s, 10)) == []


def test_a_new_level_becomes_the_baseline_within_days() -> None:
    rates = [PEAKED[h % 24] * (1 if h < (DAYS - 5) * 24 else 3) for h in hours()]
    posts, authors = simulate(rates, seed=11)
    s = series(posts, authors)
    assert scan(s, start=last_days(s, 2)) == [], "days after a narrative settled at three times its level, that is the norm"
    level = fit_baseline(s, s.posts, len(s), SpikeParams()).level
    assert level == pytest.approx(3 * sum(PEAKED), rel=0.25), "the expected daily total follows the recent level"


def test_an_earlier_burst_does_not_raise_the_baseline() -> None:
    s = peaked_with_burst((DAYS - 3) * 24 + 10, 4, 12, seed=10)
    same_hour_now = (DAYS - 1) * 24 + 10
    assert assess(s, same_hour_now).expected == pytest.approx(PEAKED[10], rel=0.2)


def test_missing_buckets_are_zero_counts_after_collection_started() -> None:
    rng = random.Random(6)
    rows = []
    for h in hours():
        if rng.random() < 0.3:
            rows.append((START + h * HOUR, 2, 2, 1))
    surge = START + (DAYS - 1) * 24 * HOUR + 14 * HOUR
    rows.append((surge, 14, 12, 3))
    s = dense_series(sorted(rows, key=lambda r: r[0]), START, START + DAYS * DAY, HOUR, observed_from=START)
    assert sum(s.posts) == sum(r[1] for r in rows) and s.posts[s.index_of(surge)] == 14
    spike = detect(s, s.index_of(surge))
    assert spike is not None and spike.start == surge and spike.expected < 1.5


def test_no_firing_without_enough_history() -> None:
    rates = [5.0 for _ in hours()]
    rates[-2] = 60
    posts, authors = simulate(rates, seed=7)
    collected_since = START + timedelta(days=DAYS - 2)
    verdict = assess(series(posts, authors, observed_from=collected_since), len(posts) - 2)
    assert verdict.blocked_by == "history"
    assert assess(series(posts, authors), len(posts) - 2).is_spike, "with the history, the same burst fires"


def test_buckets_before_collection_are_not_zeros() -> None:
    """A narrative counted only since day 10 has a baseline from its 11 observed days, not from 14 with zeros."""
    rates = [0.0] * (10 * 24) + [6.0] * (11 * 24)
    posts, authors = simulate(rates, seed=8)
    observed = series(posts, authors, observed_from=START + timedelta(days=10))
    assert assess(observed, len(posts) - 1).expected == pytest.approx(6.0, rel=0.25)
    assert scan(observed, start=last_days(observed, 5)) == []


def test_one_post_against_nothing_does_not_fire() -> None:
    posts = [0] * (DAYS * 24)
    posts[-1] = 4
    verdict = assess(series(posts, posts), len(posts) - 1)
    assert verdict.blocked_by == "baseline"


def test_minimum_authors_guard() -> None:
    posts, authors = simulate([0.5 for _ in hours()], seed=9, authors=2)
    posts[-1] += 30
    authors[-1] = 2
    verdict = assess(series(posts, authors), len(posts) - 1)
    assert verdict.blocked_by == "authors"


def test_daily_buckets_use_the_weekly_cycle() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
    weekly = [30, 30, 30, 30, 30, 6, 6]
    rows = [(start + d * DAY, weekly[d % 7], weekly[d % 7], 2) for d in range(56)]
    s = dense_series(rows, start, start + 56 * DAY, DAY, observed_from=start)
    params = SpikeParams(window=timedelta(days=28), spans=(1,))
    assert s.period == 7
    assert [i for i in range(28, 56) if detect(s, i, params)] == [], "quiet weekends are part of the baseline"


@pytest.mark.parametrize(
    ("x", "mean", "dispersion", "expected"),
    [
        (10, 3.0, 1.0, 0.0011024881301154815),  # Poisson(3): P(X >= 10)
        (3, 10.0, 1.0, 0.9972306042844884),
        (50, 10.0, 3.0, 7.203294285246245e-06),  # negative binomial, variance 3x the mean
        (5, 10.0, 3.0, 0.8551541939744958),
        (1000, 900.0, 1.0, 0.0005499022657117818),
    ],
)
def test_upper_tail_matches_reference_values(x: int, mean: float, dispersion: float, expected: float) -> None:
    assert math.exp(log_upper_tail(x, mean, dispersion)) == pytest.approx(expected, rel=1e-9)


def test_upper_tail_of_nothing_is_certain() -> None:
    assert log_upper_tail(0, 5.0) == 0.0


def test_a_partly_counted_bucket_is_judged_against_that_part() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [(start + d * DAY, 10, 10, 2) for d in range(28)]
    now = start + 28 * DAY + timedelta(hours=4)  # today, four hours in: as many posts as a whole day usually has
    rows.append((start + 28 * DAY, 10, 10, 2))
    params = SpikeParams(spans=(1,))
    today = dense_series(rows, start, now, DAY, observed_from=start, observed_until=now)
    assert len(today) == 29 and today.coverage(28) == pytest.approx(4 / 24) and today.coverage(27) == 1.0
    verdict = assess(today, 28, params)
    assert verdict.is_spike and verdict.expected == pytest.approx(10 * 4 / 24)
    assert not detect(dense_series(rows, start, now, DAY, observed_from=start), 28, params), "against a whole day it is an ordinary day"
