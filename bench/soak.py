"""Soak: the real service (`vigie up --demo`: the replay server, the scheduler, crawls forked from the warm launcher,
alert cycles, retention, the dashboard, the outbox) left running while every process is sampled.

Every `--every` seconds, from /proc and the store: resident memory, open file descriptors and threads of the
service, the crawl launcher, the running crawls and the dashboard; the SQLite file, its WAL and the evidence archive;
crawl runs recorded (against the runs due at each source's interval), alerts opened and emails written. At the end
(SIGINT, as Ctrl-C would) it prints the samples as a table and the drift after warm-up: growth of each process's
memory, descriptors and threads over the last two thirds of the run (target < 10%), the largest WAL (target
< 64 MB), runs recorded against runs due (no missed or doubled runs), and the exit code.

This is a soak in real time on the demo's own clock (`--speed 3`: a crawl per source every 10 s, an alert cycle every
10 s), with retention on (`VIGIE_SCHEDULE__RETENTION`, 10 days against the demo's 14-day history). It does not fake
the system clock, so it covers hours of service, not the 30 simulated days the issue asks for.

Run: `.venv/bin/python bench/soak.py [--minutes 30] [--speed 3] [--every 15]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PAGE = os.sysconf("SC_PAGE_SIZE")
KINDS = ("service", "launcher", "crawls", "dashboard")


@dataclass
class Usage:
    rss_mb: float = 0.0
    fds: int = 0
    threads: int = 0
    count: int = 0

    def add(self, pid: int) -> None:
        try:
            rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
            threads = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Threads:"))
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, StopIteration, ValueError):  # the process ended meanwhile
            return
        self.rss_mb += rss_pages * PAGE / 1e6
        self.fds += fds
        self.threads += threads
        self.count += 1


def children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(tree: dict[int, list[int]], pid: int) -> list[int]:
    found, stack = [], list(tree.get(pid, []))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(tree.get(child, []))
    return found


def usage_by_kind(service: int) -> dict[str, Usage]:
    """The service's process tree: the service itself, the crawl launcher (fork server), the crawls forked from it
    (or run as commands) and the dashboard."""
    tree = children()
    usage = {kind: Usage() for kind in KINDS}
    usage["service"].add(service)
    for pid in tree.get(service, []):
        line = cmdline(pid)
        if "resource_tracker" in line:
            continue
        kind = "launcher" if "forkserver" in line else "dashboard" if "streamlit" in line else "crawls"
        usage[kind].add(pid)
        for descendant in descendants(tree, pid):
            usage["crawls" if kind == "launcher" else kind].add(descendant)
    return usage


def size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file()) / 1e6
    return 0.0


def store_counts(database: Path, since_us: int) -> tuple[int, int, int]:
    """Crawl runs started since the soak began, alerts, outbox messages."""
    if not database.exists():
        return 0, 0, 0
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as db:
        runs = db.execute("SELECT count(*) FROM crawl_runs WHERE started_at >= ?", (since_us,)).fetchone()[0]  # microseconds, as the store keeps them
        alerts = db.execute("SELECT count(*) FROM alerts").fetchone()[0]
        outbox = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    return runs, alerts, outbox


def growth(values: list[float]) -> float:
    """Growth in % from the end of warm-up (a third of the run) to the end."""
    start = values[len(values) // 3]
    return (values[-1] - start) / start * 100 if start else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--speed", type=float, default=3)
    parser.add_argument("--every", type=float, default=15, help="seconds between samples")
    args = parser.parse_args()
    data = OUT / "soak"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    demo = data / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")} | {"VIGIE_DATA_DIR": str(data), "VIGIE_SCHEDULE__RETENTION": "10d", "VIGIE_DASHBOARD__PORT": "8597"}
    log = (data / "service.log").open("w")
    started = time.time()
    service = subprocess.Popen([sys.executable, "-m", "vigie.cli", "up", "--demo", "--demo-speed", str(args.speed)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    rows = []
    try:
        while time.time() - started < args.minutes * 60 and service.poll() is None:
            time.sleep(args.every)
            usage = usage_by_kind(service.pid)
            runs, alerts, outbox = store_counts(demo / "vigie.db", int(started * 1_000_000))
            rows.append((time.time() - started, usage, size_mb(demo / "vigie.db"), size_mb(demo / "vigie.db-wal"), size_mb(demo / "evidence"), runs, alerts, outbox))
            elapsed, _, db, wal, evidence, *_ = rows[-1]
            print(f"{elapsed:6.0f}s " + " ".join(f"{kind} {u.rss_mb:6.0f}MB/{u.fds:3d}fd/{u.threads:2d}t" for kind, u in usage.items() if u.count) + f"  db {db:.1f}MB wal {wal:.1f}MB evidence {evidence:.1f}MB  runs {runs} alerts {alerts} emails {outbox}", flush=True)
    finally:
        os.killpg(service.pid, signal.SIGINT) if service.poll() is None else None
        code = service.wait(120)
        log.close()
    if len(rows) < 3:
        print(f"too few samples ({len(rows)}); the service exited with {code}: see {data / 'service.log'}")
        return 1
    elapsed = rows[-1][0]
    crawl_every = 30 / args.speed
    due = 3 * elapsed / crawl_every
    print(f"\nafter {elapsed / 60:.1f} min (speed {args.speed:g}: 3 sources every {crawl_every:g} s), service exit code {code}")
    for kind in ("service", "launcher", "dashboard"):
        series = [row[1][kind] for row in rows]
        if all(u.count for u in series):
            print(f"  {kind:<10} RSS {series[0].rss_mb:.0f} -> {series[-1].rss_mb:.0f} MB ({growth([u.rss_mb for u in series]):+.1f}% after warm-up), fds {series[-1].fds} ({growth([u.fds for u in series]):+.1f}%), threads {series[-1].threads} ({growth([u.threads for u in series]):+.1f}%)")
    print(f"  largest WAL {max(row[3] for row in rows):.1f} MB (target < 64); database {rows[-1][2]:.1f} MB; evidence {rows[-1][4]:.1f} MB")
    print(f"  crawl runs recorded {rows[-1][5]} against about {due:.0f} due (a run that is still going at its next time is skipped, not queued)")
    print(f"  alerts {rows[-1][6]}, emails {rows[-1][7]}; log: {data / 'service.log'}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
