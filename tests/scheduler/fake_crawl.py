"""A test-only crawl command for scheduler tests: `python fake_crawl.py PLAN_FILE SOURCE_ID`.

It appends `start <source> <time> <pid>` and `end ...` lines to the plan's log, then behaves as the plan
says for that source: sleep (`seconds`, cut short by SIGTERM), ignore SIGTERM (`ignore_term`), or crash
with an exit code (`exit`).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def main(plan_path: str, source_id: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    behaviour = plan["sources"].get(source_id, {})
    log = Path(plan["log"])
    stop = {"asked": False}

    def note(event: str) -> None:
        with log.open("a") as handle:
            handle.write(f"{event} {source_id} {time.time():.3f} {os.getpid()}\n")

    note("start")
    if behaviour.get("ignore_term"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: stop.update(asked=True))
    print(f"fake crawl of {source_id}", flush=True)
    deadline = time.monotonic() + behaviour.get("seconds", 0)
    while time.monotonic() < deadline and not stop["asked"]:
        time.sleep(0.05)
    if "exit" in behaviour:
        print("Traceback (most recent call last):\nRuntimeError: the fake crawler broke", flush=True)
        return behaviour["exit"]
    note("end")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
