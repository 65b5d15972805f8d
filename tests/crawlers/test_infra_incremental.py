"""Paging, page caps and the incremental cursor, on Telegram channels longer than the recording.

The pages are built from the real widgets of telegram/page_example.html (tests/support/pages.py): 20
messages to a page, newest first, older ones behind `?before=<id>` as on t.me.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.support.crawling import REPO, VigieProject
from tests.support.pages import telegram_channel, telegram_message_date
from tests.support.replay import Reply, ReplayServer

HTML = "text/html; charset=utf-8"


def serve_channel(replay: ReplayServer, channel: str, total: int) -> None:
    for path, html in telegram_channel(channel, total).items():
        replay.add(path, html, content_type=HTML)


def native_ids(vigie: VigieProject, source_id: str) -> list[str]:
    return sorted(post.native_id for post in vigie.posts(source_id))


def test_paging_cursor_and_new_messages(vigie: VigieProject, replay: ReplayServer) -> None:
    serve_channel(replay, "watch", 45)  # pages: 45..26, 25..6 (?before=26), 5..1 (?before=6)
    serve_channel(replay, "capped", 45)
    vigie.configure([
        {"id": "watch", "platform": "telegram", "channel": "watch", "base_url": replay.base_url, "backfill_pages": 3, "max_pages": 5},
        {"id": "capped", "platform": "telegram", "channel": "capped", "base_url": replay.base_url, "backfill_pages": 2},
    ])

    first = vigie.crawl()
    assert (first["watch"].status, first["watch"].pages, first["watch"].new_posts) == ("ok", 3, 45)
    assert native_ids(vigie, "watch") == sorted(f"watch/{n}" for n in range(1, 46))
    assert vigie.cursor("watch") == {"newest_at": telegram_message_date(45).isoformat(), "newest_ids": ["watch/45"], "last_run_id": first["watch"].id}
    # the first-run backfill stops at backfill_pages
    assert (first["capped"].status, first["capped"].pages, first["capped"].new_posts) == ("ok", 2, 40)
    assert replay.hits("/s/capped?before=6") == 0

    second = vigie.crawl("watch")["watch"]
    assert (second.status, second.pages, second.new_posts, second.updated_posts) == ("ok", 1, 0, 0)
    assert replay.hits("/s/watch?before=26") == 1  # only during the first run

    serve_channel(replay, "watch", 75)  # 30 new messages: pages 75..56, 55..36 (?before=56), 35..16 (?before=36)
    third = vigie.crawl("watch")["watch"]
    assert (third.status, third.pages, third.new_posts, third.updated_posts) == ("ok", 2, 30, 0)
    assert replay.hits("/s/watch?before=36") == 0  # the page ?before=56 reached known messages: paging stopped
    assert native_ids(vigie, "watch") == sorted(f"watch/{n}" for n in range(1, 76))
    assert vigie.cursor("watch")["newest_ids"] == ["watch/75"]


def test_interrupted_run_loses_nothing_and_duplicates_nothing(vigie: VigieProject, replay: ReplayServer) -> None:
    pages = telegram_channel("longwatch", 45)
    for path, html in pages.items():
        replay.add(path, Reply(body=html.encode(), headers={"Content-Type": HTML}, delay=2 if "before=26" in path else 0))
    vigie.configure([{"id": "long", "platform": "telegram", "channel": "longwatch", "base_url": replay.base_url, "backfill_pages": 3}], settings={"crawl": {"timeout": 30}})

    command = [sys.executable, "-m", "vigie.cli", "--config", str(vigie.config_dir), "--data-dir", str(vigie.data_dir), "crawl", "--json"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while replay.hits("/s/longwatch?before=26") == 0 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert replay.hits("/s/longwatch?before=26") == 1, "the crawl never asked for page 2"
    process.send_signal(signal.SIGTERM)  # what the scheduler sends at shutdown, while page 2 is on its way
    process.communicate(timeout=60)
    assert replay.hits("/s/longwatch?before=6") == 0  # a graceful stop finishes page 2, asks for nothing more

    with vigie.store() as store:
        (interrupted,) = store.crawl_runs("long")
    assert interrupted.status == "partial"
    assert interrupted.new_posts == 40  # pages 1 and 2, written when the spider closed
    assert "interrupted (shutdown requested)" in [error.message for error in interrupted.errors]
    assert vigie.cursor("long") is None  # not moved past the unfetched pages

    for path, html in pages.items():
        replay.add(path, html, content_type=HTML)
    again = vigie.crawl("long")["long"]
    assert (again.status, again.new_posts, again.updated_posts) == ("ok", 5, 40)
    assert native_ids(vigie, "long") == sorted(f"longwatch/{n}" for n in range(1, 46))  # 45 records, none twice
    assert vigie.cursor("long")["newest_ids"] == ["longwatch/45"]
