"""The PeerTube spider against the 15 recorded videos of peertube.cpy.re replayed on loopback.

The recording kept the `data` arrays of `GET /api/v1/videos` without their `{"total", "data"}` envelope
(tests/fixtures/SOURCES.md), so the pages served here put the recorded videos, unchanged and newest first,
back in that envelope: the first page the 8 newest, the next (`start=8`) the 7 others. The recorded file
itself, served as it is, is a bare array: the spider must say it is not a PeerTube list.

Two crawls share the module: a first run of every source (the channel answers 429 once before its first
page), then a second run of the channel, which must add nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import TextResponse

from crawlers.spiders.base import MalformedPost
from crawlers.spiders.peertube import PeertubeSpider
from tests.crawlers.recorded_api import Crawl, assert_stored_post, by_native_id, crawl, expected_post, from_response
from tests.support.crawling import VigieProject
from tests.support.factories import write_config
from tests.support.replay import ReplayServer, Reply
from vigie.config import load_config
from vigie.models import Post

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "peertube"
RECORDED = (FIXTURES / "videos-data.json").read_bytes()
VIDEOS = json.loads(RECORDED)
NEWEST_FIRST = sorted(VIDEOS, key=lambda video: video["publishedAt"], reverse=True)


def page(videos: list[dict[str, Any]], total: int = len(VIDEOS)) -> bytes:
    return json.dumps({"total": total, "data": videos}, ensure_ascii=False).encode()


PAGE_1 = page(NEWEST_FIRST[:8])
PAGE_2 = page(NEWEST_FIRST[8:])
EMPTY = page([], total=0)

CHANNEL = "/api/v1/video-channels/framasoft/videos"
FIRST = f"{CHANNEL}?start=0&count=100&sort=-publishedAt"
SECOND = f"{CHANNEL}?start=8&count=100&sort=-publishedAt"
SEARCH = "/api/v1/search/videos?search=gu%C3%A9rison+naturelle&start=0&count=100&sort=-publishedAt"
ACCOUNT = "/api/v1/accounts/tcit@peertube.cpy.re/videos?start=0&count=100&sort=-publishedAt"
BARE = "/api/v1/accounts/root/videos?start=0&count=100&sort=-publishedAt"


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Crawl, Crawl]]:
    with ReplayServer() as server:
        server.add(FIRST, Reply(status=429, headers={"Retry-After": "1"}), PAGE_1, content_type="application/json")
        server.add(SECOND, PAGE_2, content_type="application/json")
        server.add(SEARCH, EMPTY, content_type="application/json")
        server.add(ACCOUNT, PAGE_1[:3000], content_type="application/json")
        server.add(BARE, RECORDED, content_type="application/json")
        vigie = VigieProject(tmp_path_factory.mktemp("peertube"))
        vigie.configure(
            [
                {"id": "framasoft", "platform": "peertube", "instance": "https://peertube.cpy.re", "channel": "framasoft", "base_url": server.base_url},
                {"id": "search", "platform": "peertube", "instance": server.base_url, "search": "guérison naturelle"},
                {"id": "tcit", "platform": "peertube", "instance": server.base_url, "account": "@tcit@peertube.cpy.re"},
                {"id": "bare", "platform": "peertube", "instance": server.base_url, "account": "root"},
            ]
        )
        first = crawl(vigie, server)
        yield first, crawl(vigie, server, "framasoft")


@pytest.fixture(scope="module")
def first(crawls: tuple[Crawl, Crawl]) -> Crawl:
    return crawls[0]


@pytest.fixture(scope="module")
def second(crawls: tuple[Crawl, Crawl]) -> Crawl:
    return crawls[1]


def test_every_recorded_video_is_stored_once(first: Crawl) -> None:
    posts = first.posts["framasoft"]
    assert len(from_response(posts, PAGE_1)) == 8
    assert len(from_response(posts, PAGE_2)) == 7
    assert {post.native_id for post in posts} == {video["uuid"] for video in VIDEOS}
    run = first.runs["framasoft"]
    assert (run.status, run.pages, run.new_posts, run.dropped_items, run.errors) == ("ok", 2, 15, 0, [])


def test_pages_follow_start_until_total(first: Crawl) -> None:
    assert first.requested(CHANNEL) == [FIRST, SECOND]


def test_429_is_retried_after_the_delay_it_asks_for(first: Crawl) -> None:
    asked = [request.at for request in first.server.requests if request.path == FIRST]
    assert len(asked) >= 2 and asked[-1] - asked[0] >= 1.0


def test_second_run_stops_at_the_cursor_and_adds_nothing(second: Crawl) -> None:
    run = second.runs["framasoft"]
    assert (run.status, run.pages, run.new_posts, run.updated_posts) == ("ok", 1, 0, 0)
    assert second.requested(CHANNEL) == [FIRST]
    assert len(second.posts["framasoft"]) == 15


def test_an_empty_search_is_a_clean_run(first: Crawl) -> None:
    run = first.runs["search"]
    assert (run.status, run.pages, run.new_posts, run.errors) == ("ok", 1, 0, [])
    assert first.requested("/api/v1/search/") == [SEARCH]


def test_malformed_json_is_one_error_for_that_source(first: Crawl) -> None:
    run = first.runs["tcit"]
    assert (run.status, run.new_posts) == ("failed", 0)
    [error] = run.errors
    assert error.url == first.server.url(ACCOUNT)
    assert "malformed JSON" in error.message


def test_the_recorded_bare_array_is_not_taken_for_a_list(first: Crawl) -> None:
    run = first.runs["bare"]
    assert (run.status, run.new_posts) == ("failed", 0)
    [error] = run.errors
    assert error.message == f"{first.server.url(BARE)}: expected a PeerTube list (an object with a data array), got list"


VIDEO_FIELDS = [
    pytest.param(
        {
            "native_id": "b1e5ba7e-2a8a-44d4-8151-aa8f5f6eafd9",
            "url": "https://peertube.cpy.re/videos/watch/b1e5ba7e-2a8a-44d4-8151-aa8f5f6eafd9",
            "author": {"id": "root@peertube.cpy.re", "handle": "ae71decf-ee44-47c9-9159-e5113c62909c@peertube.cpy.re", "name": "Default root channel"},
            "published_at": "2017-11-18T21:52:37.894000Z",
            "title": "Quelle infrastructure pour dégoogliser Internet\u00a0?",  # a no-break space, as recorded
            "text": "En 2014, l'association Framasoft s'est lancée dans une campagne intitulée « Dégooglisons Internet ». Cette campagne se"
            " caractérise notamment par la mise à disposition de services en ligne reposant uniquement sur des logiciels libres, en alternativ...",
            "platform_language": "fr",
            "media": ["video"],
            "engagement": {"views": 5626, "likes": 14, "shares": None, "replies": None},
        },
        id="french-truncated-description",
    ),
    pytest.param(
        {
            "native_id": "f78a97f8-a142-4ce1-a5bd-154bf9386504",
            "url": "https://peertube.cpy.re/videos/watch/f78a97f8-a142-4ce1-a5bd-154bf9386504",
            "author": {"id": "root@peertube.cpy.re", "handle": "ae71decf-ee44-47c9-9159-e5113c62909c@peertube.cpy.re", "name": "Default root channel"},
            "published_at": "2017-10-18T13:05:51.467000Z",
            "title": "Old PeerTube demonstration",
            "text": "PeerTube demonstration (shows decentralization, communication between pods and P2P).",
            "platform_language": None,  # {"label": "Unknown", "id": null}
            "media": ["video"],
            "engagement": {"views": 14175, "likes": 19, "shares": None, "replies": None},
        },
        id="unknown-language",
    ),
    pytest.param(
        {
            "native_id": "1174e225-1a2e-4e6c-8ab4-1b709cd46978",
            "url": "https://peertube.cpy.re/videos/watch/1174e225-1a2e-4e6c-8ab4-1b709cd46978",
            "author": {"id": "tcit@peertube.cpy.re", "handle": "75efc529-ab08-46d3-a974-272be9466f2f@peertube.cpy.re", "name": "Default tcit channel"},
            "published_at": "2018-02-13T15:57:15.666000Z",
            "title": "Créer le site de votre association avec les pages Framasite",
            "text": "Voici un tuto pour créer votre page Framasite pour présenter votre association.\nPour créer votre site, c'est ici:"
            " https://frama.site\nPour voir le résultat du site d'exemple, c'est ici : https://association-exemple.frama.site",
            "platform_language": "fr",
            "media": ["video"],
            "engagement": {"views": 1872, "likes": 8, "shares": None, "replies": None},
        },
        id="other-channel-with-links",
    ),
]


@pytest.mark.parametrize("fields", VIDEO_FIELDS)
def test_video_field_by_field(first: Crawl, fields: dict[str, Any]) -> None:
    post = by_native_id(first.posts["framasoft"])[fields["native_id"]]
    body = PAGE_1 if fields["native_id"] in {video["uuid"] for video in NEWEST_FIRST[:8]} else PAGE_2
    assert_stored_post(post, expected_post("peertube", "framasoft", body, fields))


def test_malformed_videos_are_dropped_with_a_reason_and_tags_are_kept(tmp_path: Path) -> None:
    """A copy of the recorded videos, spoiled on purpose: one lost its uuid, one its date, one is not an object;
    one is given the `tags` and `comments` that newer instances send."""
    videos = json.loads(RECORDED)
    del videos[0]["uuid"]
    del videos[1]["publishedAt"]
    videos[2] = "a8ea95b8"
    videos[3].update(tags=["Framasoft", "dégooglisons", "framasoft"], comments=4)
    config = load_config(write_config(tmp_path / "config", sources=[{"id": "p", "platform": "peertube", "instance": "https://peertube.cpy.re", "search": "x"}]), tmp_path / "data")
    spider = PeertubeSpider(source=config.source("p"), config=config, cursor=None)
    url = "https://peertube.cpy.re" + SEARCH
    output = list(spider.parse(TextResponse(url, body=page(videos), headers={"Content-Type": "application/json"})))
    malformed = [item for item in output if isinstance(item, MalformedPost)]
    posts = {item.native_id: item for item in output if isinstance(item, Post)}
    assert [(item.reason, item.native_id) for item in malformed] == [
        ("video without uuid", None),
        ("video without publishedAt", "f78a97f8-a142-4ce1-a5bd-154bf9386504"),
        ("video without uuid", None),
    ]
    assert len(posts) == 12
    tagged = posts["c193a2f6-8b24-48c3-a93e-f89bd71cad42"]
    assert (tagged.hashtags, tagged.engagement.replies) == (["framasoft", "dégooglisons"], 4)
