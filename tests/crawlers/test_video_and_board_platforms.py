"""PeerTube, Odysee and imageboard sources everywhere else: `vigie check`, one `vigie crawl` of all three,
`vigie sources` and `vigie search --platform`, on the recorded responses replayed on loopback."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.crawlers.test_imageboard import CATALOG, po_thread
from tests.crawlers.test_odysee import PROXY, RECORDED
from tests.crawlers.test_peertube import FIRST, PAGE_1, SECOND, page
from tests.support.crawling import VigieProject
from tests.support.factories import write_config
from tests.support.replay import ReplayServer
from vigie.config import ConfigError, load_config


def test_one_crawl_of_the_three_platforms_then_sources_and_search(vigie: VigieProject, replay: ReplayServer) -> None:
    replay.add(FIRST, PAGE_1, content_type="application/json")
    replay.add(SECOND, page([]), content_type="application/json")
    replay.add(f"/lbry{PROXY}", RECORDED, content_type="application/json")
    replay.add("/po/catalog.json", CATALOG, content_type="application/json")
    replay.add("/po/thread/579027.json", po_thread(579027), content_type="application/json")
    vigie.configure(
        [
            {"id": "framasoft", "platform": "peertube", "instance": "https://peertube.cpy.re", "channel": "framasoft", "base_url": replay.base_url},
            {"id": "geopolitique", "platform": "odysee", "channel": "@geopolitique-profonde", "base_url": replay.url("/lbry"), "max_pages": 1},
            {"id": "po", "platform": "imageboard", "board": "po", "match": ["tank destroyer"], "base_url": replay.base_url, "every": "10m"},
        ]
    )
    checked = vigie.cli("check")
    assert checked.returncode == 0 and "ok (3 sources, 3 enabled" in checked.stdout, checked.stderr
    runs = vigie.crawl()
    assert {source: (run.status, run.new_posts) for source, run in runs.items()} == {"framasoft": ("ok", 8), "geopolitique": ("ok", 20), "po": ("ok", 2)}

    listed = {row["id"]: row for row in map(json.loads, vigie.cli("sources", "--json").stdout.splitlines())}
    assert {source: (row["platform"], row["status"], row["posts"], row["every"]) for source, row in listed.items()} == {
        "framasoft": ("peertube", "ok", 8, "1h"),
        "geopolitique": ("odysee", "ok", 20, "1h"),
        "po": ("imageboard", "ok", 2, "10m"),
    }
    for platform, count in (("peertube", 8), ("odysee", 20), ("imageboard", 2)):
        found = vigie.cli("search", "--json", "--platform", platform, "--limit", "100")
        assert found.returncode == 0, found.stderr
        assert len(found.stdout.splitlines()) == count
    [tank] = map(json.loads, vigie.cli("search", "tank destroyer", "--json").stdout.splitlines())
    assert (tank["platform"], tank["native_id"], tank["url"]) == ("imageboard", "po/579027", "https://boards.4chan.org/po/thread/579027#p579027")


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ({"platform": "peertube", "instance": "https://tube.example", "chanel": "x"}, "sources[0].chanel: unknown key (expected one of: id, every"),
        ({"platform": "peertube", "instance": "https://tube.example"}, "sources[0]: give exactly one of channel, account or search"),
        ({"platform": "peertube", "channel": "x"}, "sources[0].instance: missing required key"),
        ({"platform": "odysee", "channel": "@a", "text": "b"}, "sources[0]: give exactly one of channel, tags or text"),
        ({"platform": "odysee", "tag": ["a"]}, "sources[0].tag: unknown key"),
        ({"platform": "odysee", "channel": "geopolitique profonde"}, "sources[0].channel: String should match pattern"),
        ({"platform": "imageboard", "board": "pol", "threads": 3}, "sources[0].threads: unknown key"),
        ({"platform": "imageboard"}, "sources[0].board: missing required key"),
    ],
)
def test_config_errors_name_the_line_and_key(tmp_path: Path, source: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=r"sources\.yaml:\d+: " + re.escape(error)):
        load_config(write_config(tmp_path / "config", sources=[{"id": "s", **source}]), tmp_path / "data")
