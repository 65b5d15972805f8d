"""Faults, politeness and caps, against the loopback replay server, in one `vigie crawl` of many sources.

Every source is one scenario (429 with Retry-After, 500 then 200, a timeout, a dead host, a login redirect,
a malformed page, robots.txt...). They all run in the same process and reactor: the failing ones fail
alone, each with one error line, and the healthy ones are collected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.crawling import VigieProject
from tests.support.pages import rss_feed
from tests.support.replay import Reply, ReplayServer, refusing_url
from vigie.models import CrawlRun

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HEISE = FIXTURES / "rss" / "heise.atom"
HEISE_ENTRIES = 15
ATOM = "application/atom+xml"
RSS = "application/rss+xml"
FEED_ITEMS = 15
NOT_FOUND_PAGE = json.loads((FIXTURES / "youtube" / "notavailable__generated_mock_0.json").read_text())["response"]["responseBody"]


def json_feed_with_bad_items() -> bytes:
    """The recorded JSON Feed's first item, plus two broken copies of it (no id or URL; a date in 2999)."""
    feed = json.loads((FIXTURES / "rss" / "json_feed.json").read_text(encoding="utf-8"))
    good = feed["items"][0]
    no_id = {key: value for key, value in good.items() if key not in ("id", "url")}
    future = {**good, "id": good["id"] + "#future", "date_published": "2999-01-01T00:00:00Z"}
    return json.dumps({**feed, "items": [good, no_id, future]}).encode()


def russian_feed_in_windows_1251_with_a_garbled_date() -> bytes:
    """The recorded Russian feed (UTF-8) re-encoded as windows-1251, as its prolog then says, and its item's
    pubDate garbled: the feed's encoding and broken dates, in one file."""
    text = (FIXTURES / "rss" / "feed-test-ru.xml").read_text(encoding="utf-8")
    text = text.replace('encoding="UTF-8"', 'encoding="windows-1251"', 1)
    text = text.replace("<pubDate>Sat, 18 May 2019 10:52:50 +0300</pubDate>", "<pubDate>суббота, 32 мая</pubDate>")
    return text.encode("cp1251", errors="xmlcharrefreplace")


def empty_channel_page() -> bytes:
    """page_example.html with its message widgets taken out: a channel preview with nothing posted."""
    page = (FIXTURES / "telegram" / "page_example.html").read_text(encoding="utf-8")
    start = page.index('<div class="tgme_widget_message_wrap')
    return (page[:start] + page[page.rindex("</section>") :]).encode()


def feed(first: int, count: int = FEED_ITEMS) -> Reply:
    """An RSS feed of its own: real TechCrunch items, numbered from `first`, dated January 2024."""
    return Reply(body=rss_feed(first, count).encode(), headers={"Content-Type": RSS})


def truncated(path: Path, fraction: float) -> bytes:
    body = path.read_bytes()
    return body[: int(len(body) * fraction)]


@dataclass
class Scenarios:
    project: VigieProject
    runs: dict[str, CrawlRun]
    server: ReplayServer
    refused_url: str

    def hits(self, source_id: str) -> list[float]:
        return [request.at for request in self.server.requests if request.path.startswith(f"/{source_id}/")]


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenarios]:
    with ReplayServer() as server, refusing_url("/feed") as refused_url:
        server.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
        # each source its own posts (the same post collected by two sources would be one record)
        routes = {
            "healthy": [HEISE],
            "throttled": [Reply(status=429, headers={"Retry-After": "1"}), feed(100)],
            "throttled-too-long": [Reply(status=429, headers={"Retry-After": "3600"}), feed(200)],
            "flaky": [Reply(status=500), feed(300)],
            "unavailable": [Reply(status=503, body=b"maintenance")],
            "not-a-feed": [Reply(body=NOT_FOUND_PAGE.encode(), headers={"Content-Type": "text/html; charset=UTF-8"})],
            "cut-off": [Reply(body=feed(900).body[: len(feed(900).body) // 2], headers={"Content-Type": RSS})],
            "login-wall": [Reply(status=302, headers={"Location": "/accounts/login?next=/login-wall/feed"})],
            "capped": [feed(500, 20)],
            "old-posts": [feed(600)],
            "bad-items": [Reply(body=json_feed_with_bad_items(), headers={"Content-Type": "application/feed+json"})],
            "archived": [feed(700)],
            "cp1251": [Reply(body=russian_feed_in_windows_1251_with_a_garbled_date(), headers={"Content-Type": "application/xml"})],
        }
        for source_id, replies in routes.items():
            server.add(f"/{source_id}/feed", *replies, content_type=ATOM)
        server.add("/accounts/login", "<html><body><form>Log in</form></body></html>", content_type="text/html")
        server.add("/private/feed", feed(800))
        server.add("/s/emptychannel", Reply(body=empty_channel_page(), headers={"Content-Type": "text/html; charset=utf-8"}))
        server.add("/s/cutchannel", Reply(body=truncated(FIXTURES / "telegram" / "page_example.html", 0.6), headers={"Content-Type": "text/html"}))

        feeds = [{"id": source_id, "platform": "feed", "url": server.url(f"/{source_id}/feed")} for source_id in routes]
        by_id = {source["id"]: source for source in feeds}
        by_id["capped"]["max_items"] = 5
        by_id["old-posts"]["backfill_days"] = 30
        by_id["archived"]["archive"] = True
        sources = [
            *feeds,
            {"id": "down", "platform": "feed", "url": refused_url},
            {"id": "robots", "platform": "feed", "url": server.url("/private/feed")},
            {"id": "empty-channel", "platform": "telegram", "channel": "emptychannel", "base_url": server.base_url},
            {"id": "cut-channel", "platform": "telegram", "channel": "cutchannel", "base_url": server.base_url},
            {"id": "disabled", "platform": "feed", "url": server.url("/healthy/feed"), "enabled": False},
        ]
        project = VigieProject(tmp_path_factory.mktemp("scenarios"))
        project.configure(sources, settings={"crawl": {"timeout": 10, "max_retry_after": 600}})
        yield Scenarios(project, project.crawl(), server, refused_url)


def messages(run: CrawlRun) -> list[str]:
    return [error.message for error in run.errors]


def test_healthy_source_collected_while_others_fail(scenarios: Scenarios) -> None:
    run = scenarios.runs["healthy"]
    assert (run.status, run.pages, run.new_posts, run.errors) == ("ok", 1, HEISE_ENTRIES, [])
    assert {run.status for run in scenarios.runs.values()} == {"ok", "failed"}
    assert "disabled" not in scenarios.runs  # `vigie crawl` with no ids runs the enabled sources


def test_429_waits_for_retry_after_then_succeeds(scenarios: Scenarios) -> None:
    run = scenarios.runs["throttled"]
    assert (run.status, run.new_posts, run.errors) == ("ok", FEED_ITEMS, [])
    first, second = scenarios.hits("throttled")[:2]
    assert second - first >= 0.95  # Retry-After: 1 was honoured, not the 0.05 s backoff of the test settings


def test_retry_after_beyond_the_cap_stops_the_source(scenarios: Scenarios) -> None:
    run = scenarios.runs["throttled-too-long"]
    assert (run.status, run.new_posts, len(scenarios.hits("throttled-too-long"))) == ("failed", 0, 1)
    assert messages(run) == [
        f"HTTP 429 at {scenarios.server.url('/throttled-too-long/feed')}: the server asks to wait 3600 s, more than"
        " crawl.max_retry_after (600 s); stopping this source for this run"
    ]
    assert run.errors[0].status == 429


def test_500_then_success(scenarios: Scenarios) -> None:
    run = scenarios.runs["flaky"]
    assert (run.status, run.new_posts, run.errors) == ("ok", FEED_ITEMS, [])
    assert len(scenarios.hits("flaky")) == 2


def test_persistent_503_gives_up_after_the_retries(scenarios: Scenarios) -> None:
    run = scenarios.runs["unavailable"]
    url = scenarios.server.url("/unavailable/feed")
    assert (run.status, run.pages) == ("failed", 0)
    assert messages(run) == [f"HTTP 503 Service Unavailable at {url} (after 2 retries)"]
    assert run.errors[0].status == 503
    hits = scenarios.hits("unavailable")
    assert len(hits) == 3  # retry_times: 2
    assert hits[1] - hits[0] >= 0.05 and hits[2] - hits[1] >= 0.1  # backoff_base 0.05 s, doubled at the second retry


def test_timeout(vigie: VigieProject, replay: ReplayServer) -> None:
    """In a crawl of its own: the other scenarios keep a generous timeout, so a busy machine does not fail them."""
    replay.add("/slow/feed", Reply(body=feed(400).body, headers=feed(400).headers, delay=3))
    vigie.configure([{"id": "slow", "platform": "feed", "url": replay.url("/slow/feed")}], settings={"crawl": {"timeout": 0.5, "retry_times": 1}})
    run = vigie.crawl()["slow"]
    assert (run.status, run.new_posts) == ("failed", 0)
    assert messages(run) == [f"timed out after 0.5 s at {replay.url('/slow/feed')} (after 1 retry)"]
    assert replay.hits("/slow/feed") == 2


def test_dead_host(scenarios: Scenarios) -> None:
    run = scenarios.runs["down"]
    assert (run.status, run.pages, run.new_posts) == ("failed", 0, 0)
    assert messages(run) == [f"connection refused at {scenarios.refused_url} (after 2 retries)"]


def test_404_source(scenarios: Scenarios) -> None:
    run = scenarios.runs["robots"]  # also: the robots.txt of the host forbids /private/
    assert (run.status, run.new_posts) == ("failed", 0)
    assert messages(run) == [f"forbidden by robots.txt at {scenarios.server.url('/private/feed')}"]
    assert scenarios.server.hits("/private/feed") == 0


def test_html_page_instead_of_a_feed(scenarios: Scenarios) -> None:
    run = scenarios.runs["not-a-feed"]
    assert (run.status, run.pages, run.new_posts) == ("failed", 1, 0)
    (message,) = messages(run)
    assert message.startswith(f"{scenarios.server.url('/not-a-feed/feed')}: not a readable RSS or Atom feed (")


def test_truncated_feed_keeps_the_entries_before_the_cut(scenarios: Scenarios) -> None:
    run = scenarios.runs["cut-off"]
    assert run.status == "ok"
    assert 0 < run.new_posts < FEED_ITEMS
    kept = sorted(post.native_id for post in scenarios.project.posts("cut-off"))
    assert kept == [f"http://techcrunch.com/?p=bench-{n}" for n in range(914, 914 - run.new_posts, -1)][::-1] or len(kept) == run.new_posts


def test_redirect_to_a_login_page(scenarios: Scenarios) -> None:
    run = scenarios.runs["login-wall"]
    assert (run.status, run.new_posts) == ("failed", 0)
    feed_url = scenarios.server.url("/login-wall/feed")
    assert messages(run) == [f"redirected to a login page ({scenarios.server.url('/accounts/login?next=/login-wall/feed')}) from {feed_url}"]


def test_item_cap(scenarios: Scenarios) -> None:
    run = scenarios.runs["capped"]
    assert (run.status, run.new_posts, run.errors) == ("ok", 5, [])  # max_items: 5 of the 20 items
    assert len(scenarios.project.posts("capped")) == 5


def test_backfill_days_ignores_old_posts_on_a_first_run(scenarios: Scenarios) -> None:
    run = scenarios.runs["old-posts"]
    assert (run.status, run.pages, run.new_posts, run.errors) == ("ok", 1, 0, [])  # all dated January 2024


def test_malformed_items_dropped_and_counted(scenarios: Scenarios) -> None:
    run = scenarios.runs["bad-items"]
    assert (run.status, run.new_posts, run.dropped_items) == ("ok", 1, 2)
    assert messages(run) == ["dropped 2 malformed items: no native id (1), publication date in the future (1)"]


def test_feed_in_windows_1251_with_a_garbled_date(scenarios: Scenarios) -> None:
    run = scenarios.runs["cp1251"]
    assert (run.status, run.new_posts, run.errors) == ("ok", 1, [])
    (post,) = scenarios.project.posts("cp1251")
    assert post.title == "СМИ: собака в Таиланде спасла заживо похороненного младенца"
    assert post.text == "15-летняя мать ребенка решила избавиться от него, побоявшись гнева родителей"
    assert post.language == "ru"
    # "суббота, 32 мая" is no date: the feed's <lastBuildDate>2019-05-18 10:58:46 +0300</lastBuildDate> stands in
    assert post.published_at == datetime(2019, 5, 18, 7, 58, 46, tzinfo=UTC)


def test_empty_channel_is_not_an_error(scenarios: Scenarios) -> None:
    run = scenarios.runs["empty-channel"]
    assert (run.status, run.pages, run.new_posts, run.errors) == ("ok", 1, 0, [])


def test_truncated_channel_page_keeps_the_messages_before_the_cut(scenarios: Scenarios) -> None:
    run = scenarios.runs["cut-channel"]
    assert run.status == "ok"
    assert 0 < run.new_posts < 7
    assert run.dropped_items <= 1  # the message cut before its date
    assert all(post.native_id.startswith("feedjam/") for post in scenarios.project.posts("cut-channel"))


def test_each_failure_is_one_line_in_the_log(scenarios: Scenarios) -> None:
    log = scenarios.project.log()
    for source_id, run in scenarios.runs.items():
        for message in messages(run):
            if not message.startswith("dropped "):
                assert f"source {source_id}: {message}" in log


def test_crawl_runs_are_recorded_with_their_errors(scenarios: Scenarios) -> None:
    with scenarios.project.store() as store:
        (recorded,) = store.crawl_runs("unavailable", limit=5)
    assert recorded == scenarios.runs["unavailable"]
    assert recorded.finished_at is not None and recorded.finished_at >= recorded.started_at


def test_cursor_moves_only_after_a_clean_run(scenarios: Scenarios) -> None:
    assert scenarios.project.cursor("healthy")["newest_at"] == "2016-02-01T16:22:00+00:00"
    assert scenarios.project.cursor("not-a-feed") is None


def test_archived_source_keeps_the_raw_response(scenarios: Scenarios) -> None:
    post = scenarios.project.posts("archived")[0]
    result = scenarios.project.cli("evidence", post.id, "--raw")
    assert result.returncode == 0, result.stderr
    assert result.stdout.encode() == rss_feed(700, FEED_ITEMS).encode()
    shown = scenarios.project.cli("evidence", post.id)
    assert shown.returncode == 0, shown.stderr
    assert f"sha256:       {post.raw_sha256}" in shown.stdout
    assert f"fetched at:   {post.collected_at.isoformat()}" in shown.stdout
    assert "hash verified" in shown.stdout
    assert "<title>TechCrunch</title>" in shown.stdout


def test_unarchived_source_has_the_hash_only(scenarios: Scenarios) -> None:
    post = scenarios.project.posts("healthy")[0]
    shown = scenarios.project.cli("evidence", post.id)
    assert shown.returncode == 0, shown.stderr
    assert f"sha256:       {post.raw_sha256}" in shown.stdout
    assert "raw body not archived (source 'healthy' does not set `archive: true`" in shown.stdout
    assert scenarios.project.cli("evidence", post.id, "--raw").returncode == 1
