"""Soak: the real service (`vigie up`) through weeks of simulated time, every process sampled.

The service runs as in production (the scheduler, crawls forked from the warm launcher, alert cycles, digests,
retention, the dashboard), on a simulated clock (`vigie.clock`: `VIGIE_SIM_CLOCK`, read by every process)
that runs `3600 / --hour-seconds` times faster than real time. Its three sources (Telegram, Mastodon, Reddit)
are crawled every two simulated hours from a loopback replay server (`scheduler.demo_replay`) that publishes posts
dated in simulated time, built from the recorded responses the demo ships (copies of tests/fixtures): a post
every few simulated minutes, the demo's narrative a few times a day, and a surge of it every week, which
the alert cycle should catch and email to a real SMTP server (aiosmtpd) on loopback. Retention is on.

Every `--sample-hours` simulated hours it records, from /proc and the store: resident memory, open file
descriptors and threads of the service, the crawl launcher, the running crawls, the dashboard and this
process (the replay server and the SMTP server); the SQLite file, its WAL and the evidence archive; posts kept
and the oldest one's date; crawl runs, alerts and emails. At the end it prints the samples as a table, the
drift after warm-up (growth of the daily floor over the last 20 simulated days, or the last two thirds of a
shorter run; target < 10%), the CPU time of the alert cycle and of retention at both ends of that window, the
largest WAL (target < 64 MB), every job's runs due against runs done (no missed or doubled run), and writes a
PNG plot to bench/out/soak.png.

Run: `.venv/bin/python bench/soak.py [--days 30] [--hour-seconds 3]` (iterate with `--days 3`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import children, cmdline, descendants  # noqa: E402
from scheduler.demo import DEMO_DATA, NARRATIVE, TELEGRAM_TITLE, Story, demo_settings, demo_sources, recorded_templates, recorded_texts, surge_texts  # noqa: E402
from scheduler.demo_replay import DemoItem, ReplayTimeline, serving  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from vigie import clock  # noqa: E402
from vigie.clock import SimClock  # noqa: E402

OUT = ROOT / "bench" / "out"
PAGE = os.sysconf("SC_PAGE_SIZE")
KINDS = ("service", "launcher", "crawls", "dashboard", "replay+smtp")
STEADY = ("service", "launcher", "dashboard", "replay+smtp")
"""The processes that live through the whole soak (crawls come and go)."""
HOUR = timedelta(hours=1)
CRAWL_EVERY = timedelta(hours=2)
RETENTION = timedelta(days=7)
SURGE_EVERY = timedelta(days=7)
SURGE_POSTS = 24
PUBLICATION_LAG = timedelta(hours=1)
"""As in the demo: a post appears on the server an hour after its date, so a surge is in the last complete hour."""
DRIFT_WINDOW = timedelta(days=20)


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


@dataclass
class Sample:
    sim: datetime
    real: float
    usage: dict[str, Usage]
    db_mb: float
    wal_mb: float
    evidence_mb: float
    posts: int
    oldest: datetime | None
    runs: int
    alerts: int
    emails: int


class Inbox:
    """The SMTP server's handler: counts the messages it accepts."""

    def __init__(self) -> None:
        self.received = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        with self._lock:
            self.received += 1
        return "250 OK"


def usage_by_kind(service: int) -> dict[str, Usage]:
    """The service's process tree (the service, the crawl launcher, the crawls forked from it, the dashboard) and
    this process, which runs the replay server and the SMTP server."""
    tree = children()
    usage = {kind: Usage() for kind in KINDS}
    usage["service"].add(service)
    usage["replay+smtp"].add(os.getpid())
    for pid in tree.get(service, []):
        line = cmdline(pid)
        if "resource_tracker" in line:
            continue
        kind = "launcher" if "forkserver" in line else "dashboard" if "dashboard" in line else "crawls"
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


def _datetime(us: int | None) -> datetime | None:
    return None if us is None else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def store_figures(database: Path) -> tuple[int, datetime | None, int, int]:
    """Posts kept, the oldest one's date, crawl runs, alerts (the store keeps times in microseconds)."""
    if not database.exists():
        return 0, None, 0, 0
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)) as db:
        posts, oldest = db.execute("SELECT count(*), min(published) FROM posts").fetchone()
        runs = db.execute("SELECT count(*) FROM crawl_runs").fetchone()[0]
        alerts = db.execute("SELECT count(*) FROM alerts").fetchone()[0]
    return posts, _datetime(oldest), runs, alerts


def timeline(origin: datetime, days: float, posts_per_hour: int, rng: random.Random) -> ReplayTimeline:
    """A day of history before `origin`, then a post every `60 / posts_per_hour` simulated minutes (the three
    platforms in turn), the narrative about twice a day, and a surge of it a week apart from day 4 on."""
    templates = recorded_templates()
    texts = recorded_texts(templates)
    surge = surge_texts()
    platforms = list(templates)
    planned: list[tuple[datetime, str, object, str | None, str | None]] = []
    step = HOUR / posts_per_hour
    at, end, index = origin - timedelta(days=1), origin + timedelta(days=days + 1), 0
    while at < end:
        platform = platforms[index % len(platforms)]
        narrative = rng.random() < 2 / (24 * posts_per_hour)
        text = rng.choice(surge) if narrative else texts[index % len(texts)] if platform == "telegram" else None
        template = templates["telegram"][0] if platform == "telegram" else templates[platform][(index // len(platforms)) % len(templates[platform])]
        planned.append((at, platform, template, text, None))
        at, index = at + step, index + 1
    surge_at = origin + timedelta(days=4, hours=10)
    while surge_at < end:
        for number in range(SURGE_POSTS):
            platform = platforms[number % len(platforms)]
            author = None if platform == "telegram" else f"soak_voice_{number:02d}"
            planned.append((surge_at + timedelta(minutes=40) * number / SURGE_POSTS, platform, rng.choice(templates[platform]), surge[number % len(surge)], author))
        surge_at += SURGE_EVERY
    planned.sort(key=lambda entry: entry[0])
    return ReplayTimeline(
        [
            DemoItem(platform=platform, seq=100_000 + seq, appears_at=at, published_at=at - PUBLICATION_LAG, template=template, text=text, author=author)
            for seq, (at, platform, template, text, author) in enumerate(planned)
        ]
    )


def write_config(folder: Path, base_url: str, dashboard_port: int) -> None:
    """The service's config: the demo's settings, watchlist and alert rule; its sources crawled every two hours, archived."""
    story = Story(crawl_every=CRAWL_EVERY.total_seconds(), check_every=HOUR.total_seconds())
    (folder / "watchlists").mkdir(parents=True)
    shutil.copy(DEMO_DATA / "watchlists" / "demo.yaml", folder / "watchlists" / "demo.yaml")
    shutil.copy(DEMO_DATA / "alerts.yaml", folder / "alerts.yaml")
    settings = demo_settings(story, log_file=None)
    settings["schedule"]["retention"] = f"{RETENTION.days}d"
    settings["log"]["json_lines"] = True
    settings["dashboard"] = {"port": dashboard_port, "public_url": f"http://127.0.0.1:{dashboard_port}"}
    sources = [source | {"archive": True} for source in demo_sources(story, base_url)]
    (folder / "vigie.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    (folder / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}, sort_keys=False), encoding="utf-8")


def growth(samples: list[Sample], values: list[float]) -> float:
    """Growth in % of the floor (the lowest sample of a simulated day) from the start of the drift window (the last
    20 simulated days, or the last two thirds of a shorter run) to the end: a job in flight when a sample is taken
    (a crawl's sockets, an alert cycle's working memory) is not drift; a leak raises the floor."""
    end = samples[-1].sim
    window = min(DRIFT_WINDOW, (end - samples[0].sim) * 2 / 3)
    day = timedelta(days=1)
    start = [value for sample, value in zip(samples, values, strict=True) if end - window <= sample.sim < end - window + day]
    last = [value for sample, value in zip(samples, values, strict=True) if sample.sim > end - day]
    return (min(last) - min(start)) / min(start) * 100 if min(start) else 0.0


def cpu_growth(runs: list[tuple[datetime, float]], end: datetime, window: timedelta) -> tuple[float, float, float]:
    """A job's mean CPU seconds per run over the first and the last simulated day of the drift window, and the growth in %."""
    day = timedelta(days=1)
    first = [cpu for at, cpu in runs if end - window <= at < end - window + day]
    last = [cpu for at, cpu in runs if at > end - day]
    if not first or not last:
        return 0.0, 0.0, 0.0
    before, after = sum(first) / len(first), sum(last) / len(last)
    return before, after, (after - before) / before * 100 if before else 0.0


def schedule_check(starts: list[datetime], every: timedelta, end: datetime) -> tuple[int, int, int, int]:
    """Runs due from the first one until `end`, runs done in those slots, missed slots and doubled slots (two
    runs in one interval). A run starts a little after it is due (a fork, a busy machine): each counts in the slot
    it is nearest to."""
    if not starts:
        return 0, 0, 0, 0
    due = math.floor((end - starts[0]) / every) + 1
    slots = Counter(slot for start in starts if (slot := math.floor((start - starts[0] + every / 2) / every)) < due)
    missed = sum(1 for slot in range(due) if slot not in slots)
    doubled = sum(count - 1 for count in slots.values() if count > 1)
    return due, sum(slots.values()), missed, doubled


def started_at(lines: list[tuple[datetime, dict]], chosen: Callable[[dict], bool], sim: SimClock, after: datetime) -> list[datetime]:
    """When each chosen job run started after `after`, in simulated time: its line is written at its end, with its real duration."""
    starts = (at - timedelta(seconds=entry["seconds"] * sim.speed) for at, entry in lines if chosen(entry))
    return sorted(start for start in starts if start > after)


def logged(log: Path, sim: SimClock) -> list[tuple[datetime, dict]]:
    """The service's log lines (JSON), each with its simulated time (the log writes the real time)."""
    lines = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            try:
                entry = json.loads(line)
                lines.append((sim.to_sim(datetime.fromisoformat(entry["ts"].replace("Z", "+00:00"))), entry))
            except (ValueError, KeyError):
                continue
    return lines


def print_table(samples: list[Sample], first: datetime, header: bool = True) -> None:
    head = f"{'sim day':>7} {'real s':>6} " + " ".join(f"{kind + ' MB/fd/thr':>22}" for kind in KINDS) + f" {'db MB':>6} {'wal MB':>6} {'evid MB':>7} {'posts':>6} {'oldest':>11} {'runs':>5} {'alerts':>6} {'emails':>6}"
    if header:
        print(head)
    for sample in samples:
        cells = " ".join(f"{f'{u.rss_mb:.0f}/{u.fds}/{u.threads}' if u.count else '-':>22}" for u in sample.usage.values())
        oldest = f"{(sample.oldest - first) / timedelta(days=1):+.1f}d" if sample.oldest else "-"
        print(
            f"{(sample.sim - first) / timedelta(days=1):7.2f} {sample.real:6.0f} {cells} {sample.db_mb:6.1f} {sample.wal_mb:6.1f} {sample.evidence_mb:7.1f} "
            f"{sample.posts:6d} {oldest:>11} {sample.runs:5d} {sample.alerts:6d} {sample.emails:6d}"
        )


def plot(samples: list[Sample], origin: datetime, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [(sample.sim - origin) / timedelta(days=1) for sample in samples]
    figure, axes = plt.subplots(2, 2, figsize=(13, 8), sharex=True)
    for kind in KINDS:
        axes[0][0].plot(days, [s.usage[kind].rss_mb for s in samples], label=kind)
        axes[0][1].plot(days, [s.usage[kind].fds for s in samples], label=kind)
    axes[0][0].set_title("resident memory (MB)")
    axes[0][1].set_title("open file descriptors")
    for label, values in (("database", [s.db_mb for s in samples]), ("WAL", [s.wal_mb for s in samples]), ("evidence archive", [s.evidence_mb for s in samples])):
        axes[1][0].plot(days, values, label=label)
    axes[1][0].axhline(64, color="grey", linestyle=":", label="WAL target (64 MB)")
    axes[1][0].set_title("storage (MB)")
    axes[1][1].plot(days, [s.posts for s in samples], label="posts kept")
    axes[1][1].plot(days, [s.runs for s in samples], label="crawl runs")
    axes[1][1].set_title("posts kept and crawl runs")
    twin = axes[1][1].twinx()
    twin.step(days, [s.alerts for s in samples], color="tab:red", label="alerts", where="post")
    twin.step(days, [s.emails for s in samples], color="tab:purple", linestyle="--", label="emails", where="post")
    twin.set_ylabel("alerts, emails")
    twin.legend(loc="center right")
    for axis in (*axes[0], *axes[1]):
        axis.legend(loc="upper left", fontsize="small")
        axis.grid(alpha=0.3)
    for axis in axes[1]:
        axis.set_xlabel("simulated day")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30, help="simulated days")
    parser.add_argument("--hour-seconds", type=float, default=3, help="real seconds per simulated hour")
    parser.add_argument("--sample-hours", type=float, default=6, help="simulated hours between samples")
    parser.add_argument("--posts-per-hour", type=int, default=24)
    args = parser.parse_args()
    data = OUT / "soak"
    shutil.rmtree(data, ignore_errors=True)
    (data / "config").mkdir(parents=True)
    origin = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    sim = SimClock.starting_now(origin, 3600 / args.hour_seconds)
    os.environ[clock.ENV] = sim.env_value()  # the replay server (in this process) publishes on the same clock
    smtp = Controller(inbox := Inbox(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    service = None
    samples: list[Sample] = []
    with serving(timeline(origin, args.days, args.posts_per_hour, random.Random(7)), telegram_title=TELEGRAM_TITLE) as server:
        write_config(data / "config", server.base_url, free_port())
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")} | {
            clock.ENV: sim.env_value(),
            "VIGIE_CONFIG": str(data / "config"),
            "VIGIE_DATA_DIR": str(data),
            "VIGIE_SMTP_HOST": "127.0.0.1",
            "VIGIE_SMTP_PORT": str(smtp.port),
            "VIGIE_SMTP_TLS": "none",
        }
        log_path = data / "service.log"
        started = time.time()
        with log_path.open("w") as log:
            service = subprocess.Popen([sys.executable, "-m", "vigie.cli", "up"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            end = origin + timedelta(days=args.days)
            next_sample = origin + timedelta(hours=args.sample_hours)
            try:
                while sim.now() < end and service.poll() is None:
                    time.sleep(max(0.0, (sim.to_real(next_sample) - datetime.now(UTC)).total_seconds()))
                    next_sample += timedelta(hours=args.sample_hours)
                    usage = usage_by_kind(service.pid)
                    database = data / "vigie.db"
                    posts, oldest, runs, alerts = store_figures(database)
                    samples.append(Sample(sim.now(), time.time() - started, usage, size_mb(database), size_mb(data / "vigie.db-wal"), size_mb(data / "evidence"), posts, oldest, runs, alerts, inbox.received))
                    print_table(samples[-1:], origin, header=len(samples) == 1)
                    sys.stdout.flush()
            finally:
                if service.poll() is None:
                    os.killpg(service.pid, signal.SIGINT)
                code = service.wait(120)
    smtp.stop()
    if len(samples) < 4:
        print(f"too few samples ({len(samples)}); the service exited with {code}: see {log_path}")
        return 1
    return report(args, samples, data, origin, code, sim)


def report(args: argparse.Namespace, samples: list[Sample], data: Path, origin: datetime, code: int, sim: SimClock) -> int:
    print(f"\n{len(samples)} samples")
    print_table(samples, origin)
    simulated = (samples[-1].sim - origin) / timedelta(days=1)
    real = samples[-1].real
    print(f"\n{simulated:.1f} simulated days in {real / 60:.1f} real minutes (x{sim.speed:g}: a simulated hour every {args.hour_seconds:g} s); service exit code {code}")
    days = min(DRIFT_WINDOW, (samples[-1].sim - samples[0].sim) * 2 / 3) / timedelta(days=1)
    failures = []
    for kind in STEADY:
        if not all(s.usage[kind].count for s in samples):
            continue
        series = [s.usage[kind] for s in samples]
        rss, fds, threads = (growth(samples, [getattr(u, name) for u in series]) for name in ("rss_mb", "fds", "threads"))
        print(f"  {kind:<12} RSS {series[0].rss_mb:.0f} -> {series[-1].rss_mb:.0f} MB ({rss:+.1f}% over the last {days:.0f} days), fds {series[0].fds} -> {series[-1].fds} ({fds:+.1f}%), threads {series[-1].threads} ({threads:+.1f}%)")
        failures += [f"{kind} {name} +{value:.1f}%" for name, value in (("RSS", rss), ("fds", fds)) if value >= 10]
    wal = max(s.wal_mb for s in samples)
    print(f"  largest WAL {wal:.1f} MB (target < 64); database {samples[-1].db_mb:.1f} MB (largest {max(s.db_mb for s in samples):.1f}); evidence {samples[-1].evidence_mb:.1f} MB (largest {max(s.evidence_mb for s in samples):.1f})")
    oldest = samples[-1].oldest
    if oldest is not None:
        print(f"  posts kept {samples[-1].posts}, the oldest published {(samples[-1].sim - oldest) / timedelta(days=1):.1f} days before the end (retention {RETENTION.days} days)")
    if wal >= 64:
        failures.append(f"WAL {wal:.1f} MB")
    end = samples[-1].sim - timedelta(minutes=30)  # runs due by then have had time to start and record themselves
    lines = logged(data / "service.log", sim)
    # the first crawls wait for the launcher to warm up (seconds, but hours on this clock) and the runs due
    # meanwhile are skipped: the schedule is checked from the end of the first crawl on
    warm = min(at for at, entry in lines if entry["msg"] == "crawl finished")
    for source in sorted({entry["source"] for _, entry in lines if "source" in entry and "seconds" in entry}):
        runs = started_at(lines, lambda entry, source=source: entry.get("source") == source and entry["msg"].startswith("crawl ") and "seconds" in entry, sim, warm)
        due, done, missed, doubled = schedule_check(runs, CRAWL_EVERY, end)
        print(f"  crawl {source:<14} every {CRAWL_EVERY / HOUR:g} h: runs due {due}, done {done}, missed {missed}, doubled {doubled}")
        if missed or doubled:
            failures.append(f"crawl {source}: {missed} missed, {doubled} doubled")
    window = min(DRIFT_WINDOW, (samples[-1].sim - samples[0].sim) * 2 / 3)
    for job, message, every in (("alert cycle", "alert cycle done", HOUR), ("retention", "retention applied", HOUR), ("digest", "digests queued and delivered", timedelta(days=1))):
        due, done, missed, doubled = schedule_check(started_at(lines, lambda entry, message=message: entry["msg"] == message, sim, warm), every, end)
        runs = [(at, entry) for at, entry in lines if entry["msg"] == message and "cpu_seconds" in entry]
        before, after, cpu = cpu_growth([(at, entry["cpu_seconds"]) for at, entry in runs], samples[-1].sim, window)
        wall = sum(entry["seconds"] for _, entry in runs) / max(1, len(runs))
        print(f"  {job:<20} every {every / HOUR:g} h: runs due {due}, done {done}, missed {missed}, doubled {doubled}; CPU {before * 1000:.0f} -> {after * 1000:.0f} ms a run ({cpu:+.0f}%), {wall:.2f} s wall on average")
        if missed or doubled:
            failures.append(f"{job}: {missed} missed, {doubled} doubled")
    skipped = Counter(entry["job"] for at, entry in lines if entry["msg"].startswith("run skipped") and at > warm)
    warm_up = sum(1 for at, entry in lines if entry["msg"].startswith("run skipped") and at <= warm)
    print(f"  runs skipped (the previous one still running): {dict(skipped) or 0} after the first crawl; {warm_up} while the launcher warmed up ({(warm - origin) / HOUR:.1f} simulated hours)")
    print(f"  alerts opened {samples[-1].alerts}, emails received by the SMTP server {samples[-1].emails} (surges of '{NARRATIVE}' from day 4, every {SURGE_EVERY.days} days)")
    failed = sum(1 for _, entry in lines if entry["msg"].startswith(("crawl failed", "crawl partial")))
    errors = sum(1 for _, entry in lines if entry["msg"].startswith("job failed"))
    print(f"  crawls failed or partial: {failed}; job errors: {errors}; load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} cores")
    png = OUT / "soak.png"
    plot(samples, origin, png, f"vigie up, {simulated:.0f} simulated days in {real / 60:.0f} real minutes (retention {RETENTION.days} days)")
    print(f"  plot: {png}; log: {data / 'service.log'}")
    print("targets met" if not failures and code == 0 else f"targets missed: {', '.join(failures) or f'exit code {code}'}")
    return 0 if not failures and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
