"""Spike detection over count series: pure functions, no I/O.

A bucket (or a short run of buckets) is a spike when its count is well above what the trailing window predicts:
the expected count is the recent daily level times the share of that hour in the daily cycle; the significance is
the upper tail of a negative binomial whose overdispersion is estimated from the same window (a quasi-Poisson model
in the spirit of Farrington et al., 1996). The same test runs on distinct authors, so that one account flooding a
narrative is not a surge. `docs/alerts.md` ("Spike detection") explains the method and every parameter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_FIT_PASSES = 3
_NORMAL_MEDIAN_SQUARE = 0.4549
"""Median of the square of a standard normal variable."""


@dataclass(frozen=True, slots=True)
class Series:
    """Dense counts: bucket `i` covers `[start + i*step, start + (i+1)*step)`.

    Buckets before `observed_from` are unknown (nothing was being collected), not zero; missing buckets after it are
    zero, since stores omit empty buckets. A bucket that `observed_until` falls inside (today, in a daily series
    that ends now) has only been counted in part: what it is expected to hold is scaled by that part.
    """

    start: datetime
    step: timedelta
    posts: tuple[int, ...]
    authors: tuple[int, ...]
    sources: tuple[int, ...]
    observed_from: datetime | None = None
    observed_until: datetime | None = None

    def __post_init__(self) -> None:
        if not len(self.posts) == len(self.authors) == len(self.sources):
            raise ValueError("posts, authors and sources must have one value per bucket")

    def __len__(self) -> int:
        return len(self.posts)

    @property
    def period(self) -> int:
        """Buckets per cycle: the day for hourly buckets, the week for daily ones."""
        return 24 if self.step == HOUR else 7 if self.step == DAY else 1

    def phase(self, index: int) -> int:
        cycle_start = self.start.hour if self.step == HOUR else self.start.weekday() if self.step == DAY else 0
        return (cycle_start + index) % self.period

    def bucket_start(self, index: int) -> datetime:
        return self.start + index * self.step

    def index_of(self, when: datetime) -> int:
        return (when - self.start) // self.step

    def coverage(self, index: int) -> float:
        """The part of bucket `index` that was counted: 1 for a whole bucket, less for the one `observed_until` cuts."""
        if self.observed_until is None:
            return 1.0
        counted = (self.observed_until - self.bucket_start(index)) / self.step
        return min(max(counted, 0.0), 1.0)

    @property
    def first_observed(self) -> int:
        if self.observed_from is None or self.observed_from <= self.start:
            return 0
        return -(-(self.observed_from - self.start) // self.step)


def dense_series(
    buckets: Iterable[tuple[datetime, int, int, int]],
    start: datetime,
    end: datetime,
    step: timedelta,
    observed_from: datetime | None = None,
    observed_until: datetime | None = None,
) -> Series:
    """A Series over `[start, end)` from sparse `(bucket start, posts, authors, sources)` rows; absent buckets are zero.

    Pass `observed_until=end` when `end` is not on a bucket boundary and the last bucket is still filling in (today).
    """
    size = max(0, -(-(end - start) // step))
    posts, authors, sources = [0] * size, [0] * size, [0] * size
    for when, n_posts, n_authors, n_sources in buckets:
        index = (when - start) // step
        if 0 <= index < size:
            posts[index], authors[index], sources[index] = n_posts, n_authors, n_sources
    return Series(start, step, tuple(posts), tuple(authors), tuple(sources), observed_from, observed_until)


@dataclass(frozen=True, slots=True)
class SpikeParams:
    window: timedelta = timedelta(days=14)
    """Trailing window the baseline is learnt from."""
    min_history: timedelta = timedelta(days=3)
    """Nothing fires until this much has been observed before the current window."""
    p_value: float = 5e-3
    """Largest tail probability of the post count (after correcting for the number of spans tried) that counts."""
    author_p_value: float = 3e-4
    """Distinct authors must be above their own baseline at this stricter level: more posts from the usual few
    accounts, or one account flooding, is not a surge."""
    min_count: int = 5
    """Posts in the current window."""
    min_baseline: int = 5
    """Posts in the whole baseline window: one post against nothing is not a surge."""
    min_ratio: float = 1.5
    """Posts in the current window over the expected count."""
    min_authors: int = 3
    """Distinct authors in at least one bucket of the current window."""
    spans: tuple[int, ...] = (1, 3)
    """Lengths, in buckets, of the current windows tested: 1 catches sharp bursts first, 3 catches sustained surges at low volume."""
    level_half_life: float = 3.0
    """In cycles (days for hourly buckets): how fast the baseline follows a changing level."""
    profile_prior: float = 2.0
    """Pseudo-cycles pulling each hour's rate towards the overall mean, so a thin history gives a flat profile."""
    floor: float = 0.1
    """Smallest expected count per bucket."""
    max_overdispersion: float = 2.0
    """Cap on the estimated overdispersion: beyond it the series is too erratic for any count to stand out."""


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the trailing window predicts for one count series."""

    level: float
    """Expected total over one cycle (a day for hourly buckets)."""
    shares: tuple[float, ...]
    """Share of each phase (hour of day) in the cycle; they sum to 1."""
    overdispersion: Mapping[int, float]
    """Per window length (in buckets): `a` in variance = mean + a * mean**2 (negative binomial); 0 is Poisson."""
    total: int
    buckets: int

    def expected(self, phase: int, floor: float) -> float:
        return max(self.level * self.shares[phase], floor)

    def dispersion(self, span: int, mean: float) -> float:
        """Variance over mean of a sum of `span` buckets whose expected total is `mean`."""
        return 1.0 + self.overdispersion.get(span, 0.0) * mean


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one current window; `blocked_by` names the first guard that failed, None for a spike."""

    start: datetime
    end: datetime
    span: int
    count: int
    expected: float
    ratio: float
    p_value: float
    score: float
    """-log10 of the corrected tail probability."""
    authors: int
    """Most distinct authors in one bucket of the window."""
    author_count: int
    """Distinct authors summed over the window's buckets (what the author test uses)."""
    expected_authors: float
    author_p_value: float
    dispersion: float
    baseline_total: int
    blocked_by: str | None

    @property
    def is_spike(self) -> bool:
        return self.blocked_by is None


def log_upper_tail(x: int, mean: float, dispersion: float = 1.0) -> float:
    """log P(X >= x) for a count with this mean and variance `dispersion * mean`: Poisson at 1, negative binomial above."""
    if x <= 0:
        return 0.0
    mean = max(mean, 1e-12)
    if dispersion <= 1.0 + 1e-9:
        log_pmf = x * math.log(mean) - mean - math.lgamma(x + 1)

        def ratio(k: int) -> float:
            return mean / (k + 1)

    else:
        size = mean / (dispersion - 1.0)
        q = mean / (size + mean)
        log_pmf = math.lgamma(x + size) - math.lgamma(size) - math.lgamma(x + 1) + size * math.log1p(-q) + x * math.log(q)

        def ratio(k: int) -> float:
            return (k + size) / (k + 1) * q

    if x > mean:
        # Beyond the mode the terms only shrink: sum pmf(x), pmf(x+1), ... relative to pmf(x).
        total, term, k = 1.0, 1.0, x
        while term > 1e-17 * total and k < x + 1_000_000:
            term *= ratio(k)
            total += term
            k += 1
        return log_pmf + math.log(total)
    # Below the mean the tail is large: 1 - P(X <= x-1), summing downwards from x-1 where terms shrink too.
    log_top = log_pmf - math.log(ratio(x - 1))
    total, term, k = 1.0, 1.0, x - 1
    while k > 0 and term > 1e-17 * total:
        term /= ratio(k - 1)
        total += term
        k -= 1
    lower = math.exp(min(0.0, log_top + math.log(total)))
    return math.log(max(1.0 - lower, 1e-300))


def _profile_and_level(values: Sequence[float], phases: Sequence[int], period: int, params: SpikeParams) -> tuple[float, tuple[float, ...]]:
    """Hour-of-day shares (shrunk towards flat) and the recent daily level (an exponentially weighted mean of daily totals)."""
    sums, seen = [0.0] * period, [0] * period
    for value, phase in zip(values, phases, strict=True):
        sums[phase] += value
        seen[phase] += 1
    mean = sum(sums) / len(values)
    rates = [(sums[h] + params.profile_prior * mean) / (seen[h] + params.profile_prior) for h in range(period)]
    rate_sum = sum(rates)
    shares = tuple(r / rate_sum for r in rates) if rate_sum > 0 else tuple([1.0 / period] * period)

    levels, weights = [], []
    for j, end in enumerate(range(len(values), 0, -period)):
        block = range(max(0, end - period), end)
        covered = sum(shares[phases[i]] for i in block)
        if covered >= 0.5:
            levels.append(sum(values[i] for i in block) / covered)
            weights.append(0.5 ** (j / params.level_half_life))
    if not levels:
        return mean * period, shares
    return sum(w * b for w, b in zip(weights, levels, strict=True)) / sum(weights), shares


def _overdispersion(values: Sequence[float], expected: Sequence[float], span: int, limit: float) -> float:
    """Robust estimate of `a` in variance = mean + a * mean**2 for sums of `span` consecutive buckets.

    Each sum gives the `a` that would make its squared deviation the median one of a normal variable (0.455 standard
    deviations squared); the median of those is where half the sums look ordinary, so past bursts (up to half the
    window) do not move it. Measuring at the length of the window tested takes in what independent buckets would
    miss: a busy day lifts every hour of it.
    """
    guesses = []
    for end in range(len(values), span - 1, -1):
        observed, mean = sum(values[end - span : end]), sum(expected[end - span : end])
        guesses.append(((observed - mean) ** 2 / (_NORMAL_MEDIAN_SQUARE * mean) - 1) / mean)
    return min(max(median(guesses), 0.0), limit) if guesses else 0.0


def fit_baseline(series: Series, counts: Sequence[int], stop: int, params: SpikeParams) -> Baseline:
    """Learn the daily profile, the recent level and the overdispersion from the window ending before bucket `stop`.

    Outliers are clipped and the fit repeated, as Farrington's algorithm down-weights past outbreaks: each pass sees
    the counts clipped at three standard deviations above the previous fit, so an earlier burst does not raise the
    baseline for the next two weeks.
    """
    width = max(1, params.window // series.step)
    first = max(series.first_observed, stop - width, 0)
    if first >= stop:
        return Baseline(0.0, tuple([1.0 / series.period] * series.period), {}, 0, 0)
    values: list[float] = list(counts[first:stop])
    phases = [series.phase(i) for i in range(first, stop)]
    clipped = values
    for _ in range(_FIT_PASSES):
        level, shares = _profile_and_level(clipped, phases, series.period, params)
        expected = [max(level * shares[phase], params.floor) for phase in phases]
        overdispersion = _overdispersion(clipped, expected, 1, params.max_overdispersion)
        clipped = [min(v, e + 3 * math.sqrt(e * (1 + overdispersion * e))) for v, e in zip(values, expected, strict=True)]
    level, shares = _profile_and_level(clipped, phases, series.period, params)
    expected = [max(level * shares[phase], params.floor) for phase in phases]
    by_span = {span: _overdispersion(values, expected, span, params.max_overdispersion) for span in params.spans}
    return Baseline(level, shares, by_span, sum(counts[first:stop]), stop - first)


def _window_test(series: Series, counts: Sequence[int], baseline: Baseline, first: int, last: int, params: SpikeParams) -> tuple[int, float, float, float]:
    """(observed, expected, dispersion, corrected tail probability) of counts[first..last].

    A bucket counted in part (the current day) is expected to hold that part of a whole bucket's count: the posts of
    the first hours of a day are not judged against a full day.
    """
    observed = sum(counts[first : last + 1])
    expected = sum(baseline.expected(series.phase(i), params.floor) * series.coverage(i) for i in range(first, last + 1))
    dispersion = baseline.dispersion(last - first + 1, expected)
    p_value = min(1.0, math.exp(log_upper_tail(observed, expected, dispersion)) * len(params.spans))
    return observed, expected, dispersion, p_value


def assess(series: Series, index: int, params: SpikeParams = SpikeParams()) -> Assessment:
    """Judge the windows ending at bucket `index` (one per span); a spike if any passes every guard, else the closest call."""
    spans = sorted(span for span in params.spans if span <= index + 1) or [1]
    stop = index - spans[-1] + 1
    posts_baseline = fit_baseline(series, series.posts, stop, params)
    authors_baseline = fit_baseline(series, series.authors, stop, params)
    observed_for = (stop - series.first_observed) * series.step
    verdicts = []
    for span in spans:
        first = index - span + 1
        count, expected, dispersion, p_value = _window_test(series, series.posts, posts_baseline, first, index, params)
        author_count, expected_authors, _, author_p = _window_test(series, series.authors, authors_baseline, first, index, params)
        authors = max(series.authors[first : index + 1])
        ratio = count / expected if expected else math.inf
        checks = (
            ("history", observed_for >= params.min_history),
            ("baseline", posts_baseline.total >= params.min_baseline),
            ("count", count >= params.min_count),
            ("ratio", ratio >= params.min_ratio),
            ("authors", authors >= params.min_authors),
            ("significance", p_value <= params.p_value),
            ("author_significance", author_p <= params.author_p_value),
        )
        blocked_by = next((name for name, ok in checks if not ok), None)
        verdicts.append(
            Assessment(
                start=series.bucket_start(first),
                end=series.bucket_start(index + 1),
                span=span,
                count=count,
                expected=expected,
                ratio=ratio,
                p_value=p_value,
                score=-math.log10(max(p_value, 1e-300)),
                authors=authors,
                author_count=author_count,
                expected_authors=expected_authors,
                author_p_value=author_p,
                dispersion=dispersion,
                baseline_total=posts_baseline.total,
                blocked_by=blocked_by,
            )
        )
    spikes = [v for v in verdicts if v.is_spike]
    return max(spikes or verdicts, key=lambda v: v.score)


def detect(series: Series, index: int, params: SpikeParams = SpikeParams()) -> Assessment | None:
    """The spike ending at bucket `index`, or None."""
    verdict = assess(series, index, params)
    return verdict if verdict.is_spike else None


def scan(series: Series, params: SpikeParams = SpikeParams(), start: int = 0) -> list[Assessment]:
    """Every spike from bucket `start` to the end, as a detector run once per bucket would report them."""
    first = max(start, max(params.spans) - 1)
    return [spike for index in range(first, len(series)) if (spike := detect(series, index, params))]
