"""The records that cross Vigie's boundaries: spiders emit them, enrichment fills them, stores keep them.

Every field of every record is documented here, next to its type, and nowhere else;
`docs/post-model.md` is generated from these descriptions (`vigie schema --markdown`).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from vigie import clock

Platform = Literal["telegram", "mastodon", "reddit", "bluesky", "youtube", "feed", "forum", "peertube", "odysee", "imageboard"]
PLATFORMS: tuple[str, ...] = Platform.__args__  # type: ignore[attr-defined]

_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_YOUTUBE_SHORT = re.compile(r"^https://(?:www\.|m\.)?youtube\.com/shorts/([A-Za-z0-9_-]{11})(?:[?#].*)?$")


def utcnow() -> datetime:
    """Now, on the system clock or on the simulated one a soak runs the service on (`vigie.clock`)."""
    return clock.now()


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC: platforms that omit the zone mean UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def normalise_text(text: str) -> str:
    """Collapse runs of spaces but keep line breaks (Telegram posts are read line by line)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def post_id(platform: str, native_id: str) -> str:
    return f"{platform}:{native_id}"


def url_at(url: str, seconds: float) -> str:
    """A video's URL that opens it at that second (`watch?v=ID&t=83s`; a YouTube Short's too, as a watch URL)."""
    short = _YOUTUBE_SHORT.match(url)
    base, _, fragment = (f"https://www.youtube.com/watch?v={short[1]}" if short else url).partition("#")
    return f"{base}{'&' if '?' in base else '?'}t={int(seconds)}s" + (f"#{fragment}" if fragment else "")


def video_clock(seconds: float) -> str:
    """`1:02:03`, `2:05`: a moment of a video as players show it."""
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"


def timed_matches(post: Post) -> list[TagMatch]:
    """The post's matches said in its video (a transcript match has `at`), earliest first, one per term and second."""
    seen: dict[tuple[str, int], TagMatch] = {}
    for match in post.matches:
        if match.at is not None:
            seen.setdefault((match.term, int(match.at)), match)
    return sorted(seen.values(), key=lambda match: match.at or 0.0)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Author(_Record):
    id: str | None = Field(None, description="The platform's stable id of the account (Mastodon account id, Bluesky DID, Reddit fullname, Telegram channel username).")
    handle: str | None = Field(None, description="The public handle without the leading @ (`user@instance` on Mastodon, `name.bsky.social` on Bluesky, the channel name on Telegram).")
    name: str | None = Field(None, description="The display name as shown by the platform; for Telegram, the post's signature when there is one.")


class Engagement(_Record):
    views: int | None = Field(None, ge=0, description="Views (Telegram, YouTube); null where the platform does not say.")
    likes: int | None = Field(None, ge=0, description="Likes, favourites or score (Reddit score, Mastodon favourites, Bluesky likes, YouTube star ratings count).")
    shares: int | None = Field(None, ge=0, description="Shares: reblogs, reposts, forwards.")
    replies: int | None = Field(None, ge=0, description="Replies or comments.")


class TagMatch(_Record):
    narrative: str = Field(description="Id of the narrative whose term matched.")
    term: str = Field(description="The watchlist term (or hashtag or pattern) that matched, as written in the watchlist.")
    field: Literal["text", "title"] = Field("text", description="Which field of the post the span is in.")
    start: int = Field(ge=0, description="Start offset of the match in that field, in characters.")
    end: int = Field(ge=0, description="End offset (exclusive) of the match in that field, in characters.")
    watchlist: str | None = Field(None, description="Id of the watchlist file the narrative comes from.")
    rule: str | None = Field(None, description="For a match found by a rule, the rule as written in the watchlist (`five-g NEAR/12 virus`); null for a term, hashtag or pattern.")
    group: str | None = Field(None, description="For a match found by a rule, the concept group whose term this is (a phrase written in the rule is its own group, in quotes).")
    at: float | None = Field(None, ge=0, description="For a match in a video's transcript: the second of the video where the caption cue holding it starts (links open the video there).")


class Transcript(_Record):
    """What a video says, appended to its post's text after the description."""

    language: str = Field(description="Language code of the caption track, as YouTube gives it.")
    generated: bool = Field(description="True for YouTube's automatic captions, false for a track made by people.")
    offset: int = Field(ge=0, description="Where the transcript starts in the post's `text`, in characters.")
    cues: list[tuple[int, float]] = Field(default_factory=list, description="Each caption cue as [its start in `text`, in characters; its start in the video, in seconds].")


class Post(_Record):
    """One public post, whatever the platform."""

    id: str = Field("", description="Stable id `platform:native_id`: the same post crawled twice is one record.")
    platform: Platform = Field(description="The platform the post was collected from.")
    native_id: str = Field(min_length=1, description="The platform's own id of the post (Telegram `channel/123`, Mastodon status URI id, Reddit `t3_…`, Bluesky AT URI, YouTube video id, feed entry id or link, PeerTube video uuid, Odysee claim id, imageboard `board/number`).")
    source_id: str = Field(min_length=1, description="Id of the watched source (from `sources.yaml`) that collected it.")
    url: str | None = Field(None, description="Public URL of the post on its platform.")
    author: Author = Field(default_factory=Author, description="Who published it.")
    published_at: datetime = Field(description="When the platform says it was published (UTC).")
    collected_at: datetime = Field(default_factory=utcnow, description="When Vigie fetched it, this time (UTC).")
    first_seen_at: datetime | None = Field(None, description="When Vigie first stored it (UTC); kept across re-crawls, set by the store.")
    title: str | None = Field(None, description="Title where the platform has one (feed entries, YouTube videos, Reddit posts).")
    text: str = Field("", description="Plain text, HTML removed, spaces collapsed, line breaks kept.")
    language: str | None = Field(None, description="ISO 639-1 code detected by Vigie, or `und` when undetermined.")
    language_confidence: float | None = Field(None, ge=0, le=1, description="Confidence of the detected language, 0 to 1.")
    platform_language: str | None = Field(None, description="The language the platform declares (Mastodon `language`, Bluesky `langs[0]`, feed `xml:lang`), as given.")
    hashtags: list[str] = Field(default_factory=list, description="Hashtags without `#`, lower-cased, in order of first appearance.")
    mentions: list[str] = Field(default_factory=list, description="Mentioned accounts without `@`, lower-cased.")
    links: list[str] = Field(default_factory=list, description="Outbound links, normalised (lower-case host, tracking parameters and fragments removed).")
    domains: list[str] = Field(default_factory=list, description="Registered domains of `links` (`news.example.co.uk` → `example.co.uk`).")
    media: list[str] = Field(default_factory=list, description="Kinds of attached media: photo, video, round_video, gif, voice, audio, document, sticker, poll, link_preview.")
    engagement: Engagement = Field(default_factory=Engagement, description="Counters as the platform gave them at `collected_at`.")
    reply_to: str | None = Field(None, description="Vigie id (or URL when unknown) of the post this one replies to.")
    repost_of: str | None = Field(None, description="Vigie id of the original when this is a boost/repost/forward of another post.")
    quote_of: str | None = Field(None, description="Vigie id of a quoted post (Bluesky quotes, Mastodon quotes).")
    forwarded_from: str | None = Field(None, description="Name of the channel or account a Telegram message was forwarded from.")
    tags: list[str] = Field(default_factory=list, description="Labels: the source's `tags` from `sources.yaml` plus the watchlist terms that matched.")
    narratives: list[str] = Field(default_factory=list, description="Ids of the watchlist narratives the post matched.")
    matches: list[TagMatch] = Field(default_factory=list, description="Every watchlist match with its term and character span, so an analyst sees why the post was tagged.")
    cluster_id: str | None = Field(None, description="Copy-paste cluster: posts with near-identical text share it (MinHash/LSH).")
    near_dup_keys: list[str] = Field(default_factory=list, description="LSH band keys of the text's MinHash signature, used to find near-copies.")
    raw_sha256: str | None = Field(None, description="SHA-256 (hex) of the raw HTTP response body the post was parsed from: evidence of what the platform served.")
    transcript: Transcript | None = Field(None, description="For a YouTube video whose captions were fetched: the track and where each cue is in `text`.")

    @field_validator("published_at", "collected_at", "first_seen_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @field_validator("text")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return normalise_text(value)

    @model_validator(mode="after")
    def _stable_id(self) -> Post:
        expected = post_id(self.platform, self.native_id)
        if not self.id:
            object.__setattr__(self, "id", expected)
        elif self.id != expected:
            raise ValueError(f"id {self.id!r} does not match platform and native_id (expected {expected!r})")
        return self

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class CrawlError(_Record):
    url: str | None = Field(None, description="The URL that failed, when the error belongs to a request.")
    status: int | None = Field(None, description="HTTP status, when there was a response.")
    message: str = Field(description="One line saying what went wrong.")


CrawlStatus = Literal["running", "ok", "partial", "failed"]


class CrawlRun(_Record):
    """One run of one source, as the crawl-run log keeps it."""

    id: str = Field(description="Unique id of the run.")
    source_id: str
    platform: str
    started_at: datetime
    finished_at: datetime | None = None
    status: CrawlStatus = "running"
    pages: int = 0
    new_posts: int = 0
    updated_posts: int = 0
    dropped_items: int = Field(0, description="Items dropped as malformed; reasons are in `errors`.")
    transcripts: dict[str, int] = Field(default_factory=dict, description="YouTube transcript outcomes of the run's videos, by outcome (`fetched`, `no captions`, `blocked (HTTP 429)`...).")
    errors: list[CrawlError] = Field(default_factory=list)

    @field_validator("started_at", "finished_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)


AlertState = Literal["open", "acknowledged", "resolved"]
AlertKind = Literal["spike", "emerging", "source_silent"]


class AlertEvent(_Record):
    at: datetime
    action: Literal["opened", "escalated", "notified", "acknowledged", "resolved", "reopened", "commented"]
    by: str | None = None
    comment: str | None = None


class Alert(_Record):
    id: str = Field(description="Stable id of the surge: rule, subject and the bucket where it started.")
    rule_id: str
    kind: AlertKind
    subject_type: Literal["narrative", "term", "hashtag", "search", "source"]
    subject: str
    state: AlertState = "open"
    opened_at: datetime
    updated_at: datetime
    bucket_start: datetime | None = Field(None, description="Start of the bucket where the surge was detected.")
    count: int = 0
    baseline: float = 0.0
    ratio: float = 0.0
    score: float = 0.0
    evidence: dict[str, Any] = Field(default_factory=dict, description="top_sources, top_authors, sample_post_ids and any detector detail.")
    last_notified_at: datetime | None = None
    notified_ratio: float | None = Field(None, description="Ratio at the last notification; the re-alert policy notifies again only when the surge grows past it.")
    history: list[AlertEvent] = Field(default_factory=list)


CandidateState = Literal["new", "promoted", "dismissed"]
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
"""A datetime kept in UTC (naive ones taken as UTC)."""


class PostRef(_Record):
    """A post named in a candidate: enough to show and link it without reading the store again."""

    id: str
    platform: str
    source_id: str
    published_at: UtcDatetime
    url: str | None = None
    shares: int = 0


class Arrival(_Record):
    """When a narrative or a copy-paste cluster first appeared in one source (or platform)."""

    key: str = Field(description="The source id, or the platform.")
    platform: str
    first_at: UtcDatetime = Field(description="Published time of its first post there (to the hour when counted from trend buckets).")
    posts: int = Field(0, description="Its posts there over the period looked at.")


class Candidate(_Record):
    """A narrative no watchlist names yet: words, hashtags and copied texts surging together across sources."""

    id: str = Field(description="Stable across cycles: kept while the candidate's terms overlap those of the one first seen.")
    state: CandidateState = "new"
    terms: list[str] = Field(description="Its words and hashtags (`#tag`), most used first.")
    clusters: list[str] = Field(default_factory=list, description="Copy-paste clusters among its posts.")
    posts: int = Field(description="Its posts in the current window.")
    authors: int = 0
    baseline: float = Field(0.0, description="Posts expected in the current window at the baseline rate of its terms.")
    growth: float = Field(0.0, description="posts / baseline.")
    score: float = Field(0.0, description="-log10 of the corrected tail probability of its most significant term.")
    first_post_at: UtcDatetime
    detected_at: UtcDatetime = Field(description="The cycle that first proposed it.")
    updated_at: UtcDatetime
    earliest: list[PostRef] = Field(default_factory=list)
    most_shared: list[PostRef] = Field(default_factory=list)
    sources: dict[str, int] = Field(default_factory=dict, description="Posts per source, most first.")
    platforms: dict[str, int] = Field(default_factory=dict)
    languages: dict[str, int] = Field(default_factory=dict)
    spread: list[Arrival] = Field(default_factory=list, description="First appearance per source, earliest first.")
    dismissed_posts: int | None = Field(None, description="Its posts when dismissed: it comes back only once it has grown well past them.")
    narrative: str | None = Field(None, description="The watchlist narrative it was promoted to.")
    by: str | None = Field(None, description="Who promoted or dismissed it.")


class Subscription(_Record):
    id: str
    email: str
    rules: list[str] = Field(default_factory=lambda: ["*"], description="Rule ids, or `*` for every rule.")
    mode: Literal["immediate", "digest"] = "immediate"
    created_at: datetime = Field(default_factory=utcnow)


class SavedSearch(_Record):
    id: str
    name: str
    query: dict[str, Any] = Field(description="A serialised `store.PostQuery`.")
    created_at: datetime = Field(default_factory=utcnow)


class OutboxMessage(_Record):
    """A notification waiting to go out; the id makes enqueueing idempotent (nothing sent twice)."""

    id: str
    channel: Literal["email", "webhook"] = "email"
    recipient: str
    subject: str = ""
    body_text: str = ""
    body_html: str | None = None
    payload: dict[str, Any] | None = None
    created_at: datetime = Field(default_factory=utcnow)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    last_error: str | None = None
