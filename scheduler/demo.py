"""`vigie up --demo`: the whole service, offline, on a story that unfolds in a few minutes.

A loopback server (`scheduler.demo_replay`) replays recorded Mastodon, Reddit and Telegram responses
shipped in `scheduler/demo_data/fixtures/`, adds a post every few seconds, and stages one surge of the
`miracle-cure` narrative. The demo's store is first given a 14-day history built from the same
texts (the spike detector needs a baseline), then `vigie up` runs on its own config: short
intervals, a subscriber `analyst@example.org`, emails written to `<data dir>/demo/outbox`
(or sent, when VIGIE_SMTP_HOST is set). `--demo-speed` runs the story's clock faster.

The demo starts afresh each time: its folder (`<data dir>/demo`) is emptied first, and only if it
holds the demo's marker file, so nothing else is ever deleted.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lxml.html
import yaml

from scheduler.demo_replay import DemoItem, ReplayServer, ReplayTimeline, serving
from scheduler.service import DataDirLock, ServiceError, SyncReport, lock_path
from vigie.config import Config, ConfigError, load_config
from vigie.models import Author, CrawlRun, Post

log = logging.getLogger("vigie.demo")

DEMO_DATA = Path(__file__).with_name("demo_data")
MARKER = ".vigie-demo"
SUBSCRIBER = "analyst@example.org"
NARRATIVE = "miracle-cure"
MASTODON_TAG = "sante"
SUBREDDIT = "healthfreedom"
TELEGRAM_CHANNEL = "sante_naturelle_demo"
TELEGRAM_TITLE = "Santé naturelle (démo)"


@dataclass(frozen=True)
class Story:
    """The demo's timetable, in seconds of demo time (divided by the speed)."""

    crawl_every: float = 30
    check_every: float = 30
    post_every: float = 15
    surge_at: float = 75
    surge_for: float = 20
    surge_posts: int = 24
    length: float = 3600
    """New ordinary posts keep coming for this long."""
    publication_lag: timedelta = timedelta(hours=1)
    """Each post carries a publication date this much before the server shows it (not scaled by the speed).

    The spike detector judges complete hours only (a partial hour would look like a drop), so a surge
    published in the current hour would alert at the next hour; published an hour back, it is in the last
    complete hour and the alert comes at the next cycle. Crawlers do see posts some time after publication.
    """
    baseline_days: int = 14
    baseline_posts_per_day: int = 12
    baseline_narrative_per_day: int = 1

    def scaled(self, speed: float) -> Story:
        return replace(
            self,
            crawl_every=self.crawl_every / speed,
            check_every=self.check_every / speed,
            post_every=self.post_every / speed,
            surge_at=self.surge_at / speed,
            surge_for=self.surge_for / speed,
            length=self.length / speed,
        )


def recorded_templates() -> dict[str, list[Any]]:
    """The recorded statuses and Reddit posts (oldest first) and the recorded Telegram message widget."""
    fixtures = DEMO_DATA / "fixtures"
    statuses = json.loads((fixtures / "mastodon_tag_timeline.json").read_text(encoding="utf-8"))
    listing = json.loads((fixtures / "reddit_new.json").read_text(encoding="utf-8"))
    posts = [child["data"] for child in listing["data"]["children"] if child.get("kind") == "t3"]
    return {
        "mastodon": sorted(statuses, key=lambda status: status["created_at"]),
        "reddit": sorted(posts, key=lambda post: post["created_utc"]),
        "telegram": [(fixtures / "telegram_message.html").read_text(encoding="utf-8")],
    }


def recorded_texts(templates: dict[str, list[Any]]) -> list[str]:
    """The plain texts of the recorded statuses and Reddit posts (the Telegram channel posts them too)."""
    texts = [_plain(status["content"]) for status in templates["mastodon"]]
    texts += [f"{post['title']}\n{post.get('selftext') or ''}".strip() for post in templates["reddit"]]
    return [text for text in texts if text.strip()]


def surge_texts() -> list[str]:
    return yaml.safe_load((DEMO_DATA / "surge.yaml").read_text(encoding="utf-8"))["texts"]


def build_timeline(story: Story, start: datetime, rng: random.Random) -> ReplayTimeline:
    """The recorded items over the last six hours, one new item every `post_every`, and the surge."""
    templates = recorded_templates()
    texts = recorded_texts(templates)
    surge = surge_texts()
    planned: list[tuple[datetime, str, Any, str | None, str | None]] = []

    def ordinary(platform: str, index: int) -> tuple[Any, str | None]:
        if platform == "telegram":
            return templates["telegram"][0], texts[index % len(texts)]
        return templates[platform][index % len(templates[platform])], None

    six_hours_ago = start - timedelta(hours=6)
    for platform, count in (("mastodon", len(templates["mastodon"])), ("reddit", len(templates["reddit"])), ("telegram", 20)):
        step = timedelta(hours=6) / count
        planned += [(six_hours_ago + index * step, platform, *ordinary(platform, index), None) for index in range(count)]
    platforms = list(templates)
    for index in range(int(story.length / story.post_every)):
        platform = platforms[index % len(platforms)]
        planned.append((start + timedelta(seconds=(index + 1) * story.post_every), platform, *ordinary(platform, index // len(platforms) + 20), None))
    for index in range(story.surge_posts):
        platform = platforms[index % len(platforms)]
        at = start + timedelta(seconds=story.surge_at + story.surge_for * index / story.surge_posts)
        author = None if platform == "telegram" else f"demo_voice_{index:02d}"
        planned.append((at, platform, rng.choice(templates[platform]), surge[index % len(surge)], author))
    planned.sort(key=lambda entry: entry[0])
    return ReplayTimeline(
        [
            DemoItem(platform=platform, seq=100_000 + seq, appears_at=at, published_at=at - story.publication_lag, template=template, text=text, author=author)
            for seq, (at, platform, template, text, author) in enumerate(planned)
        ]
    )


def baseline_posts(story: Story, now: datetime, rng: random.Random) -> list[Post]:
    """A 14-day history from the same texts: ordinary posts every day and, now and then, the narrative."""
    ordinary = recorded_texts(recorded_templates())
    surge = surge_texts()
    platforms = ("mastodon", "reddit", "telegram")
    posts: list[Post] = []
    end = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    for day in range(story.baseline_days, 0, -1):
        day_start = end - timedelta(days=day)
        picks = [rng.choice(ordinary) for _ in range(story.baseline_posts_per_day)]
        picks += [rng.choice(surge) for _ in range(story.baseline_narrative_per_day)]
        for text in picks:
            platform = rng.choice(platforms)
            author = TELEGRAM_CHANNEL if platform == "telegram" else f"history_{rng.randrange(200):03d}"
            posts.append(
                Post(
                    platform=platform,
                    native_id=f"demo-history-{len(posts)}",
                    source_id=f"demo-{platform}",
                    text=text,
                    author=Author(id=author, handle=author, name=author),
                    published_at=day_start + timedelta(seconds=rng.randrange(86_400)),
                    tags=["demo"],
                    collected_at=day_start + timedelta(days=1),
                )
            )
    return posts


def _plain(text: str) -> str:
    if "<" not in text:
        return text
    return lxml.html.fragment_fromstring(text, create_parent="div").text_content()


def demo_settings(story: Story, log_file: str | None = "logs/vigie.log") -> dict[str, Any]:
    return {
        "crawl": {"download_delay": 0, "autothrottle": False, "backfill_pages": 5, "run_timeout": "5m", "contact_url": "https://github.com/vigie-watch/vigie"},
        "alerts": {"check_every": story.check_every, "digest_time": "08:00"},
        "schedule": {"jitter": 0, "stop_grace": 10, "max_parallel_crawls": 3},
        "log": {"file": log_file},
    }


def demo_sources(story: Story, base_url: str) -> list[dict[str, Any]]:
    return [
        {"id": "demo-telegram", "platform": "telegram", "channel": TELEGRAM_CHANNEL, "base_url": base_url, "every": story.crawl_every, "tags": ["demo"]},
        {"id": "demo-mastodon", "platform": "mastodon", "instance": base_url, "hashtag": MASTODON_TAG, "every": story.crawl_every, "tags": ["demo"]},
        {"id": "demo-reddit", "platform": "reddit", "subreddit": SUBREDDIT, "base_url": base_url, "every": story.crawl_every, "tags": ["demo"]},
    ]


def prepare_folder(root: Path) -> None:
    """Empty the demo folder from a previous run; refuse to touch a folder the demo did not create or a running demo's."""
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise ConfigError(f"{root}: exists and is not a Vigie demo folder (no {MARKER}); choose another --data-dir")
        if (pid := DataDirLock.holder(lock_path(root))) is not None:
            raise ServiceError(f"{root}: a demo is already running there (pid {pid})")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("Created by `vigie up --demo`; emptied at each demo start.\n", encoding="utf-8")


def write_config(root: Path, story: Story, base_url: str, public_url: str | None = None) -> Path:
    """The demo's config folder; `public_url`: where alert emails point (the dashboard's port may come from the environment)."""
    folder = root / "config"
    (folder / "watchlists").mkdir(parents=True, exist_ok=True)
    shutil.copy(DEMO_DATA / "watchlists" / "demo.yaml", folder / "watchlists" / "demo.yaml")
    shutil.copy(DEMO_DATA / "alerts.yaml", folder / "alerts.yaml")
    header = "# Written by `vigie up --demo` at each start; edit scheduler/demo_data/ or scheduler/demo.py instead.\n"
    settings = demo_settings(story)
    if public_url:
        settings["dashboard"] = {"public_url": public_url}
    (folder / "vigie.yaml").write_text(header + yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    (folder / "sources.yaml").write_text(header + yaml.safe_dump({"sources": demo_sources(story, base_url)}, sort_keys=False), encoding="utf-8")
    return folder


def history_runs(posts: list[Post]) -> list[CrawlRun]:
    """One successful crawl per source and day of history, ending when its posts were collected."""
    runs: dict[tuple[str, str, datetime], int] = {}
    for post in posts:
        key = (post.source_id, post.platform, post.collected_at)
        runs[key] = runs.get(key, 0) + 1
    return [
        CrawlRun(
            id=f"demo-history-{source_id}-{collected:%Y%m%d}", source_id=source_id, platform=platform, started_at=collected - timedelta(seconds=20),
            finished_at=collected, status="ok", pages=1, new_posts=count,
        )
        for (source_id, platform, collected), count in sorted(runs.items(), key=lambda entry: entry[0][2])
    ]


def seed_history(config: Config, posts: list[Post]) -> int:
    """Enrich the history like crawled posts (same watchlist, language, clusters) and store it, with its crawl runs."""
    from enrich import Enricher
    from store import open_store

    with open_store(config) as store:
        enricher = Enricher.from_config(config, store=store)
        batch = config.settings.store.batch_size
        for first in range(0, len(posts), batch):
            store.upsert_posts(enricher.enrich(posts[first : first + batch]))
        for run in history_runs(posts):
            store.record_crawl_run(run)
    return len(posts)


class Demo:
    def __init__(self, root: Path, speed: float = 1.0, story: Story | None = None, seed: int = 7) -> None:
        self.root = root
        self.speed = speed
        self.story = (story or Story()).scaled(speed)
        self.rng = random.Random(seed)
        self.started_at = datetime.now(UTC)
        self.server: ReplayServer | None = None
        self.config: Config | None = None

    @contextmanager
    def running(self) -> Iterator[Config]:
        """Start the replay server and write the demo's config (in a fresh demo folder); yield the config."""
        prepare_folder(self.root)
        timeline = build_timeline(self.story, self.started_at, self.rng)
        with serving(timeline, telegram_title=TELEGRAM_TITLE) as server:
            self.server = server
            write_config(self.root, self.story, server.base_url)
            dashboard = load_config(self.root / "config", self.root).settings.dashboard
            write_config(self.root, self.story, server.base_url, public_url=f"http://{dashboard.host}:{dashboard.port}")
            self.config = load_config(self.root / "config", self.root)
            yield self.config

    def seed(self) -> int:
        """Give the store its 14-day history."""
        assert self.config is not None
        seeded = seed_history(self.config, baseline_posts(self.story, self.started_at, self.rng))
        log.info("demo history seeded", extra={"posts": seeded, "days": self.story.baseline_days})
        return seeded

    def banner(self, report: SyncReport) -> None:
        assert self.config is not None and self.server is not None
        dashboard = self.config.settings.dashboard
        surge = self.started_at + timedelta(seconds=self.story.surge_at)
        log.info(
            "Vigie demo running: posts arrive every %gs on %s; the %s surge starts at %s UTC; alert emails for %s go to %s; dashboard http://%s:%s; Ctrl-C stops",
            self.story.post_every, self.server.base_url, NARRATIVE, surge.strftime("%H:%M:%S"), SUBSCRIBER,
            self.root / self.config.settings.alerts.outbox_dir, dashboard.host, dashboard.port,
        )
