"""The demo's replay server answers like the real APIs, and its story has the surge it promises."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx

from scheduler.demo import Story, build_timeline
from scheduler.demo_replay import mastodon_id, serving


def test_the_story_keeps_posting_and_stages_one_surge_from_many_accounts() -> None:
    start = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    story = Story()
    timeline = build_timeline(story, start, random.Random(1))
    surge = [item for item in timeline.items if item.text is not None]
    assert len(surge) == story.surge_posts
    assert len({item.author for item in surge}) == story.surge_posts
    surge_start = start + timedelta(seconds=story.surge_at)
    assert all(surge_start <= item.appears_at < surge_start + timedelta(seconds=story.surge_for) for item in surge)
    recorded = timeline.visible("mastodon", start) + timeline.visible("reddit", start)
    assert len(recorded) == 20 + 100  # every recorded status and Reddit post, already there at the start
    later = timeline.visible("mastodon", start + timedelta(minutes=5)) + timeline.visible("reddit", start + timedelta(minutes=5))
    assert len(later) == len(recorded) + 300 // story.post_every + story.surge_posts


def test_the_replay_server_pages_like_mastodon_and_reddit() -> None:
    timeline = build_timeline(Story(), datetime.now(UTC) - timedelta(minutes=1), random.Random(1))
    with serving(timeline) as server, httpx.Client(base_url=server.base_url) as client:
        newest = client.get("/api/v1/timelines/tag/sante", params={"limit": 5}).json()
        assert len(newest) == 5
        ids = [int(status["id"]) for status in newest]
        assert ids == sorted(ids, reverse=True)
        older = client.get("/api/v1/timelines/tag/sante", params={"limit": 40, "max_id": ids[-1]}).json()
        assert all(int(status["id"]) < ids[-1] for status in older)
        after = client.get("/api/v1/timelines/tag/sante", params={"limit": 2, "min_id": ids[-1]}).json()
        assert [int(status["id"]) for status in after] == ids[-3:-1]  # the page just after min_id, newest first
        visible = timeline.visible("mastodon")
        assert {int(status["id"]) for status in newest} <= {mastodon_id(item) for item in visible}

        listing = client.get("/r/healthfreedom/new.json", params={"limit": 25}).json()["data"]
        assert len(listing["children"]) == 25 and listing["after"] == listing["children"][-1]["data"]["name"]
        next_page = client.get("/r/healthfreedom/new.json", params={"limit": 25, "after": listing["after"]}).json()["data"]
        assert next_page["children"][0]["data"]["created_utc"] < listing["children"][-1]["data"]["created_utc"]
        assert client.get("/nothing/here").status_code == 404
