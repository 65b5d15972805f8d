"""The YouTube Data API v3 part of the youtube spider, against recorded `search.list` and `commentThreads.list`
answers replayed on loopback, with a key given in the environment as a user would.

Four crawls share the module: (1) a keyword search (429 once, the recorded page, then an empty page: the
recorded answer's envelope without items) and a channel whose videos' comments are read; (2) a search source
run without a key; (3) the search again, which asks only for videos after the cursor and adds nothing; (4) the
search with a daily budget that the units already spent today leave too small.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.crawlers.recorded_api import assert_stored_post, by_native_id, expected_post
from tests.support.crawling import VigieProject
from tests.support.replay import ReceivedRequest, ReplayServer, Reply
from vigie.models import CrawlRun

YOUTUBE = Path(__file__).resolve().parents[1] / "fixtures" / "youtube"
SEARCH = (YOUTUBE / "data-api" / "search-page1.json").read_bytes()
COMMENTS = (YOUTUBE / "data-api" / "commentThreads-page1.json").read_bytes()
KURZGESAGT = "UCsXVk37bltHxD1rDPwtNM8Q"
KEY = {"VIGIE_YOUTUBE_API_KEY": "test-key-not-a-secret"}


def without_items(body: bytes) -> bytes:
    answer = json.loads(body)
    answer["items"] = []
    del answer["nextPageToken"]
    return json.dumps(answer).encode()


@dataclass
class Crawls:
    project: VigieProject
    runs: list[dict[str, CrawlRun]]
    requests: list[list[ReceivedRequest]]


def sources(server: ReplayServer) -> list[dict[str, Any]]:
    return [
        {"id": "surf", "platform": "youtube", "search": "surf", "language": "en", "region": "US", "base_url": server.base_url, "transcripts": False},
        {"id": "kurz", "platform": "youtube", "channel_id": KURZGESAGT, "comments": True, "base_url": server.base_url, "transcripts": False, "backfill_pages": 2},
    ]


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawls]:
    with ReplayServer() as server:
        server.add("/youtube/v3/search", Reply(status=429, headers={"Retry-After": "1"}), SEARCH, without_items(SEARCH), content_type="application/json")
        server.add(f"/feeds/videos.xml?channel_id={KURZGESAGT}", YOUTUBE / "kurzgesagt_videos.xml", content_type="text/xml; charset=UTF-8")
        server.add("/youtube/v3/commentThreads", COMMENTS, content_type="application/json")
        project = VigieProject(tmp_path_factory.mktemp("data-api"))
        project.configure(sources(server))
        runs, requests, mark = [], [], 0

        def crawl(*ids: str, env: dict[str, str] | None = KEY) -> None:
            nonlocal mark
            runs.append(project.crawl(*ids, env=env))
            requests.append(server.requests[mark:])
            mark = len(server.requests)

        crawl()
        crawl("surf", env=None)
        server.add("/youtube/v3/search", SEARCH, content_type="application/json")
        crawl("surf")
        project.configure(sources(server), settings={"crawl": {"youtube_daily_quota": 350}})
        crawl("surf")
        yield Crawls(project, runs, requests)


def search_calls(requests: list[ReceivedRequest]) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(r.path).query) for r in requests if r.path.startswith("/youtube/v3/search")]


def test_search_pages_newest_first_with_language_and_region_after_a_429(crawls: Crawls) -> None:
    run = crawls.runs[0]["surf"]
    assert (run.status, run.pages, run.new_posts, run.errors) == ("ok", 2, 25, [])
    calls = search_calls(crawls.requests[0])
    base = {"part": ["snippet"], "type": ["video"], "order": ["date"], "maxResults": ["50"], "q": ["surf"], "relevanceLanguage": ["en"], "regionCode": ["US"]}
    assert calls == [base, base, {**base, "pageToken": ["CBkQAA"]}]


def test_the_key_goes_in_a_header_never_in_a_url(crawls: Crawls) -> None:
    api = [r for r in crawls.requests[0] if r.path.startswith("/youtube/v3/")]
    assert api and all(r.headers.get("X-Goog-Api-Key") == KEY["VIGIE_YOUTUBE_API_KEY"] for r in api)
    assert not any(KEY["VIGIE_YOUTUBE_API_KEY"] in r.path for r in api)
    assert KEY["VIGIE_YOUTUBE_API_KEY"] not in crawls.project.log()


def test_comments_of_the_channel_videos_reply_to_their_video(crawls: Crawls) -> None:
    run = crawls.runs[0]["kurz"]
    assert (run.status, run.pages, run.new_posts) == ("ok", 2, 20)  # the feed's 15 videos, 5 comments (then the page cap)
    comments = [post for post in crawls.project.posts("kurz") if post.reply_to]
    assert {post.reply_to for post in comments} == {"youtube:F1UP7wRCPH8"}  # the recorded answer's video
    [asked] = [r.path for r in crawls.requests[0] if r.path.startswith("/youtube/v3/commentThreads")]
    assert parse_qs(urlsplit(asked).query) == {"part": ["snippet"], "videoId": ["zg40FHOAqC0"], "order": ["time"], "maxResults": ["100"], "textFormat": ["plainText"]}


def test_a_source_that_needs_a_key_fails_in_one_line_naming_it(crawls: Crawls) -> None:
    run = crawls.runs[1]["surf"]
    assert run.status == "failed"
    assert [error.message for error in run.errors] == ["could not start: a YouTube search needs a YouTube Data API key: set VIGIE_YOUTUBE_API_KEY in the environment"]
    assert not any(r.path.startswith("/youtube/") for r in crawls.requests[1])


def test_second_search_asks_for_videos_after_the_cursor_and_adds_nothing(crawls: Crawls) -> None:
    run = crawls.runs[2]["surf"]
    assert (run.status, run.pages, run.new_posts, run.updated_posts) == ("ok", 1, 0, 0)
    [call] = search_calls(crawls.requests[2])
    assert call["publishedAfter"] == ["2019-12-06T08:25:39Z"]  # the newest video of the recorded page


def test_the_daily_budget_stops_the_crawl_before_it_is_spent(crawls: Crawls) -> None:
    run = crawls.runs[3]["surf"]
    assert run.status == "failed" and run.pages == 0
    [error] = run.errors
    # spent today: 3 search calls (one answered 429) x 100 + 1 comment page, then 1 more search call
    assert error.message == (
        "YouTube Data API quota: 401 of the 350 daily units (crawl.youtube_daily_quota) are spent and the next call costs 100;"
        " stopping this source until YouTube's day ends (midnight, Pacific time)"
    )
    assert search_calls(crawls.requests[3]) == []
    assert "YouTube Data API: 0 units this run, 401 of 350 today" in crawls.project.log()


POSTS = [
    pytest.param(
        "surf",
        SEARCH,
        {
            "native_id": "i2hewkFijuY",
            "url": "https://www.youtube.com/watch?v=i2hewkFijuY",
            "author": {"id": "UC_F4Iy5korq2mEWZDQhG07w", "handle": None, "name": "Koa Rothman"},
            "published_at": "2019-12-04T16:00:08Z",
            "title": "SURFING PERFECT PIPE & BACKDOOR || SUNRISE SHACK!",  # `&amp;` in the answer
            "text": "This is Livin' Movie Premiering at Surfer Bar on January 25th! Koa does the surfing at the pipeline makes the tubes he also does"
            " the big acai bowls and the ...",
            "media": ["video"],
            "engagement": {"views": None, "likes": None, "shares": None, "replies": None},
        },
        id="search-result-html-escaped-title",
    ),
    pytest.param(
        "kurz",
        COMMENTS,
        {
            "native_id": "UgwI_ylXVnzPS8Q-oAV4AaABAg",
            "url": "https://www.youtube.com/watch?v=F1UP7wRCPH8&lc=UgwI_ylXVnzPS8Q-oAV4AaABAg",
            "published_at": "2019-11-14T23:31:33Z",
            "reply_to": "youtube:F1UP7wRCPH8",
            "engagement": {"views": None, "likes": 0, "shares": None, "replies": 2},
        },
        id="comment-with-replies",
    ),
]


@pytest.mark.parametrize(("source", "body", "fields"), POSTS)
def test_post_field_by_field(crawls: Crawls, source: str, body: bytes, fields: dict[str, Any]) -> None:
    post = by_native_id(crawls.project.posts(source))[fields["native_id"]]
    if source == "kurz":
        recorded = next(t for t in json.loads(body)["items"] if t["id"] == fields["native_id"])["snippet"]["topLevelComment"]["snippet"]
        fields = {**fields, "text": recorded["textOriginal"], "author": {"id": recorded["authorChannelId"]["value"], "handle": None, "name": recorded["authorDisplayName"]}}
    assert_stored_post(post, expected_post("youtube", source, body, fields))
