"""How long each dashboard page's queries take on the embedded store at 100k and 1M posts.

The posts come from `bench/corpus.py` (the recorded fixtures' texts, ~200 sources, 60 days); each store is built once
under `bench/out/` and reused. Every page's queries are the very functions the page calls (`dashboard/queries.py`),
with the Streamlit cache cleared before each timing, so the figures are what an analyst waits for on a cache miss.
The baseline, measured in the same run, is what the Overview's volume chart would cost if a page loaded the posts
of the period and counted them itself (`iter_posts` over the last 7 days), which is what the dashboard never does.
Target: every page under 1 s at 1M posts on 2 cores.

With `--opensearch` the same pages run on the OpenSearch store instead: the node at `VIGIE_OPENSEARCH_URL`, or
the test suite's node (Java 17+ and Maven, 2 GB of heap) started with its data kept in `bench/out/opensearch-node/`,
so that the posts written once under the index prefix `vigie-dashboard-SIZE` serve later runs too.

Run: `.venv/bin/python bench/dashboard.py [--sizes 100000 1000000] [--repeat 3] [--opensearch]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/: this file's name would hide the `dashboard` package

from bench.corpus import DEFAULT_END, generate_posts  # noqa: E402
from dashboard import queries  # noqa: E402
from alerts.trends import TrendCache  # noqa: E402
from store.base import PostQuery, Store  # noqa: E402
from store.sqlite import SQLiteStore, database_files  # noqa: E402
from vigie.config import load_config  # noqa: E402
from vigie.models import Alert, CrawlError, CrawlRun, Subscription  # noqa: E402

OUT = ROOT / "bench" / "out"
BATCH = 2000
SUBSCRIPTIONS = 20
TARGET = 1.0
NOW = DEFAULT_END
LATENESS = timedelta(hours=3)


def write_trend_cache(store: Store, path: Path) -> None:
    """What the alert cycle keeps under the data dir (`alerts.trends`), as it would be at NOW."""
    started = time.perf_counter()
    trends = TrendCache(path)
    trends.refresh(store, NOW, keep_from=NOW - timedelta(days=16), lateness=LATENESS)
    trends.save()
    print(f"  wrote the alert cycle's trend cache {path.name} in {time.perf_counter() - started:.1f}s", file=sys.stderr)


def build(store: Store, size: int) -> None:
    """Fill an empty store with `size` corpus posts, crawl runs for every source, 60 alerts and a few subscriptions
    (written last: a store that has them is complete)."""
    started = time.perf_counter()
    posts = generate_posts(size)
    done = 0
    while batch := list(islice(posts, BATCH)):
        store.upsert_posts(batch)
        done += len(batch)
        if done % 100_000 == 0:
            print(f"  built {done:,} posts in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    sources = store.top_terms(PostQuery(limit=0), "source", limit=10_000)
    for index, source in enumerate(sources):
        status = "failed" if index % 25 == 0 else "ok"
        errors = [CrawlError(message="HTTP 503 from the platform")] if status == "failed" else []
        for run in range(10):
            at = NOW - timedelta(hours=run + 1)
            store.record_crawl_run(CrawlRun(id=f"{source.value}-{run}", source_id=source.value, platform=source.value.split("-")[0], started_at=at, finished_at=at + timedelta(minutes=1), status=status, new_posts=5, errors=errors))
    narratives = [t.value for t in store.top_terms(PostQuery(limit=0), "narrative", limit=20)]
    sample = [p.id for p in store.search(PostQuery(limit=5)).posts]
    for index in range(60):
        opened = NOW - timedelta(hours=index * 7)
        store.save_alert(
            Alert(
                id=f"bench-{index}", rule_id="spike-narratives", kind="spike", subject_type="narrative", subject=narratives[index % len(narratives)],
                state=("open", "acknowledged", "resolved")[index % 3], opened_at=opened, updated_at=opened, count=40, baseline=8.0, ratio=5.0, score=9.0,
                evidence={"top_sources": [{"value": sources[0].value, "count": 12}], "top_authors": [{"value": "user1", "count": 3}], "sample_post_ids": sample},
            )
        )  # fmt: skip
    for index in range(SUBSCRIPTIONS):
        store.save_subscription(Subscription(id=f"analyst-{index}", email=f"analyst{index}@example.org", mode="digest" if index % 2 else "immediate"))
    print(f"  built {size:,} posts and their records in {time.perf_counter() - started:.0f}s", file=sys.stderr)


def sqlite_store(size: int) -> tuple[Store, str]:
    """The embedded store `bench/out/dashboard-SIZE.db`, built once (in a `.partial` file renamed when complete)."""
    path = OUT / f"dashboard-{size}.db"
    if not path.exists():
        print(f"building the {size:,}-post store (once; kept in {path})", file=sys.stderr)
        partial = path.with_suffix(".partial")
        for leftover in database_files(partial):
            leftover.unlink(missing_ok=True)
        with SQLiteStore(partial) as store:
            build(store, size)
        partial.rename(path)
    return SQLiteStore(path), f"{path.stat().st_size / 2**30:.2f} GiB"


def opensearch_store(url: str, size: int) -> tuple[Store, str]:
    """The OpenSearch store under the prefix `vigie-dashboard-SIZE` at `url`, built unless complete."""
    from store.opensearch import OpenSearchStore

    config_dir = OUT / "opensearch-config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "vigie.yaml").write_text("store:\n  opensearch:\n    replicas: 0\n", encoding="utf-8")
    config = load_config(config_dir, OUT, environ={**os.environ, "VIGIE_STORE": "opensearch", "VIGIE_OPENSEARCH_URL": url})
    store = OpenSearchStore.from_config(config, spool=False, index_prefix=f"vigie-dashboard-{size}")
    if len(store.list_subscriptions()) < SUBSCRIPTIONS:
        print(f"building the {size:,}-post store (once; kept on the node under {store.names.posts_alias})", file=sys.stderr)
        store.delete_indices()
        build(store, size)
    stats = store.client.indices.stats(index=store.names.posts_pattern, metric="store")
    return store, f"{stats['_all']['primaries']['store']['size_in_bytes'] / 2**30:.2f} GiB of primaries"


@contextmanager
def opensearch_url() -> Iterator[str]:
    """VIGIE_OPENSEARCH_URL, or the test suite's node run with its data in bench/out/opensearch-node/."""
    if os.environ.get("VIGIE_OPENSEARCH_URL"):
        yield os.environ["VIGIE_OPENSEARCH_URL"]
        return
    from tests.support.opensearch import OpenSearchNode

    print("starting the OpenSearch node (its data kept in bench/out/opensearch-node)", file=sys.stderr)
    with OpenSearchNode(OUT / "opensearch-node", heap="2g", quick_jit=False) as node:
        yield node.url


def page_queries(store: Store, key: str, trends: Path) -> dict[str, Callable[[], object]]:
    """Each page's queries, as the page calls them on a cache miss, with the pages' default period (7 days) and the
    corpus's most common narrative, then that narrative over 30 days, a text search and a filtered one (30 days each). The Overview reads the alert cycle's trend cache (`trends`), as
    under `vigie up`; "overview, cold" is the same page when no alert cycle has written one."""
    config = load_config(ROOT / "config", OUT)
    sources = tuple((term.value, term.value.split("-")[0], 3600.0) for term in store.top_terms(PostQuery(limit=0), "source", limit=10_000))
    narrative = store.top_terms(PostQuery(limit=0), "narrative", limit=1)[0].value
    week, month = (NOW - timedelta(days=7), NOW), (NOW - timedelta(days=30), NOW)
    search = PostQuery(text="miracle cure", since=month[0], until=NOW, limit=20)
    filtered = PostQuery(since=month[0], until=NOW, platforms=("telegram",), languages=("fr",), limit=20)

    def overview(trends_file: Path) -> Callable[[], None]:
        def page() -> None:
            queries.overview(store, key, *week, NOW, str(trends_file), LATENESS)
            queries.source_health(store, key, sources, NOW)

        return page

    def narrative_page(since: datetime, until: datetime) -> Callable[[], None]:
        def page() -> None:
            queries.subject(store, key, "narrative", narrative, since, until)
            queries.search(store, key, queries.subject_query("narrative", narrative, since, until).model_copy(update={"limit": 20}))

        return page

    def search_page() -> None:
        for query in (search, filtered):
            queries.coverage(store, key, query)
            queries.search(store, key, query)

    def alerts_page() -> None:
        for state in ("open", "acknowledged", "resolved"):
            for alert in queries.alerts(store, key, (state,), 50):
                queries.posts(store, key, tuple(alert.evidence["sample_post_ids"]))

    def sources_page() -> None:
        queries.source_health(store, key, sources, NOW)
        queries.posts_per_day(store, key, NOW)

    def subscriptions_page() -> None:
        alerts_file = queries.alert_rules(config, str(config.config_dir))
        stored = queries.stored_subscriptions(store, key)
        queries.subscribers(alerts_file, stored)
        queries.rule_choices(alerts_file, queries.saved_searches(store, key), stored)

    return {
        "overview": overview(trends),
        "overview, cold": overview(OUT / "no-trend-cache.json"),
        "narrative": narrative_page(*week),
        "narrative, 30 d": narrative_page(*month),
        "search": search_page,
        "alerts": alerts_page,
        "sources": sources_page,
        "subscriptions": subscriptions_page,
    }


def naive_volume(store: Store) -> None:
    """The baseline: load every post of the last 7 days and count them per platform and hour in Python."""
    Counter((post.platform, post.published_at.replace(minute=0, second=0, microsecond=0)) for post in store.iter_posts(PostQuery(since=NOW - timedelta(days=7), until=NOW)))


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        queries.cache.forget()
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--opensearch", action="store_true", help="time the pages on the OpenSearch store (VIGIE_OPENSEARCH_URL, or the test node)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    failures = []
    with ExitStack() as stack:
        url = stack.enter_context(opensearch_url()) if args.opensearch else None
        backend = "opensearch" if url else "sqlite"
        for size in args.sizes:
            store, footprint = opensearch_store(url, size) if url else sqlite_store(size)
            with store:
                trends = OUT / (f"trends-opensearch-{size}.json" if url else f"trends-{size}.json")
                if not trends.exists():
                    write_trend_cache(store, trends)
                baseline = statistics.median(timed(lambda: naive_volume(store), 1))
                print(f"\n{size:,} posts on {backend} ({footprint}); baseline (load the week's posts and count them): {baseline:.2f}s")
                print(f"  {'page':<16}{'median':>9}{'worst':>9}{'vs baseline':>13}{'vs 1 s target':>15}")
                for page, call in page_queries(store, f"bench:{backend}:{size}", trends).items():
                    times = timed(call, args.repeat)
                    median, worst = statistics.median(times), max(times)
                    print(f"  {page:<16}{median:>8.3f}s{worst:>8.3f}s{median / baseline:>12.2f}x{worst / TARGET:>14.2f}x")
                    if size >= 1_000_000 and worst > TARGET:
                        failures.append(f"{page} at {size:,} posts: {worst:.2f}s")
    if failures:
        print("\nover the 1 s target: " + "; ".join(failures))


if __name__ == "__main__":
    main()
