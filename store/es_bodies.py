"""Every Elasticsearch request body Vigie sends: index templates, mappings, queries, aggregations, scripts.

The indices are a public interface (researchers query them with Kibana, curl and their own scripts), so what
Vigie asks of the cluster is kept here, as plain functions returning the JSON bodies, and nowhere else.
`store/elasticsearch.py` only sends them and reads the answers. Written against the Elasticsearch 8.x REST API;
OpenSearch 2.x takes them as they are, but for the few words `store/engines.py` changes (`Engine.search_body`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.base import GroupField, Interval, PostQuery, Sort, TopField
from store.sqlite import query_phrases
from vigie.models import Post, TagMatch, as_utc

SCHEMA_VERSION = 2
"""Bumped whenever a template or mapping changes; `vigie store init` installs newer versions over older ones."""

TEMPLATE_PRIORITY = 500
"""Above the built-in templates (priority 100), so a prefix such as `logs` cannot pick up a data-stream template."""

DERIVED_POST_FIELDS = ("terms", "author_key")
"""Indexed fields that are not fields of `Post` but derived from them: `terms` holds every `matches[].term`
(`matches` itself is stored without being indexed); `author_key` is the author's handle, or id when there is no
handle, the one value per author that top lists and distinct-author counts use (as the embedded store does)."""

HIGHLIGHT_PRE = "\ue000"
HIGHLIGHT_POST = "\ue001"
"""Private-use characters that mark highlighted words; they are mapped back to character spans and removed."""

MAX_PAGE_WINDOW = 10_000
"""`index.max_result_window`: from + size beyond this is served with search_after over a point in time."""

CARDINALITY_PRECISION = 1000
"""Distinct authors/sources are exact below about this many values per bucket, approximate (HyperLogLog++) above.
The node sizes each bucket's counter by it: at the default 3000, bucket counts over 30 days by day and narrative
took about 1.4 times as long as at 1000 (100,000 posts of bench/corpus.py)."""

TOP_FIELDS: dict[str, str] = {
    "narrative": "narratives",
    "tag": "tags",
    "term": "terms",
    "hashtag": "hashtags",
    "domain": "domains",
    "author": "author_key",
    "source": "source_id",
    "platform": "platform",
    "language": "language",
    "mention": "mentions",
}
"""Store-level field names (`TopField`, `GroupField`) to indexed keyword fields."""

_KEYWORD = {"type": "keyword", "ignore_above": 1024}
_LONG_KEYWORD = {"type": "keyword", "ignore_above": 4096}
_DATE = {"type": "date"}
_STORED_ONLY = {"type": "object", "enabled": False}
_NOT_INDEXED_TEXT = {"type": "text", "index": False}


@dataclass(frozen=True, slots=True)
class IndexNames:
    """Where everything lives for one index prefix; several Vigie installations can share a cluster by prefix."""

    prefix: str

    @property
    def posts_alias(self) -> str:
        return f"{self.prefix}-posts"

    @property
    def posts_pattern(self) -> str:
        return f"{self.prefix}-posts-*"

    @property
    def posts_template(self) -> str:
        return f"{self.prefix}-posts"

    def posts_index(self, published_at: datetime) -> str:
        """Monthly index from `published_at` (UTC): a re-crawled post always lands in the same index."""
        return f"{self.prefix}-posts-{as_utc(published_at):%Y.%m}"

    def small(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    @property
    def small_indices(self) -> dict[str, str]:
        return {kind: self.small(kind) for kind in SMALL_INDEX_MAPPINGS}


# ---------------------------------------------------------------- index settings and mappings


def analysis_settings() -> dict[str, Any]:
    """Analyzers of `text` and `title`.

    Tokens are runs of letters, digits and combining marks (everything else separates words, as in SQLite FTS5's
    unicode61 tokenizer, so both stores split `l'église`, `covid-19` or `example.com` the same way); `vigie_folding`
    lowercases and folds accents (`guerison` finds `guérison`); the French and English analyzers add stop words
    and stemming (the tokenizer already splits elisions such as `l'` or `qu'` off their word).
    Tokens are truncated to 255 characters so a base64 blob in a post cannot exceed Lucene's term size.
    """
    return {
        "tokenizer": {"vigie_words": {"type": "pattern", "pattern": r"[^\p{L}\p{N}\p{M}]+"}},
        "filter": {
            "vigie_truncate": {"type": "truncate", "length": 255},
            "vigie_french_stop": {"type": "stop", "stopwords": "_french_"},
            "vigie_french_stemmer": {"type": "stemmer", "language": "light_french"},
            "vigie_english_possessive": {"type": "stemmer", "language": "possessive_english"},
            "vigie_english_stop": {"type": "stop", "stopwords": "_english_"},
            "vigie_english_stemmer": {"type": "stemmer", "language": "english"},
        },
        "analyzer": {
            "vigie_folding": {"type": "custom", "tokenizer": "vigie_words", "filter": ["vigie_truncate", "lowercase", "asciifolding"]},
            "vigie_french": {
                "type": "custom",
                "tokenizer": "vigie_words",
                "filter": ["vigie_truncate", "lowercase", "vigie_french_stop", "vigie_french_stemmer", "asciifolding"],
            },
            "vigie_english": {
                "type": "custom",
                "tokenizer": "vigie_words",
                "filter": ["vigie_truncate", "vigie_english_possessive", "lowercase", "vigie_english_stop", "vigie_english_stemmer", "asciifolding"],
            },
        },
    }


def _full_text() -> dict[str, Any]:
    return {
        "type": "text",
        "analyzer": "vigie_folding",
        "fields": {
            "fr": {"type": "text", "analyzer": "vigie_french"},
            "en": {"type": "text", "analyzer": "vigie_english"},
        },
    }


def post_mappings() -> dict[str, Any]:
    """One property per `Post` field (plus `DERIVED_POST_FIELDS`); `dynamic: strict` refuses anything else."""
    counter = {"type": "long"}
    return {
        "dynamic": "strict",
        "_meta": {"schema_version": SCHEMA_VERSION, "model": "vigie.models.Post"},
        "properties": {
            "id": _KEYWORD,
            "platform": _KEYWORD,
            "native_id": _LONG_KEYWORD,
            "source_id": _KEYWORD,
            "url": _LONG_KEYWORD,
            "author": {
                "type": "object",
                "properties": {
                    "id": _KEYWORD,
                    "handle": _KEYWORD,
                    "name": {"type": "text", "analyzer": "vigie_folding", "fields": {"raw": _KEYWORD}},
                }
            },
            "published_at": _DATE,
            "collected_at": _DATE,
            "first_seen_at": _DATE,
            "title": _full_text(),
            "text": _full_text(),
            "language": _KEYWORD,
            "language_confidence": {"type": "float"},
            "platform_language": _KEYWORD,
            "hashtags": _KEYWORD,
            "mentions": _KEYWORD,
            "links": _LONG_KEYWORD,
            "domains": _KEYWORD,
            "media": _KEYWORD,
            "engagement": {"type": "object", "properties": {"views": counter, "likes": counter, "shares": counter, "replies": counter}},
            "reply_to": _LONG_KEYWORD,
            "repost_of": _LONG_KEYWORD,
            "quote_of": _LONG_KEYWORD,
            "forwarded_from": _KEYWORD,
            "tags": _KEYWORD,
            "narratives": _KEYWORD,
            "matches": _STORED_ONLY,
            "terms": _KEYWORD,
            "author_key": _KEYWORD,
            "cluster_id": _KEYWORD,
            "near_dup_keys": _KEYWORD,
            "raw_sha256": _KEYWORD,
            "transcript": _STORED_ONLY,
        },
    }


def index_settings(replicas: int) -> dict[str, Any]:
    """One primary shard per index: monthly post indices stay well under the ~50 GB a shard handles comfortably."""
    return {"number_of_shards": 1, "number_of_replicas": replicas}


def posts_index_template(names: IndexNames, replicas: int) -> dict[str, Any]:
    """Composable template for the monthly post indices; each new index joins the read alias."""
    return {
        "index_patterns": [names.posts_pattern],
        "priority": TEMPLATE_PRIORITY,
        "version": SCHEMA_VERSION,
        "_meta": {"managed_by": "vigie", "description": "Vigie posts, one index per month of published_at"},
        "template": {
            "settings": {**index_settings(replicas), "analysis": analysis_settings()},
            "mappings": post_mappings(),
            "aliases": {names.posts_alias: {}},
        },
    }


SMALL_INDEX_MAPPINGS: dict[str, dict[str, Any]] = {
    "runs": {
        "id": _KEYWORD,
        "source_id": _KEYWORD,
        "platform": _KEYWORD,
        "started_at": _DATE,
        "finished_at": _DATE,
        "status": _KEYWORD,
        "pages": {"type": "integer"},
        "new_posts": {"type": "integer"},
        "updated_posts": {"type": "integer"},
        "dropped_items": {"type": "integer"},
        "errors": _STORED_ONLY,
        "transcripts": _STORED_ONLY,
    },
    "cursors": {"source_id": _KEYWORD, "cursor": _STORED_ONLY, "updated_at": _DATE},
    "alerts": {
        "id": _KEYWORD,
        "rule_id": _KEYWORD,
        "kind": _KEYWORD,
        "subject_type": _KEYWORD,
        "subject": _KEYWORD,
        "state": _KEYWORD,
        "opened_at": _DATE,
        "updated_at": _DATE,
        "bucket_start": _DATE,
        "count": {"type": "long"},
        "baseline": {"type": "double"},
        "ratio": {"type": "double"},
        "score": {"type": "double"},
        "evidence": _STORED_ONLY,
        "last_notified_at": _DATE,
        "notified_ratio": {"type": "double"},
        "history": _STORED_ONLY,
    },
    "candidates": {
        "id": _KEYWORD,
        "state": _KEYWORD,
        "terms": _KEYWORD,
        "clusters": _KEYWORD,
        "posts": {"type": "long"},
        "authors": {"type": "long"},
        "baseline": {"type": "double"},
        "growth": {"type": "double"},
        "score": {"type": "double"},
        "first_post_at": _DATE,
        "detected_at": _DATE,
        "updated_at": _DATE,
        "earliest": _STORED_ONLY,
        "most_shared": _STORED_ONLY,
        "sources": _STORED_ONLY,
        "platforms": _STORED_ONLY,
        "languages": _STORED_ONLY,
        "spread": _STORED_ONLY,
        "dismissed_posts": {"type": "long"},
        "narrative": _KEYWORD,
        "by": _KEYWORD,
    },
    "subscriptions": {"id": _KEYWORD, "email": _KEYWORD, "rules": _KEYWORD, "mode": _KEYWORD, "created_at": _DATE},
    "searches": {"id": _KEYWORD, "name": _KEYWORD, "query": _STORED_ONLY, "created_at": _DATE},
    "outbox": {
        "id": _KEYWORD,
        "channel": _KEYWORD,
        "recipient": _KEYWORD,
        "subject": _NOT_INDEXED_TEXT,
        "body_text": _NOT_INDEXED_TEXT,
        "body_html": _NOT_INDEXED_TEXT,
        "payload": _STORED_ONLY,
        "created_at": _DATE,
        "attempts": {"type": "integer"},
        "next_attempt_at": _DATE,
        "sent_at": _DATE,
        "last_error": _NOT_INDEXED_TEXT,
    },
}
"""Mappings of the small shared indices: crawl runs, source cursors, alerts, candidate narratives, subscriptions, saved
searches, outbox."""


def small_index_mappings(kind: str) -> dict[str, Any]:
    return {"dynamic": "strict", "_meta": {"schema_version": SCHEMA_VERSION}, "properties": SMALL_INDEX_MAPPINGS[kind]}


def small_index_body(kind: str, replicas: int) -> dict[str, Any]:
    return {"settings": index_settings(replicas), "mappings": small_index_mappings(kind)}


# ---------------------------------------------------------------- documents and writes


def post_document(post: Post) -> dict[str, Any]:
    """The `_source` of a post: the post model as JSON plus the derived fields."""
    doc = post.model_dump(mode="json")
    doc["terms"] = sorted({match.term for match in post.matches})
    doc["author_key"] = post.author.handle or post.author.id
    return doc


_UPSERT_SCRIPT = """
def kept = ctx._source.first_seen_at;
ctx._source.putAll(params.doc);
if (kept != null) {
  ctx._source.first_seen_at = kept;
} else if (ctx._source.first_seen_at == null) {
  ctx._source.first_seen_at = params.now;
}
""".strip()
"""Replace every field with the fresh crawl, except first_seen_at: kept when stored, else the post's own, else now."""


def post_upsert_action(index: str, doc: dict[str, Any], now: str) -> dict[str, Any]:
    """One bulk `update` action: a scripted upsert, so new and known posts go through the same script."""
    return {
        "_op_type": "update",
        "_index": index,
        "_id": doc["id"],
        "retry_on_conflict": 3,
        "scripted_upsert": True,
        "script": {"lang": "painless", "source": _UPSERT_SCRIPT, "params": {"doc": doc, "now": now}},
        "upsert": {},
    }


def post_create_action(index: str, doc: dict[str, Any], now: str) -> dict[str, Any]:
    """One bulk `create` action: a post the cluster does not hold yet is written as is, without running the upsert
    script (the script is most of a write's cost on the node); a post it holds answers 409 and goes through
    `post_upsert_action` instead. The document is what the script would make of a new post."""
    return {"_op_type": "create", "_index": index, "_id": doc["id"], "_source": {**doc, "first_seen_at": doc.get("first_seen_at") or now}}


def bulk_lines(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `_bulk` request of `post_create_action`s and `post_upsert_action`s: each one's action line, then its body."""
    lines: list[dict[str, Any]] = []
    for action in actions:
        body = dict(action)
        operation = body.pop("_op_type")
        meta = {"_index": body.pop("_index"), "_id": body.pop("_id")}
        if "retry_on_conflict" in body:
            meta["retry_on_conflict"] = body.pop("retry_on_conflict")
        lines += [{operation: meta}, body.get("_source", body)]
    return lines


def enrichment_update(tags: list[str], narratives: list[str], matches: list[TagMatch]) -> dict[str, Any]:
    """Partial update of the watchlist fields only (re-enrichment)."""
    return {
        "doc": {
            "tags": tags,
            "narratives": narratives,
            "matches": [match.model_dump(mode="json") for match in matches],
            "terms": sorted({match.term for match in matches}),
        }
    }


def mark_sent_update(at: str) -> dict[str, Any]:
    """Atomic on the shard; a message already marked sent keeps its first sent_at."""
    return {
        "script": {
            "lang": "painless",
            "source": "if (ctx._source.sent_at == null) { ctx._source.sent_at = params.at } else { ctx.op = 'none' }",
            "params": {"at": at},
        }
    }


def mark_failed_update(error: str, next_attempt_at: str) -> dict[str, Any]:
    """Atomic increment: two deliverers failing at once count two attempts."""
    return {
        "script": {
            "lang": "painless",
            "source": (
                "ctx._source.attempts = (ctx._source.attempts == null ? 0 : ctx._source.attempts) + 1;"
                " ctx._source.last_error = params.error; ctx._source.next_attempt_at = params.next"
            ),
            "params": {"error": error, "next": next_attempt_at},
        }
    }


# ---------------------------------------------------------------- post queries

def text_clauses(text: str | None) -> list[dict[str, Any]]:
    """Each word or `"quoted phrase"` must match in the text or the title, accents and case folded.

    The query is cut into phrases by the embedded store's own parser, so both stores read a query the same way:
    `covid-19` or `l'église` are phrases of adjacent words, operators and punctuation are plain text. Title
    matches weigh twice as much as text matches in relevance, as in the embedded store's bm25.
    """
    return [
        {"multi_match": {"query": " ".join(words), "fields": ["text", "title^2"], "type": "phrase"}}
        for words in query_phrases(text)
    ]


def stemmed_boost(text: str | None) -> list[dict[str, Any]]:
    """Scoring only (`should`): French and English stems lift posts that use the words' other forms."""
    phrases = query_phrases(text)
    if not phrases:
        return []
    words = " ".join(" ".join(phrase) for phrase in phrases)
    return [{"multi_match": {"query": words, "fields": ["text.fr", "text.en", "title.fr^2", "title.en^2"], "type": "most_fields"}}]


def post_filters(query: PostQuery) -> list[dict[str, Any]]:
    """Non-scoring filters; values within one filter are OR-ed, filters are AND-ed."""
    filters: list[dict[str, Any]] = []
    if query.since is not None or query.until is not None:
        bounds: dict[str, str] = {}
        if query.since is not None:
            bounds["gte"] = query.since.isoformat()
        if query.until is not None:
            bounds["lt"] = query.until.isoformat()
        filters.append({"range": {"published_at": bounds}})
    for field, values in (
        ("platform", query.platforms),
        ("source_id", query.sources),
        ("language", query.languages),
        ("narratives", query.narratives),
        ("tags", query.tags),
        ("terms", query.terms),
        ("hashtags", query.hashtags),
    ):
        if values:
            filters.append({"terms": {field: list(values)}})
    if query.authors:
        authors = list(query.authors)
        filters.append({"bool": {"should": [{"terms": {"author_key": authors}}, {"terms": {"author.id": authors}}], "minimum_should_match": 1}})
    if query.cluster_id is not None:
        filters.append({"term": {"cluster_id": query.cluster_id}})
    return filters


def post_query(query: PostQuery, *, scoring: bool = True) -> dict[str, Any]:
    """The `query` clause for a PostQuery; without scoring (counts, aggregations) everything is a filter."""
    must = text_clauses(query.text)
    filters = post_filters(query)
    if not must and not filters:
        return {"match_all": {}}
    if not scoring:
        return {"bool": {"filter": must + filters}}
    if not must:
        return {"bool": {"filter": filters}}
    scored: dict[str, Any] = {"must": must, "should": stemmed_boost(query.text)}
    return {"bool": {**scored, "filter": filters} if filters else scored}


def post_sort(sort: Sort) -> list[dict[str, Any]]:
    """Always ends on `id`, so pages never overlap or skip posts published in the same millisecond."""
    if sort == "oldest":
        return [{"published_at": {"order": "asc"}}, {"id": {"order": "asc"}}]
    newest = [{"published_at": {"order": "desc"}}, {"id": {"order": "desc"}}]
    if sort == "relevance":
        return [{"_score": {"order": "desc"}}, *newest]
    return newest


def highlight() -> dict[str, Any]:
    """Whole `text` back with markers around matched words (number_of_fragments 0), mapped to spans in Python."""
    return {
        "type": "unified",
        "pre_tags": [HIGHLIGHT_PRE],
        "post_tags": [HIGHLIGHT_POST],
        "require_field_match": True,
        "max_analyzed_offset": 999_999,
        "fields": {"text": {"number_of_fragments": 0}},
    }


def search_body(query: PostQuery, *, size: int, offset: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {
        "query": post_query(query),
        "sort": post_sort(query.sort),
        "from": offset,
        "size": size,
        "track_total_hits": True,
    }
    if query.text:
        body["highlight"] = highlight()
    return body


def count_body(query: PostQuery) -> dict[str, Any]:
    return {"query": post_query(query, scoring=False)}


def page_body(query: PostQuery, *, pit_id: str, size: int, search_after: list[Any] | None, keep_alive: str, with_highlight: bool = False) -> dict[str, Any]:
    """One page of a point-in-time walk (`iter_posts`, deep paging); the index comes from the PIT."""
    body: dict[str, Any] = {
        "query": post_query(query),
        "sort": post_sort(query.sort),
        "size": size,
        "pit": {"id": pit_id, "keep_alive": keep_alive},
        "track_total_hits": False,
    }
    if search_after is not None:
        body["search_after"] = search_after
    if with_highlight and query.text:
        body["highlight"] = highlight()
    return body


# ---------------------------------------------------------------- aggregations


def _distinct(field: str) -> dict[str, Any]:
    return {"cardinality": {"field": field, "precision_threshold": CARDINALITY_PRECISION}}


BUCKET_PAGE = 1000
"""Composite buckets fetched per request when each carries distinct counts (sketches held in the node's memory)."""
COUNT_PAGE = 10_000
"""Composite buckets fetched per request when each carries its count alone: every page is another pass over the
matching posts (a 16-day hourly series of 30 hashtags took 12 passes of 1,000), and 10,000 stays far under
`search.max_buckets`."""


def bucket_page(distinct: bool) -> int:
    return BUCKET_PAGE if distinct else COUNT_PAGE


def buckets_body(query: PostQuery, interval: Interval, group_by: GroupField | None, *, after: dict[str, Any] | None = None, distinct: bool = True) -> dict[str, Any]:
    """Posts, and unless `distinct` is False distinct authors and distinct sources, per UTC time bucket (and group value).

    A `composite` aggregation of a `date_histogram` source and, when grouped, a `terms` source: it pages through
    every (bucket, group) pair with `after`, so no bucket is cut off by a size limit however long the range.
    Distinct counts are `cardinality` aggregations (see CARDINALITY_PRECISION).
    """
    sources: list[dict[str, Any]] = [
        {"start": {"date_histogram": {"field": "published_at", "calendar_interval": "1h" if interval == "hour" else "1d", "time_zone": "UTC"}}}
    ]
    if group_by is not None:
        sources.append({"key": {"terms": {"field": TOP_FIELDS[group_by]}}})
    composite: dict[str, Any] = {"size": bucket_page(distinct), "sources": sources}
    if after is not None:
        composite["after"] = after
    filters = text_clauses(query.text) + post_filters(query)
    if group_by is not None:  # posts without a value of the field are in no bucket: the node need not visit them
        filters.append({"exists": {"field": TOP_FIELDS[group_by]}})
    buckets: dict[str, Any] = {"composite": composite}
    if distinct:
        buckets["aggs"] = {"authors": _distinct("author_key"), "sources": _distinct("source_id")}
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"bool": {"filter": filters}} if filters else {"match_all": {}},
        "aggs": {"buckets": buckets},
    }


def top_terms_body(query: PostQuery, field: TopField, limit: int) -> dict[str, Any]:
    """Most frequent values first, ties by value; a wide shard_size keeps counts exact across monthly indices."""
    return {
        "size": 0,
        "track_total_hits": False,
        "query": post_query(query, scoring=False),
        "aggs": {
            "top": {
                "terms": {
                    "field": TOP_FIELDS[field],
                    "size": limit,
                    "shard_size": max(limit * 20, 1000),
                    "order": [{"_count": "desc"}, {"_key": "asc"}],
                }
            }
        },
    }


def clusters_body(query: PostQuery, min_sources: int, limit: int) -> dict[str, Any]:
    """Copy-paste clusters: `terms` on cluster_id ordered by distinct sources, the first post by `top_hits`."""
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"bool": {"filter": [post_query(query, scoring=False), {"exists": {"field": "cluster_id"}}]}},
        "aggs": {
            "clusters": {
                "terms": {
                    "field": "cluster_id",
                    "size": limit,
                    "shard_size": max(limit * 50, 5000),
                    "order": [{"sources": "desc"}, {"_count": "desc"}, {"_key": "asc"}],
                },
                "aggs": {
                    "sources": _distinct("source_id"),
                    "wide_enough": {
                        "bucket_selector": {"buckets_path": {"sources": "sources"}, "script": {"source": "params.sources >= params.min", "params": {"min": min_sources}}}
                    },
                    "first": {
                        "top_hits": {
                            "size": 1,
                            "sort": [{"published_at": {"order": "asc"}}, {"id": {"order": "asc"}}],
                            "_source": {"includes": ["id", "source_id", "published_at"]},
                        }
                    },
                },
            }
        },
    }


def significant_terms_body(query: PostQuery, field: str, background: PostQuery | None, limit: int) -> dict[str, Any]:
    """Terms unusually frequent in `query` compared with `background` (default: every post).

    Keyword fields use `significant_terms`; `text` uses `significant_text` under a `sampler` of the 500 best
    matching posts per shard, re-analysing their text and ignoring duplicated passages (copy-paste campaigns).
    """
    background_filter = {"background_filter": post_query(background, scoring=False)} if background is not None else {}
    if field == "text":
        aggs = {
            "sample": {
                "sampler": {"shard_size": 500},
                "aggs": {"significant": {"significant_text": {"field": "text", "size": limit, "filter_duplicate_text": True, **background_filter}}},
            }
        }
    else:
        aggs = {"significant": {"significant_terms": {"field": TOP_FIELDS.get(field, field), "size": limit, **background_filter}}}
    return {"size": 0, "track_total_hits": False, "query": post_query(query), "aggs": aggs}


# ---------------------------------------------------------------- other post requests


def ids_body(post_ids: list[str]) -> dict[str, Any]:
    """Room for two hits per id: a post whose `published_at` moved to another month sits in two monthly indices."""
    return {"query": {"ids": {"values": post_ids}}, "size": 2 * len(post_ids)}


def near_duplicates_body(keys: list[str], limit: int) -> dict[str, Any]:
    """Stored posts sharing any LSH band key, those sharing the most keys first (each shared key scores 1)."""
    return {
        "query": {"bool": {"should": [{"constant_score": {"filter": {"term": {"near_dup_keys": key}}}} for key in keys], "minimum_should_match": 1}},
        "size": limit,
        "sort": [{"_score": {"order": "desc"}}, {"first_seen_at": {"order": "asc"}}, {"id": {"order": "asc"}}],
        "_source": {"includes": ["id", "cluster_id"]},
        "track_total_hits": False,
    }


def published_before_body(before: datetime) -> dict[str, Any]:
    return {"query": {"range": {"published_at": {"lt": as_utc(before).isoformat()}}}}


# ---------------------------------------------------------------- small indices


def sorted_page(query: dict[str, Any], sort: list[dict[str, Any]], size: int, search_after: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"query": query, "sort": sort, "size": size, "track_total_hits": False}
    if search_after is not None:
        body["search_after"] = search_after
    return body


def crawl_runs_query(source_id: str | None) -> dict[str, Any]:
    return {"term": {"source_id": source_id}} if source_id is not None else {"match_all": {}}


CRAWL_RUNS_SORT = [{"started_at": {"order": "desc"}}, {"id": {"order": "desc"}}]


def last_runs_body(source_ids: list[str]) -> dict[str, Any]:
    """Each source's most recent run: a `terms` bucket per source id with its first run in CRAWL_RUNS_SORT order."""
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"terms": {"source_id": source_ids}},
        "aggs": {"sources": {"terms": {"field": "source_id", "size": len(source_ids)}, "aggs": {"last": {"top_hits": {"size": 1, "sort": CRAWL_RUNS_SORT}}}}},
    }


ALERTS_SORT = [{"updated_at": {"order": "desc"}}, {"id": {"order": "asc"}}]
BY_CREATION_SORT = [{"created_at": {"order": "asc"}}, {"id": {"order": "asc"}}]


def alerts_query(states: list[str], since: datetime | None) -> dict[str, Any]:
    """Alerts, or candidates, in these states updated since then."""
    filters: list[dict[str, Any]] = []
    if states:
        filters.append({"terms": {"state": states}})
    if since is not None:
        filters.append({"range": {"updated_at": {"gte": as_utc(since).isoformat()}}})
    return {"bool": {"filter": filters}}


def due_messages_query(now: datetime) -> dict[str, Any]:
    return {
        "bool": {
            "filter": [{"range": {"next_attempt_at": {"lte": as_utc(now).isoformat()}}}],
            "must_not": [{"exists": {"field": "sent_at"}}],
        }
    }
