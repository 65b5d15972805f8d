"""The spool: posts written while the cluster is unreachable wait on disk and are replayed in order, once.

The cluster is first a closed loopback port, then `FakeElasticsearch`: a real HTTP server on loopback that speaks
just enough of the Elasticsearch REST API for writes (index creation, templates, aliases, mappings, `_bulk`
scripted upserts, refresh, documents by id) and records every request, so the tests see what reached the cluster
and in what order. It does not evaluate queries: a test that reads queues the answers (`answers`) in the shape the
Elasticsearch documentation gives, to check how the store reads them.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from store.elasticsearch import ClusterUnreachable, ElasticsearchStore
from store.spool import REJECTED_FILE, Spool
from tests.support.factories import make_post, write_config
from vigie.config import load_config
from vigie.models import Engagement, Post


ELASTICSEARCH_INFO: dict[str, Any] = {
    "name": "es-node-1",
    "cluster_name": "watch",
    "cluster_uuid": "x6b6fd1cTaqYUvDfD6Kx7g",
    "version": {
        "number": "8.15.0",
        "build_flavor": "default",
        "build_type": "docker",
        "build_hash": "1a77947f34deddb41af25e6f0ddb8e830159c179",
        "build_date": "2024-08-05T10:05:34.233336849Z",
        "build_snapshot": False,
        "lucene_version": "9.11.1",
        "minimum_wire_compatibility_version": "7.17.0",
        "minimum_index_compatibility_version": "7.0.0",
    },
    "tagline": "You Know, for Search",
}
"""`GET /` of an Elasticsearch 8.15 node, as the server answers it."""


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeElasticsearch:
    """Loopback stand-in for a cluster's write APIs; `reject`, `busy` and `down_after_bulks` inject failures."""

    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    docs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    aliases: dict[str, set[str]] = field(default_factory=dict)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    reject: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    busy: dict[str, int] = field(default_factory=dict)
    down_after_bulks: int | None = None
    fail: dict[tuple[str, str], int] = field(default_factory=dict)
    """(method, path) answered with this error status."""
    answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Queued answers to `_search`, `_count` and `_pit` requests, first in first out."""
    info: dict[str, Any] = field(default_factory=lambda: dict(ELASTICSEARCH_INFO))
    """The answer to `GET /` (the server's name and version)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> FakeElasticsearch:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(self.command, parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.requests.append(recorded)
                    status, answer = fake.answer(recorded)
                payload = b"" if self.command == "HEAD" else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------ what the tests look at

    def bulks(self) -> list[list[tuple[dict[str, Any], dict[str, Any]]]]:
        """Each `_bulk` request as its (action, body) pairs."""
        requests = []
        for request in self.requests:
            if request.path.endswith("/_bulk"):
                lines = [json.loads(line) for line in request.body.splitlines() if line.strip()]
                requests.append(list(zip(lines[::2], lines[1::2], strict=True)))
        return requests

    def bulk_ids(self) -> list[str]:
        """The ids of the posts sent, once each time a post was sent (its `create`, not the upsert after a 409)."""
        return [action["create"]["_id"] for request in self.bulks() for action, _ in request if "create" in action]

    def stored(self) -> dict[str, dict[str, Any]]:
        return {doc_id: doc for index in self.docs.values() for doc_id, doc in index.items()}

    # ------------------------------------------------------------ the API

    def answer(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        parts = [part for part in request.path.split("/") if part]
        method = request.method
        if (method, request.path) in self.fail:
            status = self.fail[(method, request.path)]
            return status, _error("cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered];", status)
        if not parts and method == "GET":
            return 200, self.info
        if parts and parts[-1] == "_bulk":
            return self._bulk(request.body)
        if parts == ["_pit"] and method == "DELETE":
            return 200, {"succeeded": True, "num_freed": 1}
        if parts and parts[-1] in ("_search", "_count", "_pit"):
            queued = self.answers.get(parts[-1])
            return (200, queued.pop(0)) if queued else (400, _error("illegal_argument_exception", f"no answer queued for {request.path}", 400))
        if len(parts) == 3 and parts[1] in ("_doc", "_create"):
            create = parts[1] == "_create" or request.params.get("op_type") == ["create"]
            return self._document(method, parts[0], parts[2], request.body, create=create)
        if parts[:1] == ["_index_template"]:
            if method == "DELETE":
                return (200, {"acknowledged": True}) if self.templates.pop(parts[1], None) else (404, _error("resource_not_found_exception", parts[1], 404))
            if method == "PUT":
                self.templates[parts[1]] = json.loads(request.body)
                return 200, {"acknowledged": True}
            if parts[1] in self.templates:
                return 200, {"index_templates": [{"name": parts[1], "index_template": self.templates[parts[1]]}]}
            return 404, _error("resource_not_found_exception", f"index template matching [{parts[1]}] not found", 404)
        if len(parts) == 1 and method == "HEAD":
            return (200, {}) if parts[0] in self.docs else (404, {})
        if len(parts) == 1 and method == "DELETE":
            for name in parts[0].split(","):
                self.docs.pop(name)
                self.aliases.pop(name)
            return 200, {"acknowledged": True}
        if len(parts) == 1 and method == "PUT":
            if parts[0] in self.docs:
                return 400, _error("resource_already_exists_exception", f"index [{parts[0]}] already exists", 400)
            self._create(parts[0])
            return 200, {"acknowledged": True, "index": parts[0]}
        if len(parts) == 2 and parts[1] == "_alias" and method == "GET":
            patterns = parts[0].split(",")
            return 200, {name: {"aliases": {alias: {} for alias in self.aliases[name]}} for name in self.docs if any(fnmatch(name, p) for p in patterns)}
        if len(parts) == 3 and parts[1] == "_alias" and method == "PUT":
            self.aliases[parts[0]].add(parts[2])
            return 200, {"acknowledged": True}
        if len(parts) == 2 and parts[1] in ("_mapping", "_refresh"):
            return 200, {"acknowledged": True}
        return 400, _error("illegal_argument_exception", f"{method} {request.path} is not spoken by the fake", 400)

    def _document(self, method: str, index: str, doc_id: str, body: bytes, *, create: bool) -> tuple[int, dict[str, Any]]:
        stored = self.docs.get(index, {})
        base = {"_index": index, "_id": doc_id}
        if method == "GET":
            return (200, {**base, "found": True, "_source": stored[doc_id]}) if doc_id in stored else (404, {**base, "found": False})
        if method == "DELETE":
            return (200, {**base, "result": "deleted"}) if stored.pop(doc_id, None) is not None else (404, {**base, "result": "not_found"})
        if create and doc_id in stored:
            return 409, _error("version_conflict_engine_exception", f"[{doc_id}]: version conflict, document already exists", 409)
        if index not in self.docs:
            self._create(index)
        existed = doc_id in self.docs[index]
        self.docs[index][doc_id] = json.loads(body)
        return (200 if existed else 201), {**base, "result": "updated" if existed else "created"}

    def _create(self, index: str) -> None:
        self.docs.setdefault(index, {})
        aliases = self.aliases.setdefault(index, set())
        for template in self.templates.values():
            if any(fnmatch(index, pattern) for pattern in template["index_patterns"]):
                aliases.update(template["template"].get("aliases", {}))

    def _bulk(self, body: bytes) -> tuple[int, dict[str, Any]]:
        if self.down_after_bulks is not None:
            if self.down_after_bulks <= 0:
                return 503, _error("cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered];", 503)
            self.down_after_bulks -= 1
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        items = []
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            ((operation, meta),) = action.items()
            index, doc_id = meta["_index"], meta["_id"]
            base = {"_index": index, "_id": doc_id}
            if doc_id in self.reject:
                status, error = self.reject[doc_id]
                items.append({operation: {**base, "status": status, "error": error}})
            elif self.busy.get(doc_id, 0) > 0:
                self.busy[doc_id] -= 1
                items.append({operation: {**base, "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "rejected execution"}}})
            else:
                if index not in self.docs:
                    self._create(index)
                written = self._upsert(index, doc_id, source) if operation == "update" else self._create_doc(index, doc_id, source)
                items.append({operation: {**base, **written}})
        return 200, {"took": 1, "errors": any("error" in item for entry in items for item in entry.values()), "items": items}

    def _create_doc(self, index: str, doc_id: str, source: dict[str, Any]) -> dict[str, Any]:
        """A `create`: refused with 409 when the document exists (in any monthly index, as ids are unique)."""
        if doc_id in self.stored():
            return {"status": 409, "error": {"type": "version_conflict_engine_exception", "reason": f"[{doc_id}]: version conflict, document already exists"}}
        self.docs[index][doc_id] = source
        return {"status": 201, "result": "created"}

    def _upsert(self, index: str, doc_id: str, update: dict[str, Any]) -> dict[str, Any]:
        """What the painless upsert script does: take the fresh document, keep first_seen_at."""
        params = update["script"]["params"]
        existing = self.docs[index].get(doc_id)
        doc = {**(existing or {}), **params["doc"]}
        kept = existing.get("first_seen_at") if existing else None
        doc["first_seen_at"] = kept or doc.get("first_seen_at") or params["now"]
        self.docs[index][doc_id] = doc
        return {"status": 200 if existing else 201, "result": "updated" if existing else "created"}


def _error(kind: str, reason: str, status: int) -> dict[str, Any]:
    return {"error": {"type": kind, "reason": reason, "root_cause": [{"type": kind, "reason": reason}]}, "status": status}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def es_store(tmp_path: Path, url: str, *, spool: bool = True, environ: dict[str, str] | None = None, **settings: Any) -> ElasticsearchStore:
    """An Elasticsearch store as configured in vigie.yaml; no retry waits unless a test asks for them."""
    options = {"concurrency": 1, "max_retries": 0, "replicas": 0, "request_timeout": 5, **settings}
    folder = write_config(tmp_path / "config", settings={"store": {"backend": "elasticsearch", "elasticsearch": options}})
    config = load_config(folder, tmp_path / "data", environ={"VIGIE_ES_URL": url})
    return ElasticsearchStore.from_config(config, spool=spool, environ=environ or {})


def post(native_id: str, likes: int = 0, **fields: Any) -> Post:
    return make_post(native_id, f"guérison miraculeuse numéro {native_id}", engagement=Engagement(likes=likes), **fields)


def spooled_ids(spool: Spool) -> list[list[str]]:
    return [[json.loads(line)["id"] for line in segment.read_text(encoding="utf-8").splitlines()] for segment in spool.segments()]


# ---------------------------------------------------------------- the spool on its own


def test_segments_are_numbered_in_write_order_and_hold_whole_posts(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    first = [post("1"), post("2")]
    spool.append(first)
    spool.append([post("3")])
    assert [s.name for s in spool.segments()] == ["000000000001.jsonl", "000000000002.jsonl"]
    assert spooled_ids(spool) == [["feed:1", "feed:2"], ["feed:3"]]
    assert [p for batch, _ in spool.read(spool.segments()[0], 10) for p in batch] == first
    assert spool.count() == 3


def test_a_torn_last_line_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    segment = spool.append([post("1"), post("2")])
    with open(segment, "ab") as handle:
        handle.write(post("3").model_dump_json().encode()[:40])
    (posts, bad), = spool.read(segment, 10)
    assert [p.id for p in posts] == ["feed:1", "feed:2"]
    assert [(line.segment, line.line) for line in bad] == [(segment, 3)]


def test_one_process_at_a_time_replays(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    with spool.replaying() as first, spool.replaying() as second:
        assert (first, second) == (True, False)
    with spool.replaying() as again:
        assert again


def test_an_unwritable_spool_says_where(tmp_path: Path) -> None:
    blocker = tmp_path / "spool"
    blocker.write_text("a file, not a folder")
    with pytest.raises(Exception, match="spool"):
        Spool(blocker).append([post("1")])


# ---------------------------------------------------------------- unreachable cluster, then back


def test_posts_written_while_the_cluster_is_unreachable_are_spooled(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    port = closed_port()
    store = es_store(tmp_path, f"http://127.0.0.1:{port}")
    result = store.upsert_posts([post("1"), post("2")])
    assert (result.new, result.updated, result.errors) == (0, 0, [])
    store.upsert_posts([post("3")])
    assert spooled_ids(store.spool) == [["feed:1", "feed:2"], ["feed:3"]]
    assert f"127.0.0.1:{port} unreachable" in caplog.text and "2 posts spooled" in caplog.text
    with pytest.raises(ClusterUnreachable, match="spooled posts stay in"):
        store.replay_spool()
    assert store.spool.count() == 3


def test_spooled_posts_are_replayed_in_order_before_the_next_write_and_only_once(tmp_path: Path) -> None:
    port = closed_port()
    store = es_store(tmp_path, f"http://127.0.0.1:{port}")
    store.upsert_posts([post("1", likes=1), post("2")])
    store.upsert_posts([post("1", likes=5), post("3")])
    with FakeElasticsearch(port=port) as cluster:
        result = store.upsert_posts([post("4")])
        assert (result.new, result.updated) == (1, 0)
        assert cluster.bulk_ids() == ["feed:1", "feed:2", "feed:1", "feed:3", "feed:4"]
        assert not store.spool.pending()
        stored = cluster.stored()
        assert sorted(stored) == ["feed:1", "feed:2", "feed:3", "feed:4"]
        assert stored["feed:1"]["engagement"]["likes"] == 5
        sent = len(cluster.requests)
        assert store.replay_spool().new == 0
        assert len(cluster.requests) == sent


def test_a_replay_cut_short_resumes_without_doubling_anything(tmp_path: Path) -> None:
    port = closed_port()
    store = es_store(tmp_path, f"http://127.0.0.1:{port}")
    store.upsert_posts([post("1"), post("2")])
    store.upsert_posts([post("3")])
    with FakeElasticsearch(port=port, down_after_bulks=1) as cluster:
        with pytest.raises(ClusterUnreachable, match="503"):
            store.replay_spool()
        assert spooled_ids(store.spool) == [["feed:3"]]
        cluster.down_after_bulks = None
        replayed = store.replay_spool()
        assert (replayed.new, replayed.updated) == (1, 0)
        assert sorted(cluster.stored()) == ["feed:1", "feed:2", "feed:3"]
        assert cluster.bulk_ids().count("feed:1") == 1


def test_the_next_write_is_spooled_behind_what_waits_while_the_cluster_is_still_away(tmp_path: Path) -> None:
    store = es_store(tmp_path, f"http://127.0.0.1:{closed_port()}")
    store.upsert_posts([post("1", likes=1)])
    store.upsert_posts([post("1", likes=2)])
    assert spooled_ids(store.spool) == [["feed:1"], ["feed:1"]]
    assert [p.engagement.likes for segment in store.spool.segments() for batch, _ in store.spool.read(segment, 10) for p in batch] == [1, 2]


def test_while_another_process_replays_new_posts_queue_behind_it(tmp_path: Path) -> None:
    with FakeElasticsearch() as cluster:
        store = es_store(tmp_path, cluster.url)
        store.spool.append([post("1")])
        with store.spool.replaying():
            store.upsert_posts([post("2")])
        assert cluster.bulk_ids() == []
        assert spooled_ids(store.spool) == [["feed:1"], ["feed:2"]]
        store.upsert_posts([])
        assert cluster.bulk_ids() == ["feed:1", "feed:2"]


def test_a_post_the_cluster_refuses_during_replay_is_kept_aside_and_the_rest_stored(tmp_path: Path) -> None:
    port = closed_port()
    store = es_store(tmp_path, f"http://127.0.0.1:{port}")
    store.upsert_posts([post("1"), post("bad"), post("3")])
    mapping_error = {"type": "document_parsing_exception", "reason": "[1:42] failed to parse field [published_at] of type [date]"}
    with FakeElasticsearch(port=port, reject={"feed:bad": (400, mapping_error)}) as cluster:
        replayed = store.replay_spool()
        assert replayed.errors == [("feed:bad", "document_parsing_exception: [1:42] failed to parse field [published_at] of type [date]")]
        assert sorted(cluster.stored()) == ["feed:1", "feed:3"]
    assert not store.spool.pending()
    (kept,) = [json.loads(line) for line in (store.spool.directory / REJECTED_FILE).read_text(encoding="utf-8").splitlines()]
    assert kept["post"]["id"] == "feed:bad" and "failed to parse field" in kept["reason"]


def test_torn_lines_are_kept_aside_during_replay(tmp_path: Path) -> None:
    with FakeElasticsearch() as cluster:
        store = es_store(tmp_path, cluster.url)
        segment = store.spool.append([post("1")])
        with open(segment, "ab") as handle:
            handle.write(b'{"id": "feed:2", "platf')
        store.replay_spool()
        assert list(cluster.stored()) == ["feed:1"]
    (kept,) = [json.loads(line) for line in (store.spool.directory / REJECTED_FILE).read_text(encoding="utf-8").splitlines()]
    assert kept["reason"].startswith("000000000001.jsonl:2: ")


def test_a_cluster_failing_while_the_schema_is_installed_means_spooled(tmp_path: Path) -> None:
    with FakeElasticsearch(fail={("PUT", "/vigie-runs"): 503}) as cluster:
        store = es_store(tmp_path, cluster.url)
        result = store.upsert_posts([post("1")])
        assert (result.new, result.errors) == (0, [])
        assert spooled_ids(store.spool) == [["feed:1"]]
        assert cluster.bulk_ids() == []


def test_without_a_spool_an_unreachable_cluster_is_an_error(tmp_path: Path) -> None:
    store = es_store(tmp_path, f"http://127.0.0.1:{closed_port()}", spool=False)
    with pytest.raises(ClusterUnreachable, match="2 posts not written"):
        store.upsert_posts([post("1"), post("2")])


def test_first_seen_survives_the_spool(tmp_path: Path) -> None:
    port = closed_port()
    store = es_store(tmp_path, f"http://127.0.0.1:{port}")
    first_seen = datetime(2024, 5, 2, tzinfo=UTC)
    store.upsert_posts([post("1", first_seen_at=first_seen)])
    with FakeElasticsearch(port=port) as cluster:
        store.replay_spool()
        assert cluster.stored()["feed:1"]["first_seen_at"] == "2024-05-02T00:00:00Z"
