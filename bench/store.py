"""Store benchmark: bulk ingest, a filtered search and a bucketed count, at 100k and 1M posts.

Posts come from `bench/corpus.py` (built from the recorded fixtures). For each size and store:

- ingest: posts/s of `upsert_posts` in batches of 10,000 (corpus generation not counted), wall clock and CPU time
  of this process (the CPU figure is what the store costs when the machine is not shared);
- search: p50/p95 latency of `search` with text + platform + a 14-day period, newest first, 50 hits with totals;
- count: p50/p95 latency of `count_buckets` in day buckets grouped by narrative over 30 days.

The baseline, measured in the same run on the same posts, is the cheapest way to keep them: `executemany` of
(id, JSON) into a bare SQLite table without indexes or full text, and the same search and count as full scans of
it. Ratios say how many times the store's rate is the baseline's (ingest) or how many times faster it answers.
Targets: >= 20,000 posts/s ingest and p95 < 300 ms for both queries at 1M posts on 2 cores.

A second reference, the full-text floor, is the least a store that answers full-text queries must write: the same
bare table plus a contentless FTS5 index of title and text (no filters, counts or labels). Its ingest rate bounds
what any SQLite store with full-text search reaches on this machine; the last lines print it and the store's share.

Run: `.venv/bin/python bench/store.py [--sizes 100000,1000000] [--queries 40] [--opensearch] [--no-sqlite]`.
With `VIGIE_ES_URL` set, an Elasticsearch column is added; with `VIGIE_OPENSEARCH_URL` set, or `--opensearch` (which
starts the test suite's OpenSearch node, Java 17+ and Maven, 2 GB of heap), an OpenSearch column, and a second
OpenSearch figure: the same documents loaded by a raw `helpers.parallel_bulk` (plain `index` actions, as many threads
and as large requests as the store's lanes, a refresh after each batch as the store does) right after the store, at
each size, the floor the store's ingest (scripted upserts that keep `first_seen_at`) is compared with. Both are
timed on a node warmed up first by both kinds of writes (the JVM compiles its hot code during the first tens of
thousands of documents, which would otherwise be charged to whichever runs first). For a server store, the
"CPU incl. server" row adds the node's CPU time (`_nodes/stats`) to this process's: on a shared machine the wall
clock says more about the other jobs than about the store.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # this script's folder would shadow the `store` package
sys.path.append(str(ROOT / "bench"))

from corpus import DEFAULT_END, generate_posts  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from store.base import PostQuery, Store  # noqa: E402
from store.elasticsearch import SearchEngineStore  # noqa: E402
from store.sqlite import SQLiteStore  # noqa: E402
from vigie.models import PLATFORMS, Post  # noqa: E402

BATCH = 10_000
DAYS = 60
SEARCH_TEXTS = ("guérison", "vaccine", "énergie cosmique", "chemtrails", "miracle", "europe", "église", '"fin des temps"', "santé", "world", "enfants", "police")
StoreFactory = Callable[[Path], Store]
"""Makes a fresh, empty store; it may use the given scratch folder."""


WARM_UP = 20_000
"""Posts written to a scratch prefix by the store and by the raw loader before a node is timed."""


@dataclass
class Figures:
    ingest_wall: float
    ingest_cpu: float
    ingest_all_cpu: float
    """Posts per CPU-second of this process and of the server (the same as `ingest_cpu` for an embedded store)."""
    search_p50: float
    search_p95: float
    count_p50: float
    count_p95: float


@dataclass
class Timer:
    wall: float = 0.0
    cpu: float = 0.0
    server_cpu: float = 0.0
    server_clock: Callable[[], float] | None = None
    """CPU seconds the server has used so far (a search node's), when the store is one."""

    def __call__(self, work: Callable[[], object]) -> object:
        server = self.server_clock() if self.server_clock else 0.0
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        if self.server_clock:
            self.server_cpu += self.server_clock() - server
        return result


def node_cpu_clock(store: Store) -> Callable[[], float] | None:
    """The CPU seconds used by the nodes of a search-engine store's cluster (`_nodes/stats/process`); None for others."""
    if not isinstance(store, SearchEngineStore):
        return None
    client = store.client

    def seconds() -> float:
        stats = client.nodes.stats(metric="process")
        return sum(node["process"]["cpu"]["total_in_millis"] for node in stats["nodes"].values()) / 1000

    return seconds


def batches(size: int) -> Iterator[list[Post]]:
    posts = generate_posts(size, days=DAYS)
    while batch := list(islice(posts, BATCH)):
        yield batch


def search_queries(count: int) -> list[PostQuery]:
    """Text + platform + a 14-day period, as an analyst narrows a search."""
    rng = random.Random(1)
    start = DEFAULT_END - timedelta(days=DAYS)
    queries = []
    for _ in range(count):
        since = start + timedelta(days=rng.randrange(DAYS - 14))
        queries.append(PostQuery(text=rng.choice(SEARCH_TEXTS), platforms=(rng.choice(PLATFORMS),), since=since, until=since + timedelta(days=14), limit=50))
    return queries


def count_periods(count: int) -> list[PostQuery]:
    """Thirty-day windows, sliding over the corpus: what the dashboard's trend chart asks."""
    return [PostQuery(since=DEFAULT_END - timedelta(days=30 + i % 30), until=DEFAULT_END - timedelta(days=i % 30)) for i in range(count)]


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=20, method="inclusive")
    return statistics.median(samples), cuts[18]


def latencies(work: Callable[[PostQuery], object], queries: list[PostQuery]) -> tuple[float, float]:
    samples = []
    for query in queries:
        start = time.perf_counter()
        work(query)
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def run_backend(store_factory: StoreFactory, sizes: list[int], queries: int = 40, console: Console | None = None) -> dict[int, Figures]:
    """Ingest each size into a fresh store, then time the two queries on it."""
    results = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="vigie-bench-") as scratch:
            store = store_factory(Path(scratch))
            try:
                if isinstance(store, SearchEngineStore):
                    store.init_schema()  # once per cluster, as `vigie store init` does: not part of the ingest rate
                timer = Timer(server_clock=node_cpu_clock(store))
                for batch in batches(size):
                    timer(lambda batch=batch: store.upsert_posts(batch))
                search = latencies(store.search, search_queries(queries))
                count = latencies(lambda q: store.count_buckets(q, "day", "narrative"), count_periods(queries))
            finally:
                store.close()
        results[size] = figures = Figures(size / timer.wall, size / timer.cpu, size / (timer.cpu + timer.server_cpu), *search, *count)
        if console:
            console.log(
                f"{store.name}: {size:,} posts: ingest {figures.ingest_wall:,.0f} posts/s ({figures.ingest_all_cpu:,.0f} per CPU-second), "
                f"search p95 {figures.search_p95:,.1f} ms, buckets p95 {figures.count_p95:,.1f} ms"
            )
    return results


def run_baseline(sizes: list[int], queries: int = 5) -> dict[int, Figures]:
    """(id, JSON) rows in a bare table; search and count by full scans of the JSON."""
    results = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="vigie-baseline-") as scratch, closing(sqlite3.connect(Path(scratch) / "bare.db", isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("CREATE TABLE posts (id TEXT, doc TEXT)")
            timer = Timer()
            for batch in batches(size):

                def insert(batch: list[Post] = batch) -> None:
                    conn.execute("BEGIN")
                    conn.executemany("INSERT INTO posts VALUES (?, ?)", [(post.id, post.model_dump_json()) for post in batch])
                    conn.execute("COMMIT")

                timer(insert)

            def search(query: PostQuery) -> object:
                word = query.text.strip('"')
                return conn.execute(
                    "SELECT count(*) FROM posts WHERE instr(lower(doc), ?) AND json_extract(doc, '$.platform') = ? "
                    "AND json_extract(doc, '$.published_at') >= ? AND json_extract(doc, '$.published_at') < ?",
                    (word, query.platforms[0], f"{query.since:%Y-%m-%dT%H:%M:%S}", f"{query.until:%Y-%m-%dT%H:%M:%S}"),
                ).fetchall()

            def count(query: PostQuery) -> object:
                return conn.execute(
                    "SELECT substr(json_extract(doc, '$.published_at'), 1, 10) AS day, n.value, count(*), "
                    "count(DISTINCT json_extract(doc, '$.author.handle')), count(DISTINCT json_extract(doc, '$.source_id')) "
                    "FROM posts, json_each(doc, '$.narratives') AS n WHERE json_extract(doc, '$.published_at') >= ? "
                    "AND json_extract(doc, '$.published_at') < ? GROUP BY day, n.value",
                    (f"{query.since:%Y-%m-%dT%H:%M:%S}", f"{query.until:%Y-%m-%dT%H:%M:%S}"),
                ).fetchall()

            results[size] = Figures(size / timer.wall, size / timer.cpu, size / timer.cpu, *latencies(search, search_queries(queries)), *latencies(count, count_periods(queries)))
    return results


def run_floor(sizes: list[int]) -> dict[int, Timer]:
    """Ingest into the bare table plus a contentless FTS5 index of title and text, tokenized as the store does."""
    results = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="vigie-floor-") as scratch, closing(sqlite3.connect(Path(scratch) / "floor.db", isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("CREATE TABLE posts (id TEXT, doc TEXT)")
            conn.execute("CREATE VIRTUAL TABLE post_fts USING fts5 (title, text, content = '', tokenize = 'unicode61 remove_diacritics 2')")
            timer, rowid = Timer(), 0
            for batch in batches(size):

                def insert(batch: list[Post] = batch, first: int = rowid + 1) -> None:
                    conn.execute("BEGIN")
                    conn.executemany("INSERT INTO posts VALUES (?, ?)", [(post.id, post.model_dump_json()) for post in batch])
                    conn.executemany("INSERT INTO post_fts (rowid, title, text) VALUES (?, ?, ?)", [(first + n, post.title, post.text) for n, post in enumerate(batch)])
                    conn.execute("COMMIT")

                timer(insert)
                rowid += len(batch)
            results[size] = Timer(size / timer.wall, size / timer.cpu)
    return results


def sqlite_factory(scratch: Path) -> Store:
    return SQLiteStore(scratch / "vigie.db")


def elasticsearch_factory(scratch: Path) -> Store:
    """A fresh index prefix on the cluster at VIGIE_ES_URL, deleted when the store is closed."""
    from store.elasticsearch import ElasticsearchStore
    from vigie.config import load_config

    class ScratchElasticsearch(ElasticsearchStore):
        def close(self) -> None:
            self.delete_indices()
            super().close()

    config_dir = scratch / "config"
    config_dir.mkdir()
    config = load_config(config_dir, scratch / "data", environ={**os.environ, "VIGIE_STORE": "elasticsearch"})
    return ScratchElasticsearch.from_config(config, spool=False, index_prefix=f"vigie-bench-{os.getpid()}-{time.monotonic_ns()}")


def opensearch_factory(url: str) -> StoreFactory:
    """Fresh index prefixes on the OpenSearch node at `url`, deleted when the store is closed."""
    from store.opensearch import OpenSearchStore
    from vigie.config import load_config

    class ScratchOpenSearch(OpenSearchStore):
        def close(self) -> None:
            self.delete_indices()
            super().close()

    def factory(scratch: Path) -> Store:
        config_dir = scratch / "config"
        config_dir.mkdir()
        (config_dir / "vigie.yaml").write_text("store:\n  opensearch:\n    replicas: 0\n", encoding="utf-8")
        config = load_config(config_dir, scratch / "data", environ={**os.environ, "VIGIE_STORE": "opensearch", "VIGIE_OPENSEARCH_URL": url})
        return ScratchOpenSearch.from_config(config, spool=False, index_prefix=f"vigie-bench-{os.getpid()}-{time.monotonic_ns()}")

    return factory


def raw_parallel_bulk(factory: StoreFactory, size: int) -> Timer:
    """`helpers.parallel_bulk` loading the same documents into the same indices (schema installed first), with the
    store's request size and lanes, and a refresh after each batch as the store does."""
    from opensearchpy.helpers import parallel_bulk

    from store import es_bodies as bodies

    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as scratch:
        store = factory(Path(scratch))
        try:
            assert isinstance(store, SearchEngineStore)
            store.init_schema()
            names, settings, client = store.names, store.settings, store.client
            timer = Timer(server_clock=node_cpu_clock(store))
            for batch in batches(size):

                def load(batch: list[Post] = batch) -> None:
                    actions = ({"_op_type": "index", "_index": names.posts_index(post.published_at), "_id": post.id, "_source": bodies.post_document(post)} for post in batch)
                    for ok, item in parallel_bulk(client, actions, thread_count=settings.concurrency, chunk_size=settings.batch_size, raise_on_error=False):
                        if not ok:
                            raise RuntimeError(f"raw bulk refused a document: {item}")
                    client.indices.refresh(index=names.posts_pattern)

                timer(load)
        finally:
            store.close()
    return timer


def warm_up(factory: StoreFactory) -> None:
    """Write WARM_UP posts with the store and with the raw loader, untimed, so that neither pays for the JIT."""
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as scratch:
        store = factory(Path(scratch))
        try:
            for batch in batches(WARM_UP):
                store.upsert_posts(batch)
        finally:
            store.close()
    raw_parallel_bulk(factory, WARM_UP)


def run_opensearch(factory: StoreFactory, sizes: list[int], queries: int, console: Console) -> tuple[dict[int, Figures], dict[int, Timer]]:
    """The store's column and, right after it at each size, the raw loader's ingest, on a warmed-up node."""
    console.log(f"OpenSearch: warming the node up ({WARM_UP:,} posts by the store, then by the raw loader)")
    warm_up(factory)
    figures: dict[int, Figures] = {}
    raw: dict[int, Timer] = {}
    for size in sizes:
        figures |= run_backend(factory, [size], queries, console)
        console.log(f"OpenSearch: raw parallel_bulk of {size:,} posts")
        raw[size] = timer = raw_parallel_bulk(factory, size)
        console.log(f"OpenSearch: raw parallel_bulk of {size:,} posts: {size / timer.wall:,.0f} posts/s ({size / (timer.cpu + timer.server_cpu):,.0f} per CPU-second)")
    return figures, raw


def render(console: Console, sizes: list[int], baseline: dict[int, Figures], backends: dict[str, dict[int, Figures]], floor: dict[int, Timer]) -> None:
    table = Table(title="Store benchmark (ratio: against the bare-table baseline of the same run; buckets: by day and narrative over 30 days)")
    table.add_column("measure")
    for size in sizes:
        for name in [*backends, "baseline"]:
            table.add_column(f"{name}\n{size:,} posts", justify="right")
            if name != "baseline":
                table.add_column("ratio", justify="right")
    table.add_column("target", justify="right")
    rows = [
        ("ingest posts/s (wall)", "ingest_wall", False, ">= 20,000"),
        ("ingest posts/s (CPU)", "ingest_cpu", False, ""),
        ("ingest posts/s (CPU incl. server)", "ingest_all_cpu", False, ""),
        ("search p50 ms", "search_p50", True, ""),
        ("search p95 ms", "search_p95", True, "< 300"),
        ("buckets p50 ms", "count_p50", True, ""),
        ("buckets p95 ms", "count_p95", True, "< 300"),
    ]
    for label, attribute, latency, target in rows:
        cells = [label]
        for size in sizes:
            base = getattr(baseline[size], attribute)
            for figures in backends.values():
                value = getattr(figures[size], attribute)
                ratio = base / value if latency else value / base
                cells += [f"{value:,.1f}" if latency else f"{value:,.0f}", f"{ratio:,.2f}x{' faster' if latency else ''}"]
            cells.append(f"{base:,.1f}" if latency else f"{base:,.0f}")
        table.add_row(*cells, target)
    console.print(table)
    for size in sizes:
        rates = ", ".join(f"{name} {figures[size].ingest_wall / floor[size].wall:.2f} of it" for name, figures in backends.items())
        console.print(f"full-text floor at {size:,} posts (bare table + FTS5 of title and text): {floor[size].wall:,.0f} posts/s wall, {floor[size].cpu:,.0f} CPU; {rates}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated corpus sizes [default: 100000,1000000]")
    parser.add_argument("--queries", type=int, default=40, help="queries timed per measure [default: 40]")
    parser.add_argument("--opensearch", action="store_true", help="start the test suite's OpenSearch node for an OpenSearch column")
    parser.add_argument("--no-sqlite", action="store_true", help="leave the SQLite column out (a server's figures only)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    console = Console(stderr=True)
    backends = {} if args.no_sqlite else {"SQLite": run_backend(sqlite_factory, sizes, args.queries, console)}
    if os.environ.get("VIGIE_ES_URL"):
        backends["Elasticsearch"] = run_backend(elasticsearch_factory, sizes, args.queries, console)
    raw: dict[int, Timer] = {}
    with ExitStack() as stack:
        url = os.environ.get("VIGIE_OPENSEARCH_URL")
        if args.opensearch and not url:
            from tests.support.opensearch import OpenSearchNode

            console.log("starting the OpenSearch node")
            node = stack.enter_context(OpenSearchNode(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vigie-bench-node-"))), heap="2g", quick_jit=False))
            url = node.url
        if url:
            backends["OpenSearch"], raw = run_opensearch(opensearch_factory(url), sizes, args.queries, console)
    console.log("baseline")
    baseline = run_baseline(sizes)
    console.log("full-text floor")
    floor = run_floor(sizes)
    output = Console(width=None if sys.stdout.isatty() else 160)
    render(output, sizes, baseline, backends, floor)
    for size, timer in raw.items():
        store = backends["OpenSearch"][size]
        wall, cpu = size / timer.wall, size / (timer.cpu + timer.server_cpu)
        output.print(
            f"OpenSearch, {size:,} posts: store ingest {store.ingest_wall:,.0f} posts/s ({store.ingest_all_cpu:,.0f} per CPU-second, client and node), "
            f"raw helpers.parallel_bulk of the same documents {wall:,.0f} posts/s ({cpu:,.0f} per CPU-second): "
            f"{wall / store.ingest_wall:.2f}x wall, {cpu / store.ingest_all_cpu:.2f}x CPU (target: within 1.5x)"
        )


if __name__ == "__main__":
    main()
