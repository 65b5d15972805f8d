"""The Mastodon spider against recorded instance responses replayed on loopback.

Two crawls share this module: a first run of every source, then a second run of the hashtag and account
sources, where the hashtag timeline has nothing new and the account has one new status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.crawlers.stored_posts import assert_stored_post, by_native_id, from_response
from tests.support.crawling import VigieProject
from tests.support.replay import ReplayServer
from vigie.models import CrawlRun, Post, sha256_hex

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


@dataclass
class Crawls:
    server: ReplayServer
    first: dict[str, CrawlRun]
    second: dict[str, CrawlRun]
    first_posts: dict[str, list[Post]]
    second_posts: dict[str, list[Post]]
    paths: list[str]


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawls]:
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
        first = vigie.crawl()
        first_posts = {source: vigie.posts(source) for source in first}
        paths_before = len(server.requests)
        second = vigie.crawl("tag", "account")
        second_posts = {source: vigie.posts(source) for source in second}
        yield Crawls(server, first, second, first_posts, second_posts, [r.path for r in server.requests[paths_before:]])


def test_every_recorded_response_gives_its_statuses(crawls: Crawls) -> None:
    tag, account = crawls.first_posts["tag"], crawls.first_posts["account"]
    assert len(from_response(tag, TOOTKIT)) == 20
    assert len(from_response(tag, TAG_2017)) == 20
    assert len(from_response(account, STATUS_GIF)) == 1
    assert len(from_response(account, STATUS_POLL)) == 1
    assert len(from_response(crawls.second_posts["account"], HOOT_TIMELINE)) == 1
    assert (crawls.first["tag"].status, crawls.first["tag"].new_posts, crawls.first["tag"].dropped_items) == ("ok", 40, 0)
    assert (crawls.first["account"].status, crawls.first["account"].new_posts) == ("ok", 2)


def test_backfill_pages_back_with_max_id_until_an_empty_page(crawls: Crawls) -> None:
    assert crawls.server.hits(f"{TAG}?limit=40&max_id=104009344997858505") == 1
    assert crawls.server.hits(f"{TAG}?limit=40&max_id=692622") == 1
    assert crawls.first["tag"].pages == 3


def test_account_is_looked_up_then_its_statuses_paged(crawls: Crawls) -> None:
    assert crawls.server.hits("/api/v1/accounts/lookup?acct=halcy") == 2
    assert crawls.server.hits(f"{ACCOUNT_STATUSES}?limit=40&max_id=110446223051565765") == 1
    assert crawls.server.hits(f"{ACCOUNT_STATUSES}?limit=40&max_id=110446183735368325") == 1


def test_second_run_asks_only_for_newer_statuses_and_stores_nothing_known(crawls: Crawls) -> None:
    run = crawls.second["tag"]
    assert (run.status, run.new_posts, run.updated_posts) == ("ok", 0, 0)
    assert TAG_SECOND_RUN in crawls.paths
    assert f"{TAG}?limit=40&min_id=104009345973121628" in crawls.paths  # forward from the newest id of that page
    assert not [path for path in crawls.paths if "max_id" in path]


def test_second_run_collects_only_the_new_status(crawls: Crawls) -> None:
    run = crawls.second["account"]
    assert (run.status, run.new_posts, run.updated_posts) == ("ok", 1, 0)
    assert ACCOUNT_SECOND_RUN in crawls.paths
    new = from_response(crawls.second_posts["account"], HOOT_TIMELINE)
    assert [post.native_id for post in new] == ["http://localhost:3000/ap/users/117020566092212359/statuses/117020593741189701"]


def test_malformed_json_is_one_error_for_that_source(crawls: Crawls) -> None:
    run = crawls.first["broken"]
    assert (run.status, run.new_posts) == ("failed", 0)
    [error] = run.errors
    assert error.url == crawls.server.url("/api/v1/timelines/tag/broken?limit=40")
    assert "malformed JSON" in error.message and error.url in error.message


def expected(source: str, body: bytes, **fields: Any) -> dict[str, Any]:
    return {"platform": "mastodon", "source_id": source, "forwarded_from": None, "raw_sha256": sha256_hex(body), **fields}


def test_friendica_status_with_links(crawls: Crawls) -> None:
    post = by_native_id(crawls.first_posts["tag"])["https://friendica.chilemasto.casa/objects/e7f1d4da94e7709966bfc900101aebf181299505"]
    assert_stored_post(
        post,
        expected(
            "tag",
            TOOTKIT,
            native_id="https://friendica.chilemasto.casa/objects/e7f1d4da94e7709966bfc900101aebf181299505",
            url="https://friendica.chilemasto.casa/objects/e7f1d4da94e7709966bfc900101aebf181299505",
            author={"id": "1137831", "handle": "elmostrador@friendica.chilemasto.casa", "name": "elmostrador"},
            published_at="2020-04-16T16:45:08Z",
            title=None,
            text="“Léanlo completo”: la respuesta de Mañalich a las dudas de Espacio Público sobre el Informe Epidemiológico del Minsal\n"
            "https://tinyurl.com/y7ku9teg\n\n"
            "“Léanlo completo”: la respuesta de Mañalich a las dudas de Espacio Público sobre el Informe Epidemiológico del Minsaltinyurl.com/y7ku9teg\n\n"
            "----------------------------------------------------------------------\n"
            "https://nitter.snopyta.org/elmostrador/status/1250827578291568640#m\n\n"
            "https://tinyurl.com/y7ku9teg https://friendica.chilemasto.casa/objects/e7f1d4da94e7709966bfc900101aebf181299505",
            platform_language="es",
            hashtags=[],
            mentions=[],
            links=[
                "https://tinyurl.com/y7ku9teg",
                "https://nitter.snopyta.org/elmostrador/status/1250827578291568640",
                "https://friendica.chilemasto.casa/objects/e7f1d4da94e7709966bfc900101aebf181299505",
            ],
            media=[],
            engagement={"views": None, "likes": 0, "shares": 0, "replies": 0},
            reply_to=None,
            repost_of=None,
            quote_of=None,
        ),
    )


def test_content_warning_is_the_title(crawls: Crawls) -> None:
    post = by_native_id(crawls.first_posts["tag"])["https://cybre.space/users/rick_777/statuses/104009344123431312"]
    assert_stored_post(
        post,
        expected(
            "tag",
            TOOTKIT,
            native_id="https://cybre.space/users/rick_777/statuses/104009344123431312",
            url="https://cybre.space/@rick_777/104009344123431312",
            author={"id": "352848", "handle": "rick_777@cybre.space", "name": "Cybre Rick"},
            published_at="2020-04-16T17:04:02Z",
            title="Karen meme explained",
            text="Of course the meme had to be in the knowyourmeme site.\n\n"
            "As usual, these guys do their homework perfectly :blobthumbsup: - it even includes a Twitter pic of an antivaxxer woman"
            " bearing the characteristic hairdo.\n\n"
            "https://knowyourmeme.com/memes/karen",
            platform_language="en",
            hashtags=[],
            mentions=[],
            links=["https://knowyourmeme.com/memes/karen"],
            media=[],
            engagement={"views": None, "likes": 0, "shares": 0, "replies": 0},
            reply_to=None,
            repost_of=None,
            quote_of=None,
        ),
    )


def test_unfetched_remote_media_and_no_language(crawls: Crawls) -> None:
    post = by_native_id(crawls.first_posts["tag"])["https://pawoo.net/users/Heibonn_hiroro/statuses/104009345448989482"]
    assert_stored_post(
        post,
        expected(
            "tag",
            TOOTKIT,
            native_id="https://pawoo.net/users/Heibonn_hiroro/statuses/104009345448989482",
            url="https://pawoo.net/@Heibonn_hiroro/104009345448989482",
            author={"id": "744487", "handle": "Heibonn_hiroro@pawoo.net", "name": "ひろろ"},
            published_at="2020-04-16T17:04:22Z",
            title=None,
            text="百合",
            platform_language=None,
            hashtags=[],
            mentions=[],
            links=[],
            media=["photo"],  # two `unknown` attachments whose remote files are .png
            engagement={"views": None, "likes": 0, "shares": 0, "replies": 0},
            reply_to=None,
            repost_of=None,
            quote_of=None,
        ),
    )


def test_hashtag_and_link_card(crawls: Crawls) -> None:
    post = by_native_id(crawls.first_posts["tag"])["https://pokemon.men/users/flutter/statuses/104008961178835337"]
    assert_stored_post(
        post,
        expected(
            "tag",
            TOOTKIT,
            native_id="https://pokemon.men/users/flutter/statuses/104008961178835337",
            url="https://pokemon.men/@flutter/104008961178835337",
            author={"id": "820727", "handle": "flutter@pokemon.men", "name": "Flutter"},
            published_at="2020-04-16T15:26:39Z",
            title=None,
            text="#Flutter v0.2.0 of flutter_facebook_appevents https://pub.dev/packages/flutter_facebook_appevents",
            platform_language="da",
            hashtags=["flutter"],
            mentions=[],
            links=["https://pub.dev/packages/flutter_facebook_appevents"],
            media=["link_preview"],
            engagement={"views": None, "likes": 0, "shares": 0, "replies": 0},
            reply_to=None,
            repost_of=None,
            quote_of=None,
        ),
    )


def test_2017_reply_with_mentions(crawls: Crawls) -> None:
    post = by_native_id(crawls.first_posts["tag"])["tag:mastodon.social,2017-04-21:objectId=3610569:objectType=Status"]
    assert_stored_post(
        post,
        expected(
            "tag",
            TAG_2017,
            native_id="tag:mastodon.social,2017-04-21:objectId=3610569:objectType=Status",
            url="https://mastodon.social/users/jeroenpraat/updates/2014093",
            author={"id": "14988", "handle": "jeroenpraat@mastodon.social", "name": "jeroenpraat"},
            published_at="2017-04-21T15:00:42Z",
            title=None,
            text="@alexl @deadsuperhero Yes, but not only #Mastodon should be compatible with the Diaspora protocol, but #Diaspora should"
            " also be compatible with the Mastodon/oStatus protocol. That's not only fair, but also gives a lot more stability. A shared"
            " federation library would eventually be the best thing. But hé, I'm not a coder ;-)",
            platform_language=None,
            hashtags=["mastodon", "diaspora"],
            mentions=["alexl@mstdn.io", "deadsuperhero@social.nasqueron.org"],
            links=[],
            media=[],
            engagement={"views": None, "likes": 0, "shares": 0, "replies": None},  # no replies_count in 2017
            reply_to=crawls.server.url("/api/v1/statuses/675923"),
            repost_of=None,
            quote_of=None,
        ),
    )


def test_2017_french_status_with_photo(crawls: Crawls) -> None:
    post = by_native_id(crawls.first_posts["tag"])["tag:framapiaf.org,2017-04-21:objectId=178893:objectType=Status"]
    assert_stored_post(
        post,
        expected(
            "tag",
            TAG_2017,
            native_id="tag:framapiaf.org,2017-04-21:objectId=178893:objectType=Status",
            url="https://framapiaf.org/users/armavi/updates/14054",
            author={"id": "29113", "handle": "armavi@framapiaf.org", "name": "armavi"},
            published_at="2017-04-21T14:54:11Z",
            title=None,
            text="Il y a une instance #mastodon pour les personnels de l'État qui vient de s'ouvrir aux personnels éduc.\n"
            "Je trouve bien qu'on teste des trucs dans l'administration!\n\n"
            "Bon, il faut qu'on trouve un graphiste pour les couleurs de l'instance\n"
            "cc @cquest @cquest\n"
            "https://framapiaf.org/media/cLJI8QfPLw7ZZ4yKZyI",
            platform_language=None,
            hashtags=["mastodon"],
            mentions=["cquest@amicale.net", "cquest@mastodon.etalab.gouv.fr"],
            links=["https://framapiaf.org/media/cLJI8QfPLw7ZZ4yKZyI"],
            media=["photo"],
            engagement={"views": None, "likes": 0, "shares": 1, "replies": None},
            reply_to=None,
            repost_of=None,
            quote_of=None,
        ),
    )


def test_current_schema_status_with_gif_and_content_warning(crawls: Crawls) -> None:
    post = by_native_id(crawls.first_posts["account"])["https://icosahedron.website/users/halcy/statuses/110446222386355655"]
    assert_stored_post(
        post,
        expected(
            "account",
            STATUS_GIF,
            native_id="https://icosahedron.website/users/halcy/statuses/110446222386355655",
            url="https://icosahedron.website/@halcy/110446222386355655",
            author={"id": "23972", "handle": "halcy@icosahedron.website", "name": "halcy\u200b :icosahedron:"},
            published_at="2023-05-28T12:06:50Z",
            title="test post for mastodon.py stuff",
            text="@halcy you're a doo-doo head\n\nedit: editing this to have the maximum amount of fields filled :trans_heart: #ThisIsAHashtag",
            platform_language="de",
            hashtags=["thisisahashtag"],
            mentions=["halcy@icosahedron.website"],
            links=[],
            media=["gif"],
            engagement={"views": None, "likes": 1, "shares": 0, "replies": 0},
            reply_to=None,
            repost_of=None,
            quote_of=None,
        ),
    )


def test_local_account_gets_the_instance_domain_and_poll(crawls: Crawls) -> None:
    post = by_native_id(crawls.first_posts["account"])["https://mastodon.social/users/halcy/statuses/110446183735368325"]
    assert_stored_post(
        post,
        expected(
            "account",
            STATUS_POLL,
            native_id="https://mastodon.social/users/halcy/statuses/110446183735368325",
            url="https://mastodon.social/@halcy/110446183735368325",
            author={"id": "43", "handle": "halcy@mastodon.social", "name": "autumnal halcy"},  # acct "halcy", profile on mastodon.social
            published_at="2023-05-28T11:57:00.378000Z",
            title=None,
            text="test?",
            platform_language="de",
            hashtags=[],
            mentions=[],
            links=[],
            media=["poll"],
            engagement={"views": None, "likes": 0, "shares": 0, "replies": 0},
            reply_to=None,
            repost_of=None,
            quote_of=None,
        ),
    )
