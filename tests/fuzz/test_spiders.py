"""Every spider's parser on recorded responses spoiled by hypothesis: it yields posts, malformed-post records and
follow-up requests, or raises PageError (the source's one error line for that page), and nothing else."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scrapy import Request
from scrapy.http import HtmlResponse, TextResponse, XmlResponse

from crawlers.spiders.base import MalformedPost, PageError, SourceSpider
from crawlers.spiders.bluesky import BlueskySpider
from crawlers.spiders.feed import FeedSpider
from crawlers.spiders.forum import ForumSpider
from crawlers.spiders.mastodon import MastodonSpider
from crawlers.spiders.reddit import RedditSpider
from crawlers.spiders.telegram import TelegramSpider
from crawlers.spiders.youtube import YoutubeSpider
from tests.fuzz.mutations import mutated_bytes, mutated_json
from tests.support.factories import write_config
from vigie.config import load_config
from vigie.models import Post

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@dataclass(frozen=True)
class Case:
    spider: type[SourceSpider]
    source: dict[str, Any]
    fixture: str
    url: str
    response: type[TextResponse]
    content_type: str

    @property
    def body(self) -> bytes:
        return (FIXTURES / self.fixture).read_bytes()


CASES = {
    "telegram": Case(TelegramSpider, {"channel": "chan"}, "telegram/page_example.html", "https://t.me/s/chan", HtmlResponse, "text/html; charset=utf-8"),
    "mastodon": Case(MastodonSpider, {"instance": "https://mastodon.social", "hashtag": "tag"}, "mastodon/tag_timeline.json", "https://mastodon.social/api/v1/timelines/tag/tag?limit=40", TextResponse, "application/json"),
    "reddit": Case(RedditSpider, {"subreddit": "AskReddit"}, "reddit/TestSubredditListings.test_new.body.json", "https://www.reddit.com/r/AskReddit/new.json?limit=100&raw_json=1", TextResponse, "application/json"),
    "bluesky": Case(BlueskySpider, {"actor": "someone.bsky.social"}, "bluesky/getAuthorFeed.json", "https://public.api.bsky.app/xrpc/app.bsky.feed.getAuthorFeed?actor=someone.bsky.social&limit=100", TextResponse, "application/json"),
    "youtube": Case(YoutubeSpider, {"channel_id": "UCsXVk37bltHxD1rDPwtNM8Q"}, "youtube/kurzgesagt_videos.xml", "https://www.youtube.com/feeds/videos.xml?channel_id=UCsXVk37bltHxD1rDPwtNM8Q", XmlResponse, "application/atom+xml"),
    "feed-rss": Case(FeedSpider, {"url": "https://techcrunch.com/feed/"}, "rss/TechCrunch.xml", "https://techcrunch.com/feed/", XmlResponse, "application/rss+xml"),
    "feed-atom": Case(FeedSpider, {"url": "https://www.heise.de/rss/heise.atom"}, "rss/heise.atom", "https://www.heise.de/rss/heise.atom", XmlResponse, "application/atom+xml"),
    "feed-json": Case(FeedSpider, {"url": "https://example.org/feed.json"}, "rss/json_feed.json", "https://example.org/feed.json", TextResponse, "application/feed+json"),
    "forum": Case(
        ForumSpider,
        {
            "url": "https://www.pocketpc.ch/windows-phone-7-allgemein/122760-microsoft-beginnt-auslieferung-vorbereitungsupdate-34.html",
            "selectors": {"post": "li.postcontainer", "author": "a.username strong::text", "date": "dl.userstats dd:first-of-type::text", "text": "blockquote.postcontent", "link": "a.postcounter", "next": "link[rel=next]"},
        },
        "forum/pocketpc.ch.auslieferung.html",
        "https://www.pocketpc.ch/windows-phone-7-allgemein/122760-microsoft-beginnt-auslieferung-vorbereitungsupdate-34.html",
        HtmlResponse,
        "text/html; charset=ISO-8859-1",
    ),
}
JSON_CASES = [name for name, case in CASES.items() if "json" in case.content_type]


@pytest.fixture(scope="module")
def spiders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SourceSpider]:
    folder = tmp_path_factory.mktemp("fuzz-spiders")
    sources = [{"id": name, "platform": case.spider.name, **case.source} for name, case in CASES.items()]
    config = load_config(write_config(folder / "config", sources=sources), folder / "data", environ={})
    return {name: case.spider(source=config.source(name), config=config, cursor=None) for name, case in CASES.items()}


def parsed(spider: SourceSpider, case: Case, body: bytes) -> list[Any]:
    """What the parser makes of one response; PageError (an unreadable page) counts as nothing."""
    response = case.response(case.url, body=body, headers={"Content-Type": case.content_type})
    try:
        items = list(spider.parse(response))
    except PageError as exc:
        assert str(exc) and "\n" not in str(exc), exc
        return []
    unexpected = [item for item in items if not isinstance(item, (Post, MalformedPost, Request))]
    assert not unexpected, unexpected[:3]
    return items


@pytest.mark.parametrize("name", CASES)
def test_the_recorded_response_parses(spiders: dict[str, SourceSpider], name: str) -> None:
    """The baseline the mutations start from: every case yields posts."""
    assert any(isinstance(item, Post) for item in parsed(spiders[name], CASES[name], CASES[name].body))


@pytest.mark.parametrize("name", CASES)
@given(data=st.data())
def test_a_spoiled_body_is_posts_or_one_page_error(spiders: dict[str, SourceSpider], name: str, data: st.DataObject) -> None:
    case = CASES[name]
    parsed(spiders[name], case, data.draw(mutated_bytes(case.body)))


@pytest.mark.parametrize("name", JSON_CASES)
@given(data=st.data())
def test_spoiled_json_values_are_posts_or_one_page_error(spiders: dict[str, SourceSpider], name: str, data: st.DataObject) -> None:
    case = CASES[name]
    parsed(spiders[name], case, data.draw(mutated_json(case.body)))


# Found by these tests: each raised another exception than PageError (and lost the page's other posts).
DEEP_JSON = b"[" * 3000 + b"]" * 3000


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("youtube", b"", "empty response"),
        ("feed-rss", b"", "not a readable RSS or Atom feed"),
        *[(name, DEEP_JSON, "nested too deeply") for name in JSON_CASES],
    ],
)
def test_found_by_fuzzing_an_unreadable_page_is_one_page_error(spiders: dict[str, SourceSpider], name: str, body: bytes, message: str) -> None:
    case = CASES[name]
    with pytest.raises(PageError, match=message):
        list(spiders[name].parse(case.response(case.url, body=body, headers={"Content-Type": case.content_type})))


def test_found_by_fuzzing_a_json_feed_field_of_the_wrong_type_loses_that_item_only(spiders: dict[str, SourceSpider]) -> None:
    case = CASES["feed-json"]
    feed = json.loads(case.body)
    feed["authors"], feed["home_page_url"] = 5, ["not", "a", "url"]
    feed["items"][0]["url"] = 7
    items = parsed(spiders["feed-json"], case, json.dumps(feed).encode())
    assert [type(item) for item in items] == [MalformedPost] + [Post] * (len(feed["items"]) - 1)
    assert items[0].reason == "unexpected JSON Feed item shape (TypeError)" and items[0].native_id == feed["items"][0]["id"]
