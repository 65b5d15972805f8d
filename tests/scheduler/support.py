from __future__ import annotations

import json
import sys
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.support.factories import write_config
from vigie.config import Config, load_config

FAKE_CRAWL = Path(__file__).with_name("fake_crawl.py")


class FakeCrawls:
    """Config folders whose crawls run `fake_crawl.py`, and the start/end log it writes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.log = root / "crawls.log"
        self.plan = root / "plan.json"

    def config(self, sources: dict[str, dict[str, Any]], *, settings: dict[str, Any] | None = None, behaviour: dict[str, dict[str, Any]] | None = None) -> Config:
        """`sources` maps a source id to its `every` and other keys; `behaviour` says what its fake crawl does."""
        self.plan.write_text(json.dumps({"log": str(self.log), "sources": behaviour or {}}))
        schedule = {"jitter": 0, "stop_grace": 2, "max_parallel_crawls": 4, "crawl_command": [sys.executable, str(FAKE_CRAWL), str(self.plan), "{source}"]}
        merged = {"schedule": schedule, "log": {"file": None}, "alerts": {"check_every": "1h"}}
        for section, values in (settings or {}).items():
            merged.setdefault(section, {}).update(values)
        entries = [{"id": source_id, "platform": "feed", "url": f"http://127.0.0.1:9/{source_id}.xml", **keys} for source_id, keys in sources.items()]
        folder = write_config(self.root / "config", sources=entries, settings=merged)
        return load_config(folder, self.data_dir)

    def events(self, kind: str = "start") -> list[tuple[str, float]]:
        """(source id, time) of every `start` (or `end`) line, in order."""
        if not self.log.exists():
            return []
        rows = [line.split() for line in self.log.read_text().splitlines()]
        return [(row[1], float(row[2])) for row in rows if row[0] == kind]

    def starts(self, source_id: str) -> list[float]:
        return [at for source, at in self.events() if source == source_id]


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll until `condition()` is truthy; fail the test with a clear message after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s: {getattr(condition, '__name__', condition)}")


def gaps(times: list[float]) -> list[float]:
    """Seconds between consecutive runs."""
    return [later - earlier for earlier, later in pairwise(times)]
