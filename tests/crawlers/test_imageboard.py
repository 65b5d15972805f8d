"""The imageboard spider against 4chan's recorded /po/ catalog and /wsg/ index page, replayed on loopback.

No thread file (`/BOARD/thread/N.json`) was recorded, so the threads served here are taken from the
recordings, unchanged post by post: a /po/ thread is its catalog entry followed by its `last_replies`
(whole for the threads with five replies or fewer, which the `match` words pick, plus the catalog's part of
the 116-reply "Fold Up Toys" thread); a /wsg/ thread is a `threads[]` entry of the index page, which has
the thread file's layout (`{"posts": [...]}`), and the /wsg/ catalog lists those two threads.

Three crawls of /po/ share the module: the first run; a second whose catalog answers 304 Not Modified; a
third whose catalog says one thread changed, and that thread answers 304.
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import TextResponse

from crawlers.spiders.imageboard import ImageboardSpider
from tests.crawlers.recorded_api import Crawl, assert_stored_post, by_native_id, crawl, expected_post, from_response
from tests.support.crawling import VigieProject
from tests.support.factories import write_config
from tests.support.replay import ReplayServer, Reply
from vigie.config import ConfigError, load_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imageboard"
CATALOG = (FIXTURES / "4chan-catalog-po.json").read_bytes()
THREADS = {thread["no"]: thread for page in json.loads(CATALOG) for thread in page["threads"]}


def index_page() -> dict[str, Any]:
    """The recorded /wsg/ index page, without the `module.exports = ...;` wrapper the recording repo added."""
    text = (FIXTURES / "4chan-index-page-wsg.js").read_text(encoding="utf-8").strip()
    text = re.sub(r"^(\s*)(threads|posts):", r'\1"\2":', text.removeprefix("module.exports = ").removesuffix(";"), flags=re.M)
    return json.loads(text)


def po_thread(number: int) -> bytes:
    entry = THREADS[number]
    first = {key: value for key, value in entry.items() if key != "last_replies"}
    return json.dumps({"posts": [first, *entry.get("last_replies", [])]}, ensure_ascii=False).encode()


WSG = index_page()["threads"]
WSG_CATALOG = json.dumps([{"page": 1, "threads": [{**t["posts"][0], "last_replies": t["posts"][1:]} for t in WSG]}]).encode()
WSG_THREADS = {t["posts"][0]["no"]: json.dumps(t, ensure_ascii=False).encode() for t in WSG}

MATCH = ["tank destroyer", "MORISUE", "chatterboxes", "fold up toys"]
WATCHED = [578465, 579027, 566305, 577843]
"""The threads `MATCH` picks (last_modified 1579129275, 1579119504, 1579117593, 1579026092)."""
CURSOR = datetime.fromtimestamp(1579129275, UTC)
"""The newest /po/ post collected: No. 579030 in thread 578465."""


def bumped_catalog() -> bytes:
    """The recorded catalog, where thread 577843 says it changed after the cursor."""
    pages = json.loads(CATALOG)
    for page in pages:
        for thread in page["threads"]:
            if thread["no"] == 577843:
                thread["last_modified"] = 1579129275 + 60
    return json.dumps(pages).encode()


@dataclass
class Crawls:
    first: Crawl
    second: Crawl
    third: Crawl
    headers: list[list[tuple[str, dict[str, str]]]]
    """(path, headers) of each request, crawl by crawl."""

    def sent(self, run: int, path: str) -> list[dict[str, str]]:
        return [headers for asked, headers in self.headers[run] if asked == path]


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawls]:
    with ReplayServer() as server:
        server.add("/po/catalog.json", CATALOG, content_type="application/json")
        for number in WATCHED:
            server.add(f"/po/thread/{number}.json", po_thread(number), content_type="application/json")
        server.add("/po/thread/579027.json", Reply(status=429, headers={"Retry-After": "1"}), po_thread(579027), content_type="application/json")
        server.add("/wsg/catalog.json", WSG_CATALOG, content_type="application/json")
        for number, body in WSG_THREADS.items():
            server.add(f"/wsg/thread/{number}.json", body, content_type="application/json")
        server.add("/x/catalog.json", CATALOG[:30000], content_type="application/json")
        server.add("/e/catalog.json", b"[]", content_type="application/json")
        vigie = VigieProject(tmp_path_factory.mktemp("imageboard"))
        vigie.configure(
            [
                {"id": "po", "platform": "imageboard", "board": "po", "match": MATCH, "base_url": server.base_url, "backfill_pages": 10},
                {"id": "wsg", "platform": "imageboard", "board": "wsg", "base_url": server.base_url},
                {"id": "x", "platform": "imageboard", "board": "x", "base_url": server.base_url},
                {"id": "e", "platform": "imageboard", "board": "e", "base_url": server.base_url},
            ]
        )
        first = crawl(vigie, server)
        marks = [len(server.requests)]
        server.add("/po/catalog.json", Reply(status=304), content_type="application/json")
        second = crawl(vigie, server, "po")
        marks.append(len(server.requests))
        server.add("/po/catalog.json", bumped_catalog(), content_type="application/json")
        server.add("/po/thread/577843.json", Reply(status=304), content_type="application/json")
        third = crawl(vigie, server, "po")
        bounds = zip([0, *marks], [*marks, len(server.requests)], strict=True)
        headers = [[(r.path, r.headers) for r in server.requests[start:end]] for start, end in bounds]
        yield Crawls(first, second, third, headers)


@pytest.fixture(scope="module")
def first(crawls: Crawls) -> Crawl:
    return crawls.first


def test_the_catalog_finds_the_matching_threads(first: Crawl) -> None:
    requested = first.requested("/po/")
    assert requested[0] == "/po/catalog.json"
    assert sorted(requested[1:]) == sorted(f"/po/thread/{n}.json" for n in WATCHED)
    run = first.runs["po"]
    assert (run.status, run.pages, run.new_posts, run.dropped_items, run.errors) == ("ok", 5, 14, 0, [])


def test_every_recorded_post_of_the_watched_threads_is_stored(first: Crawl) -> None:
    posts = first.posts["po"]
    for number in WATCHED:
        thread = THREADS[number]
        assert sorted(post.native_id for post in from_response(posts, po_thread(number))) == sorted(
            f"po/{n}" for n in [number, *(reply["no"] for reply in thread.get("last_replies", []))]
        )
    wsg = first.posts["wsg"]
    assert {post.native_id for post in wsg} == {f"wsg/{post['no']}" for thread in WSG for post in thread["posts"]}
    assert first.runs["wsg"].new_posts == 8


def test_one_request_per_second_to_the_host_across_the_four_boards_and_429_honoured(first: Crawl) -> None:
    """The four sources crawl at once in one process, each with its own Scrapy downloader, on one host. Requests
    leave at least a second apart; they are timed here on arrival, where a machine busy with other tests adds up
    to a tenth of a second of jitter (without the pacing, requests arrive a few milliseconds apart)."""
    times = [request.at for request in first.server.requests]
    assert len(times) >= 12
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.85 and sum(gaps) / len(gaps) >= 0.98, gaps
    asked = [request.at for request in first.server.requests if request.path == "/po/thread/579027.json"]
    assert len(asked) == 2 and asked[1] - asked[0] >= 1.0


def test_first_run_asks_without_if_modified_since(crawls: Crawls) -> None:
    assert all("If-Modified-Since" not in headers for headers in crawls.sent(0, "/po/catalog.json"))


def test_catalog_refresh_asks_if_modified_since_and_304_adds_nothing(crawls: Crawls) -> None:
    second = crawls.second
    [headers] = crawls.sent(1, "/po/catalog.json")
    assert headers["If-Modified-Since"] == email.utils.format_datetime(CURSOR, usegmt=True) == "Wed, 15 Jan 2020 23:01:15 GMT"
    run = second.runs["po"]
    assert (run.status, run.pages, run.new_posts, run.updated_posts, run.errors) == ("ok", 1, 0, 0, [])
    assert second.requested("/po/thread/") == []


def test_only_a_thread_changed_since_the_cursor_is_refreshed_with_if_modified_since(crawls: Crawls) -> None:
    third = crawls.third
    assert third.requested("/po/") == ["/po/catalog.json", "/po/thread/577843.json"]
    assert crawls.sent(2, "/po/thread/577843.json")[0]["If-Modified-Since"] == "Wed, 15 Jan 2020 23:01:15 GMT"
    run = third.runs["po"]
    assert (run.status, run.new_posts, run.updated_posts, run.errors) == ("ok", 0, 0, [])
    assert len(third.posts["po"]) == 14


def test_malformed_json_and_an_empty_catalog(first: Crawl) -> None:
    run = first.runs["x"]
    assert (run.status, run.new_posts) == ("failed", 0)
    [error] = run.errors
    assert error.url == first.server.url("/x/catalog.json") and "malformed JSON" in error.message
    empty = first.runs["e"]
    assert (empty.status, empty.pages, empty.new_posts, empty.errors) == ("ok", 1, 0, [])


POSTS = [
    pytest.param(
        "po",
        579027,
        {
            "native_id": "po/579027",
            "url": "https://boards.4chan.org/po/thread/579027#p579027",
            "author": {"id": "po/579027/anonymous", "handle": None, "name": "Anonymous"},
            "published_at": "2020-01-15T20:16:57Z",  # time 1579119417
            "text": "First successful origami, a tank destroyer.\nWhat do you think, Anons?",
            "media": ["photo"],
            "engagement": {"views": None, "likes": None, "shares": None, "replies": 1},
        },
        id="thread-opener-without-subject",
    ),
    pytest.param(
        "po",
        566305,
        {
            "native_id": "po/566305",
            "url": "https://boards.4chan.org/po/thread/566305#p566305",
            "author": {"id": "!!g23NZ3htf3L", "handle": "!!g23NZ3htf3L", "name": "Alex"},
            "published_at": "2018-07-24T09:33:34Z",
            "title": "Fold Up Toys Thread",
            "text": "This thread is for all the Fold Up Toys projects, whether they be free downloadable paper crafts, building videos or website"
            " updates. Rather than trying to put the releases into other threads I figured it’d be easier to keep them all contained in just one."
            "\n\nAlso, if you want to share you FUT builds that'd be great!",
            "media": ["photo"],
            "engagement": {"views": None, "likes": None, "shares": None, "replies": 116},
        },
        id="tripcode",
    ),
    pytest.param(
        "po",
        579025,
        {
            "native_id": "po/579025",
            "url": "https://boards.4chan.org/po/thread/566305#p579025",
            "author": {"id": "po/566305/anonymous", "handle": None, "name": "Anonymous"},
            "published_at": "2020-01-15T19:46:33Z",
            "text": ">>579023\n>PnP wargames\nWorkin' on it! I find myself returning to making DnD minis and monsters a lot, but I have some more"
            " simple pnp games in my sketch book which I should do something with.\n\nDogs in tanks, perhaps.",
            "media": ["photo"],
            "reply_to": "imageboard:po/579023",
        },
        id="quote-is-reply-to",
    ),
    pytest.param(
        "po",
        579020,
        {
            "native_id": "po/579020",
            "url": "https://boards.4chan.org/po/thread/566305#p579020",
            "author": {"id": "po/566305/anonymous", "handle": None, "name": "Anonymous"},
            "published_at": "2020-01-15T13:50:19Z",
            "text": "I did a Baby Yoda, look at them, being a baby and also resembling Yoda from the popular Star Wars franchise of movies."
            "\n\nDownload : https://folduptoys.com/portfolio/baby-yoda/",
            "media": ["photo"],
            "reply_to": "imageboard:po/566305",
        },
        id="reply-without-quote-answers-the-thread",
    ),
    pytest.param(
        "wsg",
        882474,
        {
            "native_id": "wsg/882474",
            "url": "https://boards.4chan.org/wsg/thread/881624#p882474",
            "author": {"id": "wsg/881624/anonymous", "handle": None, "name": "Anonymous"},
            "published_at": "2015-12-30T07:46:35Z",  # time 1451461595
            "text": ">>882441\nhttps://www.youtube.com/watch?v=Yy44s_de15Y",
            "reply_to": "imageboard:wsg/882441",
        },
        id="index-page-reply",
    ),
]


@pytest.mark.parametrize(("board", "number", "fields"), POSTS)
def test_post_field_by_field(first: Crawl, board: str, number: int, fields: dict[str, Any]) -> None:
    post = by_native_id(first.posts[board])[fields["native_id"]]
    thread = int(post.url.split("/thread/")[1].split("#")[0])
    body = po_thread(thread) if board == "po" else WSG_THREADS[thread]
    fields = {"engagement": {"views": None, "likes": None, "shares": None, "replies": None}, **fields}
    assert_stored_post(post, expected_post("imageboard", board, body, fields))


def test_distinct_authors_are_one_per_thread_or_tripcode_or_poster_id(first: Crawl, tmp_path: Path) -> None:
    """What the spike rules count (`author.handle or author.id`): anonymous posts of one thread are one author,
    of different threads different authors; a tripcode is one author everywhere; a board's poster id (here
    added to a copy of a recorded thread) splits a thread's posters."""
    keys = {post.native_id: post.author.handle or post.author.id for post in first.posts["po"]}
    assert len(keys) == 14
    assert len(set(keys.values())) == 5  # four threads' anonymous posters, and Alex's tripcode
    assert keys["po/578490"] == keys["po/579030"] != keys["po/579028"]
    thread = json.loads(po_thread(578465))
    for post, poster_id in zip(thread["posts"], ["Ab3xYz12", "Qq9wErT0", "Ab3xYz12"], strict=True):
        post["id"] = poster_id
    config = load_config(write_config(tmp_path / "config", sources=[{"id": "po", "platform": "imageboard", "board": "po"}]), tmp_path / "data")
    spider = ImageboardSpider(source=config.source("po"), config=config, cursor=None)
    authors = [spider.post_fields(post, 578465)["author"].id for post in thread["posts"]]
    assert authors == ["po/578465/Ab3xYz12", "po/578465/Qq9wErT0", "po/578465/Ab3xYz12"]


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ({"board": "po", "every": "5s"}, "sources[0].every: imageboard threads may not be refreshed more than once per 10 s"),
        ({"board": "po", "thread": 1}, "sources[0].thread: unknown key"),
        ({"api": "https://a.4cdn.org"}, "sources[0].board: missing required key"),
        ({"board": "/po/"}, "sources[0].board: String should match pattern"),
    ],
)
def test_config_errors(tmp_path: Path, source: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(error)):
        load_config(write_config(tmp_path / "config", sources=[{"id": "i", "platform": "imageboard", **source}]), tmp_path / "data")


def test_threads_are_asked_liveliest_first_so_the_page_cap_keeps_them(tmp_path: Path) -> None:
    """Without `match`, every thread of the recorded catalog, most recently modified first (the caps drop the last ones)."""
    config = load_config(write_config(tmp_path / "config", sources=[{"id": "po", "platform": "imageboard", "board": "po"}]), tmp_path / "data")
    spider = ImageboardSpider(source=config.source("po"), config=config, cursor=None)
    response = TextResponse("https://a.4cdn.org/po/catalog.json", body=CATALOG, headers={"Content-Type": "application/json"})
    requests = list(spider.parse(response))
    assert len(requests) == 151
    assert [request.url for request in requests[:4]] == [f"https://a.4cdn.org/po/thread/{n}.json" for n in (579035, 579029, 535361, 554084)]
    assert [request.priority for request in requests[:2]] == [151, 150]
    assert "If-Modified-Since" not in requests[0].headers
