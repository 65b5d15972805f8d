"""YouTube transcripts: what a video says becomes part of its post, searched, tagged and signed like any text.

`TranscriptPipeline` runs after validation on the videos of YouTube sources with `transcripts: true`. For each
video (at most `max_transcripts` per run) it asks YouTube for the caption tracks (the watch page, then the
innertube player answer) and the chosen track's timed text (`/api/timedtext`), through youtube-transcript-api:
a maintained library that follows YouTube's changes, so Vigie carries no hand-written parser of YouTube's pages.
Its requests go through a `requests` session with Vigie's User-Agent, a timeout, the crawl's delay between
requests, and a source's `base_url` in place of YouTube's host (how the tests replay recorded answers).

The track: a manual one in `enrich.language.languages` order, else the automatic one (in the language spoken),
else the first manual one (the video's own language). The transcript is appended to the post's text after the
description, one caption cue per line; `Post.transcript` keeps where each cue starts in the text and in the video.

A video without captions, a consent page, a 429, a refusal that asks for a proof-of-origin token... is one
counted outcome for that video (`CrawlRun.transcripts`), never a failed crawl. Videos left without a transcript
are kept in the source's cursor and tried again by the next runs, `MAX_ATTEMPTS` times in all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import ParseError

import requests
from requests.adapters import HTTPAdapter
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool
from youtube_transcript_api import YouTubeTranscriptApi
from youtube_transcript_api import _errors as errors

from crawlers.context import RunComponent, resources_of
from crawlers.pipelines import StorePipeline
from crawlers.spiders.youtube import YoutubeSpider
from vigie.models import Post, Transcript, normalise_text, post_id

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from youtube_transcript_api import TranscriptList

logger = logging.getLogger(__name__)

YOUTUBE = "https://www.youtube.com"
MAX_ATTEMPTS = 3
"""Runs that try a video's transcript before giving up on it."""
PENDING_KEY = "transcripts_missing"
"""Cursor key: video id -> attempts made so far, for videos still without a transcript."""
FETCHED = "fetched"

_OUTCOMES: tuple[tuple[type[Exception] | tuple[type[Exception], ...], str], ...] = (
    ((errors.TranscriptsDisabled, errors.NoTranscriptFound), "no captions"),
    (errors.FailedToCreateConsentCookie, "consent page"),
    (errors.PoTokenRequired, "proof-of-origin token required"),
    (errors.RequestBlocked, "blocked (HTTP 429 or bot check)"),
    ((errors.VideoUnavailable, errors.VideoUnplayable, errors.AgeRestricted, errors.InvalidVideoId), "video unavailable"),
    (errors.YouTubeRequestFailed, "HTTP error"),
    (requests.RequestException, "connection failed"),
)


class TranscriptMissing(Exception):
    """No transcript for this video this time; str() is the outcome counted for the run."""


@dataclass(frozen=True)
class Fetched:
    language: str
    generated: bool
    cues: list[tuple[float, str]]
    """(start in seconds, text) of each caption cue, in order."""


class _VigieAdapter(HTTPAdapter):
    """Every request: a timeout, a pause since the previous one, and YouTube's host replaced by `base_url`."""

    def __init__(self, timeout: float, delay: float, base_url: str | None) -> None:
        super().__init__()
        self.timeout, self.delay, self.base_url = timeout, delay, base_url
        self._last = 0.0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        wait = self._last + self.delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # in the transcript worker thread, never in the reactor
        if self.base_url and request.url and request.url.startswith(YOUTUBE):
            request.url = self.base_url + request.url[len(YOUTUBE) :]
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        try:
            return super().send(request, **kwargs)
        finally:
            self._last = time.monotonic()


class TranscriptClient:
    """youtube-transcript-api on one session; not thread-safe (the library's rule): one client per worker thread."""

    def __init__(self, user_agent: str, timeout: float, delay: float = 0.0, base_url: str | None = None) -> None:
        session = requests.Session()
        session.headers["User-Agent"] = user_agent
        adapter = _VigieAdapter(timeout, delay, base_url.rstrip("/") if base_url else None)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self.api = YouTubeTranscriptApi(http_client=session)

    def fetch(self, video_id: str, languages: Iterable[str]) -> Fetched:
        """The chosen track's cues, or `TranscriptMissing` saying why not."""
        try:
            track = choose_track(self.api.list(video_id), list(languages), video_id)
            fetched = track.fetch()
        except errors.CouldNotRetrieveTranscript as exc:
            raise TranscriptMissing(outcome_of(exc)) from None
        except requests.RequestException as exc:
            raise TranscriptMissing(outcome_of(exc)) from None
        except (ParseError, ValueError, KeyError, TypeError):
            raise TranscriptMissing("unreadable answer") from None
        return Fetched(fetched.language_code, fetched.is_generated, [(snippet.start, snippet.text) for snippet in fetched.snippets])


def outcome_of(exc: Exception) -> str:
    for kinds, outcome in _OUTCOMES:
        if isinstance(exc, kinds):
            return outcome
    return "unreadable answer"


def choose_track(tracks: TranscriptList, languages: list[str], video_id: str) -> Any:
    """A manual track in `languages` order, else the automatic one, else the first manual one."""
    manual = {track.language_code: track for track in tracks if not track.is_generated}
    for code in languages:
        if code in manual:
            return manual[code]
    generated = [track for track in tracks if track.is_generated]
    if generated:
        return generated[0]
    if manual:
        return next(iter(manual.values()))
    raise errors.TranscriptsDisabled(video_id)


def with_transcript(post: Post, fetched: Fetched) -> Post:
    """The post with the transcript after its description, one cue per line, and where each cue starts."""
    description = post.text
    offset = len(description) + 2 if description else 0
    lines: list[str] = []
    cues: list[tuple[int, float]] = []
    position = offset
    for start, text in fetched.cues:
        line = " ".join(normalise_text(text).split())
        if not line:
            continue
        cues.append((position, start))
        lines.append(line)
        position += len(line) + 1
    if not lines:
        raise TranscriptMissing("no captions")
    text = (f"{description}\n\n" if description else "") + "\n".join(lines)
    transcript = Transcript(language=fetched.language, generated=fetched.generated, offset=offset, cues=cues)
    return post.model_copy(update={"text": text, "transcript": transcript})


class TranscriptPipeline(RunComponent):
    """Adds its transcript to each new video of the source, then retries the earlier misses (see the module)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.pool: ThreadPool | None = None
        self.client: TranscriptClient | None = None
        self.outcomes: Counter[str] = Counter()
        self.started = 0
        self.pending: dict[str, int] = {}
        self.seen: set[str] = set()
        self._local = threading.local()

    @property
    def enabled(self) -> bool:
        source = self.state.source
        return source.platform == YoutubeSpider.name and source.transcripts

    def open_spider(self) -> None:
        if not self.enabled:
            return
        self.pending = {str(video): int(tries) for video, tries in (self.state.cursor or {}).get(PENDING_KEY, {}).items()}
        self.pool = ThreadPool(minthreads=0, maxthreads=1, name=f"transcripts-{self.state.source.id}")
        self.pool.start()

    def _client(self) -> TranscriptClient:
        """Built in the worker thread, where it is used."""
        client = getattr(self._local, "client", None)
        if client is None:
            settings, source = self.crawler.settings, self.state.source
            client = self._local.client = TranscriptClient(
                settings.get("USER_AGENT"), settings.getfloat("DOWNLOAD_TIMEOUT"), settings.getfloat("DOWNLOAD_DELAY"),
                source.base_url,
            )
        return client

    def _languages(self) -> list[str]:
        return list(resources_of(self.crawler).config.settings.enrich.language.languages)

    async def _attach(self, post: Post) -> Post | None:
        """The post with its transcript, or None (the outcome counted, the video kept for a later run)."""
        from twisted.internet import reactor  # the one Scrapy installed

        assert self.pool is not None
        video = post.native_id
        self.seen.add(video)
        try:
            fetched = await maybe_deferred_to_future(deferToThreadPool(reactor, self.pool, lambda: self._client().fetch(video, self._languages())))
            post = with_transcript(post, fetched)
        except TranscriptMissing as missing:
            self.outcomes[str(missing)] += 1
            tries = self.pending.get(video, 0) + 1
            if tries < MAX_ATTEMPTS:
                self.pending[video] = tries
            else:
                self.pending.pop(video, None)
            return None
        self.outcomes[FETCHED] += 1
        self.pending.pop(video, None)
        return post

    def _take_budget(self) -> bool:
        """One more transcript this run? Taken before waiting: items of a page are processed concurrently."""
        if self.started >= self.state.source.max_transcripts:
            return False
        self.started += 1
        return True

    async def process_item(self, item: Post) -> Post:
        is_video = "video" in item.media and item.reply_to is None
        if not self.enabled or not is_video or item.transcript is not None or not self._take_budget():
            return item
        return await self._attach(item) or item

    async def close_spider(self) -> None:
        if not self.enabled or self.pool is None:
            return
        try:
            await self._retry_earlier_misses()
        finally:
            self.pool.stop()
        state = self.state
        state.run.transcripts = dict(self.outcomes)
        state.cursor_extras[PENDING_KEY] = dict(sorted(self.pending.items()))
        if self.outcomes:
            summary = ", ".join(f"{count} {outcome}" for outcome, count in self.outcomes.most_common())
            logger.info("source %s: transcripts: %s; %d videos to try again", state.source.id, summary, len(self.pending))

    async def _retry_earlier_misses(self) -> None:
        """Videos of earlier runs still without a transcript, fetched again and stored through the store pipeline."""
        store_pipeline = next(mw for mw in self.crawler.engine.scraper.itemproc.middlewares if isinstance(mw, StorePipeline))
        store = resources_of(self.crawler).store
        for video in [video for video in self.pending if video not in self.seen]:
            if not self._take_budget():
                break
            post = store.get_post(post_id(YoutubeSpider.name, video))
            if post is None or post.transcript is not None:
                self.pending.pop(video, None)
                continue
            found = await self._attach(post)
            if found is not None:
                store_pipeline.process_item(found)
        store_pipeline.flush()
