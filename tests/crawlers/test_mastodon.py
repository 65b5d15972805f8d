"""The Mastodon spider against recorded instance responses replayed on loopback.

Two crawls share this module: a first run of every source, then a second run of the hashtag and account
sources, where the hashtag timeline has nothing new and the account has one new status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from scrapy.http import TextResponse

from crawlers.spiders.mastodon import MastodonSpider
from tests.crawlers.recorded_api import Crawl, assert_stored_post, by_native_id, crawl, expected_post, from_response
from tests.support.crawling import VigieProject
from tests.support.factories import write_config
from tests.support.replay import ReplayServer
from vigie.config import load_config
from vigie.models import Post

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mastodon"
TOOTKIT = (FIXTURES / "tootkit_public_timeline.json").read_bytes()
TAG_2017 = (FIXTURES / "tag_timeline.json").read_bytes()


def cassette_body(name: str, method: str, uri: str) -> bytes:
    """The recorded response body of one interaction of a VCR cassette, byte for byte as recorded."""
    interactions = yaml.safe_load((FIXTURES / name).read_text(encoding="utf-8"))["interactions"]
    for interaction in interactions:
        if interaction["request"]["method"] == method and interaction["request"]["uri"] == uri:
            return interaction["response"]["body"]["string"].encode("utf-8")
    raise LookupError(f"{name}: no {method} {uri}")


STATUS_GIF = cassette_body("test_entity_status.yaml", "GET", "https://mastodon.social/api/v1/statuses/110446223051565765")
STATUS_POLL = cassette_body("test_entity_status.yaml", "GET", "https://mastodon.social/api/v1/statuses/110446183735368325")
HOOT_TIMELINE = cassette_body("test_hashtag_tl.yaml", "GET", "http://localhost:3000/api/v1/timelines/tag/hoot")
ACCOUNT_HALCY = json.dumps(json.loads(STATUS_POLL)["account"]).encode()
"""`/api/v1/accounts/lookup` answers an Account; the one embedded in a recorded status stands in for it."""

EMPTY_PAGE = b"[]"
"""What an instance answers past the last page."""

TAG = "/api/v1/timelines/tag/veille"
ACCOUNT_STATUSES = "/api/v1/accounts/43/statuses"
TAG_SECOND_RUN = f"{TAG}?limit=40&min_id=104009345968635904"
"""min_id = Snowflake of the newest stored status (2020-04-16T17:04:30.664Z): (1587056670664 << 16)."""
ACCOUNT_SECOND_RUN = f"{ACCOUNT_STATUSES}?limit=40&min_id=110446222376960000"
"""min_id = Snowflake of 2023-05-28T12:06:50Z: (1685275610000 << 16)."""


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Crawl, Crawl]]:
    """The first run of every source, then a second run of the hashtag and the account."""
    with ReplayServer() as server:
        server.add(TAG, EMPTY_PAGE, content_type="application/json")
        server.add(f"{TAG}?limit=40", TOOTKIT, content_type="application/json")
        server.add(f"{TAG}?limit=40&max_id=104009344997858505", TAG_2017, content_type="application/json")
        server.add(TAG_SECOND_RUN, TOOTKIT, content_type="application/json")
        server.add("/api/v1/accounts/lookup?acct=halcy", ACCOUNT_HALCY, content_type="application/json")
        server.add(ACCOUNT_STATUSES, EMPTY_PAGE, content_type="application/json")
        server.add(f"{ACCOUNT_STATUSES}?limit=40", STATUS_GIF, content_type="application/json")
        server.add(f"{ACCOUNT_STATUSES}?limit=40&max_id=110446223051565765", STATUS_POLL, content_type="application/json")
        server.add(ACCOUNT_SECOND_RUN, HOOT_TIMELINE, content_type="application/json")
        server.add("/api/v1/timelines/tag/broken?limit=40", TOOTKIT[:5000], content_type="application/json")
        vigie = VigieProject(tmp_path_factory.mktemp("mastodon"))
        vigie.configure(
            [
                {"id": "tag", "platform": "mastodon", "instance": server.base_url, "hashtag": "#veille", "backfill_pages": 5},
                {"id": "account", "platform": "mastodon", "instance": server.base_url, "account": "@halcy", "backfill_pages": 5},
                {"id": "broken", "platform": "mastodon", "instance": server.base_url, "hashtag": "broken"},
            ]
        )
        first = crawl(vigie, server)
        yield first, crawl(vigie, server, "tag", "account")


@pytest.fixture(scope="module")
def first(crawls: tuple[Crawl, Crawl]) -> Crawl:
    return crawls[0]


@pytest.fixture(scope="module")
def second(crawls: tuple[Crawl, Crawl]) -> Crawl:
    return crawls[1]


def test_every_recorded_response_gives_its_statuses(first: Crawl, second: Crawl) -> None:
    tag, account = first.posts["tag"], first.posts["account"]
    assert len(from_response(tag, TOOTKIT)) == 20
    assert len(from_response(tag, TAG_2017)) == 20
    assert len(from_response(account, STATUS_GIF)) == 1
    assert len(from_response(account, STATUS_POLL)) == 1
    assert len(from_response(second.posts["account"], HOOT_TIMELINE)) == 1
    assert (first.runs["tag"].status, first.runs["tag"].new_posts, first.runs["tag"].dropped_items) == ("ok", 40, 0)
    assert (first.runs["account"].status, first.runs["account"].new_posts) == ("ok", 2)


def test_backfill_pages_back_with_max_id_until_an_empty_page(first: Crawl) -> None:
    assert first.requested(TAG) == [
        f"{TAG}?limit=40",
        f"{TAG}?limit=40&max_id=104009344997858505",  # the oldest id of page 1
        f"{TAG}?limit=40&max_id=692622",  # the oldest of page 2 (2017 ids are short): answered []
    ]


def test_account_is_looked_up_then_its_statuses_paged(first: Crawl) -> None:
    assert first.requested("/api/v1/accounts/") == [
        "/api/v1/accounts/lookup?acct=halcy",
        f"{ACCOUNT_STATUSES}?limit=40",
        f"{ACCOUNT_STATUSES}?limit=40&max_id=110446223051565765",
        f"{ACCOUNT_STATUSES}?limit=40&max_id=110446183735368325",
    ]


def test_second_run_walks_forward_from_the_cursor_and_stores_nothing_known(second: Crawl) -> None:
    run = second.runs["tag"]
    assert (run.status, run.new_posts, run.updated_posts) == ("ok", 0, 0)
    assert second.requested(TAG) == [TAG_SECOND_RUN, f"{TAG}?limit=40&min_id=104009345973121628"]


def test_second_run_collects_only_the_new_status(second: Crawl) -> None:
    run = second.runs["account"]
    assert (run.status, run.new_posts, run.updated_posts) == ("ok", 1, 0)
    assert ACCOUNT_SECOND_RUN in second.paths
    new = from_response(second.posts["account"], HOOT_TIMELINE)
    assert [post.native_id for post in new] == ["http://localhost:3000/ap/users/117020566092212359/statuses/117020593741189701"]


def test_malformed_json_is_one_error_for_that_source(first: Crawl) -> None:
    run = first.runs["broken"]
    assert (run.status, run.new_posts) == ("failed", 0)
    [error] = run.errors
    assert error.url == first.server.url("/api/v1/timelines/tag/broken?limit=40")
    assert "malformed JSON" in error.message and error.url in error.message


NO_REPLIES_YET = {"views": None, "likes": 0, "shares": 0, "replies": 0}

POSTS = [
    pytest.param(
        "tag",
        TOOTKIT,
        {
            "native_id": "https://friendica.chilemasto.casa/objects/e7f1d4da94e7709966bfc900101aebf181299505",
            "url": "https://friendica.chilemasto.casa/objects/e7f1d4da94e7709966bfc900101aebf181299505",
            "author": {"id": "1137831", "handle": "elmostrador@friendica.chilemasto.casa", "name": "elmostrador"},
            "published_at": "2020-04-16T16:45:08Z",
            "text": "“Léanlo completo”: la respuesta de Mañalich a las dudas de Espacio Público sobre el Informe Epidemiológico del Minsal\n"
            "https://tinyurl.com/y7ku9teg\n\n"
            "“Léanlo completo”: la respuesta de Mañalich a las dudas de Espacio Público sobre el Informe Epidemiológico del Minsaltinyurl.com/y7ku9teg\n\n"
            "----------------------------------------------------------------------\n"
            "https://nitter.snopyta.org/elmostrador/status/1250827578291568640#m\n\n"
            "https://tinyurl.com/y7ku9teg https://friendica.chilemasto.casa/objects/e7f1d4da94e7709966bfc900101aebf181299505",
            "platform_language": "es",
            "links": [
                "https://tinyurl.com/y7ku9teg",
                "https://nitter.snopyta.org/elmostrador/status/1250827578291568640",
                "https://friendica.chilemasto.casa/objects/e7f1d4da94e7709966bfc900101aebf181299505",
            ],
            "engagement": NO_REPLIES_YET,
        },
        id="friendica-status-with-links",
    ),
    pytest.param(
        "tag",
        TOOTKIT,
        {
            "native_id": "https://cybre.space/users/rick_777/statuses/104009344123431312",
            "url": "https://cybre.space/@rick_777/104009344123431312",
            "author": {"id": "352848", "handle": "rick_777@cybre.space", "name": "Cybre Rick"},
            "published_at": "2020-04-16T17:04:02Z",
            "title": "Karen meme explained",  # the content warning (spoiler_text)
            "text": "Of course the meme had to be in the knowyourmeme site.\n\n"
            "As usual, these guys do their homework perfectly :blobthumbsup: - it even includes a Twitter pic of an antivaxxer woman"
            " bearing the characteristic hairdo.\n\n"
            "https://knowyourmeme.com/memes/karen",
            "platform_language": "en",
            "links": ["https://knowyourmeme.com/memes/karen"],
            "engagement": NO_REPLIES_YET,
        },
        id="content-warning-is-the-title",
    ),
    pytest.param(
        "tag",
        TOOTKIT,
        {
            "native_id": "https://pawoo.net/users/Heibonn_hiroro/statuses/104009345448989482",
            "url": "https://pawoo.net/@Heibonn_hiroro/104009345448989482",
            "author": {"id": "744487", "handle": "Heibonn_hiroro@pawoo.net", "name": "ひろろ"},
            "published_at": "2020-04-16T17:04:22Z",
            "text": "百合",
            "media": ["photo"],  # two `unknown` attachments whose remote files are .png
            "engagement": NO_REPLIES_YET,
        },
        id="unfetched-remote-media-and-no-language",
    ),
    pytest.param(
        "tag",
        TOOTKIT,
        {
            "native_id": "https://pokemon.men/users/flutter/statuses/104008961178835337",
            "url": "https://pokemon.men/@flutter/104008961178835337",
            "author": {"id": "820727", "handle": "flutter@pokemon.men", "name": "Flutter"},
            "published_at": "2020-04-16T15:26:39Z",
            "text": "#Flutter v0.2.0 of flutter_facebook_appevents https://pub.dev/packages/flutter_facebook_appevents",
            "platform_language": "da",
            "hashtags": ["flutter"],
            "links": ["https://pub.dev/packages/flutter_facebook_appevents"],
            "media": ["link_preview"],
            "engagement": NO_REPLIES_YET,
        },
        id="hashtag-and-link-card",
    ),
    pytest.param(
        "tag",
        TAG_2017,
        {
            "native_id": "tag:framapiaf.org,2017-04-21:objectId=178893:objectType=Status",
            "url": "https://framapiaf.org/users/armavi/updates/14054",
            "author": {"id": "29113", "handle": "armavi@framapiaf.org", "name": "armavi"},  # empty display_name
            "published_at": "2017-04-21T14:54:11Z",
            "text": "Il y a une instance #mastodon pour les personnels de l'État qui vient de s'ouvrir aux personnels éduc.\n"
            "Je trouve bien qu'on teste des trucs dans l'administration!\n\n"
            "Bon, il faut qu'on trouve un graphiste pour les couleurs de l'instance\n"
            "cc @cquest @cquest\n"
            "https://framapiaf.org/media/cLJI8QfPLw7ZZ4yKZyI",
            "hashtags": ["mastodon"],
            "mentions": ["cquest@amicale.net", "cquest@mastodon.etalab.gouv.fr"],
            "links": ["https://framapiaf.org/media/cLJI8QfPLw7ZZ4yKZyI"],
            "media": ["photo"],
            "engagement": {"views": None, "likes": 0, "shares": 1, "replies": None},  # no replies_count in 2017
        },
        id="2017-french-status-with-photo",
    ),
    pytest.param(
        "account",
        STATUS_GIF,
        {
            "native_id": "https://icosahedron.website/users/halcy/statuses/110446222386355655",
            "url": "https://icosahedron.website/@halcy/110446222386355655",
            "author": {"id": "23972", "handle": "halcy@icosahedron.website", "name": "halcy\u200b :icosahedron:"},
            "published_at": "2023-05-28T12:06:50Z",
            "title": "test post for mastodon.py stuff",
            "text": "@halcy you're a doo-doo head\n\nedit: editing this to have the maximum amount of fields filled :trans_heart: #ThisIsAHashtag",
            "platform_language": "de",
            "hashtags": ["thisisahashtag"],
            "mentions": ["halcy@icosahedron.website"],
            "media": ["gif"],
            "engagement": {"views": None, "likes": 1, "shares": 0, "replies": 0},
        },
        id="current-schema-with-gif-and-content-warning",
    ),
    pytest.param(
        "account",
        STATUS_POLL,
        {
            "native_id": "https://mastodon.social/users/halcy/statuses/110446183735368325",
            "url": "https://mastodon.social/@halcy/110446183735368325",
            "author": {"id": "43", "handle": "halcy@mastodon.social", "name": "autumnal halcy"},  # acct "halcy", profile on mastodon.social
            "published_at": "2023-05-28T11:57:00.378000Z",
            "text": "test?",
            "platform_language": "de",
            "media": ["poll"],
            "engagement": NO_REPLIES_YET,
        },
        id="local-account-and-poll",
    ),
]


@pytest.mark.parametrize(("source", "body", "fields"), POSTS)
def test_post_field_by_field(first: Crawl, source: str, body: bytes, fields: dict[str, Any]) -> None:
    assert_stored_post(by_native_id(first.posts[source])[fields["native_id"]], expected_post("mastodon", source, body, fields))


def test_reply_points_at_the_parent_on_the_instance_asked(first: Crawl) -> None:
    """Only the parent's local id is known (`in_reply_to_id`), so `reply_to` is its URL on the instance."""
    fields = {
        "native_id": "tag:mastodon.social,2017-04-21:objectId=3610569:objectType=Status",
        "url": "https://mastodon.social/users/jeroenpraat/updates/2014093",
        "author": {"id": "14988", "handle": "jeroenpraat@mastodon.social", "name": "jeroenpraat"},
        "published_at": "2017-04-21T15:00:42Z",
        "text": "@alexl @deadsuperhero Yes, but not only #Mastodon should be compatible with the Diaspora protocol, but #Diaspora should"
        " also be compatible with the Mastodon/oStatus protocol. That's not only fair, but also gives a lot more stability. A shared"
        " federation library would eventually be the best thing. But hé, I'm not a coder ;-)",
        "hashtags": ["mastodon", "diaspora"],  # in the order of the text, not of the `tags` array
        "mentions": ["alexl@mstdn.io", "deadsuperhero@social.nasqueron.org"],
        "engagement": {"views": None, "likes": 0, "shares": 0, "replies": None},
        "reply_to": first.server.url("/api/v1/statuses/675923"),
    }
    assert_stored_post(by_native_id(first.posts["tag"])[fields["native_id"]], expected_post("mastodon", "tag", TAG_2017, fields))


def test_boost_and_quote(tmp_path: Path) -> None:
    """Shapes the recordings lack, built from copies of recorded statuses: a boost (`reblog`, whose wrapper has
    its own `…/activity` uri and no content) and a Mastodon 4.5 quote (`quote.quoted_status`)."""
    original = json.loads(STATUS_GIF)
    boost = json.loads(STATUS_POLL) | {"uri": "https://mastodon.social/users/halcy/statuses/110446300000000000/activity", "url": None, "content": "", "poll": None}
    boost["reblog"] = original
    quote = json.loads(TAG_2017)[2] | {"quote": {"state": "accepted", "quoted_status": json.loads(TOOTKIT)[0]}}
    config = load_config(write_config(tmp_path / "config", sources=[{"id": "tag", "platform": "mastodon", "instance": "https://mastodon.social", "hashtag": "veille"}]), tmp_path / "data")
    spider = MastodonSpider(source=config.source("tag"), config=config, cursor=None)
    url = "https://mastodon.social/api/v1/timelines/tag/veille?limit=40"
    boosted, quoting = [item for item in spider.parse(TextResponse(url, body=json.dumps([boost, quote]).encode())) if isinstance(item, Post)]
    assert (boosted.native_id, boosted.author.handle, boosted.published_at.isoformat()) == (boost["uri"], "halcy@mastodon.social", "2023-05-28T11:57:00.378000+00:00")
    assert (boosted.repost_of, boosted.url, boosted.title) == (f"mastodon:{original['uri']}", original["url"], "test post for mastodon.py stuff")
    assert (boosted.text, boosted.hashtags, boosted.media, boosted.platform_language) == (
        "@halcy you're a doo-doo head\n\nedit: editing this to have the maximum amount of fields filled :trans_heart: #ThisIsAHashtag",
        ["thisisahashtag"],
        ["gif"],
        "de",
    )
    assert quoting.quote_of == "mastodon:https://friendica.chilemasto.casa/objects/e7f1d4da94e7709966bfc900101aebf181299505"
