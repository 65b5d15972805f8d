"""A test-only crawl command for scheduler tests: `python fake_crawl.py PLAN_FILE SOURCE_ID`.

It appends `start <source> <time> <pid>` and `end ...` lines to the plan's log, then behaves as the plan
says for that source: sleep (`seconds`), ignore SIGTERM (`ignore_term`), exit with a code (`exit`), or
write posts in batches through the real SQLite store, finishing the current batch on SIGTERM (`batches`).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def main(plan_path: str, source_id: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    behaviour = plan["sources"].get(source_id, {})
    log = Path(plan["log"])
    stop = {"asked": False}

    def note(event: str) -> None:
        with log.open("a") as handle:
            handle.write(f"{event} {source_id} {time.time():.3f} {__import__('os').getpid()}\n")

    note("start")
    if behaviour.get("ignore_term"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: stop.update(asked=True))
    print(f"fake crawl of {source_id}", flush=True)
    if "batches" in behaviour:
        write_batches(plan, source_id, behaviour, stop)
    else:
        deadline = time.monotonic() + behaviour.get("seconds", 0)
        while time.monotonic() < deadline and not stop["asked"]:
            time.sleep(0.05)
    if "exit" in behaviour:
        print("Traceback (most recent call last):\nRuntimeError: the fake crawler broke", flush=True)
        return behaviour["exit"]
    note("end")
    return 0


def write_batches(plan: dict, source_id: str, behaviour: dict, stop: dict) -> None:
    from store.sqlite import SQLiteStore
    from vigie.models import CrawlRun, Post

    started = datetime.now(UTC)
    run = CrawlRun(id=f"{source_id}-{started.timestamp()}", source_id=source_id, platform="feed", started_at=started)
    with SQLiteStore(plan["db"]) as store:
        store.record_crawl_run(run)
        done = 0
        for batch in range(behaviour["batches"]):
            if stop["asked"]:
                break
            posts = [
                Post(platform="feed", native_id=f"{source_id}-{batch}-{i}", source_id=source_id, text=f"post {i} of batch {batch} " * 20, published_at=started - timedelta(minutes=batch))
                for i in range(behaviour["batch_size"])
            ]
            store.upsert_posts(posts)
            done += 1
            with Path(plan["log"]).open("a") as handle:
                handle.write(f"batch {source_id} {batch} {len(posts)}\n")
            time.sleep(behaviour.get("pause", 0.2))
        status = "partial" if stop["asked"] else "ok"
        store.record_crawl_run(run.model_copy(update={"status": status, "finished_at": datetime.now(UTC), "new_posts": done * behaviour["batch_size"]}))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
