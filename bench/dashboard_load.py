"""Concurrent analysts: 1, 5 and 10 real browser sessions (headless Chromium driven by Playwright) moving through the
dashboard's pages and filters while a writer ingests posts into the same embedded store, as a crawl does.

The store holds `--size` corpus posts (`bench/corpus.py`: the recorded fixtures' texts, ~200 sources, 60 days up to
the build; built once under `bench/out/load-<size>/`, and each run starts from a copy of it). Each run first does what `vigie up` keeps doing
beside the dashboard: a crawl run recorded for every source and the alert cycle's trend series brought up to date.
The config names the corpus's sources and narratives. `vigie dashboard` serves the store on loopback, and a separate
process upserts fresh corpus posts in batches of 500 for the whole run; its rate alone, measured first, is the
baseline. At each level the sessions open the dashboard together (timed apart, allowed 2 minutes), then, once all
are open, loop for `--seconds` over eight steps in five visits: Narrative, then its period set to 30 days; Search,
then a search for a word of its own; Alerts, then the acknowledged ones; Sources; Overview. Session N starts at
visit N, as analysts spread over the pages (`--lockstep`: all start at the Narrative, and the heaviest page is asked
for ten times at once on every round, the worst case). By default a session clicks again as soon as a step is drawn,
the load of ten analysts who never read a page; `--think S` has each wait between 0.5 S and 1.5 S after a step,
as analysts reading the page before the next click.
Each step is timed twice. Drawn: from the click (or keystroke) to the moment the script run it started has finished
and Streamlit has drawn the page (no running indicator, no loading placeholder). Answered: on the session's
websocket, from the browser's request for the run to the server's message that the run finished (its last element
sent), what the server costs an analyst whatever the speed of their own computer. Once the sessions are open,
Chromium's renderers (the drawing) run at niceness 19 (`--browser-nice`): the analysts' browsers draw on their own
machines, while here ten of them would otherwise take the server's two cores from it and from the crawl (each step
costs Chromium 3 to 5 times the server's CPU). The browser process, which carries the websockets, keeps its priority.
Levels run one after the other on the same server, so the shared query cache carries over, as it does for analysts
arriving at a running dashboard.

Printed per level: steps timed, p50 and p95 of the answered time, p50 and p95 of the server's own time (each page
script's seconds as the server logs them, `dashboard.slow_page` set to 0s), p50, p95 and worst of the drawn time, error pages
(an exception box, a step not drawn within 30 s, a session not open within 2 minutes), the CPU seconds the dashboard
server and Chromium spent per step, the median opening and their CPU seconds per opening, the writer's rate against
its rate alone, its posts per CPU-second against alone (near 1: the writer was slowed by sharing the cores, not by
waiting for the dashboard's reads), and the load average; then, for the last level, both times per step. Targets:
answered p95 < 2 s at 10 sessions on 2 cores, no error page, ingest at least half.

Needs Debian's chromium (`python tests/browser_setup.py` installs it as root).
Run: `.venv/bin/python bench/dashboard_load.py [--size 1000000] [--levels 1 5 10] [--seconds 60] [--lockstep] [--think 0] [--browser-nice 19]`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/: a bench file's name could hide a package

import httpx  # noqa: E402
import yaml  # noqa: E402

from alerts.trends import TrendCache  # noqa: E402
from bench.corpus import NARRATIVES, generate_posts  # noqa: E402
from bench.processes import children, cmdline, descendants  # noqa: E402
from store.base import PostQuery  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from store.sqlite import SQLiteStore, database_files  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from vigie.models import Alert, CrawlError, CrawlRun, utcnow  # noqa: E402

OUT = ROOT / "bench" / "out"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DRAWN = "!document.querySelector('[data-testid=\"stStatusWidget\"], [data-testid=\"stSkeleton\"]')"
RUNS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    window.vigieRuns = 0;
    new MutationObserver((records) => {
        records.forEach((record, index) => {
            const next = index + 1 < records.length ? records[index + 1].oldValue : app.getAttribute('data-test-script-state');
            if (next === 'notRunning' && record.oldValue !== 'notRunning') window.vigieRuns += 1;
        });
    }).observe(app, {attributes: true, attributeOldValue: true, attributeFilter: ['data-test-script-state']});
}"""
"""Counts the script runs that finish, so a step waits for the run it started, not for the page as it was. Every
change of the run's state counts, not only the state when the observer is called: a renderer at low priority is
called late, after the run it waits for has started and finished."""
TWO_FRAMES = "() => new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)))"
WORDS = ("miracle", "vaccin", "apocalypse", "chemtrails", "souverain", "énergie", "heilung", "radiation", "rapture", "stage")
"""One search per session: sessions share some answers (the pages' aggregates) and not others (their searches)."""
LATENESS = timedelta(hours=3)
WRITE_BATCH = 500
STEP_TIMEOUT = 30_000
OPEN_TIMEOUT = 120_000
POLL_MS = 50
"""How often a waiting step checks the page: every animation frame (Playwright's default) would make Chromium draw
60 frames a second while it waits, the bench's own load."""
TARGET_P95 = 2.0
SERVER_TIME = re.compile(r"dashboard page \w+ took ([\d.]+) s in the server")


def build(data_dir: Path, size: int) -> Path:
    """`size` corpus posts ending now and a few alerts, in `data_dir/built.db` (built once), copied to `vigie.db` for
    this run: each run starts from `size` posts, whatever the writer of the runs before added."""
    built, database = data_dir / "built.db", data_dir / "vigie.db"
    if not built.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        partial = data_dir / "building.db"
        for leftover in database_files(partial):
            leftover.unlink(missing_ok=True)
        started = time.perf_counter()
        now = utcnow()
        with SQLiteStore(partial) as store:
            posts = generate_posts(size, end=now)
            while batch := list(islice(posts, 2000)):
                store.upsert_posts(batch)
            sample = [post.id for post in store.search(PostQuery(limit=5)).posts]
            for index in range(30):
                opened = now - timedelta(hours=index * 5)
                evidence = {"top_sources": [{"value": "telegram-src000", "count": 12}], "sample_post_ids": sample}
                state = ("open", "acknowledged", "resolved")[index % 3]
                store.save_alert(Alert(id=f"load-{index}", rule_id="spikes", kind="spike", subject_type="narrative", subject=list(NARRATIVES)[index % len(NARRATIVES)], state=state, opened_at=opened, updated_at=opened, count=40, baseline=8.0, ratio=5.0, score=9.0, evidence=evidence))
        with sqlite3.connect(partial) as connection:
            connection.execute("PRAGMA journal_mode=DELETE")  # the WAL folded in: one file to copy
        partial.rename(built)
        print(f"built {size:,} posts in {time.perf_counter() - started:.0f} s ({built})", file=sys.stderr)
    for leftover in database_files(database):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(built, database)
    return database


def prepare(database: Path, config: Path) -> int:
    """What `vigie up` keeps current beside the dashboard: a config naming the corpus's sources and narratives, a
    recent crawl run per source (one in 20 failed), and the alert cycle's trend series brought up to date. Returns how
many posts the store holds."""
    started = time.perf_counter()
    now = utcnow()
    with SQLiteStore(database) as store:
        sources = sorted(term.value for term in store.top_terms(PostQuery(limit=0), "source", limit=10_000))
        for index, source in enumerate(sources):
            failed = index % 20 == 0
            errors = [CrawlError(message="HTTP 503 from the platform")] if failed else []
            store.record_crawl_run(CrawlRun(id=f"{source}-{now:%Y%m%d%H}", source_id=source, platform=source.split("-")[0], started_at=now - timedelta(minutes=20), finished_at=now - timedelta(minutes=19), status="failed" if failed else "ok", new_posts=5, errors=errors))
        trends = TrendCache.open(database.parent / "trends.json")
        trends.refresh(store, now, keep_from=now - timedelta(days=16), lateness=LATENESS)
        trends.save()
        stored = store.count_posts(PostQuery(limit=0))
    config.mkdir(parents=True, exist_ok=True)
    settings = {"log": {"file": None}, "alerts": {"lateness": f"{LATENESS.total_seconds():g}s"}, "dashboard": {"slow_page": "0s"}}  # every page's time logged
    (config / "vigie.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (config / "sources.yaml").write_text(yaml.safe_dump({"sources": [source_entry(source) for source in sources]}), encoding="utf-8")
    (config / "watchlists").mkdir(exist_ok=True)
    narratives = [{"id": key, "label": key.replace("_", " ").capitalize(), "terms": {"fr": list(terms)}} for key, terms in NARRATIVES.items()]
    (config / "watchlists" / "bench.yaml").write_text(yaml.safe_dump({"narratives": narratives}, allow_unicode=True), encoding="utf-8")
    print(f"prepared {len(sources)} sources and the trend series in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return stored


def source_entry(source_id: str) -> dict[str, Any]:
    """A sources.yaml entry for a corpus source (`<platform>-srcNNN`): the platform's target, never crawled here."""
    platform, name = source_id.split("-", 1)
    target: dict[str, Any] = {
        "telegram": {"channel": name},
        "mastodon": {"instance": "https://mastodon.example", "hashtag": name},
        "reddit": {"subreddit": name},
        "bluesky": {"search": name},
        "youtube": {"search": name},
        "feed": {"url": f"https://{name}.example/feed"},
        "forum": {"url": f"https://{name}.example/forum", "selectors": {"post": "article", "text": "p"}},
        "peertube": {"instance": "https://peertube.example", "search": name},
        "odysee": {"text": name},
        "imageboard": {"board": name},
    }[platform]
    return {"id": source_id, "platform": platform, "every": "1h", **target}


def write_posts(database: str, stop: Any, written: Any) -> None:
    """The crawl's side: fresh posts upserted in batches until told to stop; `written` counts them."""
    posts = generate_posts(10_000_000, seed=int(time.time()), end=utcnow())
    with SQLiteStore(database) as store:
        while not stop.is_set():
            batch = list(islice(posts, WRITE_BATCH))
            store.upsert_posts(batch)
            with written.get_lock():
                written.value += len(batch)


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User and system CPU time of a process, all its threads (and with `reaped`, its children that have ended)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(field) for field in fields[11 : 15 if reaped else 13]) / os.sysconf("SC_CLK_TCK")


def chromium_processes() -> dict[int, str]:
    """The Chromium processes under this one (Playwright's driver starts them) and their command lines."""
    found = {pid: cmdline(pid) for pid in descendants(children(), os.getpid())}
    return {pid: command for pid, command in found.items() if "chromium" in command}


def browser_cpu() -> float:
    """CPU seconds of the Chromium processes (ended renderers count in the process that reaped them)."""
    total = 0.0
    for pid in chromium_processes():
        try:
            total += cpu_seconds(pid, reaped=True)
        except OSError:
            continue
    return total


def lower_renderers(niceness: int) -> None:
    """Draw at the lowest priority: analysts' browsers draw on their own machines, not on the server's two cores.
    The browser process, which carries the websocket, keeps its priority, so the wire times stay the server's."""
    for pid, command in chromium_processes().items():
        if "--type=renderer" in command or "--type=gpu-process" in command:
            for task in Path(f"/proc/{pid}/task").glob("*"):  # Linux sets a priority per thread
                try:
                    os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)
                except (OSError, ValueError):
                    continue


class Wire:
    """When the session's browser asked for a script run and when the server said the run had finished, as seen on
    its websocket: the server's answer time, whatever the browser then spends drawing it."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.finished: list[float] = []

    def watch(self, socket: Any) -> None:
        socket.on("framesent", self._sent)
        socket.on("framereceived", self._received)

    def _sent(self, payload: bytes | str) -> None:
        if isinstance(payload, bytes) and BackMsg.FromString(payload).WhichOneof("type") == "rerun_script":
            self.asked.append(time.perf_counter())

    def _received(self, payload: bytes | str) -> None:
        if isinstance(payload, bytes) and len(payload) < 256:
            message = ForwardMsg.FromString(payload)
            if message.WhichOneof("type") == "script_finished" and message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                self.finished.append(time.perf_counter())

    async def finished_since(self, since: float) -> None:
        while self.answer_time(since) is None:
            await asyncio.sleep(POLL_MS / 1000)

    def answer_time(self, since: float) -> float | None:
        """Seconds from the first run asked for after `since` to the first run finished after it."""
        asked = next((moment for moment in self.asked if moment >= since), None)
        finished = next((moment for moment in self.finished if asked is not None and moment >= asked), None)
        return None if finished is None or asked is None else finished - asked


class Session:
    """One analyst: a browser context on the dashboard, its steps timed by name (drawn, and answered on the wire)."""

    def __init__(self, page: Any, wire: Wire, word: str, run: LevelRun, think: float = 0.0) -> None:
        self.page, self.wire, self.word, self.run, self.think = page, wire, word, run, think
        self.pace = random.Random(word)

    async def step(self, name: str, action: Callable[[], Awaitable[Any]], heading: str) -> None:
        page = self.page
        started = time.perf_counter()
        try:
            before = await page.evaluate("window.vigieRuns")
            await action()
            await self.drawn(before, started)
            await page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=STEP_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a step not drawn in time counts as an error page
            finished = "finished" if self.wire.answer_time(started) is not None else "not finished"
            self.run.errors.append(f"{name}: {type(exc).__name__} (the run {finished} on the wire)")
            return
        if await page.locator('[data-testid="stException"]').count():
            self.run.errors.append(f"{name}: exception box")
            return
        self.run.times.setdefault(name, []).append(time.perf_counter() - started)
        answered = self.wire.answer_time(started)
        if answered is not None:
            self.run.answers.setdefault(name, []).append(answered)

    async def drawn(self, before: int, started: float) -> None:
        """Until the run the step started has finished and the page is drawn. The page counts the runs it saw end;
        a renderer at low priority may take a whole run's messages at once and never show it running, so a run
        finished on the wire also counts, once the page has drawn two frames since."""
        counted = asyncio.ensure_future(self.page.wait_for_function(f"window.vigieRuns > {before} && {DRAWN}", polling=POLL_MS, timeout=STEP_TIMEOUT))
        answered = asyncio.ensure_future(self.wire.finished_since(started))
        try:
            done, _ = await asyncio.wait({counted, answered}, timeout=STEP_TIMEOUT / 1000, return_when=asyncio.FIRST_COMPLETED)
            if counted in done:
                counted.result()
            elif answered in done:
                await self.page.evaluate(TWO_FRAMES)
                await self.page.wait_for_function(DRAWN, polling=POLL_MS, timeout=STEP_TIMEOUT)
            else:
                raise TimeoutError("not drawn in time")
        finally:
            for waiting in (counted, answered):
                if not waiting.done():
                    waiting.cancel()
                elif not waiting.cancelled():
                    waiting.exception()  # retrieved: a late timeout of the losing wait is not an error

    def nav(self, title: str) -> Callable[[], Awaitable[Any]]:
        return lambda: self.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=title).first.click()

    async def choose(self, label: str, option: str) -> None:
        await self.page.get_by_test_id("stSelectbox").filter(has_text=label).first.click()
        await self.page.get_by_role("option", name=option, exact=True).click()

    async def search(self) -> None:
        words = self.page.get_by_label("Words")
        await words.fill(self.word)
        await words.press("Enter")

    async def loop(self, until: float, first: int = 0) -> None:
        """The eight steps, in five visits (a page and its filter go together), from visit `first` on."""
        page = self.page
        visits = [
            [("narrative", self.nav("Narrative"), "Narrative"), ("narrative, 30 days", lambda: self.choose("Period", "Last 30 days"), "Narrative")],
            [("search", self.nav("Search"), "Search"), ("search, words", self.search, "Search")],
            [("alerts", self.nav("Alerts"), "Alerts"), ("alerts, acknowledged", lambda: page.get_by_role("radio", name="Acknowledged", exact=True).click(), "Alerts")],
            [("sources", self.nav("Sources"), "Sources")],
            [("overview", self.nav("Overview"), "Overview")],
        ]
        visit = first
        while time.perf_counter() < until:
            for name, action, heading in visits[visit % len(visits)]:
                await self.step(name, action, heading)
                if self.think:
                    await asyncio.sleep(self.pace.uniform(0.5, 1.5) * self.think)
            visit += 1


async def open_session(browser: Any, base: str, word: str, run: LevelRun, think: float) -> Session | None:
    """An analyst opening the dashboard: a new browser context on its default page (the Overview)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    wire = Wire()
    page.on("websocket", wire.watch)
    started = time.perf_counter()
    try:
        await page.goto(base, timeout=OPEN_TIMEOUT)
        await page.get_by_role("heading", name="Overview", exact=True).first.wait_for(timeout=OPEN_TIMEOUT)
        await page.wait_for_function(f"document.querySelector('[data-testid=\"stApp\"]').getAttribute('data-test-script-state') === 'notRunning' && {DRAWN}", polling=POLL_MS, timeout=OPEN_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - the dashboard did not open: an error page
        run.errors.append(f"open: {type(exc).__name__}")
        return None
    run.times.setdefault("open", []).append(time.perf_counter() - started)
    await page.evaluate(RUNS)
    return Session(page, wire, word, run, think)


@dataclass
class LevelRun:
    times: dict[str, list[float]] = field(default_factory=dict)
    """Step name → seconds to drawn; "open" for the openings."""
    answers: dict[str, list[float]] = field(default_factory=dict)
    """Step name → seconds from the browser asking for the run to the server's run finished (`Wire`)."""
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds of the server and of Chromium, while the sessions opened and while they stepped."""
    server: list[float] = field(default_factory=list)
    """Seconds of each page script the server ran while the sessions stepped (`server_times`)."""


async def load(base: str, log: Path, sessions: int, seconds: float, server: int, browser_nice: int, lockstep: bool, think: float) -> LevelRun:
    """One level. The sessions open together; the `seconds` of steps start once they all have (opening the app is
    the browser's heaviest work, and analysts do it once a day)."""
    from playwright.async_api import async_playwright

    run = LevelRun()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            server_cpu, browser_start = cpu_seconds(server), browser_cpu()
            opened = await asyncio.gather(*(open_session(browser, base, WORDS[index % len(WORDS)], run, think) for index in range(sessions)))
            if browser_nice:
                lower_renderers(browser_nice)
            server_opened, browser_opened, logged = cpu_seconds(server), browser_cpu(), log.stat().st_size
            until = time.perf_counter() + seconds
            await asyncio.gather(*(analyst.loop(until, 0 if lockstep else index) for index, analyst in enumerate(opened) if analyst is not None))
            run.cpu = {
                "server, open": server_opened - server_cpu,
                "browser, open": browser_opened - browser_start,
                "server, steps": cpu_seconds(server) - server_opened,
                "browser, steps": browser_cpu() - browser_opened,
            }
            run.server = server_times(log, logged)
        finally:
            await browser.close()
    return run


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def server_log(config: Path) -> Path:
    """The server's output: an error page's traceback, and the time of each page's script (`dashboard.slow_page` 0s)."""
    return config.parent / f"{config.name}.log"


def server_times(log: Path, since: int) -> list[float]:
    """Seconds of each page script the server ran since byte `since` of its log, as it logged them: the server's own
    time, without the wait for the run to start or for its messages to reach the browser."""
    with log.open("rb") as output:
        output.seek(since)
        return [float(match[1]) for match in SERVER_TIME.finditer(output.read().decode(errors="replace"))]


def start_server(config: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")} | {"VIGIE_CONFIG": str(config), "VIGIE_DATA_DIR": str(data_dir)}
    log = server_log(config).open("wb")
    server = subprocess.Popen([sys.executable, "-m", "vigie.cli", "dashboard", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/_stcore/health", timeout=1).text == "ok":
                return server, base
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit(f"the dashboard did not start ({config})")
        time.sleep(0.3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--lockstep", action="store_true", help="every session starts at the Narrative page, so all make the same visit at once (the worst case); by default session N starts at visit N")
    parser.add_argument("--think", type=float, default=0.0, help="seconds a session reads a page before its next click, on average (0.5 to 1.5 times this) [default: 0, no reading]")
    parser.add_argument("--browser-nice", type=int, default=19, help="niceness of Chromium's renderers once the sessions are open (0: they compete with the server) [default: 19]")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: install Debian's chromium (python tests/browser_setup.py)", file=sys.stderr)
        return 2
    data_dir = OUT / f"load-{args.size}"
    database = build(data_dir, args.size)
    config = OUT / f"load-{args.size}-config"
    stored = prepare(database, config)

    stop, written = multiprocessing.Event(), multiprocessing.Value("q", 0)
    writer = multiprocessing.Process(target=write_posts, args=(str(database), stop, written), daemon=True)
    writer.start()
    server, base = start_server(config, data_dir)
    failures = []
    try:
        before, started, writer_cpu = written.value, time.perf_counter(), cpu_seconds(writer.pid)
        time.sleep(min(20.0, args.seconds))
        alone, alone_per_cpu = (written.value - before) / (time.perf_counter() - started), (written.value - before) / (cpu_seconds(writer.pid) - writer_cpu)
        print(
            f"\n{stored:,} posts; writer alone: {alone:,.0f} posts/s, {alone_per_cpu:,.0f} per CPU-second "
            f"(batches of {WRITE_BATCH}); {args.seconds:g} s per level; renderers at niceness {args.browser_nice}; {'lockstep' if args.lockstep else 'staggered'} visits; {f'{args.think:g} s' if args.think else 'no'} reading between steps; load average {os.getloadavg()[0]:.1f}"
        )
        print(f"  {'':>8}{'':>7}{'answered':>16}{'server':>16}{'drawn':>24}")
        print(
            f"  {'sessions':>8}{'steps':>7}{'p50':>8}{'p95':>8}{'p50':>8}{'p95':>8}{'p50':>8}{'p95':>8}{'worst':>8}{'errors':>8}{'CPU/step: server':>18}{'browser':>9}"
            f"{'open':>7}{'CPU/open: server':>18}{'browser':>9}{'ingest':>11}{'vs alone':>10}{'per CPU-s':>11}{'load':>7}"
        )
        for sessions in args.levels:
            before, started, writer_cpu = written.value, time.perf_counter(), cpu_seconds(writer.pid)
            run = asyncio.run(load(base, server_log(config), sessions, args.seconds, server.pid, args.browser_nice, args.lockstep, args.think))
            rate = (written.value - before) / (time.perf_counter() - started)
            per_cpu = (written.value - before) / (cpu_seconds(writer.pid) - writer_cpu)
            drawn = [t for name, values in run.times.items() if name != "open" for t in values]
            answered = [t for values in run.answers.values() for t in values]
            opens = run.times.get("open", [])
            steps = max(1, len(drawn))
            print(
                f"  {sessions:>8}{len(drawn):>7}{median(answered):>7.2f}s{percentile(answered, 0.95):>7.2f}s{median(run.server):>7.2f}s{percentile(run.server, 0.95):>7.2f}s{median(drawn):>7.2f}s{percentile(drawn, 0.95):>7.2f}s"
                f"{max(drawn, default=float('nan')):>7.2f}s{len(run.errors):>8}"
                f"{run.cpu['server, steps'] / steps:>17.2f}s{run.cpu['browser, steps'] / steps:>8.2f}s{median(opens):>6.1f}s"
                f"{run.cpu['server, open'] / sessions:>17.2f}s{run.cpu['browser, open'] / sessions:>8.2f}s"
                f"{rate:>8,.0f}/s{rate / alone:>9.2f}x{per_cpu / alone_per_cpu:>10.2f}x{os.getloadavg()[0]:>7.1f}",
                flush=True,
            )
            if run.errors:
                print(f"    errors: {', '.join(sorted(set(run.errors))[:8])}")
            if sessions >= 10 and (percentile(answered, 0.95) > TARGET_P95 or run.errors or rate < alone / 2):
                failures.append(f"{sessions} sessions: answered p95 {percentile(answered, 0.95):.2f}s, {len(run.errors)} errors, ingest {rate / alone:.2f}x")
        print(f"\n  per step at {args.levels[-1]} session(s), answered and drawn p50/p95:")
        for name, values in run.times.items():
            wire = run.answers.get(name, [])
            print(f"    {name:<22} {median(wire):.2f}/{percentile(wire, 0.95):.2f}s  {median(values):.2f}/{percentile(values, 0.95):.2f}s")
    finally:
        server.terminate()
        server.wait(10)
        stop.set()
        writer.join(30)
    if failures:
        print("\nmissed targets: " + "; ".join(failures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
