"""The Elasticsearch store.

Without a cluster: connection settings and secrets, what the store sends for schema installation and bulk upserts
(against the recording loopback `FakeElasticsearch`), and the parsing of highlights. With `VIGIE_ES_URL` set: the
store contract suite, against a real cluster, on a fresh index prefix that is deleted afterwards.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from store import es_bodies as bodies
from store.base import BucketCount, ClusterSummary, PostQuery, StoreError, TermCount
from store.elasticsearch import ClusterUnreachable, ElasticsearchStore, SignificantTerm, client_options, highlight_spans, post_from_source, redact_url
from tests.store.contract import StoreContract
from tests.store.test_spool import ELASTICSEARCH_INFO, FakeElasticsearch, Recorded, closed_port, es_store, post
from tests.support.factories import make_post, write_config
from vigie.config import ElasticsearchSettings, load_config
from vigie.models import OutboxMessage, Post

ES_URL = os.environ.get("VIGIE_ES_URL")
NO_CLUSTER = "VIGIE_ES_URL not set: start a single-node Elasticsearch (see README) to run the Elasticsearch contract suite"
CLUSTER_ENV = {name: os.environ[name] for name in ("VIGIE_ES_API_KEY", "VIGIE_ES_USER", "VIGIE_ES_PASSWORD") if name in os.environ}
"""Credentials for the contract suite, read before the autouse fixture clears VIGIE_* from the environment."""
CLUSTER_CA_FILE = os.environ.get("VIGIE_STORE__ELASTICSEARCH__CA_FILE")


# ---------------------------------------------------------------- connection settings


def test_without_a_url_the_store_says_which_variable_to_set(tmp_path: Path) -> None:
    folder = write_config(tmp_path / "config", settings={"store": {"backend": "elasticsearch"}})
    with pytest.raises(StoreError, match="set VIGIE_ES_URL"):
        ElasticsearchStore.from_config(load_config(folder, tmp_path / "data", environ={}), environ={})


def test_credentials_come_from_the_environment(tmp_path: Path) -> None:
    settings = ElasticsearchSettings(url="https://es.example.org:9200")
    assert client_options(settings, {"VIGIE_ES_API_KEY": "k3y"}, tmp_path)["api_key"] == "k3y"
    assert client_options(settings, {"VIGIE_ES_USER": "vigie", "VIGIE_ES_PASSWORD": "pw"}, tmp_path)["basic_auth"] == ("vigie", "pw")
    assert not {"api_key", "basic_auth"} & set(client_options(settings, {}, tmp_path))
    with pytest.raises(StoreError, match="set both VIGIE_ES_USER and VIGIE_ES_PASSWORD"):
        client_options(settings, {"VIGIE_ES_USER": "vigie"}, tmp_path)


def test_a_password_in_the_url_is_used_but_never_shown(tmp_path: Path) -> None:
    settings = ElasticsearchSettings(url="https://vigie:s3cret@es.example.org:9200")
    options = client_options(settings, {}, tmp_path)
    assert options["hosts"] == ["https://es.example.org:9200"]
    assert options["basic_auth"] == ("vigie", "s3cret")
    assert redact_url("http://u:p@localhost/") == "http://localhost/"


def test_the_ca_file_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    settings = ElasticsearchSettings(url="https://es.example.org:9200", ca_file="ca.pem")
    assert client_options(settings, {}, tmp_path)["ca_certs"] == str(tmp_path / "ca.pem")
    with pytest.raises(StoreError, match=r"ca_file: .*missing\.pem not found"):
        client_options(ElasticsearchSettings(url="https://es.example.org", ca_file="missing.pem"), {}, tmp_path)


def test_a_bad_url_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="expected http"):
        client_options(ElasticsearchSettings(url="es.example.org:9200"), {}, tmp_path)


def test_the_api_key_is_sent_and_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeElasticsearch() as cluster:
        store = es_store(tmp_path, cluster.url, environ={"VIGIE_ES_API_KEY": "very-secret-key"})
        store.upsert_posts([post("1")])
        assert {request.headers["authorization"] for request in cluster.requests} == {"ApiKey very-secret-key"}
    unreachable = es_store(tmp_path, f"http://vigie:pw-in-url@127.0.0.1:{closed_port()}", spool=False, environ={"VIGIE_ES_API_KEY": "very-secret-key"})
    with pytest.raises(ClusterUnreachable) as raised:
        unreachable.upsert_posts([post("2")])
    for shown in (caplog.text, str(raised.value), repr(unreachable)):
        assert "very-secret-key" not in shown and "pw-in-url" not in shown


def test_refused_credentials_keep_the_posts_and_name_the_variables(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with FakeElasticsearch(fail={("PUT", "/_bulk"): 401}) as cluster:
        store = es_store(tmp_path, cluster.url, environ={"VIGIE_ES_API_KEY": "revoked-key"})
        assert store.upsert_posts([post("1")]).new == 0
    assert store.spool.count() == 1
    assert "writing posts failed: 401" in caplog.text and "check VIGIE_ES_API_KEY or VIGIE_ES_USER/VIGIE_ES_PASSWORD" in caplog.text
    assert "revoked-key" not in caplog.text


def test_basic_auth_is_sent(tmp_path: Path) -> None:
    with FakeElasticsearch() as cluster:
        es_store(tmp_path, cluster.url, environ={"VIGIE_ES_USER": "vigie", "VIGIE_ES_PASSWORD": "pw"}).upsert_posts([post("1")])
        expected = "Basic " + base64.b64encode(b"vigie:pw").decode()
        assert {request.headers["authorization"] for request in cluster.requests} == {expected}


# ---------------------------------------------------------------- schema installation


def test_init_creates_the_small_indices_and_the_posts_template(tmp_path: Path) -> None:
    with FakeElasticsearch() as cluster:
        store = es_store(tmp_path, cluster.url)
        done = store.init_schema()
        created = {r.path.strip("/"): json.loads(r.body) for r in cluster.requests if r.method == "PUT" and "/" not in r.path.strip("/")}
        assert created == {index: bodies.small_index_body(kind, 0) for kind, index in store.names.small_indices.items()}
        assert cluster.templates == {"vigie-posts": bodies.posts_index_template(store.names, 0)}
        assert "template vigie-posts: version 2 for vigie-posts-*" in done


def test_init_names_the_server_and_the_oldest_version_it_needs(tmp_path: Path) -> None:
    with FakeElasticsearch() as cluster:
        done = es_store(tmp_path, cluster.url).init_schema()
    assert done[0] == f"server: Elasticsearch 8.15.0 at {cluster.url} (Vigie needs 8.9 or newer)"


@pytest.mark.parametrize(
    ("version", "refusal"),
    [
        ({"number": "8.8.2", "build_flavor": "default"}, r"is version 8\.8\.2; Vigie needs Elasticsearch 8\.9 or newer \(point in time, highlight max_analyzed_offset, phrases highlighted as one span\)"),
        ({"distribution": "opensearch", "number": "2.19.6"}, r"is OpenSearch 2\.19\.6: set store\.backend: opensearch \(and VIGIE_OPENSEARCH_URL\)"),
    ],
)
def test_init_refuses_an_older_server_or_another_engine_in_one_line(tmp_path: Path, version: dict[str, str], refusal: str) -> None:
    info = {**ELASTICSEARCH_INFO, "version": {**ELASTICSEARCH_INFO["version"], **version}}
    if "distribution" in version:
        info["version"].pop("build_flavor")
    with FakeElasticsearch(info=info) as cluster:
        with pytest.raises(StoreError, match=refusal) as raised:
            es_store(tmp_path, cluster.url).init_schema()
        assert "\n" not in str(raised.value)
        assert not [r for r in cluster.requests if r.method == "PUT"]


def test_init_is_idempotent_and_upgrades_existing_indices(tmp_path: Path) -> None:
    with FakeElasticsearch() as cluster:
        store = es_store(tmp_path, cluster.url)
        store.upsert_posts([post("1")])
        cluster.aliases["vigie-posts-2024.05"].clear()
        cluster.requests.clear()
        done = store.init_schema()
        assert "index vigie-runs: exists, mapping up to date" in done
        assert "index vigie-posts-2024.05: mapping up to date, added to alias vigie-posts" in done
        assert cluster.aliases["vigie-posts-2024.05"] == {"vigie-posts"}
        mapped = {r.path for r in cluster.requests if r.path.endswith("/_mapping")}
        assert "/vigie-posts-2024.05/_mapping" in mapped and "/vigie-outbox/_mapping" in mapped
        assert not [r for r in cluster.requests if r.method == "PUT" and "/" not in r.path.strip("/")]


def test_the_schema_is_installed_once_on_first_write(tmp_path: Path) -> None:
    with FakeElasticsearch() as cluster:
        es_store(tmp_path, cluster.url).upsert_posts([post("1")])
        assert "vigie-posts" in cluster.templates
        cluster.requests.clear()
        es_store(tmp_path, cluster.url).upsert_posts([post("2")])
        assert [r.path for r in cluster.requests if "_index_template" in r.path] == ["/_index_template/vigie-posts"]
        assert not [r for r in cluster.requests if r.method == "PUT" and "_index_template" in r.path]


def test_deleting_the_indices_spares_other_prefixes(tmp_path: Path) -> None:
    with FakeElasticsearch() as cluster:
        es_store(tmp_path, cluster.url, index_prefix="vigie-posts-x").upsert_posts([post("1")])
        store = es_store(tmp_path, cluster.url)
        store.upsert_posts([post("2")])
        deleted = store.delete_indices()
        assert deleted == sorted(["vigie-posts-2024.05", *store.names.small_indices.values()])
        assert sorted(cluster.docs) == sorted(["vigie-posts-x-posts-2024.05", *(f"vigie-posts-x-{kind}" for kind in store.names.small_indices)])
        assert list(cluster.templates) == ["vigie-posts-x-posts"]


# ---------------------------------------------------------------- bulk upserts


def test_upserts_go_to_the_monthly_index_of_published_at_and_count_new_and_updated(tmp_path: Path) -> None:
    with FakeElasticsearch() as cluster:
        store = es_store(tmp_path, cluster.url)
        may, june = post("1"), make_post("june", "x", published_at=datetime(2024, 6, 3, tzinfo=UTC))
        first = store.upsert_posts([may, june])
        second = store.upsert_posts([post("1", likes=9), post("2")])
        assert (first.new, first.updated, second.new, second.updated) == (2, 0, 1, 1)
        actions = [(operation, meta["_index"], meta["_id"]) for request in cluster.bulks() for action, _ in request for operation, meta in action.items()]
        assert actions == [
            ("create", "vigie-posts-2024.05", "feed:1"),
            ("create", "vigie-posts-2024.06", "feed:june"),
            ("create", "vigie-posts-2024.05", "feed:1"),
            ("create", "vigie-posts-2024.05", "feed:2"),
            ("update", "vigie-posts-2024.05", "feed:1"),  # the 409 of the post already stored, as a scripted upsert
        ]
        created = cluster.bulks()[0][0][1]
        assert created["first_seen_at"] and created == {**bodies.post_document(may), "first_seen_at": created["first_seen_at"]}
        upsert = cluster.bulks()[-1][0][1]
        assert upsert["scripted_upsert"] is True and upsert["script"]["params"]["doc"]["engagement"]["likes"] == 9
        refreshed = [r.path for r in cluster.requests if r.path.endswith("/_refresh")]
        assert refreshed == ["/vigie-posts-2024.05,vigie-posts-2024.06/_refresh", "/vigie-posts-2024.05/_refresh"]
        assert cluster.aliases["vigie-posts-2024.06"] == {"vigie-posts"}


def test_without_refresh_writes_send_no_refresh(tmp_path: Path) -> None:
    with FakeElasticsearch() as cluster:
        es_store(tmp_path, cluster.url, refresh=False).upsert_posts([post("1")])
        assert not [r for r in cluster.requests if r.path.endswith("/_refresh")]


def test_a_post_the_cluster_refuses_is_reported_and_the_batch_kept(tmp_path: Path) -> None:
    refusal = {"type": "document_parsing_exception", "reason": "failed to parse", "caused_by": {"type": "illegal_argument_exception", "reason": "bad date"}}
    with FakeElasticsearch(reject={"feed:2": (400, refusal)}) as cluster:
        result = es_store(tmp_path, cluster.url).upsert_posts([post("1"), post("2"), post("3")])
        assert (result.new, result.errors) == (2, [("feed:2", "document_parsing_exception: failed to parse (caused by illegal_argument_exception: bad date)")])
        assert sorted(cluster.stored()) == ["feed:1", "feed:3"]


def test_busy_rejections_are_retried_with_backoff(tmp_path: Path) -> None:
    with FakeElasticsearch(busy={"feed:2": 1}) as cluster:
        store = es_store(tmp_path, cluster.url, max_retries=2)
        result = store.upsert_posts([post("1"), post("2")])
        assert (result.new, result.errors) == (2, [])
        assert cluster.bulk_ids() == ["feed:1", "feed:2", "feed:2"]
        assert not store.spool.pending()


def test_still_busy_after_the_retries_means_spooled_not_lost(tmp_path: Path) -> None:
    with FakeElasticsearch(busy={"feed:2": 5}) as cluster:
        store = es_store(tmp_path, cluster.url)
        result = store.upsert_posts([post("1"), post("2")])
        assert (result.new, result.errors) == (1, [])
        assert [p.id for segment in store.spool.segments() for batch, _ in store.spool.read(segment, 10) for p in batch] == ["feed:2"]


def test_concurrent_lanes_keep_the_versions_of_a_post_in_order(tmp_path: Path) -> None:
    with FakeElasticsearch() as cluster:
        store = es_store(tmp_path, cluster.url, concurrency=3, batch_size=2)
        versions = [post(str(n % 4), likes=n) for n in range(12)]
        result = store.upsert_posts(versions)
        assert (result.new, result.updated) == (4, 8)
        sent = [
            (operation, meta["_id"], (body if operation == "create" else body["script"]["params"]["doc"])["engagement"]["likes"])
            for request in cluster.bulks()
            for action, body in request
            for operation, meta in action.items()
        ]
        for native in range(4):
            versions = [n for n in range(12) if n % 4 == native]
            assert [likes for operation, post_id, likes in sent if post_id == f"feed:{native}" and operation == "create"] == versions
            assert [likes for operation, post_id, likes in sent if post_id == f"feed:{native}" and operation == "update"] == versions[1:]
        assert {doc_id: doc["engagement"]["likes"] for doc_id, doc in cluster.stored().items()} == {f"feed:{n}": 8 + n for n in range(4)}


def test_an_unavailable_cluster_mid_write_spools_what_was_not_taken(tmp_path: Path) -> None:
    with FakeElasticsearch(down_after_bulks=1) as cluster:
        store = es_store(tmp_path, cluster.url, batch_size=2)
        result = store.upsert_posts([post("1"), post("2"), post("3")])
        assert result.new == 2
        assert sorted(cluster.stored()) == ["feed:1", "feed:2"]
        assert [p.id for segment in store.spool.segments() for batch, _ in store.spool.read(segment, 10) for p in batch] == ["feed:3"]


# ---------------------------------------------------------------- reading answers

MAY_1 = 1714521600000
"""2024-05-01T00:00:00Z in epoch milliseconds, as date_histogram keys come."""


def _hit(post: Post, *, marked: str | None = None, sort: list[Any] | None = None) -> dict[str, Any]:
    hit: dict[str, Any] = {"_index": "vigie-posts-2024.05", "_id": post.id, "_score": None, "_source": bodies.post_document(post), "sort": sort or [0, post.id]}
    if marked is not None:
        hit["highlight"] = {"text": [marked]}
    return hit


def _hits(hits: list[dict[str, Any]], total: int | None = None, **extra: Any) -> dict[str, Any]:
    """A `_search` answer, shaped as the Elasticsearch documentation shows it."""
    shards = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    return {"took": 1, "timed_out": False, "_shards": shards, "hits": {"total": {"value": total if total is not None else len(hits), "relation": "eq"}, "max_score": None, "hits": hits}, **extra}


def _sent(cluster: FakeElasticsearch, endpoint: str) -> list[Recorded]:
    return [request for request in cluster.requests if request.path.endswith(endpoint)]


def test_search_sends_its_body_to_the_read_alias_and_maps_highlights(tmp_path: Path) -> None:
    post_ = make_post("1", "La guérison par les cristaux")
    marked = f"La {bodies.HIGHLIGHT_PRE}guérison{bodies.HIGHLIGHT_POST} par les cristaux"
    query = PostQuery(text="guerison", limit=2)
    with FakeElasticsearch(answers={"_search": [_hits([_hit(post_, marked=marked)], total=7)]}) as cluster:
        result = es_store(tmp_path, cluster.url).search(query)
        (request,) = _sent(cluster, "/_search")
    assert (result.total, result.posts, result.hits[0].highlights) == (7, [post_], [(3, 11)])
    assert request.path == "/vigie-posts/_search" and request.params["ignore_unavailable"] == ["true"]
    assert json.loads(request.body) == bodies.search_body(query, size=2, offset=0)


def test_deep_pages_walk_a_point_in_time_and_close_it(tmp_path: Path) -> None:
    wanted = [make_post(f"deep{n}", "x") for n in range(3)]
    skipped = [{"_source": {}, "sort": [0, f"skip{n}"]} for n in range(bodies.MAX_PAGE_WINDOW)]
    answers = {
        "_pit": [{"id": "PIT-1"}],
        "_search": [_hits(skipped, pit_id="PIT-2"), _hits([_hit(p) for p in wanted], pit_id="PIT-3")],
        "_count": [{"count": 10_003, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}}],
    }
    with FakeElasticsearch(answers=answers) as cluster:
        result = es_store(tmp_path, cluster.url).search(PostQuery(limit=2, offset=10_001))
        pages = [json.loads(r.body) for r in _sent(cluster, "/_search")]
        closed = [json.loads(r.body) for r in cluster.requests if r.method == "DELETE" and r.path == "/_pit"]
    assert (result.total, [p.id for p in result.posts]) == (10_003, ["feed:deep1", "feed:deep2"])
    assert [page["pit"]["id"] for page in pages] == ["PIT-1", "PIT-2"]
    assert "search_after" not in pages[0] and pages[1]["search_after"] == [0, f"skip{bodies.MAX_PAGE_WINDOW - 1}"]
    assert closed == [{"id": "PIT-3"}]


def test_iter_posts_pages_with_search_after_and_closes_the_point_in_time(tmp_path: Path) -> None:
    posts = [make_post(f"{n}", "x") for n in range(3)]
    answers = {"_pit": [{"id": "PIT-1"}], "_search": [_hits([_hit(posts[0], sort=[3, "a"]), _hit(posts[1], sort=[2, "b"])], pit_id="PIT-2"), _hits([_hit(posts[2])])]}
    with FakeElasticsearch(answers=answers) as cluster:
        walked = list(es_store(tmp_path, cluster.url).iter_posts(PostQuery(sort="oldest", limit=1), batch_size=2))
        (opened,) = _sent(cluster, "/_pit")[:1]
        pages = [json.loads(r.body) for r in _sent(cluster, "/_search")]
    assert walked == posts
    assert opened.path == "/vigie-posts/_pit" and opened.params["keep_alive"] == ["2m"]
    assert [(page["pit"]["id"], page.get("search_after"), page["size"]) for page in pages] == [("PIT-1", None, 2), ("PIT-2", [2, "b"], 2)]
    assert pages[0]["sort"] == bodies.post_sort("oldest")


def test_a_walk_abandoned_early_still_closes_its_point_in_time(tmp_path: Path) -> None:
    answers = {"_pit": [{"id": "PIT-1"}], "_search": [_hits([_hit(make_post("1", "x")), _hit(make_post("2", "x"))])]}
    with FakeElasticsearch(answers=answers) as cluster:
        walk = es_store(tmp_path, cluster.url).iter_posts(PostQuery(), batch_size=2)
        assert next(walk).id == "feed:1"
        walk.close()
        assert [json.loads(r.body) for r in cluster.requests if r.method == "DELETE"] == [{"id": "PIT-1"}]


def test_bucket_counts_follow_the_composite_after_key(tmp_path: Path) -> None:
    hour = 3_600_000
    first_page = [{"key": {"start": MAY_1 + n * hour, "key": "healing"}, "doc_count": 2, "authors": {"value": 2}, "sources": {"value": 1}} for n in range(bodies.BUCKET_PAGE)]
    last = {"key": {"start": MAY_1, "key": "vaccines"}, "doc_count": 1, "authors": {"value": 1}, "sources": {"value": 1}}
    answers = {
        "_search": [
            _hits([], total=0, aggregations={"buckets": {"after_key": first_page[-1]["key"], "buckets": first_page}}),
            _hits([], total=0, aggregations={"buckets": {"after_key": last["key"], "buckets": [last]}}),
        ]
    }
    with FakeElasticsearch(answers=answers) as cluster:
        counts = es_store(tmp_path, cluster.url).count_buckets(PostQuery(), "hour", "narrative")
        requests = [json.loads(r.body)["aggs"]["buckets"]["composite"] for r in _sent(cluster, "/_search")]
    assert len(counts) == bodies.BUCKET_PAGE + 1
    assert counts[0] == BucketCount(start=datetime(2024, 5, 1, tzinfo=UTC), key="healing", posts=2, authors=2, sources=1)
    assert counts[-1].key == "vaccines"
    assert "after" not in requests[0] and requests[1]["after"] == first_page[-1]["key"]


def test_top_terms_clusters_and_significant_terms_are_read_from_their_aggregations(tmp_path: Path) -> None:
    first = {"_source": {"id": "feed:p1", "source_id": "rss-a", "published_at": "2024-05-01T09:00:00Z"}}
    cluster_bucket = {"key": "c-1", "doc_count": 3, "sources": {"value": 2}, "first": {"hits": {"total": {"value": 3, "relation": "eq"}, "hits": [first]}}}
    answers = {
        "_search": [
            _hits([], aggregations={"top": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": [{"key": "cristaux", "doc_count": 2}]}}),
            _hits([], aggregations={"clusters": {"buckets": [cluster_bucket]}}),
            _hits([], aggregations={"sample": {"doc_count": 40, "significant": {"doc_count": 40, "bg_count": 900, "buckets": [{"key": "5g", "doc_count": 12, "score": 3.5, "bg_count": 15}]}}}),
            _hits([], aggregations={"significant": {"doc_count": 40, "bg_count": 900, "buckets": [{"key": "plandemie", "doc_count": 9, "score": 1.25, "bg_count": 10}]}}),
        ]
    }
    with FakeElasticsearch(answers=answers) as cluster:
        store = es_store(tmp_path, cluster.url)
        assert store.top_terms(PostQuery(), "hashtag") == [TermCount("cristaux", 2)]
        assert store.clusters(PostQuery()) == [ClusterSummary("c-1", 3, 2, "feed:p1", "rss-a", datetime(2024, 5, 1, 9, tzinfo=UTC))]
        assert store.significant_terms(PostQuery(), "text") == [SignificantTerm("5g", 12, 15, 3.5)]
        assert store.significant_terms(PostQuery(), "hashtag", PostQuery()) == [SignificantTerm("plandemie", 9, 10, 1.25)]


def test_nothing_stored_yet_reads_as_empty(tmp_path: Path) -> None:
    empty = _hits([], total=0)
    with FakeElasticsearch(answers={"_search": [empty, empty, empty], "_count": [{"count": 0}]}) as cluster:
        store = es_store(tmp_path, cluster.url)
        assert store.count_buckets(PostQuery(), "day") == []
        assert store.top_terms(PostQuery(), "domain") == []
        assert store.get_post("feed:1") is None
        assert store.count_posts(PostQuery()) == 0
        assert store.get_cursor("src") is None


def test_small_records_are_documents_by_id(tmp_path: Path) -> None:
    message = OutboxMessage(id="m1", recipient="veille@example.org")
    with FakeElasticsearch() as cluster:
        store = es_store(tmp_path, cluster.url)
        store.set_cursor("src", {"etag": "W/1"})
        assert store.get_cursor("src") == {"etag": "W/1"}
        assert (store.enqueue(message), store.enqueue(message)) == (True, False)
        assert (store.delete_subscription("s1"), store.get_alert("a1")) == (False, None)
        writes = [(r.method, r.path, r.params) for r in cluster.requests if r.method == "PUT" and "/_doc/" in r.path]
    assert writes == [
        ("PUT", "/vigie-cursors/_doc/src", {"refresh": ["true"]}),
        ("PUT", "/vigie-outbox/_doc/m1", {"op_type": ["create"], "refresh": ["true"]}),
        ("PUT", "/vigie-outbox/_doc/m1", {"op_type": ["create"], "refresh": ["true"]}),
    ]


def test_highlight_markers_become_character_spans_of_the_text() -> None:
    pre, post_ = bodies.HIGHLIGHT_PRE, bodies.HIGHLIGHT_POST
    text = "La guérison par l'énergie : guérison garantie"
    marked = f"La {pre}guérison{post_} par l'énergie : {pre}guérison{post_} garantie"
    spans = highlight_spans(marked, text)
    assert spans == [(3, 11), (28, 36)]
    assert {text[start:end] for start, end in spans} == {"guérison"}


def test_highlights_that_do_not_match_the_text_are_dropped() -> None:
    hostile = f"text with a {bodies.HIGHLIGHT_PRE} marker of its own"
    assert highlight_spans(hostile, hostile) == []
    assert highlight_spans("other", "text") == []


def test_stored_documents_read_back_as_posts() -> None:
    original = make_post("1", "Guérison")
    assert post_from_source(bodies.post_document(original)) == original


# ---------------------------------------------------------------- the store contract, against a real cluster


@pytest.mark.elasticsearch
@pytest.mark.skipif(not ES_URL, reason=NO_CLUSTER)
class TestElasticsearchContract(StoreContract):
    """Every contract test against a real cluster, each on its own index prefix, deleted afterwards."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[ElasticsearchStore]:
        prefix = f"vigie-test-{uuid.uuid4().hex[:12]}"
        settings = {"index_prefix": prefix, "concurrency": 2, "max_retries": 3, "ca_file": CLUSTER_CA_FILE}
        es = es_store(tmp_path, ES_URL or "", spool=False, environ=CLUSTER_ENV, **settings)
        try:
            yield es
        finally:
            es.delete_indices()
            es.close()
