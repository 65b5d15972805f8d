"""The Odysee spider against the recorded `claim_search` answer (20 streams, page 1 of 50) replayed on loopback.

Every source POSTs to its own copy of the proxy path (its `base_url` has a prefix), so each gets its own
replies in turn. The channel answers 429 once, then the recorded page, then page 2 empty (what the hub
answers past the end of a result). Two crawls share the module: a first run of every source, then a second
run of the channel, served the recorded page again, which must add nothing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import TextResponse

from crawlers.spiders.base import MalformedPost
from crawlers.spiders.odysee import OdyseeSpider
from tests.crawlers.recorded_api import Crawl, assert_stored_post, by_native_id, crawl, expected_post, from_response
from tests.support.crawling import VigieProject
from tests.support.factories import write_config
from tests.support.replay import ReplayServer, Reply
from vigie.config import load_config
from vigie.models import Post, normalise_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "odysee"
RECORDED = (FIXTURES / "claim_search.json").read_bytes()
ANSWER = json.loads(RECORDED)
PROXY = "/api/v1/proxy?m=claim_search"


def empty(page: int) -> bytes:
    """The recorded answer's envelope with no items: a page past the end."""
    result = {**ANSWER["result"], "items": [], "page": page}
    return json.dumps({**ANSWER, "result": result}).encode()


def params(bodies: list[bytes]) -> list[dict[str, Any]]:
    calls = [json.loads(body) for body in bodies]
    assert all((call["jsonrpc"], call["method"]) == ("2.0", "claim_search") for call in calls)
    return [call["params"] for call in calls]


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Crawl, Crawl, list[bytes], list[bytes]]]:
    with ReplayServer() as server:
        server.add(f"/chan{PROXY}", Reply(status=429, headers={"Retry-After": "1"}), RECORDED, empty(2), content_type="application/json")
        server.add(f"/tags{PROXY}", empty(1), content_type="application/json")
        server.add(f"/text{PROXY}", RECORDED[:20000], content_type="application/json")
        vigie = VigieProject(tmp_path_factory.mktemp("odysee"))
        vigie.configure(
            [
                {"id": "chan", "platform": "odysee", "channel": "@geopolitique-profonde", "base_url": server.url("/chan")},
                {"id": "tags", "platform": "odysee", "tags": ["guérison", "éveil spirituel"], "base_url": server.url("/tags")},
                {"id": "text", "platform": "odysee", "text": "plandémie", "base_url": server.url("/text")},
            ]
        )
        first = crawl(vigie, server)
        first_bodies = server.bodies(f"/chan{PROXY}")
        server.add(f"/chan{PROXY}", RECORDED, empty(2), content_type="application/json")
        second = crawl(vigie, server, "chan")
        yield first, second, first_bodies, server.bodies(f"/chan{PROXY}")[len(first_bodies) :]


@pytest.fixture(scope="module")
def first(crawls: tuple[Crawl, Crawl, list[bytes], list[bytes]]) -> Crawl:
    return crawls[0]


@pytest.fixture(scope="module")
def second(crawls: tuple[Crawl, Crawl, list[bytes], list[bytes]]) -> Crawl:
    return crawls[1]


def test_every_recorded_stream_is_stored(first: Crawl) -> None:
    posts = first.posts["chan"]
    assert len(from_response(posts, RECORDED)) == 20
    assert {post.native_id for post in posts} == {item["claim_id"] for item in ANSWER["result"]["items"]}
    run = first.runs["chan"]
    assert (run.status, run.pages, run.new_posts, run.dropped_items, run.errors) == ("ok", 2, 20, 0, [])


def test_pages_are_claim_search_calls_newest_first_after_a_429(crawls: tuple[Crawl, Crawl, list[bytes], list[bytes]]) -> None:
    first, _, bodies, _ = crawls
    calls = params(bodies)
    expected = {"claim_type": ["stream", "repost"], "order_by": ["release_time"], "page_size": 50, "channel": "@geopolitique-profonde"}
    assert calls == [{**expected, "page": 1}, {**expected, "page": 1}, {**expected, "page": 2}]  # the first answered 429
    asked = [request.at for request in first.server.requests if request.path == f"/chan{PROXY}"][:2]
    assert asked[1] - asked[0] >= 1.0


def test_tags_and_text_searches(first: Crawl) -> None:
    [tags] = params(first.server.bodies(f"/tags{PROXY}"))
    assert tags["any_tags"] == ["guérison", "éveil spirituel"] and "channel" not in tags
    assert params(first.server.bodies(f"/text{PROXY}"))[0]["text"] == "plandémie"


def test_second_run_stops_at_the_cursor_and_adds_nothing(crawls: tuple[Crawl, Crawl, list[bytes], list[bytes]]) -> None:
    _, second, _, bodies = crawls
    run = second.runs["chan"]
    assert (run.status, run.pages, run.new_posts, run.updated_posts) == ("ok", 1, 0, 0)
    assert [call["page"] for call in params(bodies)] == [1]


def test_an_empty_result_is_a_clean_run(first: Crawl) -> None:
    run = first.runs["tags"]
    assert (run.status, run.pages, run.new_posts, run.errors) == ("ok", 1, 0, [])


def test_malformed_json_is_one_error_for_that_source(first: Crawl) -> None:
    run = first.runs["text"]
    assert (run.status, run.new_posts) == ("failed", 0)
    [error] = run.errors
    assert error.url == first.server.url(f"/text{PROXY}")
    assert "malformed JSON" in error.message


STREAMS = [
    pytest.param(
        {
            "native_id": "4c481b648c94d2a01babdd562984f6058ce7a124",
            "url": "https://odysee.com/@geopolitique-profonde:0/que-pensez-vous-de-cette-initiative:4",
            "author": {"id": "0de4444828156581df06501fe8bb22859f352ea6", "handle": "geopolitique-profonde", "name": "GÉOPOLITIQUE PROFONDE"},
            "published_at": "2024-04-10T13:08:47Z",  # release_time 1712754527
            "title": "Que pensez-vous de cette initiative ?",
            "text": "#gptv #Russie #OTAN #Ukraine #Zelensky\n...\nhttps://www.youtube.com/watch?v=XYLmKyPybjM",
            "media": ["video"],
            "engagement": {"views": None, "likes": None, "shares": None, "replies": None},
        },
        id="french-no-language-no-tags",
    ),
    pytest.param(
        {
            "native_id": "0ff9153a0b5610e4793b5deee35ed3737e1eef1f",
            "url": "https://odysee.com/@gotteshausde:6/die-zuk%C3%BCnftigen-familienmitglieder-2:0",
            "author": {"id": "6b0064ee0fe221fdb8a6ee02071858300e97c691", "handle": "gotteshausde", "name": "gotteshausde"},
            "published_at": "2024-04-10T06:00:29Z",  # release_time 1712728829
            "title": "Die zukünftigen Familienmitglieder",
            "text": normalise_text(ANSWER["result"]["items"][3]["value"]["description"]),  # trailing spaces trimmed, as in every Post
            "platform_language": "de",
            "hashtags": ["beliefs", "baron", "bibel", "endzeit", "erlösung", "ermutigung", "erweckung", "ewigkeit", "gebet", "geistliches", "gottes", "haus",
                         "heilung & wunder", "israel", "jesus", "kirche", "lobpreis", "martin", "mission & dienst", "prophetie", "religion", "sigrid", "wachstum"],
            "media": ["video"],
            "engagement": {"views": None, "likes": None, "shares": None, "replies": None},
        },
        id="german-with-tags",
    ),
    pytest.param(
        {
            "native_id": "c66a6141ec041acc59af1c2c59542dad36851f2c",
            "url": "https://odysee.com/@BnaglaDrama:9/megh-bristyr-alapon-%E0%A6%AE%E0%A7%87%E0%A6%98:c",
            "author": {"id": "94808784d0a08be5fcd1b11713ffc2e2b8ee6b7a", "handle": "BnaglaDrama", "name": "Dhruba Clips"},
            "published_at": "2023-07-13T14:38:45Z",  # release_time 1689259125, a YouTube mirror's date
            "title": "Megh Bristyr Alapon | মেঘ বৃষ্টির আলাপন | Apurba | Sharlin Farzana",
            "text": "Drama: Megh Brishtyr Alapon\nCast: Apurba & Sharlin Farzana.\nDirection: Mehedi Hasan Johny\n\n#meghbrishtyralapon\n#apurba\n"
            "#sharlinfarzana\n#banglanatok\n#bengalidrama\n...\nhttps://www.youtube.com/watch?v=UuAdFkBAKi0",
            "hashtags": ["2017 natok", "apurba & sharlin natok", "apurba natok", "bangla natok 2017", "eid drama 2017", "megh brishtyr alapon",
                         "megh brishtyr alapon natok", "sharlin", "sharlin farzana", "ziaul faruque apurba"],
            "media": ["video"],
            "engagement": {"views": None, "likes": None, "shares": None, "replies": None},
        },
        id="bengali-name-in-url",
    ),
]


@pytest.mark.parametrize("fields", STREAMS)
def test_stream_field_by_field(first: Crawl, fields: dict[str, Any]) -> None:
    post = by_native_id(first.posts["chan"])[fields["native_id"]]
    assert_stored_post(post, expected_post("odysee", "chan", RECORDED, fields))


def test_reposts_and_malformed_claims(tmp_path: Path) -> None:
    """A copy of the recorded answer, spoiled on purpose: one claim lost its id, one its dates; and one stream
    wrapped as a repost by another channel, as `claim_search` returns reposts (`value_type: repost`)."""
    answer = copy.deepcopy(ANSWER)
    items = answer["result"]["items"]
    del items[0]["claim_id"]
    del items[1]["value"]["release_time"], items[1]["meta"], items[1]["timestamp"]
    reposter = items[5]
    items.append({**{key: reposter[key] for key in ("signing_channel", "timestamp", "meta")}, "claim_id": "f" * 40, "value_type": "repost", "value": {"claim_id": items[3]["claim_id"]}, "reposted_claim": items[3]})
    config = load_config(write_config(tmp_path / "config", sources=[{"id": "o", "platform": "odysee", "text": "x"}]), tmp_path / "data")
    spider = OdyseeSpider(source=config.source("o"), config=config, cursor=None)
    url = "https://api.na-backend.odysee.com" + PROXY
    output = list(spider.parse(TextResponse(url, body=json.dumps(answer).encode(), headers={"Content-Type": "application/json"})))
    malformed = [item for item in output if isinstance(item, MalformedPost)]
    posts = {item.native_id: item for item in output if isinstance(item, Post)}
    assert [(item.reason, item.native_id) for item in malformed] == [
        ("claim without claim_id", None),
        ("claim without release_time or timestamp", "30431f1a4f6ffe938bf25b5cace7825bec883f2d"),
    ]
    repost, original = posts["f" * 40], posts[items[3]["claim_id"]]
    assert repost.repost_of == f"odysee:{original.native_id}"
    assert (repost.title, repost.text, repost.hashtags) == (original.title, original.text, original.hashtags)
    assert (repost.author.handle, repost.published_at.timestamp()) == ("Bollywoodgaliyara", float(reposter["meta"]["creation_timestamp"]))
    assert len(posts) == 19
