"""The request bodies Vigie sends to Elasticsearch, checked without a cluster.

Mappings are checked against the models (every field mapped, nothing unknown), analyzers against what the
settings define, and query bodies filter by filter, so a field added to `Post` or `PostQuery` without its
Elasticsearch counterpart fails here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
from elasticsearch.dsl import Search
from elasticsearch.dsl.field import Field
from pydantic import BaseModel

from store import es_bodies as bodies
from store.base import GroupField, PostQuery, TopField
from store.sqlite import query_phrases
from tests.support.factories import make_post
from vigie.models import Alert, Author, Candidate, CrawlRun, Engagement, OutboxMessage, Post, SavedSearch, Subscription, TagMatch

NAMES = bodies.IndexNames("vigie")
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "elasticsearch.md"
BUILTIN_FILTERS = {"lowercase", "asciifolding"}
BUILTIN_TOKENIZERS: set[str] = set()
NESTED_MODELS: dict[str, type[BaseModel]] = {"author": Author, "engagement": Engagement}


def test_monthly_index_is_chosen_from_published_at_in_utc() -> None:
    assert NAMES.posts_index(datetime(2024, 5, 31, 23, 30, tzinfo=UTC)) == "vigie-posts-2024.05"
    late_evening_in_paris = datetime.fromisoformat("2024-06-01T00:30:00+02:00")
    assert NAMES.posts_index(late_evening_in_paris) == "vigie-posts-2024.05"
    assert NAMES.posts_alias == "vigie-posts" and NAMES.posts_pattern == "vigie-posts-*"
    assert set(NAMES.small_indices.values()) == {"vigie-runs", "vigie-cursors", "vigie-alerts", "vigie-candidates", "vigie-subscriptions", "vigie-searches", "vigie-outbox"}


def test_every_post_field_is_mapped_and_nothing_else() -> None:
    properties = bodies.post_mappings()["properties"]
    assert set(properties) == set(Post.model_fields) | set(bodies.DERIVED_POST_FIELDS)
    for name, model in NESTED_MODELS.items():
        assert set(properties[name]["properties"]) == set(model.model_fields), name
    assert bodies.post_mappings()["dynamic"] == "strict"


def test_keyword_text_date_and_counter_fields_have_their_types() -> None:
    properties = bodies.post_mappings()["properties"]
    keywords = ["id", "platform", "source_id", "language", "tags", "narratives", "terms", "hashtags", "mentions", "domains", "cluster_id", "near_dup_keys", "author_key"]
    assert {name: properties[name]["type"] for name in keywords} == dict.fromkeys(keywords, "keyword")
    assert {properties["author"]["properties"][name]["type"] for name in ("id", "handle")} == {"keyword"}
    assert {properties[name]["type"] for name in ("published_at", "collected_at", "first_seen_at")} == {"date"}
    assert {counter["type"] for counter in properties["engagement"]["properties"].values()} == {"long"}
    for name in ("text", "title"):
        assert properties[name]["analyzer"] == "vigie_folding"
        assert {sub: spec["analyzer"] for sub, spec in properties[name]["fields"].items()} == {"fr": "vigie_french", "en": "vigie_english"}
    assert properties["matches"] == {"type": "object", "enabled": False}


def test_a_post_document_fits_the_mapping_exactly() -> None:
    post = make_post(
        "1",
        "Guérison",
        author=Author(id="42"),
        matches=[TagMatch(narrative="healing", term="guérison", start=0, end=8), TagMatch(narrative="healing", term="guérison", start=0, end=8)],
    )
    doc = bodies.post_document(post)
    assert set(doc) == set(bodies.post_mappings()["properties"])
    assert doc["terms"] == ["guérison"]
    assert doc["author_key"] == "42"
    assert set(doc["author"]) == set(bodies.post_mappings()["properties"]["author"]["properties"])
    json.dumps(doc)


def _analyzers_are_defined(settings: dict[str, Any], mappings: dict[str, Any]) -> None:
    analysis = settings["analysis"]
    for name, analyzer in analysis["analyzer"].items():
        assert analyzer["tokenizer"] in set(analysis["tokenizer"]) | BUILTIN_TOKENIZERS, name
        assert set(analyzer["filter"]) <= set(analysis["filter"]) | BUILTIN_FILTERS, name
    used = {spec["analyzer"] for spec in _walk(mappings["properties"]) if "analyzer" in spec}
    assert used <= set(analysis["analyzer"])


def _walk(properties: dict[str, Any]) -> list[dict[str, Any]]:
    specs = []
    for spec in properties.values():
        specs.append(spec)
        specs += _walk(spec.get("properties", {})) + _walk(spec.get("fields", {}))
    return specs


def test_the_posts_template_is_composable_behind_the_read_alias() -> None:
    template = bodies.posts_index_template(NAMES, replicas=1)
    assert template["index_patterns"] == ["vigie-posts-*"]
    assert template["priority"] > 100
    assert template["version"] == bodies.SCHEMA_VERSION
    assert template["template"]["aliases"] == {"vigie-posts": {}}
    assert template["template"]["settings"]["number_of_replicas"] == 1
    assert template["template"]["mappings"] == bodies.post_mappings()
    _analyzers_are_defined(template["template"]["settings"], template["template"]["mappings"])
    assert not NAMES.posts_alias.startswith(NAMES.posts_pattern[:-1]), "the alias must not match the template's own pattern"


@pytest.mark.parametrize(
    ("kind", "model"),
    [("runs", CrawlRun), ("alerts", Alert), ("candidates", Candidate), ("subscriptions", Subscription), ("searches", SavedSearch), ("outbox", OutboxMessage)],
)
def test_small_indices_map_every_field_of_their_record(kind: str, model: type[BaseModel]) -> None:
    mappings = bodies.small_index_mappings(kind)
    assert mappings["dynamic"] == "strict"
    assert set(mappings["properties"]) == set(model.model_fields)


def test_the_cursor_index_maps_what_the_store_writes() -> None:
    assert set(bodies.small_index_mappings("cursors")["properties"]) == {"source_id", "cursor", "updated_at"}
    assert bodies.small_index_body("cursors", replicas=0)["settings"] == {"number_of_shards": 1, "number_of_replicas": 0}


# ---------------------------------------------------------------- writes


def test_an_upsert_is_a_scripted_upsert_that_keeps_first_seen() -> None:
    doc = bodies.post_document(make_post("1", "x"))
    action = bodies.post_upsert_action("vigie-posts-2024.05", doc, "2024-06-01T00:00:00+00:00")
    assert {key: action[key] for key in ("_op_type", "_index", "_id", "scripted_upsert", "upsert")} == {
        "_op_type": "update",
        "_index": "vigie-posts-2024.05",
        "_id": "feed:1",
        "scripted_upsert": True,
        "upsert": {},
    }
    script = action["script"]
    assert script["params"] == {"doc": doc, "now": "2024-06-01T00:00:00+00:00"}
    assert "first_seen_at = kept" in script["source"]


def test_a_new_post_is_created_with_what_the_upsert_script_would_store() -> None:
    doc = bodies.post_document(make_post("1", "x"))
    assert doc["first_seen_at"] is None
    action = bodies.post_create_action("vigie-posts-2024.05", doc, "2024-06-01T00:00:00+00:00")
    assert (action["_op_type"], action["_index"], action["_id"]) == ("create", "vigie-posts-2024.05", "feed:1")
    assert action["_source"] == {**doc, "first_seen_at": "2024-06-01T00:00:00+00:00"}
    seen = {**doc, "first_seen_at": "2024-05-02T00:00:00+00:00"}
    assert bodies.post_create_action("vigie-posts-2024.05", seen, "2024-06-01T00:00:00+00:00")["_source"]["first_seen_at"] == "2024-05-02T00:00:00+00:00"
    assert bodies.bulk_lines([action]) == [{"create": {"_index": "vigie-posts-2024.05", "_id": "feed:1"}}, action["_source"]]


def test_re_enrichment_replaces_only_the_watchlist_fields() -> None:
    match = TagMatch(narrative="healing", term="reiki", start=0, end=5)
    update = bodies.enrichment_update(["reiki"], ["healing"], [match])
    assert set(update["doc"]) == {"tags", "narratives", "matches", "terms"}
    assert update["doc"]["terms"] == ["reiki"]


def test_outbox_updates_are_scripts_run_on_the_shard() -> None:
    assert bodies.mark_sent_update("2024-05-01T00:00:00+00:00")["script"]["params"] == {"at": "2024-05-01T00:00:00+00:00"}
    failed = bodies.mark_failed_update("smtp down", "2024-05-01T01:00:00+00:00")["script"]
    assert "attempts" in failed["source"] and failed["params"] == {"error": "smtp down", "next": "2024-05-01T01:00:00+00:00"}


# ---------------------------------------------------------------- queries

SINCE = datetime(2024, 5, 1, tzinfo=UTC)
UNTIL = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("filters", "clause"),
    [
        ({"since": SINCE}, {"range": {"published_at": {"gte": "2024-05-01T00:00:00+00:00"}}}),
        ({"until": UNTIL}, {"range": {"published_at": {"lt": "2024-06-01T00:00:00+00:00"}}}),
        ({"since": SINCE, "until": UNTIL}, {"range": {"published_at": {"gte": "2024-05-01T00:00:00+00:00", "lt": "2024-06-01T00:00:00+00:00"}}}),
        ({"platforms": ("telegram", "reddit")}, {"terms": {"platform": ["telegram", "reddit"]}}),
        ({"sources": ("tg-a",)}, {"terms": {"source_id": ["tg-a"]}}),
        ({"languages": ("fr",)}, {"terms": {"language": ["fr"]}}),
        ({"narratives": ("healing",)}, {"terms": {"narratives": ["healing"]}}),
        ({"tags": ("watch",)}, {"terms": {"tags": ["watch"]}}),
        ({"terms": ("reiki",)}, {"terms": {"terms": ["reiki"]}}),
        ({"hashtags": ("plandemie",)}, {"terms": {"hashtags": ["plandemie"]}}),
        ({"authors": ("alice",)}, {"bool": {"should": [{"terms": {"author_key": ["alice"]}}, {"terms": {"author.id": ["alice"]}}], "minimum_should_match": 1}}),
        ({"cluster_id": "c1"}, {"term": {"cluster_id": "c1"}}),
    ],
)
def test_each_filter_becomes_one_non_scoring_clause(filters: dict[str, Any], clause: dict[str, Any]) -> None:
    query = PostQuery(**filters)
    assert bodies.post_filters(query) == [clause]
    assert bodies.post_query(query) == {"bool": {"filter": [clause]}}
    assert bodies.count_body(query) == {"query": {"bool": {"filter": [clause]}}}


def test_every_post_query_filter_is_translated() -> None:
    every_filter = {
        "since": SINCE, "until": UNTIL, "platforms": ("reddit",), "sources": ("a",), "languages": ("fr",), "narratives": ("n",),
        "tags": ("t",), "terms": ("w",), "hashtags": ("h",), "authors": ("alice",), "cluster_id": "c1",
    }
    assert set(every_filter) == set(PostQuery.model_fields) - {"text", "sort", "limit", "offset"}
    assert len(bodies.post_filters(PostQuery(**every_filter))) == len(every_filter) - 1, "since and until share one range"


def test_filters_combine_and_an_empty_query_matches_everything() -> None:
    assert bodies.post_query(PostQuery()) == {"match_all": {}}
    combined = bodies.post_filters(PostQuery(platforms=("reddit",), languages=("fr", "en")))
    assert combined == [{"terms": {"platform": ["reddit"]}}, {"terms": {"language": ["fr", "en"]}}]


def test_full_text_reads_the_query_like_the_embedded_store() -> None:
    text = 'guérison "énergie quantique" covid-19 l\'église "unclosed phrase'
    clauses = bodies.text_clauses(text)
    assert [clause["multi_match"]["query"] for clause in clauses] == [" ".join(words) for words in query_phrases(text)]
    assert [clause["multi_match"]["query"] for clause in clauses] == ["guérison", "énergie quantique", "covid 19", "l église", "unclosed phrase"]
    assert {clause["multi_match"]["type"] for clause in clauses} == {"phrase"}
    assert clauses[0]["multi_match"]["fields"] == ["text", "title^2"]
    assert bodies.text_clauses("!!! ...") == [] and bodies.text_clauses(None) == []


def test_text_must_match_and_stemmed_forms_only_lift_the_score() -> None:
    query = bodies.post_query(PostQuery(text="guérir", languages=("fr",)))["bool"]
    assert query["must"] == bodies.text_clauses("guérir")
    assert query["filter"] == [{"terms": {"language": ["fr"]}}]
    assert query["should"][0]["multi_match"]["fields"] == ["text.fr", "text.en", "title.fr^2", "title.en^2"]
    unscored = bodies.post_query(PostQuery(text="guérir"), scoring=False)
    assert unscored == {"bool": {"filter": bodies.text_clauses("guérir")}}


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("newest", [{"published_at": {"order": "desc"}}, {"id": {"order": "desc"}}]),
        ("oldest", [{"published_at": {"order": "asc"}}, {"id": {"order": "asc"}}]),
        ("relevance", [{"_score": {"order": "desc"}}, {"published_at": {"order": "desc"}}, {"id": {"order": "desc"}}]),
    ],
)
def test_sorts_end_on_the_unique_id(sort: str, expected: list[dict[str, Any]]) -> None:
    assert bodies.post_sort(sort) == expected  # type: ignore[arg-type]


def test_search_pages_with_from_and_size_and_highlights_only_with_text() -> None:
    plain = bodies.search_body(PostQuery(sources=("a",), limit=20, offset=40), size=20, offset=40)
    assert (plain["from"], plain["size"], plain["track_total_hits"]) == (40, 20, True)
    assert "highlight" not in plain
    highlighted = bodies.search_body(PostQuery(text="reiki"), size=50)["highlight"]
    assert highlighted["fields"] == {"text": {"number_of_fragments": 0}}
    assert (highlighted["pre_tags"], highlighted["post_tags"]) == ([bodies.HIGHLIGHT_PRE], [bodies.HIGHLIGHT_POST])
    assert highlighted["require_field_match"] is True


def test_deep_pages_walk_a_point_in_time_with_search_after() -> None:
    body = bodies.page_body(PostQuery(sort="oldest"), pit_id="PIT", size=1000, search_after=[1714557600000, "feed:9"], keep_alive="2m")
    assert body["pit"] == {"id": "PIT", "keep_alive": "2m"}
    assert body["search_after"] == [1714557600000, "feed:9"]
    assert body["sort"] == bodies.post_sort("oldest")
    assert "from" not in body and "index" not in body


@pytest.mark.parametrize("group_by", [None, *get_args(GroupField)])
def test_bucket_counts_are_a_composite_of_date_histogram_and_terms(group_by: str | None) -> None:
    body = bodies.buckets_body(PostQuery(narratives=("healing",)), "hour", group_by)  # type: ignore[arg-type]
    composite = body["aggs"]["buckets"]["composite"]
    assert composite["sources"][0] == {"start": {"date_histogram": {"field": "published_at", "calendar_interval": "1h", "time_zone": "UTC"}}}
    if group_by is None:
        assert len(composite["sources"]) == 1
    else:
        assert composite["sources"][1] == {"key": {"terms": {"field": bodies.TOP_FIELDS[group_by]}}}
    metrics = body["aggs"]["buckets"]["aggs"]
    assert (metrics["authors"]["cardinality"]["field"], metrics["sources"]["cardinality"]["field"]) == ("author_key", "source_id")
    filters = bodies.post_query(PostQuery(narratives=("healing",)), scoring=False)["bool"]["filter"]
    if group_by is not None:
        filters = [*filters, {"exists": {"field": bodies.TOP_FIELDS[group_by]}}]
    assert body["size"] == 0 and body["query"] == {"bool": {"filter": filters}}
    after = bodies.buckets_body(PostQuery(), "day", group_by, after={"start": 0})["aggs"]["buckets"]["composite"]  # type: ignore[arg-type]
    assert after["after"] == {"start": 0} and after["sources"][0]["start"]["date_histogram"]["calendar_interval"] == "1d"


def test_posts_only_buckets_ask_for_no_distinct_counts_and_fewer_pages() -> None:
    counted = bodies.buckets_body(PostQuery(), "hour", "narrative")["aggs"]["buckets"]
    posts_only = bodies.buckets_body(PostQuery(), "hour", "narrative", distinct=False)["aggs"]["buckets"]
    assert "aggs" in counted and "aggs" not in posts_only
    assert (counted["composite"]["size"], posts_only["composite"]["size"]) == (bodies.BUCKET_PAGE, bodies.COUNT_PAGE)
    assert bodies.COUNT_PAGE > bodies.BUCKET_PAGE and bodies.COUNT_PAGE < 65_535, "under the engines' default search.max_buckets"


@pytest.mark.parametrize("field", get_args(TopField))
def test_top_lists_count_an_indexed_keyword_field(field: str) -> None:
    body = bodies.top_terms_body(PostQuery(), field, 7)  # type: ignore[arg-type]
    terms = body["aggs"]["top"]["terms"]
    assert terms["size"] == 7 and terms["order"] == [{"_count": "desc"}, {"_key": "asc"}]
    path = terms["field"].split(".")
    spec = bodies.post_mappings()
    for part in path:
        spec = spec["properties"][part]
    assert spec["type"] == "keyword"


def test_clusters_keep_only_those_spanning_enough_sources() -> None:
    clusters = bodies.clusters_body(PostQuery(), min_sources=5, limit=10)["aggs"]["clusters"]
    assert clusters["terms"]["field"] == "cluster_id"
    assert clusters["terms"]["order"][0] == {"sources": "desc"}
    assert clusters["aggs"]["wide_enough"]["bucket_selector"]["script"]["params"] == {"min": 5}
    assert clusters["aggs"]["first"]["top_hits"]["sort"][0] == {"published_at": {"order": "asc"}}


def test_significant_terms_on_keywords_and_significant_text_on_the_text() -> None:
    week = PostQuery(since=SINCE)
    keyword = bodies.significant_terms_body(week, "hashtag", PostQuery(), 15)
    assert keyword["aggs"]["significant"]["significant_terms"] == {"field": "hashtags", "size": 15, "background_filter": {"match_all": {}}}
    text = bodies.significant_terms_body(week, "text", None, 15)["aggs"]["sample"]
    assert text["sampler"] == {"shard_size": 500}
    assert text["aggs"]["significant"]["significant_text"] == {"field": "text", "size": 15, "filter_duplicate_text": True}


def test_near_duplicates_rank_posts_by_shared_keys() -> None:
    body = bodies.near_duplicates_body(["k1", "k2"], 50)
    assert body["query"]["bool"]["should"] == [
        {"constant_score": {"filter": {"term": {"near_dup_keys": "k1"}}}},
        {"constant_score": {"filter": {"term": {"near_dup_keys": "k2"}}}},
    ]
    assert body["sort"][0] == {"_score": {"order": "desc"}} and body["size"] == 50


def test_small_index_queries() -> None:
    assert bodies.crawl_runs_query("tg-a") == {"term": {"source_id": "tg-a"}}
    assert bodies.crawl_runs_query(None) == {"match_all": {}}
    assert bodies.alerts_query(["open"], SINCE) == {"bool": {"filter": [{"terms": {"state": ["open"]}}, {"range": {"updated_at": {"gte": "2024-05-01T00:00:00+00:00"}}}]}}
    due = bodies.due_messages_query(SINCE)["bool"]
    assert due["must_not"] == [{"exists": {"field": "sent_at"}}]
    assert bodies.sorted_page({"match_all": {}}, bodies.BY_CREATION_SORT, 10, ["x"])["search_after"] == ["x"]


def test_every_body_is_plain_json() -> None:
    query = PostQuery(text="a", narratives=("n",), since=SINCE)
    for body in (
        bodies.posts_index_template(NAMES, 1),
        bodies.search_body(query, size=10),
        bodies.buckets_body(query, "day", "narrative"),
        bodies.top_terms_body(query, "domain", 10),
        bodies.clusters_body(query, 2, 20),
        bodies.significant_terms_body(query, "text", query, 10),
        bodies.published_before_body(SINCE),
    ):
        assert json.loads(json.dumps(body)) == body


def _field_paths(properties: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the leaf fields (`author.handle`, not `author`)."""
    paths = []
    for name, spec in properties.items():
        nested = spec.get("properties")
        paths += _field_paths(nested, f"{prefix}{name}.") if nested else [prefix + name]
    return paths


def test_the_researchers_guide_describes_every_indexed_field() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    missing = [path for path in _field_paths(bodies.post_mappings()["properties"]) if f"`{path}`" not in guide]
    assert missing == [], "describe these fields in docs/elasticsearch.md"
    for kind, properties in bodies.SMALL_INDEX_MAPPINGS.items():
        assert f"`{NAMES.small(kind)}`" in guide
        assert [name for name in properties if f"`{name}`" not in guide] == [], kind


def test_mapped_types_are_elasticsearch_field_types() -> None:
    """The client's own DSL knows every type used (a typo such as `keywrd` would fail here, not on a cluster)."""
    mappings = [bodies.post_mappings(), *(bodies.small_index_mappings(kind) for kind in bodies.SMALL_INDEX_MAPPINGS)]
    for spec in (spec for mapping in mappings for spec in _walk(mapping["properties"])):
        assert Field.get_dsl_class(spec["type"])


@pytest.mark.parametrize(
    "body",
    [
        bodies.search_body(PostQuery(text='guérison "miracle cure"', since=SINCE, authors=("a",), cluster_id="c", sort="relevance"), size=10),
        bodies.page_body(PostQuery(text="x", narratives=("n",)), pit_id="PIT", size=5, search_after=[1, "a"], keep_alive="1m", with_highlight=True),
        bodies.buckets_body(PostQuery(text="x"), "day", "narrative"),
        bodies.top_terms_body(PostQuery(hashtags=("h",)), "domain", 5),
        bodies.clusters_body(PostQuery(until=UNTIL), 2, 20),
        bodies.significant_terms_body(PostQuery(text="x"), "text", PostQuery(since=SINCE), 10),
        bodies.significant_terms_body(PostQuery(), "hashtag", None, 10),
        bodies.near_duplicates_body(["k1"], 5),
        bodies.sorted_page(bodies.due_messages_query(SINCE), bodies.BY_CREATION_SORT, 10),
        bodies.sorted_page(bodies.alerts_query(["open"], SINCE), bodies.ALERTS_SORT, 10),
    ],
    ids=["search", "page", "buckets", "top", "clusters", "significant-text", "significant-terms", "near-duplicates", "due", "alerts"],
)
def test_search_bodies_use_queries_and_aggregations_elasticsearch_knows(body: dict[str, Any]) -> None:
    """Parsed by the client's own DSL, which refuses unknown query and aggregation types, and rebuilt unchanged."""
    assert Search.from_dict(dict(body)).to_dict() == body
