"""`vigie crawl`, `vigie sources` and `scrapy crawl` end to end: real processes, a replay server, a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.crawling import REPO, VigieProject
from tests.support.replay import ReplayServer, refusing_url

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def down() -> Iterator[str]:
    """The URL of a source whose host is down."""
    with refusing_url("/feed") as url:
        yield url


def test_crawl_prints_a_summary_then_search_finds_the_posts_with_their_language(vigie: VigieProject, replay: ReplayServer, down: str) -> None:
    replay.add("/heise.atom", FIXTURES / "rss" / "heise.atom")
    replay.add("/ru.xml", FIXTURES / "rss" / "feed-test-ru.xml")
    replay.add("/feed.json", FIXTURES / "rss" / "json_feed.json")
    replay.add("/s/feedjam", FIXTURES / "telegram" / "page_example.html", content_type="text/html; charset=utf-8")
    vigie.configure([
        {"id": "heise", "platform": "feed", "url": replay.url("/heise.atom"), "tags": ["tech"]},
        {"id": "aif", "platform": "feed", "url": replay.url("/ru.xml")},
        {"id": "inessential", "platform": "feed", "url": replay.url("/feed.json")},
        {"id": "feedjam", "platform": "telegram", "channel": "feedjam", "base_url": replay.base_url},
        {"id": "down", "platform": "feed", "url": down},
    ])

    crawl = vigie.cli("crawl")
    assert crawl.returncode == 0, crawl.stderr  # a failed source is recorded, not a failed command
    lines = crawl.stdout.splitlines()
    assert "Crawl summary" in lines[0]
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]] for line in lines if line.startswith("│")}
    assert rows["heise"][:5] == ["feed", "ok", "1", "15", "0"]  # platform, status, pages, new, updated
    assert rows["feedjam"][:5] == ["telegram", "ok", "1", "7", "0"]
    assert rows["down"][:5] == ["feed", "failed", "0", "0", "0"]
    assert f"down: failed: connection refused at {down} (after 2 retries)" in lines
    assert lines[-1] == "5 sources crawled, 43 new posts, 1 failed."

    search = vigie.cli("search", "--json", "--source", "heise")
    assert search.returncode == 0, search.stderr
    found = [json.loads(line) for line in search.stdout.splitlines()]
    assert len(found) == 15
    assert {post["language"] for post in found} == {"de"}
    assert all("tech" in post["tags"] for post in found)

    russian = [json.loads(line) for line in vigie.cli("search", "--json", "--lang", "ru").stdout.splitlines()]
    assert [post["id"] for post in russian] == ["feed:http://www.aif.ru/incidents/smi_sobaka_v_tailande_spasla_zazhivo_pohoronennogo_mladenca"]

    listed = vigie.cli("sources", "--json")
    assert listed.returncode == 0, listed.stderr
    sources = {row["id"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert (sources["heise"]["status"], sources["heise"]["posts"], sources["heise"]["new_posts"]) == ("ok", 15, 15)
    assert (sources["down"]["status"], sources["down"]["posts"], sources["down"]["errors"]) == ("failed", 0, 1)
    assert sources["down"]["last_error"] == f"connection refused at {down} (after 2 retries)"
    table = vigie.cli("sources")
    assert table.returncode == 0 and "feedjam" in table.stdout and "connection refused" in table.stdout


def test_named_sources_only(vigie: VigieProject, replay: ReplayServer) -> None:
    replay.add("/heise.atom", FIXTURES / "rss" / "heise.atom")
    vigie.configure([
        {"id": "heise", "platform": "feed", "url": replay.url("/heise.atom"), "enabled": False},
        {"id": "other", "platform": "feed", "url": replay.url("/other.xml")},
    ])
    runs = vigie.crawl("heise")  # named: crawled although disabled
    assert list(runs) == ["heise"]
    assert replay.hits("/other.xml") == 0


def test_unknown_source_is_a_config_error(vigie: VigieProject) -> None:
    vigie.configure([{"id": "heise", "platform": "feed", "url": "http://127.0.0.1:9/feed"}])
    result = vigie.cli("crawl", "heise", "nope")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"config error: {vigie.config_dir / 'sources.yaml'}: no source with id 'nope' (known: heise)"]


def test_typo_in_sources_yaml_is_a_config_error(vigie: VigieProject) -> None:
    vigie.configure([{"id": "heise", "platform": "feed", "url": "http://127.0.0.1:9/feed"}])
    (vigie.config_dir / "sources.yaml").write_text("sources:\n  - id: heise\n    platform: feed\n    url: http://127.0.0.1:9/feed\n    taggs: [x]\n", encoding="utf-8")
    result = vigie.cli("crawl")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"config error: {vigie.config_dir / 'sources.yaml'}:5: sources[0].taggs: unknown key")


def test_scrapy_list_and_scrapy_crawl_from_the_repository_root(vigie: VigieProject, replay: ReplayServer) -> None:
    replay.add("/heise.atom", FIXTURES / "rss" / "heise.atom")
    vigie.configure([{"id": "heise", "platform": "feed", "url": replay.url("/heise.atom")}])
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}, "VIGIE_CONFIG": str(vigie.config_dir), "VIGIE_DATA_DIR": str(vigie.data_dir)}
    scrapy = [sys.executable, "-m", "scrapy"]

    listed = subprocess.run([*scrapy, "list"], cwd=REPO, env=environment, capture_output=True, text=True, timeout=60, check=False)
    assert listed.returncode == 0, listed.stderr
    assert {"feed", "telegram", "youtube", "forum"} <= set(listed.stdout.split())

    crawled = subprocess.run([*scrapy, "crawl", "feed", "-a", "source=heise"], cwd=REPO, env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert crawled.returncode == 0, crawled.stderr[-3000:]
    assert len(vigie.posts("heise")) == 15
    with vigie.store() as store:
        (run,) = store.crawl_runs("heise")
    assert (run.status, run.new_posts) == ("ok", 15)


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_scrapy_start_and_end_chatter_only_at_debug(vigie: VigieProject, replay: ReplayServer, down: str, level: str) -> None:
    """The service log gets every crawl's output: Scrapy's banner, components and settings (200+ lines per crawl)
    and the traceback of a robots.txt that could not be fetched would bury the lines that matter."""
    replay.add("/heise.atom", FIXTURES / "rss" / "heise.atom")
    replay.add("/bad.xml", b"<html><body>not a feed", content_type="application/xml")
    sources = [
        {"id": "heise", "platform": "feed", "url": replay.url("/heise.atom")},
        {"id": "bad", "platform": "feed", "url": replay.url("/bad.xml")},
        {"id": "down", "platform": "feed", "url": down},
    ]
    vigie.configure(sources, settings={"log": {"file": None, "level": level}})
    crawl = vigie.cli("crawl", "--json")
    assert crawl.returncode == 0, crawl.stderr
    assert "INFO: source heise: run " in crawl.stderr and " ok: 1 pages, 15 new" in crawl.stderr
    assert f"ERROR: source down: connection refused at {down}" in crawl.stderr
    assert f"ERROR: source bad: {replay.url('/bad.xml')}: not a readable RSS or Atom feed" in crawl.stderr
    chatter = ("Enabled extensions", "Overridden settings", "Versions:", "Spider opened", "Traceback")
    assert all((line in crawl.stderr) == (level == "DEBUG") for line in chatter)
    if level == "INFO":
        assert len(crawl.stderr.splitlines()) < 20, crawl.stderr
