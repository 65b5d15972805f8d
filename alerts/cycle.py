"""One detection cycle: refresh the trend series, run every rule of `config/alerts.yaml` and the implicit rules on
subscribed saved searches, open, update or resolve alerts with their evidence, and queue the notifications they call
for in the outbox (`alerts.outbox` sends them). Once an hour it also proposes candidate narratives."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from alerts.candidates import CandidateParams, count_features, find_candidates, post_features, reconcile
from alerts.emerging import TermWindow, find_emerging
from alerts.email import alert_email, dashboard_links
from alerts.origin import load_origin
from alerts.policy import Detection, Outcome, SubjectType, alert_key, apply_detection, mark_notified, notification_number, resolve_if_quiet
from alerts.rules import EVERY, EmergingRule, SourceSilentRule, SpikeRule, load_alerts, search_rules, subscribers, subscriptions
from alerts.spikes import HOUR, detect
from alerts.trends import TrendCache, floor
from alerts.webhook import alert_payload, webhook_url
from store.base import PostQuery, Store, TopField
from vigie.config import CandidateSettings, Config
from vigie.models import Alert, Candidate, OutboxMessage, Post, SavedSearch, Subscription, as_utc, utcnow

log = logging.getLogger(__name__)

TOP = 5
SAMPLES = 5
_AUTHOR_LIMIT = 1000
_QUERY_FIELDS = {"narrative": "narratives", "term": "terms", "hashtag": "hashtags"}
CANDIDATES_CURSOR = "alerts:candidates"
"""Store cursor holding the hour candidates were last looked for."""
ORIGIN_LOOKBACK = timedelta(hours=72)
"""An alert's origin is looked for this far before its surge: where the wave started, not the narrative's first post ever."""

Found = list[tuple[Detection, PostQuery | None]]
"""What a rule found, each detection with the query of its posts (None for sources)."""


@dataclass(frozen=True)
class _Watched:
    """One series a spike rule looks at, and the posts it counts."""

    subject_type: SubjectType
    subject: str
    query: PostQuery


def describe(span: timedelta) -> str:
    """`3 hours`, `1 day`, `14 days`."""
    hours = span.total_seconds() / 3600
    if hours % 24 == 0:
        days = int(hours // 24)
        return f"{days} day{'s' if days != 1 else ''}"
    if hours.is_integer():
        return f"{int(hours)} hour{'s' if hours != 1 else ''}"
    return f"{round(hours * 60)} minutes"


def run_cycle(config: Config, store: Store, at: datetime | None = None) -> list[Alert]:
    """Run one cycle; returns the alerts whose surge was seen in it (opened, escalated or still going on)."""
    return [outcome.alert for outcome in check(config, store, at) if outcome.action != "resolved"]


def check(config: Config, store: Store, at: datetime | None = None) -> list[Outcome]:
    """Run one cycle; returns what happened to each alert it touched, resolutions included."""
    at = as_utc(at or utcnow())
    propose_candidates(config, store, at)
    alerts_file = load_alerts(config)
    everyone = subscriptions(alerts_file.subscriptions, store.list_subscriptions())
    saved = {search.id: search for search in store.list_searches()}
    rules = [rule for rule in [*alerts_file.rules, *search_rules(alerts_file.rules, saved.values(), everyone)] if rule.enabled]
    if not rules:
        return []
    settings = config.settings.alerts

    searched = {rule.id: _searched(rule, saved) for rule in rules if isinstance(rule, SpikeRule) and rule.watch.subject_type == "search"}
    rules = [rule for rule in rules if searched.get(rule.id, True)]
    spans = [rule.window + rule.step * (max(rule.params().spans) + 1) for rule in rules if isinstance(rule, SpikeRule)]
    spans += [rule.window + rule.current for rule in rules if isinstance(rule, EmergingRule)]
    cache = TrendCache.open(config.data_dir / settings.trends_file)
    cache.refresh(
        store,
        at,
        keep_from=at - max(spans, default=timedelta(days=1)) - settings.lateness - timedelta(days=1),
        lateness=settings.lateness,
        searches=[watched.query for watched in searched.values() if watched],
    )
    cache.save()

    detections: list[Detection] = []
    queries: dict[tuple[str, str, str], PostQuery] = {}
    for rule in rules:
        if isinstance(rule, SpikeRule):
            found = _spikes(rule, cache, at, settings.lateness, searched.get(rule.id))
        elif isinstance(rule, EmergingRule):
            found = _emerging(rule, cache, store, at)
        else:
            found = _silent_sources(rule, config, store, at)
        for detection, query in found:
            detections.append(detection)
            if query is not None:
                queries[detection.key] = query

    labels = {rule.id: rule.label for rule in rules}
    previous = _recent_alerts(store, at, settings.cooldown)
    outcomes = []
    for detection in detections:
        outcome = apply_detection(detection, previous.get(detection.key), at, settings.cooldown, settings.renotify_growth)
        alert, samples = outcome.alert, []
        if outcome.notify:
            alert, samples = _with_evidence(alert, queries.get(detection.key), labels[alert.rule_id], store)
            alert = _notify(alert, samples, config, store, everyone, at)
        store.save_alert(alert)
        outcomes.append(Outcome(alert, outcome.action))
    seen = {detection.key for detection in detections}
    for key, alert in previous.items():
        if key[0] in labels and key not in seen and (resolved := resolve_if_quiet(alert, at, settings.cooldown)):
            store.save_alert(resolved.alert)
            outcomes.append(resolved)
    return outcomes


def _recent_alerts(store: Store, at: datetime, cooldown: timedelta) -> dict[tuple[str, str, str], Alert]:
    """The latest alert per rule and subject among the active ones and those resolved within the cool-down."""
    latest: dict[tuple[str, str, str], Alert] = {}
    candidates = [*store.list_alerts(states=("open", "acknowledged"), limit=10_000), *store.list_alerts(states=("resolved",), since=at - cooldown, limit=10_000)]
    for alert in sorted(candidates, key=lambda a: a.updated_at):
        latest[alert_key(alert)] = alert
    return latest


# ---------------------------------------------------------------- candidate narratives


def propose_candidates(config: Config, store: Store, at: datetime, *, force: bool = False) -> list[Candidate]:
    """Look for candidate narratives once per hour (or now with `force`), save them, and return them.

    Reads the current window's posts and counts the features of the baseline window's, one post at a time.
    """
    settings = config.settings.alerts.candidates
    hour = floor(at, HOUR).isoformat()
    if not settings.enabled or (not force and (store.get_cursor(CANDIDATES_CURSOR) or {}).get("hour") == hour):
        return []
    current_start = at - settings.current
    current = [post_features(post) for post in store.iter_posts(PostQuery(since=current_start, until=at))]
    counts, total = count_features(post_features(post) for post in store.iter_posts(PostQuery(since=current_start - settings.window, until=current_start)))
    found = find_candidates(current, counts, total, at, candidate_params(settings))
    previous = store.list_candidates(since=current_start - settings.window, limit=10_000)
    candidates = reconcile(found, previous, at, settings.regrowth)
    for candidate in candidates:
        store.save_candidate(candidate)
    store.set_cursor(CANDIDATES_CURSOR, {"hour": hour, "found": len(candidates)})
    return candidates


def candidate_params(settings: CandidateSettings) -> CandidateParams:
    return CandidateParams(
        min_posts=settings.min_posts,
        min_term_posts=settings.min_term_posts,
        min_sources=settings.min_sources,
        min_authors=settings.min_authors,
        two_source_authors=settings.two_source_authors,
        term_p_value=settings.term_p_value,
        p_value=settings.p_value,
    )


# ---------------------------------------------------------------- spikes


def _searched(rule: SpikeRule, saved_searches: dict[str, SavedSearch]) -> _Watched | None:
    """The search a rule watches; None (and the rule skipped, its alerts left as they are) when it was deleted."""
    if rule.watch.query is not None:
        return _Watched("search", rule.id, rule.watch.query)
    saved = saved_searches.get(rule.watch.search or "")
    if saved is None:
        log.warning("alert rule %s: no saved search %r; the rule is skipped", rule.id, rule.watch.search)
        return None
    return _Watched("search", saved.id, PostQuery.model_validate(saved.query))


def _spike_subjects(rule: SpikeRule, cache: TrendCache, searched: _Watched | None) -> list[_Watched]:
    if searched is not None:
        return [searched]
    kind, subject = rule.watch.subject_type, rule.watch.subject
    values = cache.keys(kind, rule.interval) if subject == EVERY else [subject]
    return [_Watched(kind, value, PostQuery(**{_QUERY_FIELDS[kind]: (value,)})) for value in values]


def _spikes(rule: SpikeRule, cache: TrendCache, at: datetime, lateness: timedelta, searched: _Watched | None) -> Found:
    params, step = rule.params(), rule.step
    end = floor(at, step)
    recheck = max(1, lateness // step)
    start = end - params.window - step * (max(params.spans) + recheck)
    found: Found = []
    for watched in _spike_subjects(rule, cache, searched):
        if watched.subject_type == "search":
            series = cache.search_series(watched.query, rule.interval, start, end)
        else:
            series = cache.series(watched.subject_type, watched.subject, rule.interval, start, end)
        if sum(series.posts[-(recheck + max(params.spans) - 1) :]) < params.min_count:
            continue  # no window re-checked can reach min_count: skip the fits (most of "every hashtag" is quiet)
        spikes = [spike for index in range(max(0, len(series) - recheck), len(series)) if (spike := detect(series, index, params))]
        if not spikes:
            continue
        best = max(spikes, key=lambda s: s.score)
        detail = {
            "interval": rule.interval,
            "window_start": best.start.isoformat(),
            "window_end": best.end.isoformat(),
            "span_label": describe(best.end - best.start),
            "baseline_window": describe(params.window),
            "authors": best.authors,
            "expected_authors_per_bucket": round(best.expected_authors / best.span, 2),
            "author_p_value": best.author_p_value,
            "p_value": best.p_value,
            "dispersion": round(best.dispersion, 3),
            "baseline_posts": best.baseline_total,
        }
        started = min(s.start for s in spikes)
        detection = Detection(rule.id, "spike", watched.subject_type, watched.subject, started, best.count, round(best.expected, 2), round(best.ratio, 2), round(best.score, 2), detail)
        found.append((detection, watched.query.model_copy(update={"since": best.start, "until": best.end})))
    return found


# ---------------------------------------------------------------- emerging terms


def _emerging(rule: EmergingRule, cache: TrendCache, store: Store, at: datetime) -> Found:
    current_end = floor(at, HOUR)
    current_start = current_end - rule.current
    baseline_start = current_start - rule.window
    if cache.observed_from is None or current_start - max(cache.observed_from, baseline_start) < rule.min_history:
        return []
    params = rule.params()
    found: Found = []
    for field in rule.fields:
        now = cache.totals(field, current_start, current_end)
        before = cache.totals(field, baseline_start, current_start)
        terms = [TermWindow(term, count, before.get(term, 0), _sum_authors(cache, field, term, current_start, current_end)) for term, count in now.items() if term.lower() not in rule.ignore]
        for term in find_emerging(terms, sum(now.values()), sum(before.values()), params):
            query = PostQuery(**{_QUERY_FIELDS[field]: (term.term,), "since": current_start, "until": current_end})
            authors = len(store.top_terms(query, "author", limit=_AUTHOR_LIMIT))
            if authors < params.min_authors:
                continue
            series = cache.series(field, term.term, "hour", current_start, current_end)
            first = next((i for i, n in enumerate(series.posts) if n), 0)
            detail = {
                "current_window": describe(rule.current),
                "baseline_window": describe(rule.window),
                "baseline_count": term.baseline,
                "authors": authors,
                "p_value": term.p_value,
            }
            detection = Detection(rule.id, "emerging", field, term.term, series.bucket_start(first), term.current, round(term.expected, 3), round(term.ratio, 1), round(term.score, 2), detail)
            found.append((detection, query))
    return found


def _sum_authors(cache: TrendCache, field: Literal["hashtag", "term"], term: str, start: datetime, end: datetime) -> int:
    """Distinct authors per hour, summed: at least the distinct authors of the window, a cheap first filter."""
    return sum(cache.series(field, term, "hour", start, end).authors)


# ---------------------------------------------------------------- silent sources


def _silent_sources(rule: SourceSilentRule, config: Config, store: Store, at: datetime) -> Found:
    found: Found = []
    for source in config.sources:
        if not source.enabled or (EVERY not in rule.sources and source.id not in rule.sources):
            continue
        detection = _failing(rule, source.id, store) or _quiet(rule, source.id, store, at)
        if detection is not None:
            found.append((detection, None))
    return found


def _failing(rule: SourceSilentRule, source_id: str, store: Store) -> Detection | None:
    runs = [run for run in store.crawl_runs(source_id, limit=rule.failures + 1) if run.status != "running"][: rule.failures]
    if len(runs) < rule.failures or any(run.status != "failed" for run in runs):
        return None
    errors = [error.message for run in runs for error in run.errors]
    detail = {"reason": "failing", "failed_runs": len(runs), "last_error": errors[0] if errors else None, "last_run_at": runs[0].started_at.isoformat()}
    return Detection(rule.id, "source_silent", "source", source_id, runs[-1].started_at, 0, 0.0, 0.0, float(rule.failures), detail)


def _quiet(rule: SourceSilentRule, source_id: str, store: Store, at: datetime) -> Detection | None:
    latest = store.search(PostQuery(sources=(source_id,), until=at, limit=1, sort="newest")).posts
    if not latest or at - latest[0].published_at < rule.silent_after:
        return None
    last = latest[0].published_at
    window_days = rule.window.total_seconds() / 86400
    usual = store.count_posts(PostQuery(sources=(source_id,), since=last - rule.window, until=at)) / window_days  # the window before it fell silent
    if usual < rule.min_daily_posts:
        return None
    silent_days = (at - last).total_seconds() / 86400
    detail: dict[str, Any] = {
        "reason": "quiet",
        "last_post_at": last.isoformat(),
        "usual_daily_posts": round(usual, 2),
        "silent_for": describe(timedelta(hours=math.floor((at - last).total_seconds() / 3600))),
    }
    # Probability of no post at all for that long at the usual rate: exp(-rate * days).
    score = usual * silent_days / math.log(10)
    return Detection(rule.id, "source_silent", "source", source_id, last, 0, round(usual, 2), 0.0, round(score, 2), detail)


# ---------------------------------------------------------------- evidence and notification


def _with_evidence(alert: Alert, query: PostQuery | None, rule_label: str, store: Store) -> tuple[Alert, list[Post]]:
    """Top sources and authors and up to five sample posts of the surge, looked up when the alert is (re)notified."""
    evidence: dict[str, Any] = {**alert.evidence, "rule_label": rule_label}
    samples: list[Post] = []
    if query is not None:
        def top(field: TopField) -> list[dict[str, Any]]:
            return [{"value": t.value, "count": t.count} for t in store.top_terms(query, field, limit=TOP)]

        samples = store.search(query.model_copy(update={"limit": SAMPLES, "sort": "newest"})).posts
        since = query.since - ORIGIN_LOOKBACK if query.since else None
        origin = load_origin(store, query.model_copy(update={"since": since}))
        evidence.update(
            top_sources=top("source"),
            top_authors=top("author"),
            platforms=top("platform"),
            sample_post_ids=[post.id for post in samples],
            query=query.model_dump(mode="json", exclude_defaults=True),
        )
        if origin.first is not None:
            evidence["origin"] = {
                "first": origin.first.model_dump(mode="json"),
                "sources": len(origin.sources),
                "spread_hours": origin.spread_hours,
                "spread": [arrival.model_dump(mode="json") for arrival in origin.sources[:TOP * 2]],
            }
    return alert.model_copy(update={"evidence": evidence}), samples


def _notify(alert: Alert, samples: list[Post], config: Config, store: Store, everyone: Iterable[Subscription], at: datetime) -> Alert:
    """Queue an email per immediate subscriber and a webhook post; digest subscribers get it with the next digest."""
    number = notification_number(alert)
    rendered = alert_email(alert, samples, config.settings)
    recipients = []
    for subscription in subscribers(alert.rule_id, everyone, "immediate"):
        store.enqueue(rendered.message(f"alert:{alert.id}:{number}:{subscription.id}", subscription.email, at))
        recipients.append(subscription.email)
    if webhook_url(config.settings):
        link = dashboard_links(alert, config.settings)[0].link or ""
        store.enqueue(OutboxMessage(id=f"alert:{alert.id}:{number}:webhook", channel="webhook", recipient="webhook", payload=alert_payload(alert, link), body_text=rendered.subject, created_at=at, next_attempt_at=at))
        recipients.append("webhook")
    return mark_notified(alert, at, recipients)
