"""The Bluesky spider against recorded AppView responses replayed on loopback.

One crawl serves the module: an author feed whose cursor leads to the recorded custom feed (served as the
author feed's next page), a search, and a search the AppView refuses without an account.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import TextResponse

from crawlers.spiders.bluesky import BlueskySpider
from tests.crawlers.recorded_api import Crawl, assert_stored_post, by_native_id, crawl, expected_post, from_response
from tests.support.crawling import VigieProject
from tests.support.factories import write_config
from tests.support.replay import ReplayServer, Reply
from vigie.config import load_config
from vigie.models import Post

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bluesky"
AUTHOR_FEED = (FIXTURES / "getAuthorFeed.json").read_bytes()
CUSTOM_FEED = (FIXTURES / "getFeed.json").read_bytes()
SEARCH = (FIXTURES / "searchPosts.json").read_bytes()

XRPC = "/xrpc/app.bsky.feed"
FEED = f"{XRPC}.getAuthorFeed?actor=shinyakato.dev&limit=100"
FEED_PAGE_2 = f"{FEED}&cursor=1682809172466%3A%3Abafyreihdpdn7uiqmshzb2y4o67gzy2aeairq6phuk476k2oidhy2p5dbwu"
SEARCH_PAGE_1 = f"{XRPC}.searchPosts?q=fone+de+ouvido&sort=latest&limit=100"
SEARCH_PAGE_2 = f"{SEARCH_PAGE_1}&cursor=xxxxxxx"
REFUSED = f"{XRPC}.searchPosts?q=samsung&sort=latest&limit=100"


@pytest.fixture(scope="module")
def bluesky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawl]:
    with ReplayServer() as server:
        server.add(FEED, AUTHOR_FEED, content_type="application/json")
        server.add(FEED_PAGE_2, CUSTOM_FEED, content_type="application/json")
        server.add(SEARCH_PAGE_1, SEARCH, content_type="application/json")
        server.add(SEARCH_PAGE_2, SEARCH, content_type="application/json")
        server.add(REFUSED, Reply(status=403, body=b'{"error":"Forbidden","message":"Authentication Required"}'), content_type="application/json")
        vigie = VigieProject(tmp_path_factory.mktemp("bluesky"))
        vigie.configure(
            [
                {"id": "shinya", "platform": "bluesky", "actor": "@shinyakato.dev", "base_url": server.base_url},
                {"id": "fone", "platform": "bluesky", "search": "fone de ouvido", "base_url": server.base_url},
                {"id": "refused", "platform": "bluesky", "search": "samsung", "base_url": server.base_url},
            ]
        )
        yield crawl(vigie, server)


def test_every_recorded_response_gives_its_posts(bluesky: Crawl) -> None:
    assert len(from_response(bluesky.posts["shinya"], AUTHOR_FEED)) == 25
    assert len(from_response(bluesky.posts["shinya"], CUSTOM_FEED)) == 7
    assert len(from_response(bluesky.posts["fone"], SEARCH)) == 1
    assert (bluesky.runs["shinya"].status, bluesky.runs["shinya"].pages, bluesky.runs["shinya"].new_posts) == ("ok", 2, 32)


def test_cursor_paging_ends_where_the_feed_gives_no_cursor(bluesky: Crawl) -> None:
    assert bluesky.requested(f"{XRPC}.getAuthorFeed") == [FEED, FEED_PAGE_2]


def test_search_pages_with_its_cursor(bluesky: Crawl) -> None:
    run = bluesky.runs["fone"]
    assert (run.status, run.pages, run.new_posts, run.updated_posts) == ("ok", 2, 1, 1)
    assert bluesky.requested(SEARCH_PAGE_1) == [SEARCH_PAGE_1, SEARCH_PAGE_2]


def test_search_refused_without_an_account_is_one_clear_error(bluesky: Crawl) -> None:
    run = bluesky.runs["refused"]
    assert (run.status, run.new_posts) == ("failed", 0)
    [error] = run.errors
    assert (error.status, error.url) == (403, bluesky.server.url(REFUSED))
    assert (
        f"{error.url} refused without an account (HTTP 403, Forbidden: Authentication Required): this AppView does not serve"
        " searchPosts without an account"
    ) in bluesky.log


SHINYA = {"id": "did:plc:iijrtk7ocored6zuziwmqq3c", "handle": "shinyakato.dev", "name": "Shinya Kato 🤯"}
REPOSTED = "at://did:plc:gggcwmwoyak6op4pkqm76ckz/app.bsky.feed.post/3jukz62npim26"
REPOSTED_LONG = "at://did:plc:7itws64acv3c6dsgab5ky6zn/app.bsky.feed.post/3juhed6iawd2h"
NO_COUNTERS = {"views": None, "likes": None, "shares": None, "replies": None}

POSTS = [
    pytest.param(
        "shinya",
        AUTHOR_FEED,
        {
            "native_id": f"{REPOSTED}#repost-by-did:plc:iijrtk7ocored6zuziwmqq3c",
            "url": "https://bsky.app/profile/christopherpmoore.xyz/post/3jukz62npim26",
            "author": SHINYA,
            "published_at": "2023-04-30T06:33:13.578000Z",  # reason.indexedAt: when it was reposted
            "text": "Had a great time at the Seattle meetup! Even got a chance to chat with @rose.bsky.team and @jay.bsky.team!",
            "mentions": ["rose.bsky.team", "jay.bsky.team"],  # the two #mention facets' byte ranges
            "media": ["photo"],
            "engagement": NO_COUNTERS,  # 100/8/6 are the original's
            "repost_of": f"bluesky:{REPOSTED}",
        },
        id="repost-by-the-reposter",
    ),
    pytest.param(
        "shinya",
        AUTHOR_FEED,
        {
            "native_id": "at://did:plc:iijrtk7ocored6zuziwmqq3c/app.bsky.feed.post/3jukterj4bp2j",
            "url": "https://bsky.app/profile/shinyakato.dev/post/3jukterj4bp2j",
            "author": SHINYA,
            "published_at": "2023-04-30T04:42:29.589000Z",
            "text": "Thx, yes he is! 😆",
            "engagement": {"views": None, "likes": 1, "shares": 0, "replies": 0},
            "reply_to": "bluesky:at://did:plc:gojiv3xdlwobtke4csnksyyb/app.bsky.feed.post/3jukqq23rvy2w",
        },
        id="reply",
    ),
    pytest.param(
        "shinya",
        AUTHOR_FEED,
        {
            "native_id": "at://did:plc:iijrtk7ocored6zuziwmqq3c/app.bsky.feed.post/3jukdwsblqu2l",
            "url": "https://bsky.app/profile/shinyakato.dev/post/3jukdwsblqu2l",
            "author": SHINYA,
            "published_at": "2023-04-30T00:06:14.838000Z",
            "text": "ブロックしたらフォローが外れるように修正されるみたいだから、知り合いのアカウントでテストする人は気をつけてね\n\n"
            "https://psky.app/profile/why.bsky.team/post/3juk5phzpf62w https://psky.app/profile/why.bsky.team/post/3juk5phzpf62w",
            "links": ["https://psky.app/profile/why.bsky.team/post/3juk5phzpf62w"],
            "media": ["link_preview"],
            "engagement": {"views": None, "likes": 76, "shares": 50, "replies": 0},
        },
        id="link-facets-and-external-embed",
    ),
    pytest.param(
        "shinya",
        AUTHOR_FEED,
        {
            "native_id": f"{REPOSTED_LONG}#repost-by-did:plc:iijrtk7ocored6zuziwmqq3c",
            "url": "https://bsky.app/profile/xychelsea.tv/post/3juhed6iawd2h",
            "author": SHINYA,
            "published_at": "2023-04-29T23:36:56.062000Z",
            "text": "i know that bluesky looks and behaves like twitter did —that is on purpose — however its built on a new protocol that uses"
            " a broader, much more powerful stack of technologies that are vastly different than any other social media platform, from"
            " myspace to tiktok — this is the start of something *new*",
            "engagement": NO_COUNTERS,
            "repost_of": f"bluesky:{REPOSTED_LONG}",
        },
        id="repost-of-a-long-post",
    ),
    pytest.param(
        "shinya",
        CUSTOM_FEED,
        {
            "native_id": "at://did:plc:uuapzflmtlqfioxofqjld3z2/app.bsky.feed.post/3jwawk6knxd2v",
            "url": "https://bsky.app/profile/shehackspurple.bsky.social/post/3jwawk6knxd2v",
            "author": {"id": "did:plc:uuapzflmtlqfioxofqjld3z2", "handle": "shehackspurple.bsky.social", "name": "Tanya Janca "},
            "published_at": "2023-05-21T17:03:00.638000Z",
            "text": "If you want all the Tanya content you can get, subscribe to my free newsletters.\n\n"
            "Https://newsletter.shehackspurple.ca\n&\nHttps://newsletter.wehackpurple.com\n\n"
            "I'm also on #bluesky and #Mastadon (InfoSec.exchange), #YouTube, #tiktok and #instagram as @shehackspurple",
            "links": ["https://infosec.exchange/"],  # the one facet: https://InfoSec.exchange
            "media": ["photo"],
            "engagement": {"views": None, "likes": 0, "shares": 0, "replies": 0},
        },
        id="custom-feed-link-facet-and-images",
    ),
    pytest.param(
        "shinya",
        CUSTOM_FEED,
        {
            "native_id": "at://did:plc:rdto3kpxaicvbolr66wegygq/app.bsky.feed.post/3jvxfza4oes2g",
            "url": "https://bsky.app/profile/drink2mny.bsky.social/post/3jvxfza4oes2g",
            "author": {"id": "did:plc:rdto3kpxaicvbolr66wegygq", "handle": "drink2mny.bsky.social", "name": "🍻Drink2mny🍻"},
            "published_at": "2023-05-17T22:13:12.198000Z",
            "text": "WTAF is wrong with these people? Gen-Z is not going to be happy. #tiktok https://apnews.com/article/"
            "tiktok-ban-montana-325a33578a2bbfbe53e9c251d528c5fb?utm_campaign=TrueAnthem&utm_medium=AP&utm_source=Facebook"
            "&fbclid=IwAR0ZChtusEkoq6NM-WgerpfECX0F61zb9ZUNxC549-Pmg2n1xEXkQkWwydc&mibextid=Zxz2cZ",
            "links": ["https://apnews.com/article/tiktok-ban-montana-325a33578a2bbfbe53e9c251d528c5fb?mibextid=Zxz2cZ"],
            "media": ["link_preview"],
            "engagement": {"views": None, "likes": 0, "shares": 0, "replies": 0},
        },
        id="tracking-parameters-leave-the-link",
    ),
    pytest.param(
        "fone",
        SEARCH,
        {
            "native_id": "at://did:plc:d3zpokjdspr22chfrc427eis/app.bsky.feed.post/3ju4p6u2i3a2g",
            "url": "https://bsky.app/profile/luy.gay/post/3ju4p6u2i3a2g",
            "author": {"id": "did:plc:d3zpokjdspr22chfrc427eis", "handle": "luy.gay", "name": "luy 🦋"},
            "published_at": "2023-04-24T13:50:19.672000Z",
            "text": "eu queria um fone de ouvido com fio, não me dou bem com fone sem fios, tenho um da samsung que só fica caindo e eu não"
            " consigo enfiar ele todo na orelha pois ela é pititiquinha",
            "engagement": {"views": None, "likes": 7, "shares": 0, "replies": 8},
        },
        id="portuguese-search-hit",
    ),
]


@pytest.mark.parametrize(("source", "body", "fields"), POSTS)
def test_post_field_by_field(bluesky: Crawl, source: str, body: bytes, fields: dict[str, Any]) -> None:
    assert_stored_post(by_native_id(bluesky.posts[source])[fields["native_id"]], expected_post("bluesky", source, body, fields))


def test_quote_with_media_language_tags_and_named_repost(tmp_path: Path) -> None:
    """Newer AppView fields the 2023 recordings predate, added to a copy of a recorded item: `langs`, a #tag
    facet, a quote with images (`recordWithMedia`), `quoteCount`, and a repost that names its own record."""
    item = copy.deepcopy(json.loads(AUTHOR_FEED)["feed"][4])
    record = item["post"]["record"]
    record["langs"] = ["fr", "en"]
    record["facets"] = [{"index": {"byteStart": 0, "byteEnd": 8}, "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "Trésor"}]}]
    quoted = "at://did:plc:7itws64acv3c6dsgab5ky6zn/app.bsky.feed.post/3juhed6iawd2h"
    record["embed"] = {"$type": "app.bsky.embed.recordWithMedia", "record": {"record": {"uri": quoted, "cid": "x"}}, "media": record["embed"]}
    item["post"]["quoteCount"] = 4
    repost = copy.deepcopy(json.loads(AUTHOR_FEED)["feed"][0])
    repost["reason"]["uri"] = "at://did:plc:iijrtk7ocored6zuziwmqq3c/app.bsky.feed.repost/3jukzkrnytl2r"
    config = load_config(write_config(tmp_path / "config", sources=[{"id": "shinya", "platform": "bluesky", "actor": "shinyakato.dev"}]), tmp_path / "data")
    spider = BlueskySpider(source=config.source("shinya"), config=config, cursor=None)
    body = json.dumps({"feed": [item, repost]}).encode()
    post, reposted = [p for p in spider.parse(TextResponse("https://public.api.bsky.app" + FEED, body=body)) if isinstance(p, Post)]
    assert (post.platform_language, post.hashtags, post.media, post.quote_of) == ("fr", ["trésor"], ["photo"], f"bluesky:{quoted}")
    assert post.engagement.shares == 2 + 4  # repostCount + quoteCount
    assert reposted.native_id == "at://did:plc:iijrtk7ocored6zuziwmqq3c/app.bsky.feed.repost/3jukzkrnytl2r"
