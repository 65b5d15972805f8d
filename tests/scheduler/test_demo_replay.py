"""The demo's replay server answers like the real APIs, and its story has the surge it promises."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx
from parsel import Selector

from scheduler.demo import Story, build_timeline, surge_texts
from scheduler.demo_replay import mastodon_id, serving


def test_the_story_keeps_posting_and_stages_one_surge_from_many_accounts() -> None:
    start = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    story = Story()
    timeline = build_timeline(story, start, random.Random(1))
    surge = [item for item in timeline.items if item.text in surge_texts()]
    assert len(surge) == story.surge_posts
    assert {item.platform for item in surge} == {"mastodon", "reddit", "telegram"}
    accounts = [item.author for item in surge if item.platform != "telegram"]
    assert len(set(accounts)) == len(accounts) == story.surge_posts * 2 // 3  # plus the Telegram channel itself
    surge_start = start + timedelta(seconds=story.surge_at)
    assert all(surge_start <= item.appears_at < surge_start + timedelta(seconds=story.surge_for) for item in surge)

    def visible(at: datetime) -> int:
        return sum(len(timeline.visible(platform, at)) for platform in ("mastodon", "reddit", "telegram"))

    assert visible(start) == 20 + 100 + 20  # the recorded statuses and Reddit posts, and 20 channel messages
    assert visible(start + timedelta(minutes=5)) == visible(start) + 300 // story.post_every + story.surge_posts


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

        channel = Selector(client.get("/s/demo_channel").text)
        ids = [int(ref.split("/")[1]) for ref in channel.css(".tgme_widget_message::attr(data-post)").getall()]
        assert len(ids) == 20 and ids == sorted(ids)  # oldest first, as t.me shows them
        assert all(ref.startswith("demo_channel/") for ref in channel.css(".tgme_widget_message::attr(data-post)").getall())
        older = channel.css('link[rel="prev"]::attr(href)').get()
        assert older == f"/s/demo_channel?before={ids[0]}"
        older_ids = [int(ref.split("/")[1]) for ref in Selector(client.get(older).text).css(".tgme_widget_message::attr(data-post)").getall()]
        assert older_ids and max(older_ids) < ids[0]
