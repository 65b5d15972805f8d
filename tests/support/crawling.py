"""Running real crawls in tests: a config folder pointing at the replay server, `vigie crawl` in a child process.

Each crawl runs in its own process because the Twisted reactor cannot restart (the scheduler does the
same). Settings keep retries and backoff tiny so the suite stays fast.

    def test_x(vigie: VigieProject, replay: ReplayServer):
        replay.add("/feed", FIXTURES / "rss/heise.atom")
        vigie.configure([{"id": "heise", "platform": "feed", "url": replay.url("/feed")}])
        runs = vigie.crawl()                  # {source_id: CrawlRun}
        posts = vigie.posts("heise")          # newest first, from the store
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.factories import write_config
from vigie.config import Config, load_config
from vigie.models import CrawlRun, Post

FAST_CRAWL: dict[str, Any] = {
    "download_delay": 0,
    "autothrottle": False,
    "backoff_base": 0.05,
    "backoff_max": 0.2,
    "retry_times": 2,
    "timeout": 5,
}
"""crawl: settings for tests: no politeness delays, retries within a fraction of a second."""

REPO = Path(__file__).resolve().parents[2]


class VigieProject:
    """A config folder and a data folder under a test's tmp_path."""

    def __init__(self, root: Path) -> None:
        self.config_dir = root / "config"
        self.data_dir = root / "data"

    def configure(self, sources: list[dict[str, Any]], settings: dict[str, Any] | None = None, watchlists: dict[str, Any] | None = None) -> Config:
        settings = dict(settings or {})
        settings["crawl"] = {**FAST_CRAWL, **settings.get("crawl", {})}
        write_config(self.config_dir, sources=sources, settings=settings, watchlists=watchlists)
        return self.config

    @property
    def config(self) -> Config:
        return load_config(self.config_dir, self.data_dir)

    def cli(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`vigie ARGS` without the caller's VIGIE_* variables, plus `env` (secrets a test gives, such as an API key)."""
        command = [sys.executable, "-m", "vigie.cli", "--config", str(self.config_dir), "--data-dir", str(self.data_dir), *args]
        environment = {name: value for name, value in os.environ.items() if not name.startswith("VIGIE_")} | (env or {})
        return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=timeout, check=False, env=environment)

    def crawl(self, *source_ids: str, env: dict[str, str] | None = None) -> dict[str, CrawlRun]:
        """`vigie crawl --json [ids]`; the runs by source id. Fails the test if the command itself failed."""
        result = self.cli("crawl", "--json", *source_ids, env=env)
        assert result.returncode == 0, f"vigie crawl exited {result.returncode}:\n{result.stderr[-4000:]}"
        runs = [CrawlRun.model_validate_json(line) for line in result.stdout.splitlines() if line.startswith("{")]
        return {run.source_id: run for run in runs}

    def store(self) -> Any:
        from store import open_store

        return open_store(self.config)

    def posts(self, source_id: str) -> list[Post]:
        from store.base import PostQuery

        with self.store() as store:
            return list(store.iter_posts(PostQuery(sources=(source_id,), sort="newest")))

    def cursor(self, source_id: str) -> dict[str, Any] | None:
        with self.store() as store:
            return store.get_cursor(source_id)

    def log(self) -> str:
        path = self.data_dir / "logs" / "vigie.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

