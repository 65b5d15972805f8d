"""Crawl throughput: posts/s crawled + enriched + stored, against Scrapy fetching and parsing the same pages
with no item pipeline, in the same run.

A loopback replay server (tests/support/replay.py) serves pages built from the recorded fixtures
(tests/support/pages.py): Telegram channels whose pages are the real message widgets of
`telegram/page_example.html` re-numbered, 20 to a page, chained by `?before=`, and RSS feeds of 20 real
TechCrunch items each. Each phase runs in `--processes` crawling processes at once (default 2, one per
core, as `vigie up` runs parallel crawls; a Twisted reactor uses one core), each with its share of the
sources, through `crawlers.run.crawl_sources`, against a fresh data folder and one SQLite store:

- raw: the spiders and the middlewares, no item pipeline (posts are parsed, then dropped);
- full: the whole crawl: validation, tags, enrichment (language, watchlists, entities, copy-paste
  clusters) and the SQLite store, plus the crawl-run log and the cursors.

The rate counts every post from the start of `crawl_sources()` to its return (so the enrichment models'
loading is included); the same is printed per CPU-second of the crawling processes, which says more when
other work shares the machine. A last line times enrichment and the store alone on the same posts. Target: the pipeline costs under 30% of the raw rate (full/raw >= 0.70), and the
whole at least 1,000 posts/s on 2 cores.

Run: `.venv/bin/python bench/crawl.py [--channels 24] [--pages 12] [--feeds 48] [--repeat 1]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PER_PAGE = 20
BENCH_CRAWL = {"download_delay": 0, "autothrottle": False, "concurrent_requests_per_domain": 16, "retry_times": 0, "timeout": 30}


def serve(server: object, channels: int, pages: int, feeds: int) -> list[dict[str, object]]:
    """Routes on the replay server, and the sources that read them."""
    from tests.support.pages import rss_feed, telegram_channel

    sources: list[dict[str, object]] = []
    base = server.base_url  # type: ignore[attr-defined]
    for number in range(channels):
        channel = f"bench{number:03d}"
        for path, html in telegram_channel(channel, pages * PER_PAGE, PER_PAGE).items():
            server.add(path, html, content_type="text/html; charset=utf-8")  # type: ignore[attr-defined]
        sources.append({"id": channel, "platform": "telegram", "channel": channel, "base_url": base, "backfill_pages": pages})
    for number in range(feeds):
        server.add(f"/feeds/{number}.xml", rss_feed(number * 1000, PER_PAGE), content_type="application/rss+xml")  # type: ignore[attr-defined]
        sources.append({"id": f"feed{number:03d}", "platform": "feed", "url": f"{base}/feeds/{number}.xml"})
    return sources


def run_phase(phase: str, config_dir: Path, data_dir: Path, share: int, shares: int) -> dict[str, float]:
    """In a child process: one crawl of its share of the sources; seconds, CPU seconds, pages and posts."""
    from crawlers.run import crawl_sources
    from vigie.config import load_config

    config = load_config(config_dir, data_dir)
    mine = [source.id for number, source in enumerate(config.sources) if number % shares == share]
    overrides = {"ITEM_PIPELINES": {}, "LOG_LEVEL": "WARNING"} if phase == "raw" else {"LOG_LEVEL": "WARNING"}
    started, cpu_started = time.perf_counter(), time.process_time()
    runs = crawl_sources(config, mine, settings=overrides)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    failed = [f"{run.source_id}: {run.errors[0].message}" for run in runs if run.status != "ok"]
    if failed:
        raise SystemExit(f"{phase}: {len(failed)} sources failed, first: {failed[0]}")
    pages = sum(run.pages for run in runs)
    stored = sum(run.new_posts for run in runs)
    return {"seconds": seconds, "cpu": cpu, "pages": pages, "posts": pages * PER_PAGE if phase == "raw" else stored}


def breakdown(config_dir: Path, data_dir: Path, scratch: Path) -> dict[str, float]:
    """Where the full phase's time goes: the stored posts enriched again, then written to a fresh store,
    each step alone and in the crawl's batch size, in CPU seconds (the replay server sits idle meanwhile)."""
    from enrich import Enricher
    from store import open_store
    from store.base import PostQuery
    from vigie.config import load_config

    config = load_config(config_dir, data_dir)
    with open_store(config) as store:
        posts = list(store.iter_posts(PostQuery()))
    batch = config.settings.store.batch_size
    started = time.process_time()
    enricher = Enricher.from_config(config)
    loaded = time.process_time()
    per_post: list[float] = []
    for first in range(0, len(posts), batch):
        began = time.process_time()
        done = enricher.enrich(posts[first : first + batch])
        per_post.append((time.process_time() - began) / len(done))
    enriched = time.process_time()
    with open_store(load_config(config_dir, scratch)) as fresh:
        for first in range(0, len(posts), batch):
            fresh.upsert_posts(posts[first : first + batch])
    stored = time.process_time()
    return {"posts": len(posts), "load": loaded - started, "enrich_median": statistics.median(per_post or [0.0]), "enrich": enriched - loaded, "store": stored - enriched}


def children(phase: str, config_dir: Path, data_dir: Path, processes: int) -> dict[str, float]:
    """The phase in `processes` crawling processes at once, each with its share of the sources and one store
    (as `vigie up` runs crawls in parallel, `schedule.max_parallel_crawls`): the totals, over the longest."""
    commands = [
        [sys.executable, __file__, "--phase", phase, "--config", str(config_dir), "--data", str(data_dir), "--share", f"{share}/{processes}"]
        for share in range(processes)
    ]
    started = time.perf_counter()
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) for command in commands]
    outputs = [process.communicate() for process in running]
    seconds = time.perf_counter() - started
    results = []
    for process, (stdout, stderr) in zip(running, outputs, strict=True):
        if process.returncode != 0:
            raise SystemExit(f"{phase} phase failed:\n{stderr[-3000:]}")
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    return {
        "seconds": max(r["seconds"] for r in results),
        "wall": seconds,
        "cpu": sum(r["cpu"] for r in results),
        "pages": sum(r["pages"] for r in results),
        "posts": sum(r["posts"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=24)
    parser.add_argument("--pages", type=int, default=12, help="pages per Telegram channel")
    parser.add_argument("--feeds", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each phase; the median is reported")
    parser.add_argument("--processes", type=int, default=2, help="crawling processes at once (one per core)")
    parser.add_argument("--phase", choices=("raw", "full"), help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--share", default="0/1", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        share, shares = map(int, args.share.split("/"))
        print(json.dumps(run_phase(args.phase, args.config, args.data, share, shares)))
        return

    from tests.support.factories import write_config
    from tests.support.replay import ReplayServer

    with ReplayServer() as server, tempfile.TemporaryDirectory(prefix="vigie-bench-crawl-") as tmp:
        sources = serve(server, args.channels, args.pages, args.feeds)
        config_dir = write_config(Path(tmp) / "config", sources=sources, settings={"crawl": BENCH_CRAWL, "log": {"level": "WARNING"}})
        results: dict[str, list[dict[str, float]]] = {"raw": [], "full": []}
        for attempt in range(args.repeat):
            for phase in ("raw", "full"):
                results[phase].append(children(phase, config_dir, Path(tmp) / f"data-{phase}-{attempt}", args.processes))
        parts = breakdown(config_dir, Path(tmp) / "data-full-0", Path(tmp) / "data-breakdown")

    def rate(phase: str, clock: str = "seconds") -> float:
        return statistics.median(r["posts"] / r[clock] for r in results[phase])

    raw, full = rate("raw"), rate("full")
    raw_cpu, full_cpu = rate("raw", "cpu"), rate("full", "cpu")
    sample = results["full"][0]
    print(f"crawl bench: {len(sources)} sources ({args.channels} Telegram channels x {args.pages} pages, {args.feeds} RSS feeds), "
          f"{sample['pages']:.0f} pages, {sample['posts']:.0f} posts, {args.processes} crawling processes, median of {args.repeat}")
    print(f"  raw  (Scrapy fetch + parse, no pipeline):          {raw:8.0f} posts/s  ({statistics.median(r['seconds'] for r in results['raw']):.2f} s)")
    print(f"  full (crawl + validate + enrich + store + cursor): {full:8.0f} posts/s  ({statistics.median(r['seconds'] for r in results['full']):.2f} s)")
    print(f"  full / raw = {full / raw:.2f}  (pipeline cost {1 - full / raw:.0%} of the raw rate; target < 30%)")
    print(f"  per CPU-second of the crawling processes (on a shared machine): raw {raw_cpu:.0f}, full {full_cpu:.0f} posts/s, ratio {full_cpu / raw_cpu:.2f}")
    print(f"  whole crawl >= 1,000 posts/s: {'yes' if full >= 1000 else 'no'} ({full:.0f})")
    per_post = {name: 1000 / rate for name, rate in (("raw", raw_cpu), ("full", full_cpu))}
    enrich_ms, store_ms = 1000 * parts["enrich"] / parts["posts"], 1000 * parts["store"] / parts["posts"]
    print(f"  CPU per post: crawl {per_post['raw']:.2f} ms, whole {per_post['full']:.2f} ms; the same {parts['posts']:.0f} posts again, step by step:"
          f" enrichment {enrich_ms:.2f} ms, SQLite upsert {store_ms:.2f} ms, the rest of the pipeline"
          f" {max(0.0, per_post['full'] - per_post['raw'] - enrich_ms - store_ms):.2f} ms")
    print(f"  enrichment per post in the median batch: {1000 * parts['enrich_median']:.2f} ms (the mean above also pays for loading the language models"
          f" on first use, once per crawling process)")


if __name__ == "__main__":
    main()
