"""What differs between Elasticsearch and OpenSearch, and nothing else.

Both engines take the same index design and the same request bodies (`store/es_bodies.py`), sent by the same
store (`store/elasticsearch.py`). What they disagree on is kept here, one `Engine` per engine:

| | Elasticsearch | OpenSearch |
| --- | --- | --- |
| client | `elasticsearch` 8.x (checks the server is Elasticsearch) | `opensearch-py` |
| errors | `ApiError` (`.meta.status`, `.body`), `TransportError` for connections | `TransportError` (`.status_code`, `.info`), `ConnectionError` |
| point in time | `POST /INDEX/_pit` → `id`; `DELETE /_pit` | `POST /INDEX/_search/point_in_time` → `pit_id`; `DELETE /_search/point_in_time`; a 400 when nothing matches |
| highlighting | `max_analyzed_offset`; a phrase is one span (8.9+) | `max_analyzer_offset`; a phrase comes word by word, joined here |
| credentials | `VIGIE_ES_API_KEY` or `VIGIE_ES_USER`/`_PASSWORD` | `VIGIE_OPENSEARCH_API_KEY` (an `ApiKey` header) or `_USER`/`_PASSWORD` |
| oldest server | 8.9 | 2.4 |
"""

from __future__ import annotations

import logging
import re
from typing import Any

from store.base import StoreError
from store.sqlite import _WORD, fold

Span = tuple[int, int]


def parse_version(number: str) -> tuple[int, ...]:
    """`8.15.0` → (8, 15, 0); `2.19.6-SNAPSHOT` → (2, 19, 6)."""
    return tuple(int(part) for part in re.findall(r"\d+", number.split("-")[0])[:3])


def _shown(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


class Engine:
    """Elasticsearch's ways; `OpenSearch` overrides where that engine differs."""

    name = "Elasticsearch"
    backend = "elasticsearch"
    """`store.backend` value and settings section of vigie.yaml."""
    env = "ES"
    minimum_version: tuple[int, ...] = (8, 9)
    needs = "point in time, highlight max_analyzed_offset, phrases highlighted as one span"
    """What the oldest server supported has that older ones lack (said when refusing one)."""
    phrases_highlighted_whole = True

    @property
    def url_env(self) -> str:
        return f"VIGIE_{self.env}_URL"

    @property
    def api_key_env(self) -> str:
        return f"VIGIE_{self.env}_API_KEY"

    @property
    def user_env(self) -> str:
        return f"VIGIE_{self.env}_USER"

    @property
    def password_env(self) -> str:
        return f"VIGIE_{self.env}_PASSWORD"

    # ------------------------------------------------------------ the client

    def client(self, options: dict[str, Any]) -> Any:
        """A client from `store.elasticsearch.client_options(...)`, which are the Elasticsearch client's keywords."""
        from elasticsearch import Elasticsearch

        return Elasticsearch(**options)

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """Everything the client raises for an answer it did not like or a server it could not reach."""
        from elasticsearch import ApiError, TransportError

        return (ApiError, TransportError)

    def status(self, exc: Exception) -> int | None:
        """HTTP status of an error answer; None when there was no answer (connection refused, timeout, TLS)."""
        meta = getattr(exc, "meta", None)
        status = getattr(meta, "status", None)
        return status if isinstance(status, int) and hasattr(exc, "body") else None

    def error_body(self, exc: Exception) -> Any:
        return getattr(exc, "body", None)

    def error_message(self, exc: Exception) -> str:
        from elasticsearch import UnsupportedProductError

        if isinstance(exc, UnsupportedProductError):
            return "the server is not Elasticsearch (an OpenSearch node? set store.backend: opensearch)"
        return str(getattr(exc, "message", exc))

    @staticmethod
    def body(answer: Any) -> Any:
        """The JSON of an answer (the Elasticsearch client wraps it, the OpenSearch client does not)."""
        return getattr(answer, "body", answer)

    # ------------------------------------------------------------ version

    def check_server(self, info: dict[str, Any], where: str) -> str:
        """One line naming the server and the oldest version Vigie needs; StoreError when it is another engine or older."""
        version = info.get("version", {}) if isinstance(info, dict) else {}
        number = str(version.get("number", "?"))
        distribution = version.get("distribution") or "elasticsearch"
        engine = "OpenSearch" if distribution == "opensearch" else "Elasticsearch"
        minimum = _shown(self.minimum_version)
        if engine != self.name:
            other = "opensearch" if engine == "OpenSearch" else "elasticsearch"
            raise StoreError(f"{self.name} at {where} is {engine} {number}: set store.backend: {other} (and VIGIE_{'OPENSEARCH' if other == 'opensearch' else 'ES'}_URL)")
        found = parse_version(number)
        if not found or found < self.minimum_version:
            raise StoreError(f"{self.name} at {where} is version {number}; Vigie needs {self.name} {minimum} or newer ({self.needs})")
        return f"server: {engine} {number} at {where} (Vigie needs {minimum} or newer)"

    # ------------------------------------------------------------ point in time

    def open_pit(self, client: Any, index: str, keep_alive: str) -> str | None:
        """A point in time on `index`, or None when no index matches (nothing stored yet)."""
        try:
            return self.body(client.open_point_in_time(index=index, keep_alive=keep_alive, ignore_unavailable=True))["id"]
        except self.errors as exc:
            if self.status(exc) == 404:
                return None
            raise

    def close_pit(self, client: Any, pit_id: str) -> None:
        client.close_point_in_time(id=pit_id)

    # ------------------------------------------------------------ highlighting

    def search_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """A search body as `store/es_bodies.py` writes it, in this engine's words."""
        return body

    def highlight_spans(self, spans: list[Span], text: str, phrases: list[tuple[str, ...]]) -> list[Span]:
        """Spans of the highlighted words, each phrase of the query one span (as the embedded store gives them)."""
        if self.phrases_highlighted_whole:
            return spans
        return join_phrase_spans(spans, text, phrases)


POOL_SIZE = 16
"""Connections kept open to the cluster (the Elasticsearch client keeps 10 by default, the OpenSearch client 1,
which the parallel `_bulk` lanes would otherwise open and close all the time)."""


class OpenSearch(Engine):
    name = "OpenSearch"
    backend = "opensearch"
    env = "OPENSEARCH"
    minimum_version = (2, 4)
    needs = "point in time"
    phrases_highlighted_whole = False

    def client(self, options: dict[str, Any]) -> Any:
        from opensearchpy import OpenSearch as Client

        options = dict(options)
        translated: dict[str, Any] = {
            "hosts": options.pop("hosts"),
            "timeout": options.pop("request_timeout"),
            "max_retries": options.pop("max_retries"),
            "retry_on_timeout": options.pop("retry_on_timeout"),
            "pool_maxsize": POOL_SIZE,
        }
        if "basic_auth" in options:
            translated["http_auth"] = options.pop("basic_auth")
        if "api_key" in options:
            translated["headers"] = {"Authorization": f"ApiKey {options.pop('api_key')}"}
        if "ca_certs" in options:
            translated["ca_certs"] = options.pop("ca_certs")
            translated["verify_certs"] = True
        if options:
            raise ValueError(f"client options OpenSearch does not take: {sorted(options)}")
        # the client logs a warning for every 404 (a record not there yet, a template not installed): the store
        # reports failures itself, in one line
        logging.getLogger("opensearch").setLevel(logging.ERROR)
        return Client(**translated)

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        from opensearchpy.exceptions import TransportError

        return (TransportError,)

    def status(self, exc: Exception) -> int | None:
        status = getattr(exc, "status_code", None)
        return status if isinstance(status, int) else None

    def error_body(self, exc: Exception) -> Any:
        return getattr(exc, "info", None)

    def error_message(self, exc: Exception) -> str:
        cause = getattr(exc, "info", None)
        if isinstance(cause, Exception):
            return str(cause)
        return str(getattr(exc, "error", exc))

    def open_pit(self, client: Any, index: str, keep_alive: str) -> str | None:
        # OpenSearch 2.x answers 400 "invalid id: [null]" rather than 404 when no index matches
        if not client.indices.exists(index=index):
            return None
        try:
            return client.create_pit(index=index, params={"keep_alive": keep_alive})["pit_id"]
        except self.errors as exc:
            if self.status(exc) == 404:
                return None
            raise

    def close_pit(self, client: Any, pit_id: str) -> None:
        client.delete_pit(body={"pit_id": [pit_id]})

    def search_body(self, body: dict[str, Any]) -> dict[str, Any]:
        highlight = body.get("highlight")
        if highlight and "max_analyzed_offset" in highlight:
            highlight = {("max_analyzer_offset" if key == "max_analyzed_offset" else key): value for key, value in highlight.items()}
            return {**body, "highlight": highlight}
        return body


def join_phrase_spans(spans: list[Span], text: str, phrases: list[tuple[str, ...]]) -> list[Span]:
    """Join the words of a phrase highlighted one by one into one span.

    Consecutive spans join when their words, folded, are the words of one of the query's phrases and only
    non-word characters separate them (`Miracle` + `cure` → `Miracle cure` for the query `"miracle cure"`).
    """
    multi = sorted({tuple(fold(word) for word in phrase) for phrase in phrases if len(phrase) > 1}, key=len, reverse=True)
    if not multi:
        return spans
    joined: list[Span] = []
    index = 0
    while index < len(spans):
        for phrase in multi:
            run = spans[index : index + len(phrase)]
            if (
                len(run) == len(phrase)
                and tuple(fold(text[start:end]) for start, end in run) == phrase
                and not any(_WORD.search(text[run[k][1] : run[k + 1][0]]) for k in range(len(run) - 1))
            ):
                joined.append((run[0][0], run[-1][1]))
                index += len(phrase)
                break
        else:
            joined.append(spans[index])
            index += 1
    return joined


ELASTICSEARCH = Engine()
OPENSEARCH = OpenSearch()
