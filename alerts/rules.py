"""`config/alerts.yaml`: what to watch (rules) and who hears about it (subscriptions).

Validated like every other config file (`vigie.config.validate_file`): a mistake is one line naming the file, the
line and the key. Subscriptions may also be edited in the dashboard, which keeps them in the store; `subscriptions()`
merges both, the stored copy winning for the same id (see docs/alerts.md). A saved search that a subscription names
as `search-<id>` is watched by an implicit spike rule (`search_rules()`) unless a rule here already watches it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.email import plain_address
from alerts.emerging import EmergingParams
from alerts.spikes import DAY, SpikeParams
from store.base import PostQuery
from vigie.config import Config, ConfigError, Duration, validate_file
from vigie.models import SavedSearch, Subscription

ALERTS_FILE = "alerts.yaml"
EVERY = "*"
CANDIDATES = "candidates"
"""What a subscription names to get new candidate narratives in its daily digest (`*` does not include them)."""
Sensitivity = Literal["low", "medium", "high"]
SubjectType = Literal["narrative", "term", "hashtag", "search"]

SPIKE_P_VALUES: dict[str, float] = {"low": 1e-4, "medium": SpikeParams().p_value, "high": 2e-2}
"""Largest tail probability of the post count that fires a spike, per sensitivity."""
AUTHOR_P_VALUES: dict[str, float] = {"low": 1e-5, "medium": SpikeParams().author_p_value, "high": 3e-3}
"""Same for the distinct-author count, which must surge too."""
EMERGING_P_VALUES: dict[str, float] = {"low": 1e-6, "medium": EmergingParams().p_value, "high": 1e-2}
SEARCH_RULE_PREFIX = "search-"
"""Rule ids of this form name the implicit spike rule on the saved search `<id>` (see `search_rules`)."""
_QUERY_WINDOW_KEYS = ("since", "until", "limit", "offset", "sort")
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Watch(_Section):
    """What a spike rule counts: exactly one of these. `*` means each narrative, term or hashtag separately."""

    narrative: str | None = Field(None, description="Narrative id from the watchlists, or `*` for each narrative.")
    term: str | None = Field(None, description="Watchlist term as written in the watchlist, or `*` for each term.")
    hashtag: str | None = Field(None, description="Hashtag (with or without `#`), or `*` for each hashtag.")
    search: str | None = Field(None, description="Id of a search saved in the dashboard.")
    query: PostQuery | None = Field(None, description="A search written here: `text` (full-text query) plus filters such as `platforms`, `languages`, `narratives`.")

    @field_validator("hashtag")
    @classmethod
    def _bare_hashtag(cls, value: str | None) -> str | None:
        return None if value is None else value.lstrip("#").lower()

    @field_validator("query")
    @classmethod
    def _filters_only(cls, value: PostQuery | None) -> PostQuery | None:
        if value is not None and (set_keys := [key for key in _QUERY_WINDOW_KEYS if key in value.model_fields_set]):
            raise ValueError(f"{', '.join(set_keys)} cannot be set here: the rule's windows decide the time range")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Watch:
        given = [name for name in ("narrative", "term", "hashtag", "search", "query") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of narrative, term, hashtag, search or query")
        return self

    @property
    def subject_type(self) -> SubjectType:
        if self.narrative is not None:
            return "narrative"
        if self.term is not None:
            return "term"
        if self.hashtag is not None:
            return "hashtag"
        return "search"

    @property
    def subject(self) -> str:
        """The watched value (`*` for each), or the saved search id; an inline query is named by its rule."""
        return self.narrative or self.term or self.hashtag or self.search or ""


class _Rule(_Section):
    id: str = Field(pattern=_ID, description="Unique id: letters, digits, `_`, `.`, `-`.")
    name: str | None = Field(None, description="How emails and the dashboard name the rule.")
    enabled: bool = True
    sensitivity: Sensitivity = Field("medium", description="`low` fires on the strongest surges only, `high` on smaller ones too.")

    @property
    def label(self) -> str:
        return self.name or self.id


class SpikeRule(_Rule):
    kind: Literal["spike"]
    watch: Watch
    interval: Literal["hour", "day"] = Field("hour", description="Bucket size of the series the rule watches.")
    window: Duration = Field(timedelta(days=14), description="Trailing window the baseline is learnt from.")
    min_history: Duration = Field(timedelta(days=3), description="No firing until Vigie has collected this long.")
    min_count: int = Field(5, ge=1, description="Posts needed in the current window.")
    min_baseline: int = Field(5, ge=0, description="Posts needed in the whole baseline window: one post against nothing is not a surge.")
    min_ratio: float = Field(1.5, ge=1, description="Posts in the current window over the posts expected.")
    min_authors: int = Field(3, ge=1, description="Distinct authors needed in one bucket of the current window.")

    @model_validator(mode="after")
    def _history_within_window(self) -> SpikeRule:
        if self.min_history > self.window:
            raise ValueError("min_history cannot be longer than window")
        return self

    def params(self) -> SpikeParams:
        return SpikeParams(
            window=self.window,
            min_history=self.min_history,
            p_value=SPIKE_P_VALUES[self.sensitivity],
            author_p_value=AUTHOR_P_VALUES[self.sensitivity],
            min_count=self.min_count,
            min_baseline=self.min_baseline,
            min_ratio=self.min_ratio,
            min_authors=self.min_authors,
            spans=(1,) if self.interval == "day" else SpikeParams().spans,
        )

    @property
    def step(self) -> timedelta:
        return DAY if self.interval == "day" else timedelta(hours=1)


class EmergingRule(_Rule):
    kind: Literal["emerging"]
    fields: list[Literal["hashtag", "term"]] = Field(default_factory=lambda: ["hashtag", "term"], min_length=1, description="What may emerge: hashtags, watchlist terms or both.")
    current: Duration = Field(timedelta(hours=24), description="The recent window where a term must be frequent.")
    window: Duration = Field(timedelta(days=14), description="The baseline window, before `current`, where it was rare or absent.")
    min_history: Duration = Field(timedelta(days=3), description="No firing until Vigie has collected this long before `current`.")
    min_count: int = Field(10, ge=1, description="Posts with the term in the current window.")
    min_authors: int = Field(3, ge=1, description="Distinct authors using it in the current window.")
    min_ratio: float = Field(5.0, ge=1, description="Current count over the count the baseline rate predicts.")
    ignore: list[str] = Field(default_factory=list, description="Terms or hashtags never reported (case-insensitive, `#` optional).")

    @field_validator("ignore")
    @classmethod
    def _normalise(cls, values: list[str]) -> list[str]:
        return [value.lstrip("#").lower() for value in values]

    def params(self) -> EmergingParams:
        return EmergingParams(p_value=EMERGING_P_VALUES[self.sensitivity], min_count=self.min_count, min_authors=self.min_authors, min_ratio=self.min_ratio)


class SourceSilentRule(_Rule):
    kind: Literal["source_silent"]
    sources: list[str] = Field(default_factory=lambda: [EVERY], min_length=1, description="Source ids from sources.yaml, or `*` for every enabled source.")
    silent_after: Duration = Field(timedelta(days=2), description="A source that usually posts and has published nothing for this long is silent.")
    failures: int = Field(3, ge=1, description="This many failed runs in a row make a source blind too.")
    window: Duration = Field(timedelta(days=14), description="Where the usual posting rate is measured.")
    min_daily_posts: float = Field(1.0, gt=0, description="Only sources that usually publish at least this many posts a day can fall silent.")


Rule = Annotated[SpikeRule | EmergingRule | SourceSilentRule, Field(discriminator="kind")]


class SubscriptionEntry(_Section):
    id: str | None = Field(None, pattern=_ID, description="Stable id (default: the email and mode); the dashboard's copy with the same id wins.")
    email: str = Field(description="One bare address, name@example.org.")
    rules: list[str] = Field(default_factory=lambda: [EVERY], min_length=1, description="Rule ids, or `*` for every rule.")
    mode: Literal["immediate", "digest"] = Field("immediate", description="One email per alert, or one daily digest at `alerts.digest_time`.")

    @field_validator("email")
    @classmethod
    def _one_address(cls, value: str) -> str:
        return plain_address(value)

    def to_subscription(self) -> Subscription:
        return Subscription(id=self.id or f"{self.email}:{self.mode}", email=self.email, rules=self.rules, mode=self.mode)


class AlertsFile(_Section):
    rules: list[Rule] = Field(default_factory=list)
    subscriptions: list[SubscriptionEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> AlertsFile:
        rule_ids = [rule.id for rule in self.rules]
        duplicate = next((rule_id for n, rule_id in enumerate(rule_ids) if rule_id in rule_ids[:n]), None)
        if duplicate:
            raise ValueError(f"duplicate rule id {duplicate!r}")
        subscription_ids = [entry.to_subscription().id for entry in self.subscriptions]
        duplicate = next((sub_id for n, sub_id in enumerate(subscription_ids) if sub_id in subscription_ids[:n]), None)
        if duplicate:
            raise ValueError(f"duplicate subscription id {duplicate!r}")
        for entry in self.subscriptions:
            unknown = [rule_id for rule_id in entry.rules if rule_id not in (EVERY, CANDIDATES) and rule_id not in rule_ids and not rule_id.startswith(SEARCH_RULE_PREFIX)]
            if unknown:
                raise ValueError(f"subscription {entry.email}: unknown rule {unknown[0]!r} (known: {', '.join(rule_ids) or 'none'}, {CANDIDATES}, or {SEARCH_RULE_PREFIX}<saved search id>)")
        return self


def load_alerts(config: Config) -> AlertsFile:
    """The rules and subscriptions of `config/alerts.yaml`; no file means no rules."""
    path = config.config_dir / ALERTS_FILE
    if not path.exists():
        return AlertsFile()
    alerts = validate_file(path, AlertsFile)
    known = {source.id for source in config.sources}
    for rule in alerts.rules:
        if isinstance(rule, SourceSilentRule):
            unknown = [source for source in rule.sources if source != EVERY and source not in known]
            if unknown:
                raise ConfigError(f"{path}: rule {rule.id}: unknown source {unknown[0]!r} (known: {', '.join(sorted(known)) or 'none'})")
    return alerts


def search_rule_id(search_id: str) -> str:
    """The id of the implicit rule on a saved search: what a subscription names to receive its alerts."""
    return f"{SEARCH_RULE_PREFIX}{search_id}"


def search_rules(configured: Iterable[Rule], saved: Iterable[SavedSearch], all_subscriptions: Iterable[Subscription]) -> list[SpikeRule]:
    """A spike rule with the shipped settings for each saved search some subscription names (`search-<id>`), so that
    subscribing from the dashboard is enough; a search that a rule of alerts.yaml watches (even disabled) keeps that rule."""
    configured = list(configured)
    taken = {rule.id for rule in configured}
    watched = {rule.watch.search for rule in configured if isinstance(rule, SpikeRule) and rule.watch.search}
    named = {rule_id for subscription in all_subscriptions for rule_id in subscription.rules}
    return [
        SpikeRule(id=rule_id, name=search.name, kind="spike", watch=Watch(search=search.id))
        for search in saved
        if (rule_id := search_rule_id(search.id)) in named and rule_id not in taken and search.id not in watched and re.match(_ID, rule_id)
    ]


def subscriptions(configured: Iterable[SubscriptionEntry], stored: Iterable[Subscription]) -> list[Subscription]:
    """Subscriptions from alerts.yaml plus those kept in the store; for the same id the stored (dashboard) copy wins."""
    merged = {subscription.id: subscription for subscription in (entry.to_subscription() for entry in configured)}
    merged.update((subscription.id, subscription) for subscription in stored)
    return list(merged.values())


def subscribers(rule_id: str, all_subscriptions: Iterable[Subscription], mode: Literal["immediate", "digest"]) -> list[Subscription]:
    if rule_id == CANDIDATES:
        return [s for s in all_subscriptions if s.mode == mode and CANDIDATES in s.rules]
    return [s for s in all_subscriptions if s.mode == mode and (EVERY in s.rules or rule_id in s.rules)]
