"""Concurrent analysts: 1, 5 and 10 real browser sessions (headless Chromium driven by Playwright) moving through the
dashboard's pages while a writer ingests posts into the same embedded store, as a crawl does.

The store holds `--size` corpus posts (`bench/corpus.py`, dated up to now, so every period has data; built once under
`bench/out/`). `vigie dashboard` serves it on loopback. A separate process upserts fresh corpus posts in batches of
500 for the whole run; its rate alone, measured first, is the baseline. At each level every session loops over the
pages (Overview, Narrative, Search with a text, Alerts, Sources) for `--seconds`; a page's time runs from the
navigation to the moment Streamlit has drawn it (no running indicator, no loading placeholder). Printed per level:
pages loaded, p50 and p95 page time, error pages (an exception box, or a page not drawn within 30 s), and the
writer's rate against its rate alone. Targets: p95 < 2 s at 10 sessions on 2 cores, no error page, ingest not cut
by more than half.

Needs Debian's chromium (`python tests/browser_setup.py` installs it as root).
Run: `.venv/bin/python bench/dashboard_load.py [--size 1000000] [--levels 1 5 10] [--seconds 60]`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/: a bench file's name could hide a package

import httpx  # noqa: E402
import yaml  # noqa: E402

from bench.corpus import generate_posts  # noqa: E402
from store.sqlite import SQLiteStore  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from vigie.models import Alert, CrawlRun, utcnow  # noqa: E402

OUT = ROOT / "bench" / "out"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DRAWN = "!document.querySelector('[data-testid=\"stStatusWidget\"], [data-testid=\"stSkeleton\"]')"
PAGES = [("", "Overview"), ("narrative", "Narrative"), ("search?q=miracle", "Search"), ("alerts", "Alerts"), ("sources", "Sources")]
WRITE_BATCH = 500
TARGET_P95 = 2.0


def build(data_dir: Path, size: int) -> None:
    """`size` corpus posts ending now, a crawl run per source and a few alerts, in `data_dir/vigie.db` (kept)."""
    database = data_dir / "vigie.db"
    if database.exists():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = data_dir / "building.db"
    started = time.perf_counter()
    now = utcnow()
    with SQLiteStore(partial) as store:
        posts = generate_posts(size, end=now)
        while batch := list(islice(posts, 2000)):
            store.upsert_posts(batch)
        for index, source in enumerate(sorted({post.source_id for post in islice(generate_posts(5000, end=now), 5000)})):
            store.record_crawl_run(CrawlRun(id=f"{source}-0", source_id=source, platform=source.split("-")[0], started_at=now - timedelta(hours=1), finished_at=now, status="failed" if index % 20 == 0 else "ok", new_posts=5))
        for index in range(30):
            opened = now - timedelta(hours=index * 5)
            store.save_alert(Alert(id=f"load-{index}", rule_id="spikes", kind="spike", subject_type="narrative", subject="miracle_healing", state=("open", "acknowledged", "resolved")[index % 3], opened_at=opened, updated_at=opened, count=40, baseline=8.0, ratio=5.0, score=9.0))
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{partial}{suffix}").exists():
            Path(f"{partial}{suffix}").rename(f"{database}{suffix}")
    print(f"built {size:,} posts in {time.perf_counter() - started:.0f} s ({database})", file=sys.stderr)


def write_posts(database: str, stop: multiprocessing.synchronize.Event, written: multiprocessing.sharedctypes.Synchronized) -> None:  # type: ignore[name-defined]
    """The crawl's side: fresh posts upserted in batches until told to stop; `written` counts them."""
    posts = generate_posts(10_000_000, seed=int(time.time()), end=utcnow())
    with SQLiteStore(database) as store:
        while not stop.is_set():
            batch = list(islice(posts, WRITE_BATCH))
            store.upsert_posts(batch)
            with written.get_lock():
                written.value += len(batch)


def ingest_rate(written: multiprocessing.sharedctypes.Synchronized, seconds: float) -> float:  # type: ignore[name-defined]
    before, started = written.value, time.perf_counter()
    time.sleep(seconds)
    return (written.value - before) / (time.perf_counter() - started)


async def session(browser: object, base: str, until: float, times: list[float], errors: list[str]) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page = await context.new_page()
    step = 0
    try:
        while time.perf_counter() < until:
            path, title = PAGES[step % len(PAGES)]
            step += 1
            started = time.perf_counter()
            try:
                await page.goto(f"{base}/{path}")
                await page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=30_000)
                await page.wait_for_function(DRAWN, timeout=30_000)
            except Exception as exc:  # noqa: BLE001 - a page not drawn in time counts as an error page
                errors.append(f"{path or '/'}: {type(exc).__name__}")
                continue
            if await page.locator('[data-testid="stException"]').count():
                errors.append(f"{path or '/'}: exception box")
                continue
            times.append(time.perf_counter() - started)
    finally:
        await context.close()


async def load(base: str, sessions: int, seconds: float) -> tuple[list[float], list[str]]:
    from playwright.async_api import async_playwright

    times: list[float] = []
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            until = time.perf_counter() + seconds
            await asyncio.gather(*(session(browser, base, until, times, errors) for _ in range(sessions)))
        finally:
            await browser.close()
    return times, errors


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: install Debian's chromium (python tests/browser_setup.py)", file=sys.stderr)
        return 2
    data_dir = OUT / f"load-{args.size}"
    build(data_dir, args.size)
    config = OUT / "load-config"
    config.mkdir(parents=True, exist_ok=True)
    for name, content in {"vigie.yaml": {"log": {"file": None}}, "sources.yaml": {"sources": []}}.items():
        (config / name).write_text(yaml.safe_dump(content), encoding="utf-8")
    (config / "watchlists").mkdir(exist_ok=True)

    stop, written = multiprocessing.Event(), multiprocessing.Value("q", 0)
    writer = multiprocessing.Process(target=write_posts, args=(str(data_dir / "vigie.db"), stop, written), daemon=True)
    writer.start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")} | {"VIGIE_CONFIG": str(config), "VIGIE_DATA_DIR": str(data_dir)}
    server = subprocess.Popen([sys.executable, "-m", "vigie.cli", "dashboard", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    failures = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the dashboard did not start")
            time.sleep(0.3)
        alone = ingest_rate(written, min(20.0, args.seconds))
        print(f"\n{args.size:,} posts; writer alone: {alone:,.0f} posts/s (batches of {WRITE_BATCH}); {args.seconds:g} s per level")
        print(f"  {'sessions':>8}{'pages':>7}{'p50':>8}{'p95':>8}{'errors':>8}{'ingest':>12}{'vs alone':>10}")
        for sessions in args.levels:
            before, started = written.value, time.perf_counter()
            times, errors = asyncio.run(load(base, sessions, args.seconds))
            rate = (written.value - before) / (time.perf_counter() - started)
            p50, p95 = statistics.median(times) if times else float("nan"), percentile(times, 0.95)
            print(f"  {sessions:>8}{len(times):>7}{p50:>7.2f}s{p95:>7.2f}s{len(errors):>8}{rate:>9,.0f}/s{rate / alone:>9.2f}x", flush=True)
            if errors:
                print(f"    errors: {', '.join(sorted(set(errors))[:5])}")
            if sessions >= 10 and (p95 > TARGET_P95 or errors or rate < alone / 2):
                failures.append(f"{sessions} sessions: p95 {p95:.2f}s, {len(errors)} errors, ingest {rate / alone:.2f}x")
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
