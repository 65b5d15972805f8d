"""Everything the pages read, as cached calls on the `Store` interface: counts and aggregates, never all posts.

Each function takes the store as `_store` (the cache leaves underscore arguments out of its key) and the store's
identity as `store_key`, so two stores never share cached results. An answer is shared by every session (it depends
on its arguments only: nothing here is the analyst's own) for `CACHE_TTL` (`dashboard.cache_ttl`), or longer for an
answer that was long to compute (`dashboard/cache.py`); past it, the next visit gets the kept answer at once while one
background thread asks the store again, and an answer older than twice that is never shown. So ten analysts on the
same page cost one query, a page rarely waits for an expired aggregate, and new posts appear within two TTLs (a
minute by default) on every count that takes less than half a second. `actions.py` clears what it changes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from alerts.rules import CANDIDATES, AlertsFile, EmergingRule, SpikeRule, load_alerts, search_rule_id as implicit_rule_id, subscriptions as merge_subscriptions
from alerts.spikes import DAY, HOUR, Series, SpikeParams, assess, dense_series, fit_baseline, scan
from alerts.origin import Origin, load_origin
from alerts.trends import TrendCache, floor
from dashboard.cache import SharedCache
from enrich.watchlists import load_watchlists
from store.base import BucketCount, ClusterSummary, PostQuery, SearchResult, Store, TermCount
from vigie.config import Config, Source, parse_duration
from vigie.models import Alert, AlertState, Candidate, CandidateState, CrawlRun, Post, SavedSearch, Subscription, utcnow

CACHE_TTL_ENV = "VIGIE_DASHBOARD__CACHE_TTL"
CACHE_TTL = parse_duration(os.environ.get(CACHE_TTL_ENV, "30s"))
SPIKE_PARAMS = SpikeParams()
TREND_WINDOW = DAY
"""The "now" of trending: the spike detector's daily level is the baseline it is compared with."""
TREND_BASELINE = SPIKE_PARAMS.window
TRENDING = 10
NARRATIVE_TOP = 10
POSTS_PAGE = 20
"""Posts per page of the Narrative page."""
ALERTS_SHOWN = 50
"""Alerts listed per state on the Alerts page."""
SOURCE_RATE_DAYS = 7

cache = SharedCache(CACHE_TTL.total_seconds())


@dataclass(frozen=True)
class Trend:
    """One narrative or hashtag now against its recent past."""

    key: str
    current: int
    """Posts in the last TREND_WINDOW."""
    baseline: float
    """Posts the spike detector's baseline expects in the current window, learnt from the TREND_BASELINE before it."""
    ratio: float | None
    """current / baseline; None when there was nothing in the baseline (a new subject)."""
    series: list[int]
    """Posts per day, oldest first, the current window last: the sparkline."""


@dataclass(frozen=True)
class SourceHealth:
    source_id: str
    platform: str
    last_run: CrawlRun | None
    problem: str | None
    """Why the source needs a look (failed, partial, late), None when it is fine."""


@dataclass(frozen=True)
class Overview:
    total: int
    volume: list[BucketCount]
    narratives: list[Trend]
    hashtags: list[Trend]
    open_alerts: list[Alert]
    """Most recently updated first, at most 200."""


@dataclass(frozen=True)
class SubjectView:
    total: int
    timeline: list[BucketCount]
    spikes: list[datetime]
    """Start of each bucket of the timeline where the spike detector fires."""
    top: dict[str, list[TermCount]] = field(default_factory=dict)
    clusters: list[ClusterSummary] = field(default_factory=list)


def digest(query: PostQuery) -> str:
    """A short name for a query's filters, to reset paging widgets when they change."""
    return hashlib.blake2b(query.model_dump_json(exclude={"offset"}).encode(), digest_size=6).hexdigest()


def interval_for(since: datetime, until: datetime) -> str:
    return "hour" if until - since <= timedelta(days=3) else "day"


# ---------------------------------------------------------------- overview


def overview_of(store: Store, store_key: str, config: Config, since: datetime, until: datetime, now: datetime) -> Overview:
    """The Overview of a period, its trends read from the alert cycle's series when `vigie up` keeps them."""
    alerting = config.settings.alerts
    return overview(store, store_key, since, until, now, str(config.data_dir / alerting.trends_file), alerting.lateness)


@cache
def overview(_store: Store, store_key: str, since: datetime, until: datetime, now: datetime, trends_file: str, lateness: timedelta) -> Overview:
    period = PostQuery(since=since, until=until, limit=0)
    narratives, hashtags = _trend_counts(_store, Path(trends_file), now, lateness)
    return Overview(
        total=_store.count_posts(period),
        volume=_store.count_buckets(period, interval_for(since, until), group_by="platform", distinct=False),
        narratives=_trends(narratives, now),
        hashtags=_trends(hashtags, now),
        open_alerts=_store.list_alerts(states=("open",), limit=200),
    )


def _trend_counts(store: Store, path: Path, now: datetime, lateness: timedelta) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """Hourly posts over the trend window per narrative, and per hashtag busy in the last day.

    Under `vigie up` they come from the alert cycle's trend series (`alerts.trends`), brought up to date in memory
    (re-counting only the last few hours; the file is the cycle's to write). Without a recent file, from the store.
    """
    start = now - TREND_WINDOW - TREND_BASELINE
    trends = TrendCache.open(path)
    if trends.counted_until is None or trends.counted_until < now - TREND_WINDOW:
        return _store_trend_counts(store, start, now)
    trends.refresh(store, utcnow(), keep_from=start, lateness=lateness)
    busy = trends.totals("hashtag", now - TREND_WINDOW, now)
    return (
        {key: trends.series("narrative", key, "hour", start, now).posts for key in trends.keys("narrative")},
        {key: trends.series("hashtag", key, "hour", start, now).posts for key in _busiest(busy)},
    )


def _store_trend_counts(store: Store, start: datetime, now: datetime) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    window = PostQuery(since=start, until=now, limit=0)
    busy = {t.value: t.count for t in store.top_terms(PostQuery(since=now - TREND_WINDOW, until=now, limit=0), "hashtag", limit=3 * TRENDING)}
    hashtags = store.count_buckets(window.model_copy(update={"hashtags": tuple(busy)}), "hour", group_by="hashtag", distinct=False) if busy else []
    narratives = store.count_buckets(window, "hour", group_by="narrative", distinct=False)
    return _hourly(narratives, start, now), _hourly([b for b in hashtags if b.key in busy], start, now)


def _hourly(buckets: list[BucketCount], start: datetime, now: datetime) -> dict[str, tuple[int, ...]]:
    rows: dict[str, list[tuple[datetime, int, int, int]]] = {}
    for bucket in buckets:
        rows.setdefault(bucket.key or "", []).append((bucket.start, bucket.posts, bucket.authors, bucket.sources))
    return {key: dense_series(key_rows, start, now, HOUR).posts for key, key_rows in rows.items()}


def _busiest(totals: dict[str, int]) -> list[str]:
    """The keys with the most posts: candidates worth ranking against their own past."""
    return sorted(totals, key=lambda key: (-totals[key], key))[: 3 * TRENDING]


def _trends(hourly: dict[str, tuple[int, ...]], now: datetime) -> list[Trend]:
    """Per key, the last day against what the spike detector's baseline expects of it from the days before.

    The hourly counts are summed into days ending at `now` (not UTC midnights), so "the last 24 hours" is current.
    Ranked by ratio (subjects new in the window first), then by volume.
    """
    days = TREND_BASELINE // TREND_WINDOW + 1
    start, hours = now - days * TREND_WINDOW, TREND_WINDOW // HOUR
    found = []
    for key, posts in hourly.items():
        counts = tuple(sum(posts[day * hours : (day + 1) * hours]) for day in range(days))
        if not counts[-1]:
            continue
        series = Series(start, DAY, counts, counts, counts)  # the baseline fit reads only the counts it is given
        baseline = fit_baseline(series, counts, days - 1, SPIKE_PARAMS)
        expected = baseline.expected(series.phase(days - 1), SPIKE_PARAMS.floor) if baseline.total else 0.0
        found.append(Trend(key, counts[-1], expected, counts[-1] / expected if expected else None, list(counts)))
    found.sort(key=lambda t: (t.ratio is not None, -(t.ratio or 0), -t.current, t.key))
    return found[:TRENDING]


# ---------------------------------------------------------------- narrative, term or hashtag


def subject_query(kind: str, value: str, since: datetime, until: datetime) -> PostQuery:
    field_name = {"narrative": "narratives", "term": "terms", "hashtag": "hashtags"}[kind]
    return PostQuery(since=since, until=until, limit=0, **{field_name: (value,)})


def posts_page(filters: PostQuery) -> PostQuery:
    """The first page of a subject's posts, newest first."""
    return filters.model_copy(update={"limit": POSTS_PAGE, "sort": "newest"})


def cluster_query(cluster_id: str, until: datetime) -> PostQuery:
    """A copy-paste cluster's posts up to the end of the period, wherever it started."""
    return PostQuery(cluster_id=cluster_id, until=until)


def sample_post_ids(alert: Alert) -> tuple[str, ...]:
    """The posts an alert's evidence shows."""
    return tuple(str(post_id) for post_id in (alert.evidence.get("sample_post_ids") or [])[:5])


@cache
def subject(_store: Store, store_key: str, kind: str, value: str, since: datetime, until: datetime) -> SubjectView:
    query = subject_query(kind, value, since, until)
    top = {name: _store.top_terms(query, name, limit=NARRATIVE_TOP + 1) for name in ("source", "author", "hashtag", "domain", "narrative", "language")}
    top["narrative"] = [term for term in top["narrative"] if not (kind == "narrative" and term.value == value)]
    timeline, spikes = _timeline(_store, query, since, until)
    return SubjectView(
        total=_store.count_posts(query),
        timeline=timeline,
        spikes=spikes,
        top={name: terms[:NARRATIVE_TOP] for name, terms in top.items()},
        clusters=_store.clusters(query, min_sources=2, limit=10),
    )


def _timeline(store: Store, query: PostQuery, since: datetime, until: datetime) -> tuple[list[BucketCount], list[datetime]]:
    """Every bucket the period touches (empty ones too), and those flagged as spikes.

    Buckets are the store's: hours, or UTC days from midnight, so the first day of a daily timeline is a whole day
    and the last one is today, counted up to `until`. Daily timelines re-run the spike detector on daily counts,
    each day judged against the 14 days before it, so the marks cover the whole history; today is judged against the
    part of a day it covers. Hourly timelines (3 days or less) mark the spikes the alert cycle raised on this
    subject: re-running the hourly detector over every hour would take seconds per page.
    """
    interval = interval_for(since, until)
    step = HOUR if interval == "hour" else DAY
    start = floor(since, step)
    history_start = start - SPIKE_PARAMS.window if step == DAY else start
    buckets = store.count_buckets(query.model_copy(update={"since": history_start}), interval)
    series = dense_series(((b.start, b.posts, b.authors, b.sources) for b in buckets), history_start, until, step, observed_until=until)
    first = series.index_of(start)
    if step == DAY:
        spikes = _daily_spikes(series, first)
    else:
        subject = query.narratives or query.terms or query.hashtags
        alerts = store.list_alerts(since=since, limit=1000)
        spikes = sorted({_hour(alert.bucket_start or alert.opened_at) for alert in alerts if alert.kind == "spike" and (alert.subject,) == subject})
    dense = [BucketCount(series.bucket_start(i), None, series.posts[i], series.authors[i], series.sources[i]) for i in range(first, len(series))]
    return dense, [moment for moment in spikes if start <= moment < until]


def _daily_spikes(series: Series, first: int) -> list[datetime]:
    """Start of each day from bucket `first` on where the detector fires and that day is itself busier than expected.

    A three-day window can still fire on the days after a one-day surge (on the first hours of today most of all,
    judged on the little of a day they cover): the surge lifts the window on its own. The mark stays on its day.
    """
    one_day = replace(SPIKE_PARAMS, spans=(1,))
    marks = []
    for found in scan(series, SPIKE_PARAMS, start=first):
        last = series.index_of(found.end) - 1
        if found.span == 1 or assess(series, last, one_day).ratio >= 1:
            marks.append(series.bucket_start(last))
    return marks


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Watchlists:
    """What the watchlists name: the pickers offer these without counting posts."""

    narratives: dict[str, str]
    """Narrative id → the name analysts know it by."""
    terms: list[str]
    """Terms and hashtags as the watchlists write them, which is how matches name them (`TagMatch.term`)."""
    hashtags: list[str]
    """The watchlists' hashtags as posts carry them: lower case, without `#`."""


@cache
def watchlists(config_dir: str) -> Watchlists:
    narratives, terms, hashtags = {}, {}, {}
    for watchlist in load_watchlists(Path(config_dir) / "watchlists"):
        for narrative in watchlist.narratives:
            narratives[narrative.id] = narrative.label
            terms.update(dict.fromkeys(term for language in sorted(narrative.terms) for term in narrative.terms[language]))
            terms.update(dict.fromkeys(narrative.hashtags))
            hashtags.update(dict.fromkeys(tag.lstrip("#").lower() for tag in narrative.hashtags))
    return Watchlists(narratives, sorted(terms, key=str.casefold), sorted(hashtags))


@cache
def recent_values(_store: Store, store_key: str, field_name: str, now: datetime, limit: int = 100) -> list[str]:
    """The most frequent values of a field in the last day: fresh choices the config cannot know (hashtags)."""
    return [term.value for term in _store.top_terms(PostQuery(since=now - DAY, until=now, limit=0), field_name, limit=limit)]


# ---------------------------------------------------------------- search


@cache
def search(_store: Store, store_key: str, query: PostQuery) -> SearchResult:
    return _store.search(query)


@cache
def coverage(_store: Store, store_key: str, filters: PostQuery) -> int:
    """What a search runs over: how many posts its filters select, words aside."""
    return _store.count_posts(filters.model_copy(update={"text": None}))


@cache
def saved_searches(_store: Store, store_key: str) -> list[SavedSearch]:
    return _store.list_searches()


# ---------------------------------------------------------------- alerts


@cache
def alerts(_store: Store, store_key: str, states: tuple[AlertState, ...], limit: int = 200) -> list[Alert]:
    return _store.list_alerts(states=states, limit=limit)


@cache
def alert(_store: Store, store_key: str, alert_id: str) -> Alert | None:
    return _store.get_alert(alert_id)


@cache
def candidates(_store: Store, store_key: str, states: tuple[CandidateState, ...], limit: int = 200) -> list[Candidate]:
    """Newest first (by their first post), then fastest growing."""
    found = _store.list_candidates(states=states, limit=limit)
    return sorted(found, key=lambda c: (-c.first_post_at.timestamp(), -c.growth, c.id))


@cache
def origin(_store: Store, store_key: str, query: PostQuery) -> Origin:
    return load_origin(_store, query)


@cache
def posts(_store: Store, store_key: str, post_ids: tuple[str, ...]) -> list[Post]:
    return _store.get_posts(post_ids)


# ---------------------------------------------------------------- sources and subscriptions


def source_specs(sources: Iterable[Source]) -> tuple[tuple[str, str, float], ...]:
    """What `source_health` needs of configured sources: id, platform, crawl interval in seconds."""
    return tuple((source.id, source.platform, source.every.total_seconds()) for source in sources)


@cache
def source_health(_store: Store, store_key: str, sources: tuple[tuple[str, str, float], ...], now: datetime) -> list[SourceHealth]:
    """Each configured source (id, platform, crawl interval in seconds): its last run and what is wrong with it."""
    last = _store.last_runs([source_id for source_id, _, _ in sources])
    return [SourceHealth(source_id, platform, last.get(source_id), _problem(last.get(source_id), every, now)) for source_id, platform, every in sources]


@cache
def posts_per_day(_store: Store, store_key: str, now: datetime) -> dict[str, float]:
    """Source id → posts per day over the last SOURCE_RATE_DAYS."""
    week = PostQuery(since=now - timedelta(days=SOURCE_RATE_DAYS), until=now, limit=0)
    return {term.value: term.count / SOURCE_RATE_DAYS for term in _store.top_terms(week, "source", limit=100_000)}


def _problem(run: CrawlRun | None, every: float, now: datetime) -> str | None:
    if run is None:
        return "never crawled"
    if run.status == "failed":
        return "last run failed"
    if run.status == "partial":
        return "last run was partial"
    if now - run.started_at > timedelta(seconds=3 * every) + timedelta(minutes=30):
        return "late: no run for three intervals"
    return None


@dataclass(frozen=True)
class Subscriber:
    subscription: Subscription
    origin: Literal["dashboard", "alerts.yaml", "dashboard, over alerts.yaml"]
    """Where it is kept: the dashboard's copy (in the store) wins over an alerts.yaml entry with the same id."""


@cache
def alert_rules(_config: Config, config_dir: str) -> AlertsFile:
    """The rules and subscriptions of config/alerts.yaml, as the alert cycle reads them."""
    return load_alerts(_config)


def search_rule_id(saved_id: str, rules: list[Any]) -> str:
    """The rule that alerts on a saved search: the alerts.yaml rule watching it, else the implicit rule the alert cycle
    adds for a subscribed search (alerts/rules.py `search_rules`)."""
    watching = next((rule.id for rule in rules if isinstance(rule, SpikeRule) and rule.watch.search == saved_id), None)
    return watching or implicit_rule_id(saved_id)


def _watches(rule: Any) -> str:
    if isinstance(rule, SpikeRule):
        return f"spike in {rule.watch.subject_type} {rule.watch.subject}"
    if isinstance(rule, EmergingRule):
        return f"emerging {' and '.join(rule.fields)}s"
    return "silent sources"


@cache
def stored_subscriptions(_store: Store, store_key: str) -> list[Subscription]:
    """The subscriptions made in the dashboard."""
    return _store.list_subscriptions()


def subscribers(alerts_file: AlertsFile, stored: list[Subscription]) -> list[Subscriber]:
    """Every subscription the alert cycle will use: alerts.yaml's entries and the dashboard's, merged as it merges them."""
    configured = {entry.to_subscription().id for entry in alerts_file.subscriptions}
    kept = {sub.id for sub in stored}

    def origin(sub: Subscription) -> Literal["dashboard", "alerts.yaml", "dashboard, over alerts.yaml"]:
        if sub.id not in kept:
            return "alerts.yaml"
        return "dashboard, over alerts.yaml" if sub.id in configured else "dashboard"

    merged = [Subscriber(sub, origin(sub)) for sub in merge_subscriptions(alerts_file.subscriptions, stored)]
    return sorted(merged, key=lambda s: (s.subscription.email, s.subscription.id))


def rule_choices(alerts_file: AlertsFile, saved: list[SavedSearch], subscriptions: list[Subscription]) -> dict[str, str]:
    """Rule id → what it watches: every rule of alerts.yaml, one per saved search, and any other id a subscription names."""
    choices = {"*": "All alerts", CANDIDATES: "New candidate narratives (in the daily digest)"}
    choices.update({rule.id: f"{rule.label}: {_watches(rule)}" + ("" if rule.enabled else " (disabled)") for rule in alerts_file.rules})
    for search in saved:
        choices.setdefault(search_rule_id(search.id, alerts_file.rules), f"{search.name}: spike in saved search {search.id}")
    for sub in subscriptions:
        choices.update({rule: f"{rule} (no such rule in alerts.yaml)" for rule in sub.rules if rule not in choices})
    return choices
