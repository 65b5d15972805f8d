"""The forum spider on every recorded forum page, with selectors written after reading each page's HTML.

vBulletin (pocketpc.ch, ISO-8859-1), phpBB (foren.myoos.de), Forumotion (wolfsrebellen), a WordPress article
(werkzeugforum.de) and a new-Reddit comment page. Expected values were read from the files.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.crawling import VigieProject
from tests.support.replay import ReplayServer
from vigie.models import CrawlRun, Post

FORUM = Path(__file__).resolve().parents[1] / "fixtures" / "forum"
PPC_THREAD = "/windows-phone-7-allgemein/122760-microsoft-beginnt-auslieferung-vorbereitungsupdate"

SOURCES = {
    "pocketpc": {
        "file": "pocketpc.ch.auslieferung.html",
        "url": f"https://www.pocketpc.ch{PPC_THREAD}-34.html",
        "posts": 20,
        "selectors": {
            "post": "li.postcontainer",
            "author": "a.username strong::text",
            "date": "dl.userstats dd:first-of-type::text",
            "text": "blockquote.postcontent",
            "link": "a.postcounter",
            "next": "link[rel=next]",
        },
    },
    "myoos": {
        "file": "foren.myoos.de.html",
        "url": "https://foren.myoos.de/viewtopic.php?t=52",
        "posts": 1,
        "selectors": {
            "post": "div.post",
            "author": ".postprofile a.username::text",
            "date": "p.author::text",
            "text": "div.content",
            "link": "//p[@class='author']/a/@href",
            "next": "a[rel=next]",
        },
    },
    "wolfsrebellen": {
        "file": "wolfsrebellen-netz.forumieren.com.regeln.html",
        "url": "https://wolfsrebellen-netz.forumieren.com/t7-forums-regeln",
        "posts": 3,  # p7, p655, p702; p0 is "Gesponserte Inhalte", an advert
        "selectors": {
            "post": "div.post:not(#p0)",
            "author": "p.author strong::text",
            "date": "p.author::text",
            "text": "div.post-entry",
            "link": "h3 a",
        },
    },
    "werkzeugforum": {
        "file": "werkzeugforum.de-heizjacke.html",
        "url": "https://www.werkzeugforum.de/heizjacken-von-bosch/",
        "posts": 1,
        "selectors": {"post": "article.post", "date": "div.post-meta time::text", "text": "div.single-post-content"},
    },
    "reddit-html": {
        "file": "reddit.com.init.html",
        "url": "https://www.reddit.com/r/Python/comments/1bbbwk/whats_your_opinion_on_what_to_include_in_init_py/",
        "posts": 19,
        "selectors": {
            "post": "div.Comment",
            "date": "a[id^='CommentTopMeta--Created'] span::text",
            "text": "div[data-test-id=comment]",
            "link": "a[id^='CommentTopMeta--Created']",
        },
    },
}


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VigieProject, dict[str, CrawlRun], ReplayServer]]:
    with ReplayServer() as server:
        sources = []
        for source_id, spec in SOURCES.items():
            server.add(_path(spec["url"]), FORUM / spec["file"], content_type="text/html")  # no charset: the page's <meta> says
            sources.append({"id": source_id, "platform": "forum", "url": spec["url"], "base_url": server.base_url, "selectors": spec["selectors"]})
        # page 35 of the thread: the recording has only page 34, so the same page is served again
        server.add(f"{PPC_THREAD}-35.html", FORUM / SOURCES["pocketpc"]["file"], content_type="text/html")
        sources[0]["backfill_pages"] = 2
        project = VigieProject(tmp_path_factory.mktemp("forum"))
        project.configure(sources)
        yield project, project.crawl(), server


@pytest.mark.parametrize("source_id", SOURCES)
def test_every_post_of_every_recorded_page(crawled: tuple[VigieProject, dict[str, CrawlRun], ReplayServer], source_id: str) -> None:
    project, runs, _ = crawled
    run = runs[source_id]
    assert (run.status, run.new_posts, run.dropped_items, run.errors) == ("ok", SOURCES[source_id]["posts"], 0, [])
    assert len(project.posts(source_id)) == SOURCES[source_id]["posts"]


def test_next_page_followed_within_the_page_cap(crawled: tuple[VigieProject, dict[str, CrawlRun], ReplayServer]) -> None:
    _, runs, server = crawled
    assert runs["pocketpc"].pages == 2  # backfill_pages: 2, although page 35 links to a page 35 again
    assert server.hits(f"{PPC_THREAD}-35.html") == 1
    assert runs["pocketpc"].updated_posts == 20  # page 35 served page 34 again: same posts, no duplicates


def _post(project: VigieProject, source_id: str, native_id: str) -> Post:
    return next(post for post in project.posts(source_id) if post.native_id == native_id)


def test_vbulletin_post_with_quote_iso_8859_1(crawled: tuple[VigieProject, dict[str, CrawlRun], ReplayServer]) -> None:
    post = _post(crawled[0], "pocketpc", "www.pocketpc.ch#post_949757")
    assert post.author.name == "Predator"
    assert post.published_at == datetime(2011, 3, 3, 14, 17, tzinfo=UTC)  # "03.03.2011, 14:17"
    assert post.url == f"https://www.pocketpc.ch{PPC_THREAD}-post949757.html#post949757"  # without the s= session id
    assert post.text.startswith("Zitat von TheFreeman\nGibt es denn irgendow eine Seite / Threat, wo die neuen Features genau beschrieben sind")
    assert 'Es soll z.B. eine "copy&paste"-Funktion dabei sein.' in post.text
    assert "Das war noch nicht das Update, sondern nur die Vorbereitung. Warum auch immer" in post.text
    assert post.text.endswith("Mit der kostenlosen PocketPC.ch App von meinem HD7 T9292 aus geschrieben.")
    assert "$(" not in post.text  # the inline <script> is not text
    assert post.language == "de"


def test_vbulletin_latin1_umlauts(crawled: tuple[VigieProject, dict[str, CrawlRun], ReplayServer]) -> None:
    texts = " ".join(post.text for post in crawled[0].posts("pocketpc"))
    assert "Ã" not in texts  # ISO-8859-1 decoded as such, not as UTF-8
    assert any(char in texts for char in "äöüÄÖÜß")


def test_phpbb_post(crawled: tuple[VigieProject, dict[str, CrawlRun], ReplayServer]) -> None:
    (post,) = crawled[0].posts("myoos")
    assert post.native_id == "foren.myoos.de#p453"
    assert post.author.name == "r23"
    assert post.published_at == datetime(2009, 1, 21, 5, 42, tzinfo=UTC)  # "21.01.2009, 05:42"
    assert post.url == "https://foren.myoos.de/viewtopic.php?p=453#p453"  # "./viewtopic.php?p=453&sid=…#p453"
    assert post.text.startswith("Was ist Freie Software und warum ist sie wichtig?\nvon Georg C. F. Greve\n\nFreie Software ist Software, die ohne Ansicht der Person")
    assert "Der fundamentale Akt von Freundschaft unter denkenden Wesen besteht darin" in post.text  # the <blockquote>
    assert "http://www.gnu.org/philosophy/free-sw.de.html" in post.links
    assert "fsfeurope.org" in post.domains


def test_forumotion_posts_with_slashed_dates(crawled: tuple[VigieProject, dict[str, CrawlRun], ReplayServer]) -> None:
    project = crawled[0]
    second = _post(project, "wolfsrebellen", "wolfsrebellen-netz.forumieren.com#p655")
    assert second.author.name == "lupa"
    assert second.published_at == datetime(2014, 5, 26, 7, 41, tzinfo=UTC)  # "am 26/05/14, 07:41 am", a German page: day first
    assert second.text.startswith("2. Nachtrag\n\nDas neue Mitglied bekommt nach dem 3. Beitrag ein eigenes Forum eingerichtet.")
    assert second.url == "https://wolfsrebellen-netz.forumieren.com/t7-forums-regeln#655"
    first = _post(project, "wolfsrebellen", "wolfsrebellen-netz.forumieren.com#p7")
    assert first.published_at == datetime(2013, 10, 26, 15, 48, tzinfo=UTC)  # "26/10/13, 03:48 pm"


def test_blog_article_without_author_or_link(crawled: tuple[VigieProject, dict[str, CrawlRun], ReplayServer]) -> None:
    (post,) = crawled[0].posts("werkzeugforum")
    assert post.native_id == "www.werkzeugforum.de#post-28287"
    assert post.published_at == datetime(2022, 1, 26, tzinfo=UTC)  # <time>26.01.2022</time>
    assert post.text.startswith("Ob bei Minusgraden auf der Baustelle oder im zugigen Rohbau – Heizjacken von Bosch sorgen in Minutenschnelle für angenehme Temperaturen.")
    assert post.author.name is None


def test_reddit_comments_with_relative_dates(crawled: tuple[VigieProject, dict[str, CrawlRun], ReplayServer]) -> None:
    project = crawled[0]
    link = "https://www.reddit.com/r/Python/comments/1bbbwk/whats_your_opinion_on_what_to_include_in_init_py/c95cjs5/"
    post = _post(project, "reddit-html", link)  # a relative href, resolved against the real page's address
    assert post.url == link
    assert post.text.startswith("I tend toward option 3 for my own work. For me, it's about declaring a 'public' API for the module, e.g.\n\nstuff/\n__init__.py\nbigstuff.py")
    assert "from bigstuff import Stuffinator, Stuffinatrix" in post.text  # <pre><code> keeps its lines
    age = post.collected_at - post.published_at  # "6 years ago"
    assert timedelta(days=6 * 365 - 2) < age < timedelta(days=6 * 365 + 3)
