"""The OpenSearch store, on a real OpenSearch node.

The node is started once for this file (`tests/support/opensearch.py`: OpenSearch 2.19 built with Maven, on a
loopback port, its data in a temporary folder) and stopped after it; with `--dist loadfile` one pytest worker runs
the whole file, so a test run starts one node. Without Java 17+ and Maven the node tests skip, saying how to get
them; `VIGIE_OPENSEARCH_URL` points them at a node of your own instead (the fault tests, which stop and start the
node, then skip). Every test uses its own index prefix, deleted afterwards.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from store.base import PostQuery, StoreError
from store.engines import OPENSEARCH, join_phrase_spans
from store.opensearch import OpenSearchStore
from store.spool import Spool
from store.sqlite import SQLiteStore
from tests.store.contract import StoreContract
from tests.store.test_copy import fill
from tests.store.test_spool import FakeElasticsearch, post
from tests.support.factories import make_post, write_config
from tests.support.opensearch import OpenSearchNode, missing_tools
from vigie.cli import cli
from vigie.config import load_config
from vigie.models import Post

EXTERNAL_URL = os.environ.get("VIGIE_OPENSEARCH_URL")
EXTERNAL_ENV = {name: os.environ[name] for name in ("VIGIE_OPENSEARCH_API_KEY", "VIGIE_OPENSEARCH_USER", "VIGIE_OPENSEARCH_PASSWORD") if name in os.environ}
"""Read before the autouse fixture clears VIGIE_* from the environment."""


OPENSEARCH_INFO: dict[str, Any] = {
    "name": "vigie-test-node",
    "cluster_name": "vigie-test",
    "cluster_uuid": "e4WOuynhQ0S2Ofrbti1yDw",
    "version": {
        "distribution": "opensearch",
        "number": "2.19.6",
        "build_type": "unknown",
        "build_hash": "97d3c13bf22a4a72ac11dc503fe44c97662b9161",
        "build_date": "2026-07-01T04:27:16.038403104Z",
        "build_snapshot": False,
        "lucene_version": "9.12.3",
        "minimum_wire_compatibility_version": "7.10.0",
        "minimum_index_compatibility_version": "7.0.0",
    },
    "tagline": "The OpenSearch Project: https://opensearch.org/",
}
"""`GET /` of the test node, as it answers it."""


def os_store(tmp_path: Path, url: str, *, spool: bool = True, environ: dict[str, str] | None = None, **settings: Any) -> OpenSearchStore:
    """An OpenSearch store as configured in vigie.yaml; no retry waits unless a test asks for them."""
    options = {"concurrency": 1, "max_retries": 0, "replicas": 0, "request_timeout": 10, **settings}
    folder = write_config(tmp_path / "config", settings={"store": {"backend": "opensearch", "opensearch": options}})
    config = load_config(folder, tmp_path / "data", environ={"VIGIE_OPENSEARCH_URL": url})
    return OpenSearchStore.from_config(config, spool=spool, environ=environ if environ is not None else EXTERNAL_ENV)


def fresh_prefix() -> str:
    return f"vigie-test-{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------- the node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenSearchNode | None]:
    """The test node, started once for this file; None when VIGIE_OPENSEARCH_URL names a node of your own."""
    if EXTERNAL_URL:
        yield None
        return
    reason = missing_tools()
    if reason:
        pytest.skip(f"OpenSearch tests: {reason}")
    started = OpenSearchNode(tmp_path_factory.mktemp("opensearch-node"))
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def node_url(node: OpenSearchNode | None) -> str:
    if node is None:
        return EXTERNAL_URL or ""
    node.start()  # a fault test that failed half-way may have left it stopped
    return node.url


# ---------------------------------------------------------------- without a node


def test_credentials_and_timeouts_become_opensearch_client_options() -> None:
    client = OPENSEARCH.client({"hosts": ["https://os.example.org:9200"], "request_timeout": 7, "max_retries": 3, "retry_on_timeout": True, "basic_auth": ("vigie", "pw")})
    connection = client.transport.get_connection()
    assert connection.host == "https://os.example.org:9200" and connection.timeout == 7
    assert connection.headers["authorization"] == "Basic " + base64.b64encode(b"vigie:pw").decode()


def test_without_a_url_the_store_says_which_variable_to_set(tmp_path: Path) -> None:
    folder = write_config(tmp_path / "config", settings={"store": {"backend": "opensearch"}})
    with pytest.raises(StoreError, match=r"set VIGIE_OPENSEARCH_URL \(or store.opensearch.url\)"):
        OpenSearchStore.from_config(load_config(folder, tmp_path / "data", environ={}), environ={})


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"VIGIE_OPENSEARCH_USER": "vigie", "VIGIE_OPENSEARCH_PASSWORD": "pw"}, "Basic " + base64.b64encode(b"vigie:pw").decode()),
        ({"VIGIE_OPENSEARCH_API_KEY": "k3y"}, "ApiKey k3y"),
    ],
)
def test_credentials_come_from_the_opensearch_variables(tmp_path: Path, environ: dict[str, str], expected: str) -> None:
    with FakeElasticsearch(info=OPENSEARCH_INFO) as cluster:
        os_store(tmp_path, cluster.url, environ=environ).upsert_posts([post("1")])
        assert {request.headers["authorization"] for request in cluster.requests} == {expected}


def test_one_credential_variable_alone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="set both VIGIE_OPENSEARCH_USER and VIGIE_OPENSEARCH_PASSWORD"):
        os_store(tmp_path, "http://127.0.0.1:9200", environ={"VIGIE_OPENSEARCH_USER": "vigie"})


def test_phrases_highlighted_word_by_word_become_one_span() -> None:
    text = "Miracle cure! A miracle, a cure, a miracle  cure."
    words = [(0, 7), (8, 12), (16, 23), (27, 31), (35, 42), (44, 48)]
    joined = join_phrase_spans(words, text, [("miracle", "cure")])
    assert [text[a:b] for a, b in joined] == ["Miracle cure", "miracle", "cure", "miracle  cure"]
    assert join_phrase_spans(words, text, [("miracle",), ("cure",)]) == words


def test_an_elasticsearch_server_is_named_and_refused() -> None:
    with pytest.raises(StoreError, match="is Elasticsearch 8.15.0: set store.backend: elasticsearch"):
        OPENSEARCH.check_server({"version": {"number": "8.15.0", "build_flavor": "default"}}, "http://os:9200")
    with pytest.raises(StoreError, match=r"is version 2.3.0; Vigie needs OpenSearch 2.4 or newer \(point in time\)"):
        OPENSEARCH.check_server({"version": {"distribution": "opensearch", "number": "2.3.0"}}, "http://os:9200")


# ---------------------------------------------------------------- the store contract, on the node


@pytest.fixture(scope="module")
def contract_prefix(node: OpenSearchNode | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One index prefix for the contract suite, its indices deleted at the end."""
    name = fresh_prefix()
    yield name
    url = node.url if node is not None else EXTERNAL_URL or ""
    if node is None or node.running():
        cleaner = os_store(tmp_path_factory.mktemp("cleanup"), url, spool=False, index_prefix=name)
        cleaner.delete_indices()
        cleaner.close()


def emptied(store: OpenSearchStore) -> OpenSearchStore:
    """The store with every document of its prefix deleted, its indices and template kept.

    Creating a prefix's eight indices takes the node about 1.5 s (mostly starting their shards), deleting every
    document a few milliseconds: the contract suite starts each test on an empty store this way.
    """
    pattern = f"{store.settings.index_prefix}-*"
    store.client.delete_by_query(index=pattern, body={"query": {"match_all": {}}}, params={"refresh": "true", "conflicts": "proceed", "allow_no_indices": "true"})
    return store


class TestOpenSearchContract(StoreContract):
    """Every contract test on the node, each on an empty store (see `emptied`)."""

    @pytest.fixture
    def store(self, tmp_path: Path, node_url: str, contract_prefix: str) -> Iterator[OpenSearchStore]:
        opened = emptied(os_store(tmp_path, node_url, spool=False, index_prefix=contract_prefix, concurrency=2, max_retries=3))
        try:
            yield opened
        finally:
            opened.close()


# ---------------------------------------------------------------- vigie store init | copy | replay, on the node


def vigie_on_node(tmp_path: Path, url: str, prefix: str, *args: str) -> Result:
    config = write_config(
        tmp_path / "config",
        sources=[{"id": "feed-a", "platform": "feed", "url": "https://example.org/feed.xml"}],
        settings={"store": {"backend": "opensearch", "opensearch": {"index_prefix": prefix, "replicas": 0, "concurrency": 2}}},
    )
    env = {"VIGIE_OPENSEARCH_URL": url, **EXTERNAL_ENV}
    return CliRunner().invoke(cli, ["--config", str(config), "--data-dir", str(tmp_path / "data"), *args], env=env, catch_exceptions=False)


@pytest.fixture
def prefix(tmp_path: Path, node_url: str) -> Iterator[str]:
    """A fresh index prefix whose indices are deleted after the test."""
    name = fresh_prefix()
    yield name
    cleaner = os_store(tmp_path / "cleanup", node_url, spool=False, index_prefix=name)
    cleaner.delete_indices()
    cleaner.close()


def test_store_init_names_the_server_and_installs_the_schema(tmp_path: Path, node_url: str, prefix: str) -> None:
    first = vigie_on_node(tmp_path, node_url, prefix, "store", "init")
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[0].startswith("server: OpenSearch 2.") and lines[0].endswith("(Vigie needs 2.4 or newer)")
    assert f"index {prefix}-runs: created" in lines and f"template {prefix}-posts: version 2 for {prefix}-posts-*" in lines
    again = vigie_on_node(tmp_path, node_url, prefix, "store", "init")
    assert again.exit_code == 0 and f"index {prefix}-runs: exists, mapping up to date" in again.output


def test_store_copy_from_sqlite_moves_posts_and_records(tmp_path: Path, node_url: str, prefix: str) -> None:
    fill(tmp_path / "a.db", posts=30).close()
    copied = vigie_on_node(tmp_path, node_url, prefix, "store", "copy", "--from", f"sqlite:{tmp_path / 'a.db'}", "--to", "opensearch", "--batch-size", "7", "--json")
    assert copied.exit_code == 0, copied.output
    report = json.loads(copied.output)
    assert (report["posts"], report["new"], report["errors"]) == (30, 30, [])
    assert report["records"] == {"crawl runs": 1, "cursors": 1, "alerts": 1, "candidates": 0, "subscriptions": 1, "saved searches": 1, "unsent messages": 1}
    store = os_store(tmp_path, node_url, spool=False, index_prefix=prefix)
    with SQLiteStore(tmp_path / "a.db") as source:
        assert store.count_posts(PostQuery()) == 30
        assert [p.id for p in store.iter_posts(PostQuery(sort="oldest"))] == [p.id for p in source.iter_posts(PostQuery(sort="oldest"))]
        assert store.get_post("feed:7") == source.get_post("feed:7")
    assert store.get_cursor("feed-a") == {"etag": "W/1"} and [m.id for m in store.due_messages(datetime.now(UTC))] == ["m1"]
    back = vigie_on_node(tmp_path, node_url, prefix, "store", "copy", "--from", "opensearch", "--to", f"sqlite:{tmp_path / 'b.db'}", "--json")
    assert back.exit_code == 0 and json.loads(back.output)["posts"] == 30


def test_store_replay_sends_the_spool_to_the_node(tmp_path: Path, node_url: str, prefix: str) -> None:
    Spool(tmp_path / "data" / "spool").append([make_post("1", "x"), make_post("2", "y")])
    replayed = vigie_on_node(tmp_path, node_url, prefix, "store", "replay")
    assert replayed.exit_code == 0 and "2 spooled posts sent: 2 new, 0 updated, 0 refused" in replayed.output
    assert os_store(tmp_path, node_url, spool=False, index_prefix=prefix).count_posts(PostQuery()) == 2


# ---------------------------------------------------------------- the researchers' guide: every worked query runs

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "elasticsearch.md"


def worked_queries() -> list[tuple[str, dict[str, Any]]]:
    """(heading, body) of every request body of the guide's "Worked queries": curl `-d '…'` bodies and JSON blocks."""
    section = GUIDE.read_text(encoding="utf-8").split("\n## Worked queries\n", 1)[1].split("\n## ", 1)[0]
    found, heading = [], ""
    for part in re.finditer(r"^### ([^\n]+)$|^```(sh|json)\n(.*?)^```", section, re.M | re.S):
        if part.group(1):
            heading = part.group(1)
        elif part.group(2) == "json":
            found.append((heading, json.loads(part.group(3))))
        elif body := re.search(r"-d '(.*)'", part.group(3), re.S):
            found.append((heading, json.loads(body.group(1))))
    return found


def guide_corpus(now: datetime) -> list[Post]:
    """Posts the guide's queries are about: a narrative, a hashtag, a text copied across six channels, two languages."""
    text = "L'énergie quantique guérit tout : les malades sont guéries en une nuit #plandemie"
    copies = [
        make_post(f"copy{n}", text, source_id=f"tg-{n}", platform="telegram", published_at=now - timedelta(days=2, hours=n), language="fr",
                  narratives=["miracle-healing"], hashtags=["plandemie"], cluster_id="c-wide")
        for n in range(6)
    ]
    return [*copies, make_post("en1", "Quantum energy heals everything", source_id="rss-en", published_at=now - timedelta(days=3), language="en")]


def test_every_worked_query_of_the_guide_answers_sensibly(tmp_path: Path, node_url: str, prefix: str) -> None:
    store = os_store(tmp_path, node_url, spool=False, index_prefix=prefix)
    store.upsert_posts(guide_corpus(datetime.now(UTC)))
    queries = worked_queries()
    assert [heading for heading, _ in queries] == [
        "Posts of a narrative per day",
        "Top channels for a hashtag last week",
        "Copy-paste clusters spanning more than 5 sources",
        "Language split",
        "Full text, with and without stemming",
        "Full text, with and without stemming",
    ]
    answers = [store.client.search(index=f"{prefix}-posts", body=body) for _, body in queries]
    per_day, channels, clusters, languages, phrase, stemmed = answers
    assert sum(day["doc_count"] for day in per_day["aggregations"]["per_day"]["buckets"]) == 6
    assert {b["key"] for b in channels["aggregations"]["channels"]["buckets"]} == {f"tg-{n}" for n in range(6)}
    (wide,) = clusters["aggregations"]["clusters"]["buckets"]
    assert (wide["key"], wide["sources"]["value"], wide["first"]["hits"]["hits"][0]["_source"]["source_id"]) == ("c-wide", 6, "tg-5")
    assert {b["key"]: b["doc_count"] for b in languages["aggregations"]["languages"]["buckets"]} == {"fr": 6, "en": 1}
    assert phrase["hits"]["total"]["value"] == 6 and "<em>énergie</em>" in phrase["hits"]["hits"][0]["highlight"]["text"][0]
    assert stemmed["hits"]["total"]["value"] == 6


# ---------------------------------------------------------------- faults: the node stops and comes back


@pytest.fixture
def own_node(node: OpenSearchNode | None) -> Iterator[OpenSearchNode]:
    """The test node, which these tests stop and start again (never a node of your own); ask for it after `prefix`,
    so that it is up again when the prefix's indices are deleted."""
    if node is None:
        pytest.skip("the fault tests stop and start the node: they run on the test node, not on VIGIE_OPENSEARCH_URL")
    node.start()
    yield node
    node.start()


def spooled_ids(store: OpenSearchStore) -> list[str]:
    assert store.spool is not None
    return [p.id for segment in store.spool.segments() for batch, _ in store.spool.read(segment, 1000) for p in batch]


def test_a_node_killed_mid_ingest_loses_nothing_and_stores_each_post_once(tmp_path: Path, prefix: str, own_node: OpenSearchNode) -> None:
    """A crawl writes 3,000 posts in batches of 100 while the node is killed; some posts come twice (re-crawled)."""
    store = os_store(tmp_path, own_node.url, index_prefix=prefix, batch_size=50, concurrency=2, request_timeout=5)
    batches = [[post(str(n), likes=1) for n in range(start, start + 100)] for start in range(0, 3000, 100)]
    newer = {later: range((later - 2) * 100, (later - 2) * 100 + 20) for later in range(2, len(batches), 3)}
    for later, numbers in newer.items():  # every third batch also carries a newer version of 20 earlier posts
        batches[later] += [post(str(n), likes=2) for n in numbers]
    stored_before: dict[str, datetime] = {}
    for number, batch in enumerate(batches):
        if number == 8:
            stored_before = {p.id: p.first_seen_at for p in store.iter_posts(PostQuery())}  # type: ignore[misc]
            own_node.kill()
        store.upsert_posts(batch)
    assert len(stored_before) == 800
    waiting = spooled_ids(store)
    assert waiting and len(waiting) == sum(len(batch) for batch in batches[8:])
    own_node.start()
    replayed = store.replay_spool()
    assert not store.spool.pending() and replayed.errors == []
    total = store.count_posts(PostQuery())
    assert total == 3000
    walked = list(store.iter_posts(PostQuery(sort="oldest")))
    assert len({p.id for p in walked}) == len(walked) == 3000
    by_id = {p.id: p for p in walked}
    assert {post_id: by_id[post_id].first_seen_at for post_id in stored_before} == stored_before
    updated = {f"feed:{n}" for numbers in newer.values() for n in numbers}
    assert all(by_id[post_id].engagement.likes == 2 for post_id in updated)
    assert all(p.engagement.likes == 1 for p in walked if p.id not in updated)


def test_alerts_and_dashboard_say_store_unavailable_while_the_node_is_down(
    tmp_path: Path, prefix: str, own_node: OpenSearchNode, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from streamlit.testing.v1 import AppTest

    from dashboard.render import md
    from scheduler import jobs
    from scheduler.child import ChildProcesses

    config_dir = write_config(tmp_path / "config", settings={"store": {"backend": "opensearch", "opensearch": {"index_prefix": prefix, "replicas": 0, "request_timeout": 5}}})
    (tmp_path / "data").mkdir()
    for name, value in {"VIGIE_CONFIG": str(config_dir), "VIGIE_DATA_DIR": str(tmp_path / "data"), "VIGIE_OPENSEARCH_URL": own_node.url, **EXTERNAL_ENV}.items():
        monkeypatch.setenv(name, value)
    config = load_config(config_dir, tmp_path / "data")
    os_store(tmp_path / "seed", own_node.url, spool=False, index_prefix=prefix).upsert_posts([post("1"), post("2")])
    jobs.bind(jobs.JobContext(config=config, children=ChildProcesses(grace=1)))
    caplog.set_level(logging.INFO, logger="vigie.scheduler")
    app = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py"), default_timeout=60)
    try:
        own_node.stop()
        caplog.clear()
        jobs.alert_cycle()
        (skipped,) = [r for r in caplog.records if r.name == "vigie.scheduler"]
        assert skipped.getMessage().startswith(f"alert cycle skipped, store unavailable: OpenSearch at {own_node.url} unreachable while")
        assert "\n" not in skipped.getMessage() and skipped.exc_info is None
        app.run()
        (shown,) = [element.value for element in app.error]
        assert shown.startswith("Store unavailable: " + md(f"OpenSearch at {own_node.url} unreachable")) and "\n" not in shown
        own_node.start()
        caplog.clear()
        jobs.alert_cycle()
        assert [r.getMessage() for r in caplog.records if r.name == "vigie.scheduler"] == ["alert cycle done"]
        app.run()
        assert not app.error and not app.exception
    finally:
        jobs.bind(None)


def test_a_node_refusing_bulk_requests_with_429_slows_the_writer_and_loses_nothing(tmp_path: Path, node: OpenSearchNode | None) -> None:
    """A second node, small, whose indexing memory (`indexing_pressure.memory.limit`) holds one of these `_bulk`
    requests (about 93 kB of `create`s) at a time: the four lanes' requests that overlap are refused with 429,
    retried with backoff, and every post gets in."""
    if node is None:
        pytest.skip("starts a node of its own with a tiny indexing memory: needs Java 17+ and Maven, not VIGIE_OPENSEARCH_URL")
    with OpenSearchNode(tmp_path / "small-node", heap="256m", settings={"indexing_pressure.memory.limit": "150kb"}) as small:
        store = os_store(tmp_path, small.url, index_prefix=fresh_prefix(), batch_size=100, concurrency=4, max_retries=8)
        for start in range(0, 4000, 1000):
            result = store.upsert_posts([post(str(n)) for n in range(start, start + 1000)])
            assert (result.new, result.errors) == (1000, [])
        stats = store.client.nodes.stats(metric="indexing_pressure")
        (pressure,) = [found["indexing_pressure"]["memory"]["total"] for found in stats["nodes"].values()]
        assert pressure["coordinating_rejections"] + pressure["primary_rejections"] > 0
        assert store.count_posts(PostQuery()) == 4000 and not store.spool.pending()
