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

import pytest

from store import es_bodies as bodies
from store.base import StoreError
from store.elasticsearch import ClusterUnreachable, ElasticsearchStore, client_options, highlight_spans, post_from_source, redact_url
from tests.store.contract import StoreContract
from tests.store.test_spool import FakeElasticsearch, closed_port, es_store, post
from tests.support.factories import make_post, write_config
from vigie.config import ElasticsearchSettings, load_config

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
        assert "template vigie-posts: version 1 for vigie-posts-*" in done


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


# ---------------------------------------------------------------- bulk upserts


def test_upserts_go_to_the_monthly_index_of_published_at_and_count_new_and_updated(tmp_path: Path) -> None:
    with FakeElasticsearch() as cluster:
        store = es_store(tmp_path, cluster.url)
        may, june = post("1"), make_post("june", "x", published_at=datetime(2024, 6, 3, tzinfo=UTC))
        first = store.upsert_posts([may, june])
        second = store.upsert_posts([post("1", likes=9), post("2")])
        assert (first.new, first.updated, second.new, second.updated) == (2, 0, 1, 1)
        actions = [action["update"] for request in cluster.bulks() for action, _ in request]
        assert [(a["_index"], a["_id"]) for a in actions] == [
            ("vigie-posts-2024.05", "feed:1"),
            ("vigie-posts-2024.06", "feed:june"),
            ("vigie-posts-2024.05", "feed:1"),
            ("vigie-posts-2024.05", "feed:2"),
        ]
        body = cluster.bulks()[0][0][1]
        assert body["scripted_upsert"] is True and body["script"]["params"]["doc"] == bodies.post_document(may)
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
        sent = [(action["update"]["_id"], body["script"]["params"]["doc"]["engagement"]["likes"]) for request in cluster.bulks() for action, body in request]
        for native in range(4):
            assert [likes for post_id, likes in sent if post_id == f"feed:{native}"] == [n for n in range(12) if n % 4 == native]
        assert {doc_id: doc["engagement"]["likes"] for doc_id, doc in cluster.stored().items()} == {f"feed:{n}": 8 + n for n in range(4)}


def test_an_unavailable_cluster_mid_write_spools_what_was_not_taken(tmp_path: Path) -> None:
    with FakeElasticsearch(down_after_bulks=1) as cluster:
        store = es_store(tmp_path, cluster.url, batch_size=2)
        result = store.upsert_posts([post("1"), post("2"), post("3")])
        assert result.new == 2
        assert sorted(cluster.stored()) == ["feed:1", "feed:2"]
        assert [p.id for segment in store.spool.segments() for batch, _ in store.spool.read(segment, 10) for p in batch] == ["feed:3"]


# ---------------------------------------------------------------- reading answers


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
            created = es.client.indices.get_alias(index=f"{prefix}-*", allow_no_indices=True, ignore_unavailable=True).body
            if created:
                es.client.indices.delete(index=",".join(created))
            es.client.options(ignore_status=404).indices.delete_index_template(name=es.names.posts_template)
            es.close()
