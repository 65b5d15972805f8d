"""The Reddit spider against a recorded r/AskReddit listing replayed on loopback.

One crawl serves the module: the subreddit answers 429 (Retry-After: 1) before its first page, and the
praw cassette's body (the same listing, recorded by the same request) comes back as the page after `after`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request
from scrapy.http import TextResponse

from crawlers.spiders.base import MalformedPost
from crawlers.spiders.reddit import RedditSpider
from tests.crawlers.recorded_api import Crawl, assert_stored_post, by_native_id, crawl, expected_post, from_response
from tests.support.crawling import VigieProject
from tests.support.factories import write_config
from tests.support.replay import ReplayServer, Reply
from vigie.config import load_config
from vigie.models import Post

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reddit"
LISTING = (FIXTURES / "TestSubredditListings.test_new.body.json").read_bytes()
CASSETTE_LISTING = json.loads((FIXTURES / "TestSubredditListings.test_new.json").read_text(encoding="utf-8"))["interactions"][1]["response"]["body"]["string"].encode("utf-8")
"""The body praw recorded for GET /r/askreddit/new?raw_json=1&limit=100, byte for byte."""

NEW = "/r/AskReddit/new.json?limit=100&raw_json=1"
AFTER = "/r/AskReddit/new.json?limit=100&raw_json=1&after=t3_48f6io"
SEARCH = "/search.json?q=lie+to+kids&sort=new&type=link&limit=100&raw_json=1"


@pytest.fixture(scope="module")
def reddit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawl]:
    with ReplayServer() as server:
        server.add(NEW, Reply(status=429, headers={"Retry-After": "1"}), LISTING, content_type="application/json")
        server.add(AFTER, CASSETTE_LISTING, content_type="application/json")
        server.add(SEARCH, LISTING[:40000], content_type="application/json")
        vigie = VigieProject(tmp_path_factory.mktemp("reddit"))
        vigie.configure(
            [
                {"id": "askreddit", "platform": "reddit", "subreddit": "r/AskReddit", "base_url": server.base_url},
                {"id": "search", "platform": "reddit", "search": "lie to kids", "base_url": server.base_url},
            ]
        )
        yield crawl(vigie, server)


def test_every_recorded_response_gives_its_100_posts(reddit: Crawl) -> None:
    assert LISTING == CASSETTE_LISTING
    assert len(from_response(reddit.posts["askreddit"], LISTING)) == 100
    run = reddit.runs["askreddit"]
    assert (run.status, run.pages, run.new_posts, run.updated_posts, run.dropped_items) == ("ok", 2, 100, 100, 0)


def test_pages_follow_after(reddit: Crawl) -> None:
    assert reddit.requested("/r/") == [NEW, AFTER]


def test_429_is_retried_after_the_delay_it_asks_for(reddit: Crawl) -> None:
    asked = [request.at for request in reddit.server.requests if request.path == NEW]
    assert len(asked) >= 2 and asked[-1] - asked[0] >= 1.0
    assert reddit.runs["askreddit"].errors == []


def test_search_listing_url_and_malformed_json(reddit: Crawl) -> None:
    run = reddit.runs["search"]
    assert (run.status, run.new_posts) == ("failed", 0)
    [error] = run.errors
    assert error.url == reddit.server.url(SEARCH)
    assert "malformed JSON" in error.message


POSTS = [
    pytest.param(
        {
            "native_id": "t3_48fbm9",
            "url": "https://www.reddit.com/r/AskReddit/comments/48fbm9/serious_parents_of_reddit_whats_the_biggest_lie/",
            "author": {"id": None, "handle": "RedHeadQc", "name": None},
            "published_at": "2016-03-01T08:37:38Z",  # created_utc 1456821458
            "title": "[Serious] Parents of Reddit, what's the biggest lie about yourself you've told your kids?",
            "text": "",
            "engagement": {"views": None, "likes": 1, "shares": None, "replies": 1},
        },
        id="newest-self-post",
    ),
    pytest.param(
        {
            "native_id": "t3_48fbig",
            "url": "https://www.reddit.com/r/AskReddit/comments/48fbig/how_would_you_react_if_you_found_out_that_your/",
            "author": {"id": None, "handle": "LUXURY_COCK_RINGS", "name": None},
            "published_at": "2016-03-01T08:36:24Z",
            "title": "How would you react if you found out that your doctor had been wearing a cock ring and butt plug whilst treating"
            " patients (including you)?",
            "text": "",
            "engagement": {"views": None, "likes": 0, "shares": None, "replies": 4},
        },
        id="over-18-with-zero-score",
    ),
    pytest.param(
        {
            "native_id": "t3_48fax4",
            "url": "https://www.reddit.com/r/AskReddit/comments/48fax4/redditors_who_workworked_for_their_parents_or/",
            "author": {"id": None, "handle": "AuganM", "name": None},
            "published_at": "2016-03-01T08:29:58Z",
            "title": "Redditors who work/worked for their parents or relatives companies, how did other employees feel about you?",
            "text": ".",
            "engagement": {"views": None, "likes": 4, "shares": None, "replies": 3},
        },
        id="self-post-with-text",
    ),
]


@pytest.mark.parametrize("fields", POSTS)
def test_post_field_by_field(reddit: Crawl, fields: dict[str, Any]) -> None:
    post = by_native_id(reddit.posts["askreddit"])[fields["native_id"]]
    assert_stored_post(post, expected_post("reddit", "askreddit", LISTING, fields))


def test_malformed_items_are_dropped_with_a_reason_and_the_page_goes_on(tmp_path: Path) -> None:
    """A copy of the recorded listing, spoiled on purpose: one post lost its date, one child is not a thing."""
    listing = json.loads(LISTING)
    children = listing["data"]["children"]
    del children[0]["data"]["created_utc"]
    children[1] = "t3_48fbig"
    link_post = copy.deepcopy(children[2])
    link_post["data"].update(is_self=False, url="https://example.org/article?utm_source=reddit&id=7#top", post_hint="link", name="t3_48fbgm")
    children.insert(3, link_post)
    config = load_config(write_config(tmp_path / "config", sources=[{"id": "askreddit", "platform": "reddit", "subreddit": "AskReddit"}]), tmp_path / "data")
    spider = RedditSpider(source=config.source("askreddit"), config=config, cursor=None)
    url = "https://www.reddit.com" + NEW
    output = list(spider.parse(TextResponse(url, body=json.dumps(listing).encode(), headers={"Content-Type": "application/json"})))
    malformed = [item for item in output if isinstance(item, MalformedPost)]
    posts = [item for item in output if isinstance(item, Post)]
    [next_page] = [item for item in output if isinstance(item, Request)]
    assert [(item.reason, item.native_id) for item in malformed] == [("post without created_utc", "t3_48fbm9"), ("unexpected item shape (TypeError)", None)]
    assert len(posts) == 99
    link = next(post for post in posts if post.native_id == "t3_48fbgm")
    assert (link.links, link.domains, link.media) == (["https://example.org/article?id=7"], ["example.org"], ["link_preview"])
    assert next_page.url == url + "&after=t3_48f6io"
