"""Crawl throughput: posts/s crawled + enriched + stored, against Scrapy fetching and parsing the same pages
with no item pipeline, in the same run.

A loopback replay server (tests/support/replay.py) serves pages built from the recorded fixtures
(tests/support/pages.py): Telegram channels whose pages are the real message widgets of
`telegram/page_example.html` re-numbered, 20 to a page, chained by `?before=`, and RSS feeds of 20 real
TechCrunch items each. Each phase runs in `--processes` crawling processes at once (default 2, one per
core, as `vigie up` runs parallel crawls; a Twisted reactor uses one core), each with its share of the
sources, through `crawlers.run.crawl_sources`, against a fresh data folder and one SQLite store. As in
`vigie up`, every crawling process of both phases is forked from one warm crawl launcher
(scheduler/launcher.py), started once for the whole bench: its one-time cost (imports and model loading,
paid once per `vigie up`) is printed on its own line.

- raw: the spiders and the middlewares, no item pipeline (posts are parsed, then dropped);
- full: the whole crawl: validation, tags, enrichment (language, the shipped watchlists of `config/watchlists/`,
  entities, copy-paste clusters) and the SQLite store, plus the crawl-run log and the cursors.

The rate counts every post from the start of `crawl_sources()` to its return; the same is printed per
CPU-second of the crawling processes, which says more when other work shares the machine. A last line
times enrichment and the store alone on the same posts. Target: the pipeline costs under 30% of the raw
rate (full/raw >= 0.70), and the whole at least 1,000 posts/s on 2 cores.

- transcripts: YouTube channel feeds (the recorded Kurzgesagt entries, re-numbered, 15 videos a channel), each
  video's transcript fetched through youtube-transcript-api from the replay server (the recorded watch page and
  innertube player answer, and a timed text of `--cues` cues of real French sentences, different for each
  video), then enriched and stored: videos/s and transcripts/s. The stored videos are then enriched again, alone,
  in batches of 50: megabytes of text per CPU-second (target >= 1 MB/s per core), the resident memory after the
  first and the last batch (target: flat), and the cost per kilobyte of the same texts made four times longer
  against their cost as they are (target about 1: no step superlinear in the length of a text).

Run: `.venv/bin/python bench/crawl.py [--channels 24] [--pages 12] [--feeds 48] [--videos 510] [--cues 120] [--repeat 1]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler.launcher import CrawlLauncher

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PER_PAGE = 20
VIDEOS_PER_FEED = 15
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


def serve_videos(server: object, videos: int, cues: int) -> list[dict[str, object]]:
    """YouTube channels of 15 videos and the answers their transcripts need; the sources that read them."""
    from tests.support.pages import timed_text, youtube_feed

    fixtures = ROOT / "tests" / "fixtures" / "youtube" / "transcripts"
    server.add("/watch", fixtures / "watch-page.html")  # type: ignore[attr-defined]
    server.add("/youtubei/v1/player", fixtures / "player-innertube-2-tracks.json")  # type: ignore[attr-defined]
    server.add("/api/timedtext", *(timed_text(number, cues).encode() for number in range(videos)), content_type="text/xml")  # type: ignore[attr-defined]
    sources: list[dict[str, object]] = []
    for channel in range((videos + VIDEOS_PER_FEED - 1) // VIDEOS_PER_FEED):
        channel_id = f"UC{channel:022d}"
        count = min(VIDEOS_PER_FEED, videos - channel * VIDEOS_PER_FEED)
        server.add(f"/feeds/videos.xml?channel_id={channel_id}", youtube_feed(channel_id, channel * VIDEOS_PER_FEED, count), content_type="text/xml")  # type: ignore[attr-defined]
        sources.append({"id": f"yt{channel:03d}", "platform": "youtube", "channel_id": channel_id, "base_url": server.base_url})  # type: ignore[attr-defined]
    return sources


def run_phase(phase: str, config_dir: Path, data_dir: Path, share: int, shares: int) -> None:
    """In a process forked from the launcher: one crawl of its share of the sources; prints seconds, CPU seconds,
    pages and posts as JSON."""
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
    outcomes: dict[str, int] = {}
    for run in runs:
        for outcome, count in run.transcripts.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + count
    print(json.dumps({"seconds": seconds, "cpu": cpu, "pages": pages, "posts": pages * PER_PAGE if phase == "raw" else stored, "outcomes": outcomes}))


def breakdown(config_dir: Path, data_dir: Path, scratch: Path) -> dict[str, float]:
    """Where the full phase's time goes: the stored posts enriched again (models loaded first, as the launcher
    does), then written to a fresh store, each step alone and in the crawl's batch size, in CPU seconds (the
    replay server sits idle meanwhile)."""
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
    enricher.language.detector.load()
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


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def transcript_enrichment(config_dir: Path, data_dir: Path) -> dict[str, float]:
    """The stored videos enriched again in batches of 50 (CPU seconds, megabytes of text, resident memory after
    the first and last batch), then the same posts with texts four times longer."""
    from enrich import Enricher
    from store import open_store
    from store.base import PostQuery
    from vigie.config import load_config

    config = load_config(config_dir, data_dir)
    with open_store(config) as store:
        posts = [post for post in store.iter_posts(PostQuery(platforms=("youtube",))) if post.transcript is not None]
    enricher = Enricher.from_config(config)
    enricher.language.detector.load()

    def enrich_all(batch: list) -> tuple[float, float, list[float]]:
        cpu, size, memory = 0.0, 0.0, []
        for first in range(0, len(batch), 50):
            chunk = batch[first : first + 50]
            began = time.process_time()
            enricher.enrich(chunk)
            cpu += time.process_time() - began
            size += sum(len(post.text.encode("utf-8")) for post in chunk) / 1e6
            memory.append(_rss_mb())
        return cpu, size, memory

    cpu, megabytes, memory = enrich_all(posts)
    longer = [post.model_copy(update={"text": "\n".join([post.text] * 4)}) for post in posts]
    long_cpu, long_megabytes, _ = enrich_all(longer)
    return {"videos": len(posts), "cpu": cpu, "mb": megabytes, "rss_first": memory[0] if memory else 0.0, "rss_last": memory[-1] if memory else 0.0,
            "long_cpu": long_cpu, "long_mb": long_megabytes}


def children(launcher: CrawlLauncher, phase: str, config_dir: Path, data_dir: Path, processes: int) -> dict[str, float]:
    """The phase in `processes` crawling processes at once, forked from the warm launcher, each with its share of
    the sources and one store (as `vigie up` runs crawls in parallel, `schedule.max_parallel_crawls`): the totals,
    over the longest."""
    started = time.perf_counter()
    running = [launcher.fork(run_phase, (phase, config_dir, data_dir, share, processes), name=f"bench {phase} {share}") for share in range(processes)]
    outputs = []
    for process in running:
        assert process.stdout is not None
        outputs.append(process.stdout.read())
        process.stdout.close()
    codes = [process.wait() for process in running]
    seconds = time.perf_counter() - started
    results = []
    for code, output in zip(codes, outputs, strict=True):
        if code != 0:
            raise SystemExit(f"{phase} phase failed (exit code {code}):\n{output[-3000:]}")
        results.append(json.loads(output.strip().splitlines()[-1]))
    return {
        "seconds": max(r["seconds"] for r in results),
        "wall": seconds,
        "cpu": sum(r["cpu"] for r in results),
        "pages": sum(r["pages"] for r in results),
        "posts": sum(r["posts"] for r in results),
        "transcripts": sum(r["outcomes"].get("fetched", 0) for r in results),
        "outcomes": {key: sum(r["outcomes"].get(key, 0) for r in results) for r in results for key in r["outcomes"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=24)
    parser.add_argument("--pages", type=int, default=12, help="pages per Telegram channel")
    parser.add_argument("--feeds", type=int, default=48)
    parser.add_argument("--videos", type=int, default=510, help="YouTube videos of the transcripts phase (0: no such phase)")
    parser.add_argument("--cues", type=int, default=120, help="caption cues of each video's transcript")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each phase; the median is reported")
    parser.add_argument("--processes", type=int, default=2, help="crawling processes at once (one per core)")
    args = parser.parse_args()

    from scheduler.jobs import child_env
    from scheduler.launcher import CrawlLauncher
    from tests.support.factories import write_config
    from tests.support.replay import ReplayServer
    from vigie.config import load_config

    with ReplayServer() as server, tempfile.TemporaryDirectory(prefix="vigie-bench-crawl-") as tmp:
        sources = serve(server, args.channels, args.pages, args.feeds)
        config_dir = write_config(Path(tmp) / "config", sources=sources, settings={"crawl": BENCH_CRAWL, "log": {"level": "WARNING"}})
        shutil.copytree(ROOT / "config" / "watchlists", config_dir / "watchlists", dirs_exist_ok=True)
        video_sources = serve_videos(server, args.videos, args.cues) if args.videos else []
        video_config = write_config(Path(tmp) / "config-videos", sources=video_sources, settings={"crawl": BENCH_CRAWL, "log": {"level": "WARNING"}})
        shutil.copytree(ROOT / "config" / "watchlists", video_config / "watchlists", dirs_exist_ok=True)
        launcher = CrawlLauncher(child_env(load_config(config_dir, Path(tmp) / "data")))
        launcher.start()
        try:
            if not launcher.wait_ready() or launcher.warm_up is None or launcher.warm_up.error:
                raise SystemExit(f"the crawl launcher did not warm up: {launcher.warm_up}")
            results: dict[str, list[dict[str, float]]] = {"raw": [], "full": []}
            for attempt in range(args.repeat):
                for phase in ("raw", "full"):
                    results[phase].append(children(launcher, phase, config_dir, Path(tmp) / f"data-{phase}-{attempt}", args.processes))
            videos = children(launcher, "transcripts", video_config, Path(tmp) / "data-videos", args.processes) if video_sources else None
        finally:
            launcher.stop()
        parts = breakdown(config_dir, Path(tmp) / "data-full-0", Path(tmp) / "data-breakdown")
        spoken = transcript_enrichment(video_config, Path(tmp) / "data-videos") if videos else None

    def rate(phase: str, clock: str = "seconds") -> float:
        return statistics.median(r["posts"] / r[clock] for r in results[phase])

    raw, full = rate("raw"), rate("full")
    raw_cpu, full_cpu = rate("raw", "cpu"), rate("full", "cpu")
    sample = results["full"][0]
    print(f"crawl bench: {len(sources)} sources ({args.channels} Telegram channels x {args.pages} pages, {args.feeds} RSS feeds), "
          f"{sample['pages']:.0f} pages, {sample['posts']:.0f} posts, {args.processes} crawling processes, median of {args.repeat}")
    print(f"  launcher warm-up: {launcher.warm_up.cpu_seconds:.2f} s CPU ({launcher.warm_seconds:.2f} s), paid once per `vigie up`:"
          f" imports and {' and '.join(launcher.warm_up.models)} models; every crawling process below is forked from it")
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
    print(f"  enrichment per post in the median batch: {1000 * parts['enrich_median']:.2f} ms (the step-by-step run above loads its own models:"
          f" {parts['load']:.2f} s CPU, not counted per post)")
    if videos and spoken:
        print(f"  transcripts: {videos['posts']:.0f} videos, {videos['transcripts']:.0f} transcripts of {args.cues} cues in {videos['seconds']:.2f} s:"
              f" {videos['posts'] / videos['seconds']:.1f} videos/s, {videos['transcripts'] / videos['seconds']:.1f} transcripts/s"
              f" (watch page, player answer and timed text through youtube-transcript-api, then enrich and store); outcomes {videos['outcomes']}")
        ordinary_kb = 1000 * parts["enrich"] / max(parts["posts"], 1)
        per_kb = 1000 * spoken["cpu"] / (spoken["mb"] * 1000)
        long_per_kb = 1000 * spoken["long_cpu"] / (spoken["long_mb"] * 1000)
        print(f"  transcript enrichment: {spoken['mb']:.1f} MB of text in {spoken['cpu']:.2f} s CPU = {spoken['mb'] / spoken['cpu']:.2f} MB/s per core"
              f" (target >= 1: {'yes' if spoken['mb'] / spoken['cpu'] >= 1 else 'no'}); {per_kb:.3f} ms per KB"
              f" (an ordinary post above: {ordinary_kb:.2f} ms each)")
        print(f"  texts four times longer: {long_per_kb:.3f} ms per KB, {long_per_kb / per_kb:.2f}x the cost per KB as they are (target about 1: linear);"
              f" resident memory after the first batch of 50 {spoken['rss_first']:.0f} MB, after the last {spoken['rss_last']:.0f} MB"
              f" ({spoken['rss_last'] - spoken['rss_first']:+.0f} MB over {spoken['videos']:.0f} videos)")


if __name__ == "__main__":
    main()
