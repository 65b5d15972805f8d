"""YouTube transcripts through youtube-transcript-api, with its requests replayed on loopback from recorded answers.

The channel feed is the recorded Kurzgesagt feed (15 videos); every watch page is the recorded watch page, the
innertube player answers are the two recorded ones (9 and 2 caption tracks), and the timed text is the recorded
13-cue transcript. Derived answers, made from the recorded 2-track player answer: one without its `captions`
(a video without captions) and one whose track URLs carry `&exp=xpe` (YouTube asking for a proof-of-origin token).

Three crawls share the module, with `max_transcripts: 5`:
1. the first five videos: two transcripts, a 429 on a watch page, no captions, a proof-of-origin refusal;
2. the three misses are tried again: two succeed, one still has no captions;
3. that one fails a third time and is given up.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from youtube_transcript_api._transcripts import TranscriptList

from alerts.email import alert_email
from crawlers.transcripts import choose_track
from dashboard.render import safe_url, said_in_video
from tests.support.crawling import VigieProject
from tests.support.replay import ReplayServer, Reply
from vigie.models import Alert, CrawlRun, Post, normalise_text

YOUTUBE = Path(__file__).resolve().parents[1] / "fixtures" / "youtube"
TRANSCRIPTS = YOUTUBE / "transcripts"
KURZGESAGT = "UCsXVk37bltHxD1rDPwtNM8Q"
FEED = f"/feeds/videos.xml?channel_id={KURZGESAGT}"
VIDEOS = ["zg40FHOAqC0", "D0WQK7cMJn8", "OU36JDGzXb0", "hDU9WcmQA2E", "sravy3Vjdlw"]
"""The feed's first five videos, newest first."""
PLAYER_2 = (TRANSCRIPTS / "player-innertube-2-tracks.json").read_bytes()
PLAYER_9 = (TRANSCRIPTS / "player-innertube-9-tracks.json").read_bytes()
CUES = [
    (0.0, "oh my gosh that's his wife no it can't"),
    (2.32, "be his wife"),
    (3.6, "chad this is no way this is his wife"),
    (5.92, "she looks like a [ __ ]"),
    (7.919, "i don't understand this"),
    (9.76, "this blows my mind"),
    (11.36, "okay"),
    (12.799, "you can talk to any [ __ ] that"),
    (14.559, "i've ever seen in real life ever done a"),
    (16.24, "show with ever traveled to a conference"),
    (17.76, "with ever seen anybody's parents or"),
    (19.359, "whatever i am the most i really am truly"),
    (23.199, "i am the most polite [ __ ] you"),
]
"""timedtext-13-cues.xml, read by hand (entities decoded)."""


def player_without_captions() -> bytes:
    answer = json.loads(PLAYER_2)
    del answer["captions"]
    return json.dumps(answer).encode()


def player_asking_for_a_po_token() -> bytes:
    answer = json.loads(PLAYER_2)
    for track in answer["captions"]["playerCaptionsTracklistRenderer"]["captionTracks"]:
        track["baseUrl"] += "&exp=xpe"
    return json.dumps(answer).encode()


NO_CAPTIONS = player_without_captions()
PO_TOKEN = player_asking_for_a_po_token()
WATCHLIST = {"narratives": [{"id": "rudeness", "label": "Rudeness", "terms": {"en": ["polite", "his wife"]}}]}


@dataclass
class Runs:
    project: VigieProject
    server: ReplayServer
    runs: list[CrawlRun]
    cursors: list[dict[str, Any] | None]


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    with ReplayServer() as server:
        server.add(FEED, YOUTUBE / "kurzgesagt_videos.xml", content_type="text/xml; charset=UTF-8")
        server.add("/watch", TRANSCRIPTS / "watch-page.html")
        server.add(f"/watch?v={VIDEOS[2]}", Reply(status=429, body=b"Too Many Requests"))
        server.add("/youtubei/v1/player", PLAYER_2, PLAYER_9, NO_CAPTIONS, PO_TOKEN, content_type="application/json")
        server.add("/api/timedtext", TRANSCRIPTS / "timedtext-13-cues.xml", content_type="text/xml; charset=UTF-8")
        project = VigieProject(tmp_path_factory.mktemp("transcripts"))
        project.configure(
            [{"id": "kurzgesagt", "platform": "youtube", "channel_id": KURZGESAGT, "base_url": server.base_url, "max_transcripts": 5}],
            settings={"enrich": {"language": {"languages": ["de", "fr", "en"]}}},
            watchlists={"test": WATCHLIST},
        )
        runs, cursors = [], []
        for players in ([], [NO_CAPTIONS, PLAYER_2, PLAYER_2], [NO_CAPTIONS]):
            if players:
                server.add(f"/watch?v={VIDEOS[2]}", TRANSCRIPTS / "watch-page.html")
                server.add("/youtubei/v1/player", *players, content_type="application/json")
            runs.append(project.crawl()["kurzgesagt"])
            cursors.append(project.cursor("kurzgesagt"))
        yield Runs(project, server, runs, cursors)


def video(crawled: Runs, video_id: str) -> Post:
    with crawled.project.store() as store:
        post = store.get_post(f"youtube:{video_id}")
    assert post is not None
    return post


def test_first_run_counts_one_outcome_per_video_and_never_fails(crawled: Runs) -> None:
    run = crawled.runs[0]
    assert (run.status, run.new_posts, run.errors) == ("ok", 15, [])
    assert run.transcripts == {"fetched": 2, "blocked (HTTP 429 or bot check)": 1, "no captions": 1, "proof-of-origin token required": 1}
    assert crawled.cursors[0]["transcripts_missing"] == {VIDEOS[2]: 1, VIDEOS[3]: 1, VIDEOS[4]: 1}


def test_the_transcript_follows_the_description_one_cue_per_line(crawled: Runs) -> None:
    post = video(crawled, VIDEOS[0])
    transcript = post.transcript
    assert transcript is not None
    assert (transcript.language, transcript.generated) == ("en", False)  # no de or fr track: the manual en one
    description = post.text[: transcript.offset - 2]
    assert post.text == description + "\n\n" + "\n".join(text for _, text in CUES)
    assert normalise_text(post.text) == post.text
    assert [(post.text[offset : offset + len(text)], start) for (offset, start), (_, text) in zip(transcript.cues, CUES, strict=True)] == [
        (text, start) for start, text in CUES
    ]
    assert post.language == "en"


def test_manual_track_in_the_configured_language_order(crawled: Runs) -> None:
    transcript = video(crawled, VIDEOS[1]).transcript
    assert transcript is not None and (transcript.language, transcript.generated) == ("de", False)  # 9 tracks: de comes first


def test_transcript_matches_keep_their_second_in_the_video(crawled: Runs) -> None:
    found = crawled.project.cli("search", "polite", "--json")
    assert found.returncode == 0, found.stderr
    posts = {post["native_id"]: post for post in map(json.loads, found.stdout.splitlines())}
    assert set(posts) == {VIDEOS[0], VIDEOS[1], VIDEOS[3], VIDEOS[4]}  # the two of run 1, the two retried in run 2
    matches = {(m["term"], m["at"]) for m in posts[VIDEOS[0]]["matches"]}
    assert matches == {("polite", 23.199), ("his wife", 0.0), ("his wife", 2.32), ("his wife", 3.6)}
    assert posts[VIDEOS[0]]["narratives"] == ["rudeness"]


def test_later_runs_retry_the_misses_a_bounded_number_of_times(crawled: Runs) -> None:
    second, third = crawled.runs[1], crawled.runs[2]
    assert (second.status, second.new_posts, second.updated_posts) == ("ok", 0, 2)
    assert second.transcripts == {"no captions": 1, "fetched": 2}
    assert crawled.cursors[1]["transcripts_missing"] == {VIDEOS[2]: 2}
    assert video(crawled, VIDEOS[3]).transcript is not None and video(crawled, VIDEOS[2]).transcript is None
    assert (third.status, third.transcripts) == ("ok", {"no captions": 1})
    assert crawled.cursors[2]["transcripts_missing"] == {}


def test_alert_email_links_to_the_second_said(crawled: Runs) -> None:
    post = video(crawled, VIDEOS[0])
    now = datetime(2024, 6, 1, tzinfo=UTC)
    alert = Alert(id="a", rule_id="r", kind="spike", subject_type="narrative", subject="rudeness", opened_at=now, updated_at=now)
    rendered = alert_email(alert, [post], crawled.project.config.settings)
    link = f"https://www.youtube.com/watch?v={VIDEOS[0]}"
    assert f"   said at 0:23 (polite): {link}&t=23s" in rendered.text.splitlines()
    assert f"   said at 0:00 (his wife): {link}&t=0s" in rendered.text.splitlines()
    assert "said at 0:02" not in rendered.text  # each term once, where it is first said
    assert f'<a href="{link}&amp;t=23s">said at 0:23</a> (polite)' in rendered.html


def test_dashboard_card_links_to_the_second_said(crawled: Runs) -> None:
    post = video(crawled, VIDEOS[0])
    link = f"https://www.youtube.com/watch?v={VIDEOS[0]}"
    assert said_in_video(post, safe_url(post.url) or "") == (
        f"Said in the video: [▶ 0:00 his wife]({link}&t=0s) · [▶ 0:02 his wife]({link}&t=2s) · [▶ 0:03 his wife]({link}&t=3s)"
        f" · [▶ 0:23 polite]({link}&t=23s)"
    )
    assert "](https://example.org/v?id=%281%29&t=23s)" in (said_in_video(post, "https://example.org/v?id=(1)") or "")  # a link cannot end early


@pytest.mark.parametrize(
    ("player", "languages", "chosen"),
    [
        (PLAYER_9, ["ko", "en"], ("ko", False)),
        (PLAYER_9, ["pt"], ("en", True)),  # no manual pt track: the automatic one
        (PLAYER_2, ["en"], ("en", False)),
        (PLAYER_2, ["de"], ("en", True)),
    ],
)
def test_track_choice(player: bytes, languages: list[str], chosen: tuple[str, bool]) -> None:
    tracks = TranscriptList.build(None, "v", json.loads(player)["captions"]["playerCaptionsTracklistRenderer"])  # type: ignore[arg-type]
    track = choose_track(tracks, languages, "v")
    assert (track.language_code, track.is_generated) == chosen


def test_without_an_automatic_track_the_first_manual_one() -> None:
    captions = json.loads(PLAYER_9)["captions"]["playerCaptionsTracklistRenderer"]
    captions["captionTracks"] = [track for track in captions["captionTracks"] if track.get("kind") != "asr"]
    track = choose_track(TranscriptList.build(None, "v", captions), ["pt"], "v")  # type: ignore[arg-type]
    assert (track.language_code, track.is_generated) == ("zh", False)


def test_reenrich_places_new_matches_in_time(crawled: Runs) -> None:
    """After a watchlist edit, `vigie reenrich` re-tags the stored text and places the new matches with the stored cues."""
    edited = {"narratives": [{**WATCHLIST["narratives"][0], "terms": {"en": ["polite", "his wife", "blows my mind"]}}]}
    (crawled.project.config_dir / "watchlists" / "test.yaml").write_text(json.dumps(edited), encoding="utf-8")
    done = crawled.project.cli("reenrich")
    assert done.returncode == 0, done.stderr
    found = crawled.project.cli("search", "blows my mind", "--json", "--source", "kurzgesagt")
    post = next(p for p in map(json.loads, found.stdout.splitlines()) if p["native_id"] == VIDEOS[0])
    assert {("blows my mind", 9.76), ("polite", 23.199)} <= {(m["term"], m["at"]) for m in post["matches"]}
