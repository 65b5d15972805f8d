"""Loading and validating the YAML under `config/`: one line per mistake, naming file, line and key."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

CONFIG_ENV = "VIGIE_CONFIG"
DATA_ENV = "VIGIE_DATA_DIR"
ENV_PREFIX = "VIGIE_"


class ConfigError(Exception):
    """A configuration mistake; str() is the one line shown to the user (CLI exit code 2)."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """`30s`, `15m`, `2h`, `1d`, `1w`, or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) if isinstance(value, float) else value
    elif match := _DURATION.match(str(value)):
        seconds = float(match[1]) * _UNITS[match[2]]
    else:
        raise ValueError(f"expected a duration such as 30m, 2h or 1d, got {value!r}")
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):  # beyond timedelta's 999,999,999 days, or NaN
        raise ValueError(f"duration out of range: {value!r}") from None


def parse_clock(value: str) -> tuple[int, int]:
    """`HH:MM` on a 24-hour clock, as (hour, minute)."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"expected a time of day such as 08:00, got {value!r}")
    return int(match[1]), int(match[2])


def _clock(value: Any) -> str:
    hour, minute = parse_clock(value)
    return f"{hour:02d}:{minute:02d}"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
"""A timedelta written `30s`, `15m`, `2h`, `1d`, `1w` or as seconds."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- sources.yaml


class _SourceBase(_Section):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Unique id: letters, digits, `_`, `.`, `-`.")
    every: Duration = Field(timedelta(hours=1), description="How often to crawl it.")
    enabled: bool = True
    tags: list[str] = Field(default_factory=list, description="Labels copied onto every post of the source.")
    archive: bool = Field(False, description="Keep each raw response (compressed) as evidence.")
    max_pages: int | None = Field(None, ge=1, description="Page cap per run (default: crawl.max_pages_per_run).")
    max_items: int | None = Field(None, ge=1, description="Item cap per run (default: crawl.max_items_per_run).")
    backfill_pages: int | None = Field(None, ge=1, description="Pages fetched on the first run (default: crawl.backfill_pages).")
    backfill_days: int | None = Field(None, ge=1, description="On the first run, ignore posts older than this.")
    base_url: str | None = Field(None, description="Replaces the platform's host (tests, offline demo).")


class TelegramSource(_SourceBase):
    platform: Literal["telegram"]
    channel: str = Field(pattern=r"^[A-Za-z0-9_]{3,64}$")


class MastodonSource(_SourceBase):
    platform: Literal["mastodon"]
    instance: str = Field(description="Instance URL, e.g. https://mastodon.social")
    hashtag: str | None = None
    account: str | None = Field(None, description="Account handle (`user` or `user@instance`) or numeric id.")

    @model_validator(mode="after")
    def _one_target(self) -> MastodonSource:
        if (self.hashtag is None) == (self.account is None):
            raise ValueError("give exactly one of hashtag or account")
        return self


class RedditSource(_SourceBase):
    platform: Literal["reddit"]
    subreddit: str | None = None
    search: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> RedditSource:
        if (self.subreddit is None) == (self.search is None):
            raise ValueError("give exactly one of subreddit or search")
        return self


class BlueskySource(_SourceBase):
    platform: Literal["bluesky"]
    actor: str | None = Field(None, description="Handle or DID.")
    search: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> BlueskySource:
        if (self.actor is None) == (self.search is None):
            raise ValueError("give exactly one of actor or search")
        return self


class YoutubeSource(_SourceBase):
    platform: Literal["youtube"]
    channel_id: str | None = Field(None, pattern=r"^UC[A-Za-z0-9_-]{22}$", description="A channel, read through its public feed (its latest 15 videos).")
    search: str | None = Field(None, min_length=1, description="Keywords searched with the YouTube Data API, newest videos first (needs VIGIE_YOUTUBE_API_KEY; 100 quota units a page).")
    language: str | None = Field(None, pattern=r"^[a-z]{2}$", description="A search's `relevanceLanguage` (ISO 639-1).")
    region: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="A search's `regionCode` (ISO 3166-1 alpha-2).")
    comments: bool = Field(False, description="Also collect the comments of the channel's videos (Data API `commentThreads`, needs VIGIE_YOUTUBE_API_KEY; 1 unit a page, and a page of the run's page cap).")
    transcripts: bool = Field(True, description="Fetch each video's captions and add what it says to its post.")
    max_transcripts: int = Field(20, ge=0, description="Transcripts fetched per run at most (new videos first, then earlier misses).")

    @model_validator(mode="after")
    def _one_target(self) -> YoutubeSource:
        if (self.channel_id is None) == (self.search is None):
            raise ValueError("give exactly one of channel_id or search")
        if self.search is None and (self.language or self.region):
            raise ValueError("language and region apply to a search")
        if self.search is not None and self.comments:
            raise ValueError("comments are collected for a channel's videos (channel_id)")
        return self


class PeertubeSource(_SourceBase):
    platform: Literal["peertube"]
    instance: str = Field(pattern=r"^https?://", description="Instance URL, e.g. https://peertube.example.org")
    channel: str | None = Field(None, description="Channel handle: `name` on the instance, or `name@host` for a remote one.")
    account: str | None = Field(None, description="Account handle: `name` or `name@host`.")
    search: str | None = Field(None, description="Words searched in the instance's videos.")

    @model_validator(mode="after")
    def _one_target(self) -> PeertubeSource:
        if sum(target is not None for target in (self.channel, self.account, self.search)) != 1:
            raise ValueError("give exactly one of channel, account or search")
        return self


class OdyseeSource(_SourceBase):
    platform: Literal["odysee"]
    channel: str | None = Field(None, pattern=r"^(@[^\s#:/]+|[0-9a-f]{40})$", description="Channel as `@name` or its 40-hex claim id.")
    tags: list[str] | None = Field(None, min_length=1, description="Streams carrying any of these tags.")
    text: str | None = Field(None, min_length=1, description="Words searched in titles and descriptions.")

    @model_validator(mode="after")
    def _one_target(self) -> OdyseeSource:
        if sum(target is not None for target in (self.channel, self.tags, self.text)) != 1:
            raise ValueError("give exactly one of channel, tags or text")
        return self


class ImageboardSource(_SourceBase):
    platform: Literal["imageboard"]
    board: str = Field(pattern=r"^[A-Za-z0-9_]{1,32}$", description="Board name without slashes, e.g. `pol`.")
    api: str = Field("https://a.4cdn.org", pattern=r"^https?://", description="Base URL of the board's read-only JSON API (4chan's by default).")
    layout: Literal["4chan", "vichan"] = Field("4chan", description="`4chan` (`/BOARD/thread/N.json`) or `vichan` (`/BOARD/res/N.json`, same JSON).")
    match: list[str] = Field(default_factory=list, description="Watch only threads whose subject or first post contains one of these (case-insensitive); empty: every thread.")

    @field_validator("every")
    @classmethod
    def _not_too_often(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=10):
            raise ValueError("imageboard threads may not be refreshed more than once per 10 s: use 10s or more")
        return value


class FeedSource(_SourceBase):
    platform: Literal["feed"]
    url: str = Field(pattern=r"^https?://")


class ForumSelectors(_Section):
    post: str
    text: str
    author: str | None = None
    date: str | None = None
    link: str | None = None
    next: str | None = None


class ForumSource(_SourceBase):
    platform: Literal["forum"]
    url: str = Field(pattern=r"^https?://")
    selectors: ForumSelectors


Source = Annotated[
    TelegramSource | MastodonSource | RedditSource | BlueskySource | YoutubeSource | FeedSource | ForumSource | PeertubeSource | OdyseeSource | ImageboardSource,
    Field(discriminator="platform"),
]


class SourcesFile(_Section):
    sources: list[Source] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> SourcesFile:
        seen: set[str] = set()
        for source in self.sources:
            if source.id in seen:
                raise ValueError(f"duplicate source id {source.id!r}")
            seen.add(source.id)
        return self


# ---------------------------------------------------------------- vigie.yaml


class ElasticsearchSettings(_Section):
    url: str | None = Field(None, description="Cluster URL; VIGIE_ES_URL overrides it. Credentials come only from VIGIE_ES_API_KEY or VIGIE_ES_USER/VIGIE_ES_PASSWORD.")
    ca_file: str | None = Field(None, description="CA certificate (PEM) to verify the cluster's TLS certificate; relative to the config folder.")
    index_prefix: str = Field("vigie", pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Indices are `PREFIX-posts-YYYY.MM` (read alias `PREFIX-posts`), `PREFIX-runs`, `PREFIX-alerts`...: lower case, as Elasticsearch requires.")
    batch_size: int = Field(500, ge=1, description="Posts per `_bulk` request.")
    concurrency: int = Field(2, ge=1, description="`_bulk` requests in flight at once.")
    request_timeout: float = Field(30.0, gt=0, description="Seconds before a request to the cluster is abandoned.")
    max_retries: int = Field(5, ge=0, description="Retries of posts the cluster rejects with 429/503 (busy), with exponential backoff from 1s.")
    replicas: int = Field(1, ge=0, description="Replicas of each index; 0 on a single-node cluster.")
    refresh: bool = Field(True, description="Refresh after each write so the next read sees it; false for bulk loads that can wait up to a second.")
    spool_dir: str = Field("spool", description="Under the data dir: posts wait here while the cluster is unreachable.")


class OpenSearchSettings(ElasticsearchSettings):
    url: str | None = Field(None, description="Cluster URL; VIGIE_OPENSEARCH_URL overrides it. Credentials come only from VIGIE_OPENSEARCH_USER/VIGIE_OPENSEARCH_PASSWORD or VIGIE_OPENSEARCH_API_KEY.")


class StoreSettings(_Section):
    backend: Literal["sqlite", "elasticsearch", "opensearch"] = "sqlite"
    sqlite_path: str = Field("vigie.db", description="Relative to the data dir.")
    batch_size: int = Field(500, ge=1, description="Posts written per batch by the crawl pipeline.")
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    opensearch: OpenSearchSettings = Field(default_factory=OpenSearchSettings, description="The same settings as `elasticsearch`, for an OpenSearch cluster.")


class CrawlSettings(_Section):
    user_agent: str = "Vigie/0.1 (public-interest monitoring; +{contact_url})"
    contact_url: str = "https://github.com/vigie-watch/vigie"
    timeout: float = Field(30.0, gt=0, description="Seconds before a request is abandoned.")
    concurrent_requests_per_domain: int = Field(2, ge=1)
    download_delay: float = Field(1.0, ge=0)
    autothrottle: bool = True
    retry_times: int = Field(3, ge=0)
    backoff_base: float = Field(1.0, ge=0, description="Seconds before the first retry of a failed request (429, 5xx, timeout); doubled at each further retry.")
    backoff_max: float = Field(60.0, ge=0, description="Longest wait between two retries when the server gives no Retry-After, in seconds.")
    max_retry_after: float = Field(600.0, ge=0, description="Longest Retry-After honoured, in seconds; longer waits end the run for that source.")
    max_pages_per_run: int = Field(20, ge=1)
    max_items_per_run: int = Field(2000, ge=1)
    backfill_pages: int = Field(3, ge=1)
    youtube_daily_quota: int = Field(10_000, ge=0, description="YouTube Data API units Vigie may spend a day (YouTube's day, Pacific time): search pages cost 100, comment pages 1; a crawl stops before it is spent.")
    run_timeout: Duration = Field(timedelta(minutes=15), description="A crawl still running after this is killed.")


class LanguageSettings(_Section):
    detector: Literal["combined", "langdetect", "fasttext", "lingua"] = Field("combined", description="`combined`: fastText, and lingua where the text is short or fastText unsure (see docs/enrichment.md for the comparison).")
    languages: list[str] = Field(default_factory=lambda: ["fr", "en", "de", "es", "it", "pt", "nl", "ar", "ru", "pl", "sv", "tr"], description="ISO 639-1 codes lingua chooses among (fewer languages: faster and surer); fastText may still name others.")
    min_chars: int = Field(3, ge=0, description="Cleaned texts with fewer letters are `und`.")
    min_confidence: float = Field(0.3, ge=0, le=1, description="Lower confidences are `und`, unless the platform declares the same language. lingua spreads its confidence over the configured languages, so 0.3 is already a clear lead on a two-word post.")
    seed: int = Field(0, description="Seed of langdetect, which is random otherwise.")


class EnrichSettings(_Section):
    language: LanguageSettings = Field(default_factory=LanguageSettings)
    duplicate_threshold: float = Field(0.7, gt=0, le=1, description="Jaccard similarity above which two texts are near-copies.")
    min_duplicate_words: int = Field(8, ge=1, description="Shorter texts get no copy-paste cluster.")


class CandidateSettings(_Section):
    """Candidate narratives (`alerts/candidates.py`): what surges together and matches no watchlist."""

    enabled: bool = Field(True, description="Propose candidate narratives at each alert cycle.")
    current: Duration = Field(timedelta(hours=48), description="The recent window candidates are looked for in (24 to 72 hours).")
    window: Duration = Field(timedelta(days=7), description="The baseline before it, which their terms must have been rare in.")
    min_sources: int = Field(3, ge=1, description="Distinct sources a candidate must span.")
    min_authors: int = Field(3, ge=1, description="Distinct authors a candidate must span.")
    two_source_authors: int | None = Field(6, ge=2, description="Distinct authors that make two sources enough, short of min_sources (a young narrative often takes hours to reach a third source); null: min_sources always.")
    min_posts: int = Field(5, ge=2, description="Posts a candidate needs in the current window.")
    min_term_posts: int = Field(3, ge=2, description="Posts a word, hashtag or cluster needs to emerge (a candidate also needs two of them in the same posts).")
    term_p_value: float = Field(1e-4, gt=0, lt=1, description="Largest tail probability at which a word, hashtag or cluster emerges, each on its own (not corrected for the number tried): only a screen, since a candidate also needs two of them in the same posts across sources.")
    p_value: float = Field(1e-5, gt=0, lt=1, description="Largest tail probability of a candidate's posts at the baseline rate of its two most used words, hashtags or clusters (the rarer one counting).")
    regrowth: float = Field(2.0, gt=1, description="A dismissed candidate comes back when its posts reach this multiple of its posts when dismissed.")

    @field_validator("current")
    @classmethod
    def _hours(cls, value: timedelta) -> timedelta:
        if not timedelta(hours=24) <= value <= timedelta(hours=72):
            raise ValueError("expected between 24h and 72h")
        return value


class AlertSettings(_Section):
    check_every: Duration = Field(timedelta(minutes=5), description="How often the scheduler runs a detection cycle (`vigie alerts check`).")
    digest_time: Annotated[str, BeforeValidator(_clock)] = Field("08:00", description="Local time (dashboard.timezone) of the daily digest.")
    webhook_url: str | None = Field(None, description="Mattermost/Slack-compatible incoming webhook; VIGIE_WEBHOOK_URL overrides it.")
    outbox_dir: str = Field("outbox", description="Under the data dir: a copy of each sent email (.eml); with no VIGIE_SMTP_HOST, the only copy.")
    cooldown: Duration = Field(timedelta(hours=6), description="An alert whose surge has not been seen for this long is resolved; the same surge seen again within it updates the alert instead of opening a new one.")
    renotify_growth: float = Field(2.0, gt=1, description="An open alert notifies again only when its ratio reaches this multiple of the ratio last notified.")
    lateness: Duration = Field(timedelta(hours=3), description="Posts may be collected this long after they are published: each cycle re-counts and re-checks this last stretch.")
    retry_delay: Duration = Field(timedelta(minutes=1), description="First wait before a failed email or webhook is retried; it doubles at each failure.")
    max_retry_delay: Duration = Field(timedelta(hours=1), description="Longest wait between retries; messages are retried until they go out.")
    trends_file: str = Field("trends.json", description="Under the data dir: the trend series cache (rebuilt from the store if deleted).")
    candidates: CandidateSettings = Field(default_factory=CandidateSettings)


class DashboardSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8501, ge=1, le=65535)
    timezone: str = "Europe/Paris"
    public_url: str = Field("http://127.0.0.1:8501", description="Base of the links in alert emails.")
    password_hash: str | None = Field(None, description="scrypt hash from `vigie dashboard hash-password`; VIGIE_DASHBOARD_PASSWORD (plain) or VIGIE_DASHBOARD_PASSWORD_HASH override it.")
    trust_proxy_auth: bool = Field(False, description="Behind a reverse proxy that authenticates users: serve any address without a password (see docs/dashboard.md).")
    cache_ttl: Duration = Field(timedelta(seconds=30), description="Pages share each query's answer for this long, or for 60 times what computing it took when longer; then the next visit gets it at once while it is asked again in the background, and no answer older than twice that is shown.")
    slow_page: Duration = Field(timedelta(seconds=2), description="A page whose script takes longer than this is logged at WARNING with the page and its seconds (0s logs every page, to measure them).")
    warm_first_views: bool = Field(True, description="Keep what the Overview, the first narrative, Sources and Alerts show before any choice computed in the background, so nobody waits for them after a restart or on the hour.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file of the zone database
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
        return value


class ScheduleSettings(_Section):
    jitter: Duration = Field(timedelta(seconds=30), description="Each crawl starts up to this much later than its `every:` says, so sources do not all hit at once.")
    retention: Duration | None = Field(None, description="Delete posts older than this; unset keeps everything.")
    jobs_db: str = Field("scheduler.db", description="Under the data dir: the persisted schedule (next run of every job).")
    max_parallel_crawls: int = Field(2, ge=1, description="Crawls running at the same time; others wait their turn.")
    misfire_grace_time: Duration | None = Field(None, description="A run missed by more than this (service down) is skipped; unset runs it once, late.")
    stop_grace: Duration = Field(timedelta(seconds=30), description="After SIGTERM, how long a crawl or the dashboard may take to close before it is killed.")
    crawl_command: list[str] | None = Field(None, description="Command that crawls one source, `{source}` and `{platform}` filled in (e.g. `vigie crawl --json --scrapyd URL {source}`, to crawl on Scrapyd); default: this Python's `vigie crawl {source}`.")


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = Field(False, description="One JSON object per log line (for log shippers), on stdout and in the file.")
    file: str | None = Field("logs/vigie.log", description="Under the data dir; rotated.")
    max_bytes: int = Field(10_000_000, ge=1000, description="The log file is rotated when it reaches this size.")
    backups: int = Field(5, ge=0, description="Rotated log files kept.")


class Settings(_Section):
    store: StoreSettings = Field(default_factory=StoreSettings)
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    enrich: EnrichSettings = Field(default_factory=EnrichSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    log: LogSettings = Field(default_factory=LogSettings)


# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class Config:
    config_dir: Path
    data_dir: Path
    settings: Settings
    sources: list[Any] = field(default_factory=list)

    def source(self, source_id: str) -> Any:
        for source in self.sources:
            if source.id == source_id:
                return source
        known = ", ".join(s.id for s in self.sources) or "none"
        raise ConfigError(f"{self.config_dir / 'sources.yaml'}: no source with id {source_id!r} (known: {known})")

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / self.settings.store.sqlite_path


def default_config_dir() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or "config")


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_ENV) or "data")


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """The document and its node tree (for line numbers); a YAML syntax error becomes a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    return data, node


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == part), None)
            if found is None:
                break
            line = found[0].start_mark.line + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            continue
    return line


def _key_path(loc: tuple[Any, ...], data: Any) -> tuple[str, tuple[Any, ...]]:
    """Readable key path (`sources[2].channel`) without the step pydantic inserts for a tagged union
    (the tag's value, such as `telegram` or `spike`)."""
    text, real, cursor = "", [], data
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            real.append(part)
            cursor = cursor[part] if isinstance(cursor, list) and part < len(cursor) else None
        elif isinstance(cursor, dict) and part not in cursor and part in cursor.values():
            continue
        else:
            text += f".{part}" if text else str(part)
            real.append(part)
            cursor = cursor.get(part) if isinstance(cursor, dict) else None
    return text or "(top level)", tuple(real)


def format_validation_error(path: Path, error: ValidationError, data: Any, node: yaml.Node | None) -> str:
    errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    key, real = _key_path(tuple(first["loc"]), data)
    line = line_of(node, real)
    where = f"{path}:{line}" if line else str(path)
    kind = first["type"]
    if kind == "extra_forbidden":
        message = "unknown key" + _known_keys_hint(real[:-1], data)
    elif kind == "union_tag_invalid":
        ctx = first["ctx"]
        message = f"unknown {ctx['discriminator'].strip(chr(39))} {ctx['tag']!r} (expected one of: {ctx['expected_tags'].replace(chr(39), '')})"
    elif kind == "union_tag_not_found":
        message = f"missing key {first['ctx']['discriminator']}"
    elif kind == "missing":
        message = "missing required key"
    else:
        message = first["msg"].removeprefix("Value error, ")
    more = len(errors) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return _printable(f"{where}: {key}: {message}{suffix}")


def _printable(text: str) -> str:
    """One line whatever the file holds: a key or value with a line break or control character shows it escaped."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _known_keys_hint(parent: tuple[Any, ...], data: Any) -> str:
    cursor = data
    for part in parent:
        try:
            cursor = cursor[part]
        except (KeyError, IndexError, TypeError):
            return ""
    if isinstance(cursor, dict) and "platform" in cursor and parent and parent[0] == "sources":
        model = {m.model_fields["platform"].annotation.__args__[0]: m for m in _SOURCE_MODELS}.get(cursor.get("platform"))
        if model:
            return f" (expected one of: {', '.join(model.model_fields)})"
    return ""


_SOURCE_MODELS = (TelegramSource, MastodonSource, RedditSource, BlueskySource, YoutubeSource, FeedSource, ForumSource, PeertubeSource, OdyseeSource, ImageboardSource)


def validate_file(path: Path, model: type[BaseModel], data: Any = None, node: yaml.Node | None = None) -> Any:
    """Validate a YAML file (or already-read data) against a model, raising a one-line ConfigError."""
    if data is None and node is None:
        data, node = read_yaml(path)
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc, data, node)) from None


def _apply_env(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """`VIGIE_SECTION__KEY=value` (and deeper `__`) overrides vigie.yaml; values are parsed as YAML scalars."""
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        cursor = data
        for part in parts[:-1]:
            cursor = cursor.setdefault(part, {})
            if not isinstance(cursor, dict):
                raise ConfigError(f"environment {name}: {part} is not a section")
        try:
            cursor[parts[-1]] = yaml.safe_load(raw) if raw else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"environment {name}: not a YAML value: {getattr(exc, 'problem', None) or type(exc).__name__}") from None
    if environ.get("VIGIE_ES_URL"):
        data.setdefault("store", {}).setdefault("elasticsearch", {})["url"] = environ["VIGIE_ES_URL"]
    if environ.get("VIGIE_OPENSEARCH_URL"):
        data.setdefault("store", {}).setdefault("opensearch", {})["url"] = environ["VIGIE_OPENSEARCH_URL"]
    if environ.get("VIGIE_STORE"):
        data.setdefault("store", {})["backend"] = environ["VIGIE_STORE"]
    return data


def load_config(config_dir: Path | str | None = None, data_dir: Path | str | None = None, environ: dict[str, str] | None = None) -> Config:
    config_dir = Path(config_dir) if config_dir else default_config_dir()
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    environ = dict(os.environ if environ is None else environ)
    if not config_dir.is_dir():
        raise ConfigError(f"{config_dir}: config folder not found (set --config or {CONFIG_ENV})")

    settings_path = config_dir / "vigie.yaml"
    data, node = read_yaml(settings_path) if settings_path.exists() else ({}, None)
    if not isinstance(data or {}, dict):
        raise ConfigError(f"{settings_path}: expected a mapping of sections at the top level")
    data = _apply_env(dict(data or {}), environ)
    settings = validate_file(settings_path, Settings, data, node)

    sources_path = config_dir / "sources.yaml"
    sources: list[Any] = []
    if sources_path.exists():
        sources = validate_file(sources_path, SourcesFile).sources
    return Config(config_dir=config_dir, data_dir=data_dir, settings=settings, sources=sources)
