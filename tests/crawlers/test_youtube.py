"""The youtube spider on every recorded YouTube response: the channel feed (as the raw XML and as the recorded
exchange it was cut from) and the recorded 404 of an unknown channel. Expected values were read from the files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.crawling import VigieProject
from tests.support.replay import ReplayServer, recorded_exchange
from vigie.models import CrawlRun, Post

YOUTUBE = Path(__file__).resolve().parents[1] / "fixtures" / "youtube"
KURZGESAGT = "UCsXVk37bltHxD1rDPwtNM8Q"
UNAVAILABLE = "UCTGjY2I-ZUGnwVoWAGRd7XQ"  # the channel of the recorded 404


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VigieProject, dict[str, CrawlRun]]]:
    """The feed as raw XML, the exchange it was cut from (YouTube's own status and headers) and the recorded 404."""
    with ReplayServer() as server, ReplayServer() as exchange_server:
        server.add(f"/feeds/videos.xml?channel_id={KURZGESAGT}", YOUTUBE / "kurzgesagt_videos.xml", content_type="text/xml; charset=UTF-8")
        server.add(f"/feeds/videos.xml?channel_id={UNAVAILABLE}", recorded_exchange(YOUTUBE / "notavailable__generated_mock_0.json"))
        exchange_server.add(f"/feeds/videos.xml?channel_id={KURZGESAGT}", recorded_exchange(YOUTUBE / "kurzgesagt__generated_mock_0.json"))
        project = VigieProject(tmp_path_factory.mktemp("youtube"))
        project.configure([
            {"id": "kurzgesagt", "platform": "youtube", "channel_id": KURZGESAGT, "base_url": server.base_url},
            {"id": "unavailable", "platform": "youtube", "channel_id": UNAVAILABLE, "base_url": server.base_url},
            {"id": "kurzgesagt-exchange", "platform": "youtube", "channel_id": KURZGESAGT, "base_url": exchange_server.base_url},
        ])
        yield project, project.crawl()


def test_all_fifteen_videos_of_the_feed(crawled: tuple[VigieProject, dict[str, CrawlRun]]) -> None:
    project, runs = crawled
    videos = {post.native_id: post for post in project.posts("kurzgesagt") + project.posts("kurzgesagt-exchange")}
    assert len(videos) == 15  # both sources read the same 15 videos: one record each
    assert all(post.media == ["video"] and post.author.id == KURZGESAGT for post in videos.values())
    assert all(post.engagement.views and post.engagement.likes for post in videos.values())  # every entry has media:community
    for source_id in ("kurzgesagt", "kurzgesagt-exchange"):
        run = runs[source_id]
        assert (run.status, run.pages, run.new_posts + run.updated_posts, run.errors) == ("ok", 1, 15, [])


def test_unknown_channel_404_is_one_clean_error(crawled: tuple[VigieProject, dict[str, CrawlRun]]) -> None:
    project, runs = crawled
    run = runs["unavailable"]
    assert (run.status, run.pages, run.new_posts) == ("failed", 0, 0)
    assert [(error.status, error.message) for error in run.errors] == [
        (404, f"HTTP 404 Not Found at {run.errors[0].url}"),
    ]
    assert run.errors[0].url.endswith(f"/feeds/videos.xml?channel_id={UNAVAILABLE}")


def _video(project: VigieProject, video_id: str) -> Post:
    with project.store() as store:
        post = store.get_post(f"youtube:{video_id}")
    assert post is not None
    return post


def test_short_video_fields(crawled: tuple[VigieProject, dict[str, CrawlRun]]) -> None:
    post = _video(crawled[0], "zg40FHOAqC0")
    assert post.id == "youtube:zg40FHOAqC0"
    assert post.title == "Jupiter Made Earth Possible"
    assert post.url == "https://www.youtube.com/shorts/zg40FHOAqC0"
    assert post.published_at == datetime(2026, 1, 22, 15, 1, 42, tzinfo=UTC)
    assert post.author.name == "Kurzgesagt – In a Nutshell"
    assert (post.engagement.views, post.engagement.likes) == (1_086_938, 58_314)  # media:statistics, media:starRating count
    assert post.text.startswith(
        "Jupiter once wandered deep into the inner Solar System. It disrupted rocks, shaped Mars, and helped Earth form. "
        "Without it, life on Earth might not even exist. Thanks, big guy.\n\n#kurzgesagt\n#inanutshell"
    )
    assert "Sources & further reading:" in post.text  # &amp; decoded
    assert "kurzgesagt" in post.hashtags
    assert "kgs.link" in post.domains
    assert post.language == "en"


def test_long_video_fields(crawled: tuple[VigieProject, dict[str, CrawlRun]]) -> None:
    post = _video(crawled[0], "D0WQK7cMJn8")
    assert post.title == "We Made A New Channel!"
    assert post.url == "https://www.youtube.com/watch?v=D0WQK7cMJn8"
    assert post.published_at == datetime(2026, 1, 16, 15, 30, 5, tzinfo=UTC)  # <published>, not <updated>
    assert (post.engagement.views, post.engagement.likes) == (1_545_151, 76_301)
    assert post.text.startswith("For years, we’ve been dreaming of a second channel.")
