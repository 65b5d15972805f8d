"""The feed spider on every recorded feed, served on loopback and crawled by `vigie crawl` into a real store.

Expected values were read from the fixture files themselves (tests/fixtures/rss/).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.crawling import VigieProject
from tests.support.replay import ReplayServer
from vigie.models import CrawlRun, Post, sha256_hex

RSS = Path(__file__).resolve().parents[1] / "fixtures" / "rss"

ENTRIES = {
    "AmazonWebServicesBlog.xml": 10,
    "HuffPostCanada.xml": 2,
    "SamRuby.xml": 20,
    "TechCrunch.xml": 20,
    "atom-feed-reddit.xml": 1,
    "feed-test-ru.xml": 1,
    "google_alerts_atom.xml": 20,
    "heise.atom": 15,
    "json_feed.json": 20,
}
"""Entries (items) in each recorded feed, counted in the files."""


def source_id(file_name: str) -> str:
    return file_name.rsplit(".", 1)[0].replace("_", "-").lower()


class Crawled:
    def __init__(self, project: VigieProject, runs: dict[str, CrawlRun]) -> None:
        self.project = project
        self.runs = runs
        self._posts: dict[str, list[Post]] = {}

    def posts(self, file_name: str) -> list[Post]:
        sid = source_id(file_name)
        if sid not in self._posts:
            self._posts[sid] = self.project.posts(sid)
        return self._posts[sid]

    def post(self, file_name: str, native_id: str) -> Post:
        return next(post for post in self.posts(file_name) if post.native_id == native_id)


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    """One `vigie crawl` of every recorded feed, each its own source."""
    with ReplayServer() as server:
        sources = []
        for name in ENTRIES:
            server.add(f"/feeds/{name}", RSS / name)
            sources.append({"id": source_id(name), "platform": "feed", "url": server.url(f"/feeds/{name}"), "tags": ["veille", "test"]})
        project = VigieProject(tmp_path_factory.mktemp("feeds"))
        project.configure(sources)
        yield Crawled(project, project.crawl())


@pytest.mark.parametrize("file_name", ENTRIES)
def test_every_entry_of_every_recorded_feed_is_stored(crawled: Crawled, file_name: str) -> None:
    run = crawled.runs[source_id(file_name)]
    assert (run.status, run.pages, run.new_posts, run.dropped_items, run.errors) == ("ok", 1, ENTRIES[file_name], 0, [])
    posts = crawled.posts(file_name)
    assert len(posts) == ENTRIES[file_name]
    assert {post.raw_sha256 for post in posts} == {sha256_hex((RSS / file_name).read_bytes())}
    assert all(post.tags[:2] == ["veille", "test"] and post.source_id == source_id(file_name) for post in posts)


def test_atom_entry_heise(crawled: Crawled) -> None:
    post = crawled.post("heise.atom", "http://heise.de/-3088438")
    assert post.id == "feed:http://heise.de/-3088438"
    assert post.title == "Java-Anwendungsserver: Red Hat gibt WildFly 10 frei"
    assert post.url == "http://www.heise.de/developer/meldung/Java-Anwendungsserver-Red-Hat-gibt-WildFly-10-frei-3088438.html?wt_mc=rss.developer.beitrag.atom"
    assert post.published_at == datetime(2016, 2, 1, 16, 22, tzinfo=UTC)  # 17:22+01:00
    assert post.text == (
        "Die nun verfügbare Version 10 des Enterprise-Java-Servers stellt die Basis für Red Hats kommerzielle JBoss "
        "Enterprise Application Platform 7 ist zugleich das dritte größere Release seit dem Namenswechsel des Open-Source-Projekts."
    )
    assert post.author.name == "heise online"  # the feed's <author>: the entry has none
    assert post.platform_language is None
    assert post.language == "de"
    assert post.domains == ["heise.de"]  # the content's <a href> to the article
    assert post.media == []


def test_rss_item_techcrunch_full_content_to_text(crawled: Crawled) -> None:
    post = crawled.post("TechCrunch.xml", "http://techcrunch.com/?p=446154")
    assert post.title == "Angie’s List Sets Price Range IPO At $11 To $13 Per Share; Valued At Over $600M"
    assert post.url == "http://feedproxy.google.com/~r/Techcrunch/~3/kTeeGj4FnwU/"
    assert post.published_at == datetime(2011, 11, 2, 17, 25, 27, tzinfo=UTC)
    assert post.author.name == "Leena Rao"  # dc:creator
    assert post.platform_language == "en"  # <language>en</language>
    assert post.text.startswith(  # <content:encoded>, fuller than <description>; &#8217; decoded
        "Angie’s List, which offers consumers a way to review and rate doctors, contractors and service companies on the Web, "
        "has just set the terms for its IPO. In a new filing, the company revealed"
    )
    assert "<" not in post.text and "&amp;" not in post.text
    assert "\n" in post.text  # the description's paragraphs stay apart
    assert "http://www.sec.gov/Archives/edgar/data/1491778/000119312511292292/d222159ds1a.htm" in post.links
    assert "sec.gov" in post.domains


def test_rss_item_without_guid_russian(crawled: Crawled) -> None:
    link = "http://www.aif.ru/incidents/smi_sobaka_v_tailande_spasla_zazhivo_pohoronennogo_mladenca"
    post = crawled.post("feed-test-ru.xml", link)  # no <guid>: the link is the id
    assert post.url == link
    assert post.title == "СМИ: собака в Таиланде спасла заживо похороненного младенца"
    assert post.text == "15-летняя мать ребенка решила избавиться от него, побоявшись гнева родителей"
    assert post.published_at == datetime(2019, 5, 18, 7, 52, 50, tzinfo=UTC)  # 10:52:50 +0300
    assert post.platform_language == "ru-RU"
    assert post.language == "ru"
    assert post.media == ["photo"]  # <enclosure type="image/jpeg">


def test_atom_entry_xml_lang_and_entities(crawled: Crawled) -> None:
    post = crawled.post("AmazonWebServicesBlog.xml", "tag:typepad.com,2003:post-61484736")
    assert post.title == "AWS Job: Architect & Designer Position in Turkey"
    assert post.platform_language == "en-US"  # <content xml:lang="en-US">
    assert post.published_at == datetime(2009, 1, 16, 18, 21, tzinfo=UTC)  # 10:21-08:00
    assert post.author.name == "AWS Editor"
    assert post.text.startswith("Late last year an entrepreneur from Turkey visited me at Amazon HQ in Seattle. We talked about his plans")


def test_relative_links_resolve_against_the_feed_own_address(crawled: Crawled) -> None:
    post = crawled.post("SamRuby.xml", "tag:intertwingly.net,2004:3308")
    assert post.url == "http://intertwingly.net/blog/2013/01/30/Plex"  # <link href="/blog/2013/01/30/Plex"/>, feed at intertwingly.net
    assert post.title == "Plex"
    assert post.published_at == datetime(2013, 1, 30, 18, 12, 3, tzinfo=UTC)  # no <published>: <updated> 10:12:03-08:00
    assert post.author.name == "Sam Ruby"
    assert post.text.startswith("Scott Hanselman: Plex is the media center software ecosystem I’ve been waiting for\n\nUnhappy with Time Warner Cable")


def test_rss_description_in_cdata_with_media(crawled: Crawled) -> None:
    post = crawled.post("HuffPostCanada.xml", "23246627")
    assert post.title == "Winnipeg High School Orders Custom Hijabs For Muslim Athletes"
    assert post.author.name == "Canadian Press"
    assert post.text.startswith("Winnipeg high school student Nusaybah Mohamed's basketball uniform will look a little different this year")
    assert post.media == ["photo", "video"]  # media:content medium="image" and medium="video"


def test_json_feed_item(crawled: Crawled) -> None:
    url = "http://inessential.com/2017/06/02/james_dempsey_and_the_breakpoints_benefi"
    post = crawled.post("json_feed.json", url)
    assert post.url == url
    assert post.title == "James Dempsey and the Breakpoints Benefit App Camp for Girls"
    assert post.published_at == datetime(2017, 6, 3, 5, 5, 47, tzinfo=UTC)  # 2017-06-02T22:05:47-07:00
    assert post.author.name == "Brent Simmons"  # the feed's author
    assert post.platform_language == "en-US"
    assert post.text.startswith("On Wednesday night I know where I’ll be — playing keyboard for a few songs at the James Dempsey and the Breakpoints concert")
    assert "jamesdempsey.net" in post.domains


def test_reddit_atom_entry(crawled: Crawled) -> None:
    (post,) = crawled.posts("atom-feed-reddit.xml")
    assert post.native_id == "https://www.redditstatic.com/icon.png/"  # the file's <id>, as recorded
    assert post.url == "https://www.reddit.com/r/Minecraft/comments/1ldu6hr/vibrant_visuals_troubleshooting/"
    assert post.title == "Vibrant Visuals - Troubleshooting"
    assert post.author.name == "/u/Mlakuss"
    assert post.author.id == "https://www.reddit.com/user/Mlakuss"
    assert post.published_at == datetime(2025, 6, 17, 18, 2, 33, tzinfo=UTC)
    assert post.text.startswith('Hello,\n\nAs we are seeing a huge number of identical threads, here are some answers to the question "Why isn\'t Vibrant Visual working?"')
