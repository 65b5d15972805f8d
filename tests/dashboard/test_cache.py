"""The pages' shared query cache (`dashboard/queries.py`): answers keyed on the filters, kept for the TTL, refreshed
in the background after it when new posts arrive.

The TTL is read as `dashboard.queries` is imported, so the cache runs in a child process given a 2 s TTL (as
`vigie dashboard` passes `dashboard.cache_ttl` to its server); the test writes the posts and asks it for counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from store.sqlite import SQLiteStore
from tests.support.factories import make_post
from vigie.models import utcnow

TTL = 2.0
CHILD = """
import json, sys
from datetime import datetime
from dashboard import queries
from store.base import PostQuery
from store.sqlite import SQLiteStore

store = SQLiteStore(sys.argv[1])
day, week = (PostQuery(since=datetime.fromisoformat(since), until=datetime.fromisoformat(sys.argv[4])) for since in sys.argv[2:4])
for _ in sys.stdin:
    print(json.dumps([queries.coverage(store, "test", day), queries.coverage(store, "test", week)]), flush=True)
"""


def test_a_cached_count_refreshes_after_its_ttl_when_new_posts_arrive(tmp_path: Path) -> None:
    now = utcnow()
    path = tmp_path / "vigie.db"
    with SQLiteStore(path) as store:
        store.upsert_posts([make_post(f"old{i}", published_at=now - timedelta(days=3)) for i in range(2)] + [make_post(f"new{i}", published_at=now - timedelta(hours=2)) for i in range(3)])
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")} | {"VIGIE_DASHBOARD__CACHE_TTL": f"{TTL:g}s"}
        args = [str(path), (now - timedelta(days=1)).isoformat(), (now - timedelta(days=7)).isoformat(), (now + timedelta(hours=1)).isoformat()]
        child = subprocess.Popen([sys.executable, "-c", CHILD, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=Path(__file__).resolve().parents[2])

        def counts() -> list[int]:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write("\n")
            child.stdin.flush()
            return json.loads(child.stdout.readline())

        try:
            assert counts() == [3, 5]  # each period its own answer
            filled = time.monotonic()
            store.upsert_posts([make_post(f"later{i}", published_at=now - timedelta(minutes=5)) for i in range(4)])
            kept = counts()
            assert time.monotonic() - filled < TTL, "the machine is too slow for this test's TTL"
            assert kept == [3, 5]  # within the TTL: the kept answers, not a recount
            time.sleep(TTL - (time.monotonic() - filled) + 0.1)
            assert counts() == [3, 5]  # past the TTL: the kept answer at once, while the store is asked again in the background
            refreshed = counts()
            while refreshed != [7, 9] and time.monotonic() - filled < 2 * TTL:
                time.sleep(0.05)
                refreshed = counts()
            assert refreshed == [7, 9] and time.monotonic() - filled < 2 * TTL  # the background refresh, before any hard expiry
        finally:
            child.stdin.close()  # type: ignore[union-attr]
            child.wait(30)
