"""The contract every store implements, as tests.

Use it by subclassing in a module that provides a `store` fixture yielding a fresh, empty store:

    class TestMyStore(StoreContract):
        pass

The tests only call `Store` methods, so they hold for SQLite and Elasticsearch alike; a store that indexes in
near-real time must make its writes visible before its write methods return.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.origin import load_origin
from store.base import PostQuery, Store
from vigie.models import PostRef
from tests.support.factories import make_post
from vigie.models import Alert, AlertEvent, Arrival, Author, Candidate, CrawlError, CrawlRun, Engagement, OutboxMessage, Post, SavedSearch, Subscription, TagMatch


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, tzinfo=UTC)


def span(text: str, part: str) -> tuple[int, int]:
    start = text.index(part)
    return start, start + len(part)


def watch_post(native_id: str, text: str, *, narrative: str, term: str, **fields: object) -> Post:
    """A post tagged by a watchlist term found in its text."""
    start, end = span(text.lower(), term.lower())
    return make_post(
        native_id,
        text,
        narratives=[narrative],
        tags=[*fields.pop("tags", []), term],
        matches=[TagMatch(narrative=narrative, term=term, start=start, end=end, watchlist="test")],
        **fields,
    )


def corpus() -> list[Post]:
    """Six posts whose values each filter, bucket and top list below is checked against."""
    alice = Author(id="a-1", handle="alice", name="Alice")
    bob = Author(id="b-2", handle="bob", name="Bob")
    chan = Author(id="chan-9", handle="canal_sante", name="Canal Santé")
    posts = [
        watch_post(
            "p1",
            "La guérison miraculeuse par les cristaux, témoignage #cristaux",
            narrative="miracle_healing",
            term="guérison miraculeuse",
            platform="feed",
            source_id="rss-a",
            author=alice,
            published_at=at(1, 9),
            language="fr",
            tags=["sante"],
            hashtags=["cristaux"],
            domains=["example.org"],
            links=["https://example.org/a"],
            mentions=["bob"],
            cluster_id="c-1",
            near_dup_keys=["00aaaa", "01bbbb"],
        ),
        watch_post(
            "p2",
            "Guérison miraculeuse : le même texte copié, partagé encore #cristaux #energie",
            narrative="miracle_healing",
            term="guérison miraculeuse",
            platform="telegram",
            source_id="tg-b",
            author=chan,
            published_at=at(1, 9, 30),
            language="fr",
            hashtags=["cristaux", "energie"],
            domains=["example.org", "tinyurl.com"],
            cluster_id="c-1",
            near_dup_keys=["00aaaa", "01cccc"],
            engagement=Engagement(views=1200, shares=4),
        ),
        watch_post(
            "p3",
            "The vaccine injury myth spreads near the old church and online",
            narrative="anti_vaccine",
            term="vaccine injury",
            platform="mastodon",
            source_id="masto-c",
            author=bob,
            published_at=at(1, 14),
            language="en",
            hashtags=["vaccines"],
            domains=["tinyurl.com"],
            mentions=["alice"],
        ),
        make_post(
            "p4",
            "A miracle for some, a cure for none: energy healing sessions sold online",
            platform="reddit",
            source_id="reddit-d",
            author=alice,
            published_at=at(2, 8),
            language="en",
            tags=["sante"],
            hashtags=["energie"],
            cluster_id="c-2",
            near_dup_keys=["02dddd"],
        ),
        make_post(
            "p5",
            "Stage d'énergie cosmique ce week-end, places limitées",
            platform="telegram",
            source_id="tg-b",
            author=chan,
            published_at=at(3, 20),
            language="fr",
            cluster_id="c-1",
            near_dup_keys=["01bbbb"],
        ),
        watch_post(
            "p6",
            "Miracle cure: drink this and the vaccine injury goes away, miracle cure!",
            narrative="miracle_healing",
            term="miracle cure",
            title="Miracle cure revealed",
            platform="reddit",
            source_id="reddit-d",
            author=bob,
            published_at=at(3, 21),
            language="en",
            hashtags=["cure"],
        ),
    ]
    return [post.model_copy(update={"collected_at": at(5)}) for post in posts]


def ids(posts: list[Post]) -> list[str]:
    return [post.id for post in posts]


def found(store: Store, **filters: object) -> set[str]:
    return {post.id for post in store.search(PostQuery(limit=100, **filters)).posts}


class StoreContract:
    @pytest.fixture
    def filled(self, store: Store) -> Store:
        store.upsert_posts(corpus())
        return store

    # ------------------------------------------------------------ upsert and get

    def test_upsert_reports_new_then_updated(self, store: Store) -> None:
        first = store.upsert_posts(corpus())
        again = store.upsert_posts(corpus()[:4])
        assert (first.new, first.updated, first.errors) == (6, 0, [])
        assert (again.new, again.updated) == (0, 4)
        assert store.count_posts(PostQuery()) == 6

    def test_mixed_batch_counts_new_and_updated(self, store: Store) -> None:
        store.upsert_posts(corpus()[:2])
        result = store.upsert_posts(corpus()[1:4])
        assert (result.new, result.updated) == (2, 1)

    def test_recrawl_updates_counters_and_text_but_keeps_first_seen(self, store: Store) -> None:
        original = make_post("x1", "first text", engagement=Engagement(likes=1), collected_at=at(1))
        store.upsert_posts([original])
        first_seen = store.get_post("feed:x1").first_seen_at
        recrawled = make_post("x1", "edited text", engagement=Engagement(likes=50, replies=3), collected_at=at(2), first_seen_at=at(9))
        store.upsert_posts([recrawled])
        post = store.get_post("feed:x1")
        assert first_seen is not None and post.first_seen_at == first_seen
        assert (post.text, post.engagement.likes, post.engagement.replies, post.collected_at) == ("edited text", 50, 3, at(2))
        assert found(store, text="edited") == {"feed:x1"}
        assert found(store, text="first") == set()

    def test_a_post_twice_in_one_batch_keeps_its_later_version(self, store: Store) -> None:
        earlier, later = make_post("x3", "earlier text", collected_at=at(1)), make_post("x3", "later text", collected_at=at(2))
        result = store.upsert_posts([earlier, make_post("x4", "other"), later])
        assert (result.new, result.errors) == (2, [])
        post = store.get_post("feed:x3")
        assert (post.text, post.collected_at) == ("later text", at(2)) and post.first_seen_at is not None

    def test_first_seen_is_set_on_first_insert(self, store: Store) -> None:
        before = datetime.now(UTC) - timedelta(seconds=5)
        store.upsert_posts([make_post("x2", "hello")])
        first_seen = store.get_post("feed:x2").first_seen_at
        assert first_seen is not None and first_seen.tzinfo is not None and first_seen >= before

    def test_get_post_returns_every_field(self, filled: Store) -> None:
        original = next(post for post in corpus() if post.native_id == "p6")
        stored = filled.get_post(original.id)
        assert stored.model_dump(exclude={"first_seen_at"}) == original.model_dump(exclude={"first_seen_at"})

    def test_get_unknown_post_is_none(self, filled: Store) -> None:
        assert filled.get_post("feed:nope") is None

    def test_get_posts_in_the_order_asked_without_the_unknown(self, filled: Store) -> None:
        wanted = [post.id for post in corpus()][::-2]
        found = filled.get_posts([wanted[0], "feed:nope", *wanted[1:]])
        assert [post.id for post in found] == wanted
        assert found[0] == filled.get_post(wanted[0])
        assert filled.get_posts([]) == []

    def test_enrichment_refreshes_on_recrawl(self, filled: Store) -> None:
        p4 = next(post for post in corpus() if post.native_id == "p4")
        filled.upsert_posts([p4.model_copy(update={"narratives": ["energy_healing"], "hashtags": []})])
        assert found(filled, narratives=("energy_healing",)) == {"reddit:p4"}
        assert "reddit:p4" not in found(filled, hashtags=("energie",))

    # ------------------------------------------------------------ filters

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ({}, ["p1", "p2", "p3", "p4", "p5", "p6"]),
            ({"since": at(2)}, ["p4", "p5", "p6"]),
            ({"until": at(1, 14)}, ["p1", "p2"]),
            ({"since": at(1, 9, 30), "until": at(3, 20)}, ["p2", "p3", "p4"]),
            ({"platforms": ("telegram",)}, ["p2", "p5"]),
            ({"platforms": ("telegram", "mastodon")}, ["p2", "p3", "p5"]),
            ({"sources": ("reddit-d",)}, ["p4", "p6"]),
            ({"languages": ("en",)}, ["p3", "p4", "p6"]),
            ({"narratives": ("miracle_healing",)}, ["p1", "p2", "p6"]),
            ({"narratives": ("anti_vaccine", "nobody")}, ["p3"]),
            ({"tags": ("sante",)}, ["p1", "p4"]),
            ({"tags": ("guérison miraculeuse",)}, ["p1", "p2"]),
            ({"terms": ("vaccine injury",)}, ["p3"]),
            ({"hashtags": ("energie",)}, ["p2", "p4"]),
            ({"authors": ("alice",)}, ["p1", "p4"]),
            ({"authors": ("chan-9",)}, ["p2", "p5"]),
            ({"cluster_id": "c-1"}, ["p1", "p2", "p5"]),
            ({"platforms": ("nowhere",)}, []),
            ({"narratives": ("miracle_healing",), "platforms": ("reddit",)}, ["p6"]),
            ({"hashtags": ("cristaux",), "since": at(1, 9, 15)}, ["p2"]),
            ({"languages": ("fr",), "tags": ("sante",), "text": "cristaux"}, ["p1"]),
        ],
    )
    def test_each_filter(self, filled: Store, filters: dict, expected: list[str]) -> None:
        result = filled.search(PostQuery(limit=100, **filters))
        assert sorted(post.native_id for post in result.posts) == expected
        assert result.total == len(expected) == filled.count_posts(PostQuery(**filters))

    # ------------------------------------------------------------ full text

    @pytest.mark.parametrize("text", ["guerison", "GUÉRISON", "Guerison miraculeuse"])
    def test_text_search_folds_case_and_diacritics(self, filled: Store, text: str) -> None:
        assert found(filled, text=text) == {"feed:p1", "telegram:p2"}

    def test_folding_works_both_ways(self, filled: Store) -> None:
        assert found(filled, text="énergie cosmique") == {"telegram:p5"}
        assert found(filled, text="ENERGIE COSMIQUE") == {"telegram:p5"}

    def test_words_are_anded(self, filled: Store) -> None:
        assert found(filled, text="miracle cure") == {"reddit:p4", "reddit:p6"}
        assert found(filled, text="miracle vaccine") == {"reddit:p6"}

    def test_phrase_keeps_words_together(self, filled: Store) -> None:
        assert found(filled, text='"miracle cure"') == {"reddit:p6"}
        assert found(filled, text='"cure miracle"') == set()

    def test_title_is_searched(self, filled: Store) -> None:
        assert found(filled, text="revealed") == {"reddit:p6"}

    @pytest.mark.parametrize("text", ['"', '""', "*", "AND (", "NEAR", "NEAR(a b)", "a OR", "text:miracle", "^", "-cure", ")(", "'", "\\", "%_", "guér*", '"unclosed phrase', "🙏"])
    def test_hostile_queries_never_fail(self, filled: Store, text: str) -> None:
        result = filled.search(PostQuery(text=text))
        assert result.total == filled.count_posts(PostQuery(text=text)) == len(result.hits)

    def test_operators_are_plain_words(self, filled: Store) -> None:
        assert found(filled, text="NEAR") == {"mastodon:p3"}
        assert found(filled, text="AND (") == {"mastodon:p3", "reddit:p6"}
        assert found(filled, text="miracle OR nothing") == set()

    @pytest.mark.parametrize("text", ["*", '"', "()", "  "])
    def test_query_without_words_does_not_filter_text(self, filled: Store, text: str) -> None:
        assert filled.count_posts(PostQuery(text=text)) == 6

    def test_highlights_are_spans_of_matched_words(self, filled: Store) -> None:
        hits = {hit.post.id: hit for hit in filled.search(PostQuery(text="guerison cristaux")).hits}
        p1 = hits["feed:p1"]
        assert [p1.post.text[a:b] for a, b in p1.highlights] == ["guérison", "cristaux", "cristaux"]

    def test_highlights_of_a_phrase_cover_the_phrase(self, filled: Store) -> None:
        (hit,) = filled.search(PostQuery(text='"miracle cure"')).hits
        assert [hit.post.text[a:b] for a, b in hit.highlights] == ["Miracle cure", "miracle cure"]

    def test_no_text_no_highlights(self, filled: Store) -> None:
        assert all(hit.highlights == [] for hit in filled.search(PostQuery()).hits)

    # ------------------------------------------------------------ sorting and paging

    def test_sort_newest_and_oldest(self, filled: Store) -> None:
        newest = [post.native_id for post in filled.search(PostQuery(sort="newest")).posts]
        oldest = [post.native_id for post in filled.search(PostQuery(sort="oldest")).posts]
        assert newest == ["p6", "p5", "p4", "p3", "p2", "p1"]
        assert oldest == newest[::-1]

    def test_sort_relevance_puts_best_match_first(self, filled: Store) -> None:
        ranked = [post.native_id for post in filled.search(PostQuery(text="miracle cure", sort="relevance")).posts]
        assert ranked == ["p6", "p4"]

    def test_relevance_without_text_is_newest(self, filled: Store) -> None:
        assert ids(filled.search(PostQuery(sort="relevance")).posts) == ids(filled.search(PostQuery(sort="newest")).posts)

    @pytest.mark.parametrize("sort", ["newest", "oldest"])
    def test_paging_past_the_first_page(self, store: Store, sort: str) -> None:
        posts = [make_post(f"n{i:02d}", f"note {i}", published_at=at(1) + timedelta(minutes=i)) for i in range(25)]
        store.upsert_posts(posts)
        pages = [store.search(PostQuery(sort=sort, limit=10, offset=offset)) for offset in (0, 10, 20, 30)]
        assert [page.total for page in pages] == [25, 25, 25, 25]
        assert [len(page.hits) for page in pages] == [10, 10, 5, 0]
        expected = ids(posts)[::-1] if sort == "newest" else ids(posts)
        assert [post_id for page in pages for post_id in ids(page.posts)] == expected

    def test_same_time_posts_page_without_gaps(self, store: Store) -> None:
        posts = [make_post(f"s{i:02d}", "same minute", published_at=at(1)) for i in range(12)]
        store.upsert_posts(posts)
        pages = [ids(store.search(PostQuery(limit=5, offset=offset)).posts) for offset in (0, 5, 10)]
        seen = [post_id for page in pages for post_id in page]
        assert sorted(seen) == sorted(ids(posts)) and len(set(seen)) == 12

    def test_limit_zero_gives_the_total_only(self, filled: Store) -> None:
        result = filled.search(PostQuery(limit=0))
        assert (result.total, result.hits) == (6, [])

    @pytest.mark.parametrize("sort", ["newest", "oldest"])
    def test_iter_posts_walks_every_match_in_order(self, store: Store, sort: str) -> None:
        posts = [make_post(f"i{i:02d}", f"item {i}", platform="telegram" if i % 3 else "feed", published_at=at(1) + timedelta(hours=i)) for i in range(23)]
        store.upsert_posts(posts)
        query = PostQuery(platforms=("telegram",), sort=sort, limit=2, offset=5)
        walked = ids(list(store.iter_posts(query, batch_size=4)))
        expected = [post.id for post in posts if post.platform == "telegram"]
        assert walked == (expected[::-1] if sort == "newest" else expected)

    def test_iter_posts_with_same_published_times(self, store: Store) -> None:
        posts = [make_post(f"t{i:02d}", "tie", published_at=at(1, 10 + i // 5)) for i in range(15)]
        store.upsert_posts(posts)
        walked = ids(list(store.iter_posts(PostQuery(), batch_size=4)))
        assert sorted(walked) == sorted(ids(posts)) and len(walked) == 15

    def test_iter_posts_by_relevance(self, filled: Store) -> None:
        walked = ids(list(filled.iter_posts(PostQuery(text="miracle cure", sort="relevance"), batch_size=1)))
        assert walked == ["reddit:p6", "reddit:p4"]

    def test_iter_posts_with_text(self, filled: Store) -> None:
        assert ids(list(filled.iter_posts(PostQuery(text="guerison"), batch_size=1))) == ["telegram:p2", "feed:p1"]

    # ------------------------------------------------------------ bucketed counts

    def test_day_buckets(self, filled: Store) -> None:
        buckets = filled.count_buckets(PostQuery(), "day")
        assert [(b.start, b.key, b.posts, b.authors, b.sources) for b in buckets] == [
            (at(1, 0), None, 3, 3, 3),
            (at(2, 0), None, 1, 1, 1),
            (at(3, 0), None, 2, 2, 2),
        ]

    def test_hour_buckets_with_a_filter(self, filled: Store) -> None:
        buckets = filled.count_buckets(PostQuery(languages=("fr",)), "hour")
        assert [(b.start, b.posts, b.authors, b.sources) for b in buckets] == [(at(1, 9), 2, 2, 2), (at(3, 20), 1, 1, 1)]
        assert all(b.start.tzinfo is not None and b.start.utcoffset() == timedelta(0) for b in buckets)

    def test_distinct_authors_and_sources_per_bucket(self, store: Store) -> None:
        same = Author(id="u1", handle="same")
        store.upsert_posts(
            [
                make_post("d1", "x", source_id="s1", author=same, published_at=at(4, 1)),
                make_post("d2", "x", source_id="s1", author=same, published_at=at(4, 2)),
                make_post("d3", "x", source_id="s2", author=same, published_at=at(4, 3)),
                make_post("d4", "x", source_id="s2", author=Author(id="u2", handle="other"), published_at=at(4, 4)),
            ]
        )
        (bucket,) = store.count_buckets(PostQuery(), "day")
        assert (bucket.posts, bucket.authors, bucket.sources) == (4, 2, 2)

    @pytest.mark.parametrize(
        ("group_by", "expected"),
        [
            ("narrative", [(1, "anti_vaccine", 1), (1, "miracle_healing", 2), (3, "miracle_healing", 1)]),
            ("tag", [(1, "guérison miraculeuse", 2), (1, "sante", 1), (1, "vaccine injury", 1), (2, "sante", 1), (3, "miracle cure", 1)]),
            ("term", [(1, "guérison miraculeuse", 2), (1, "vaccine injury", 1), (3, "miracle cure", 1)]),
            ("hashtag", [(1, "cristaux", 2), (1, "energie", 1), (1, "vaccines", 1), (2, "energie", 1), (3, "cure", 1)]),
            ("platform", [(1, "feed", 1), (1, "mastodon", 1), (1, "telegram", 1), (2, "reddit", 1), (3, "reddit", 1), (3, "telegram", 1)]),
            ("source", [(1, "masto-c", 1), (1, "rss-a", 1), (1, "tg-b", 1), (2, "reddit-d", 1), (3, "reddit-d", 1), (3, "tg-b", 1)]),
            ("language", [(1, "en", 1), (1, "fr", 2), (2, "en", 1), (3, "en", 1), (3, "fr", 1)]),
        ],
    )
    def test_buckets_grouped_by_each_field(self, filled: Store, group_by: str, expected: list) -> None:
        buckets = filled.count_buckets(PostQuery(), "day", group_by)
        assert [(b.start.day, b.key, b.posts) for b in buckets] == expected

    def test_grouped_buckets_count_distinct_authors_and_sources(self, filled: Store) -> None:
        buckets = filled.count_buckets(PostQuery(since=at(1), until=at(2)), "day", "narrative")
        healing = next(b for b in buckets if b.key == "miracle_healing")
        assert (healing.posts, healing.authors, healing.sources) == (2, 2, 2)

    def test_buckets_without_distinct_counts_count_the_same_posts(self, filled: Store) -> None:
        buckets = filled.count_buckets(PostQuery(), "hour", "narrative")
        posts_only = filled.count_buckets(PostQuery(), "hour", "narrative", distinct=False)
        assert buckets and [(b.start, b.key, b.posts, b.authors, b.sources) for b in posts_only] == [(b.start, b.key, b.posts, 0, 0) for b in buckets]

    def test_buckets_follow_text_and_period(self, filled: Store) -> None:
        buckets = filled.count_buckets(PostQuery(text="miracle", since=at(3)), "day", "platform")
        assert [(b.start, b.key, b.posts) for b in buckets] == [(at(3, 0), "reddit", 1)]

    def test_buckets_of_nothing_are_empty(self, store: Store) -> None:
        assert store.count_buckets(PostQuery(), "hour", "narrative") == []

    # ------------------------------------------------------------ top terms

    @pytest.mark.parametrize(
        ("field", "expected"),
        [
            ("narrative", [("miracle_healing", 3), ("anti_vaccine", 1)]),
            ("tag", [("guérison miraculeuse", 2), ("sante", 2), ("miracle cure", 1), ("vaccine injury", 1)]),
            ("term", [("guérison miraculeuse", 2), ("miracle cure", 1), ("vaccine injury", 1)]),
            ("hashtag", [("cristaux", 2), ("energie", 2), ("cure", 1), ("vaccines", 1)]),
            ("domain", [("example.org", 2), ("tinyurl.com", 2)]),
            ("author", [("alice", 2), ("bob", 2), ("canal_sante", 2)]),
            ("source", [("reddit-d", 2), ("tg-b", 2), ("masto-c", 1), ("rss-a", 1)]),
            ("platform", [("reddit", 2), ("telegram", 2), ("feed", 1), ("mastodon", 1)]),
            ("language", [("en", 3), ("fr", 3)]),
            ("mention", [("alice", 1), ("bob", 1)]),
        ],
    )
    def test_top_terms_for_each_field(self, filled: Store, field: str, expected: list) -> None:
        assert [(t.value, t.count) for t in filled.top_terms(PostQuery(), field)] == expected

    def test_top_terms_respect_filters_and_limit(self, filled: Store) -> None:
        top = filled.top_terms(PostQuery(platforms=("telegram", "feed")), "hashtag", limit=1)
        assert [(t.value, t.count) for t in top] == [("cristaux", 2)]
        assert filled.top_terms(PostQuery(text="vaccine"), "author") == filled.top_terms(PostQuery(authors=("bob",)), "author")

    # ------------------------------------------------------------ clusters and near-duplicates

    def test_clusters_spanning_sources(self, filled: Store) -> None:
        (cluster,) = filled.clusters(PostQuery())
        assert (cluster.cluster_id, cluster.posts, cluster.sources) == ("c-1", 3, 2)
        assert (cluster.first_post_id, cluster.first_source, cluster.first_published_at) == ("feed:p1", "rss-a", at(1, 9))

    def test_clusters_with_one_source_and_filters(self, filled: Store) -> None:
        wide = filled.clusters(PostQuery(), min_sources=1)
        assert [(c.cluster_id, c.posts, c.sources) for c in wide] == [("c-1", 3, 2), ("c-2", 1, 1)]
        late = filled.clusters(PostQuery(since=at(1, 9, 15)), min_sources=1)
        assert [(c.cluster_id, c.posts, c.first_post_id) for c in late] == [("c-1", 2, "telegram:p2"), ("c-2", 1, "reddit:p4")]
        assert filled.clusters(PostQuery(), min_sources=3) == []

    def test_find_near_duplicates_by_shared_band_key(self, filled: Store) -> None:
        assert sorted(filled.find_near_duplicates(["00aaaa"])) == [("feed:p1", "c-1"), ("telegram:p2", "c-1")]
        assert sorted(filled.find_near_duplicates(["01bbbb", "02dddd", "unknown"])) == [("feed:p1", "c-1"), ("reddit:p4", "c-2"), ("telegram:p5", "c-1")]
        assert filled.find_near_duplicates([]) == []
        assert filled.find_near_duplicates(["zzzz"]) == []

    def test_near_duplicates_follow_recrawls(self, filled: Store) -> None:
        p5 = next(post for post in corpus() if post.native_id == "p5")
        filled.upsert_posts([p5.model_copy(update={"near_dup_keys": ["09eeee"]})])
        assert filled.find_near_duplicates(["01bbbb"]) == [("feed:p1", "c-1")]
        assert filled.find_near_duplicates(["09eeee"]) == [("telegram:p5", "c-1")]

    def test_find_near_duplicates_limit(self, filled: Store) -> None:
        assert len(filled.find_near_duplicates(["00aaaa", "01bbbb"], limit=2)) == 2

    def test_near_duplicate_clusters_answer_each_group(self, filled: Store) -> None:
        groups = [["00aaaa"], ["02dddd"], [], ["zzzz", "unknown"], ["01bbbb", "02dddd"]]
        assert filled.near_duplicate_clusters(groups) == [{"c-1"}, {"c-2"}, set(), set(), {"c-1", "c-2"}]
        assert filled.near_duplicate_clusters([]) == []

    # ------------------------------------------------------------ re-enrichment and retention

    def test_update_enrichment_replaces_watchlist_fields_only(self, filled: Store) -> None:
        before = filled.get_post("reddit:p4")
        match = TagMatch(narrative="energy_healing", term="energy healing", start=27, end=41, watchlist="test")
        assert filled.update_enrichment("reddit:p4", tags=["sante", "energy healing"], narratives=["energy_healing"], matches=[match])
        after = filled.get_post("reddit:p4")
        assert (after.tags, after.narratives, after.matches) == (["sante", "energy healing"], ["energy_healing"], [match])
        assert after.model_dump(exclude={"tags", "narratives", "matches"}) == before.model_dump(exclude={"tags", "narratives", "matches"})
        assert found(filled, narratives=("energy_healing",)) == {"reddit:p4"}
        assert found(filled, terms=("energy healing",)) == {"reddit:p4"}
        assert found(filled, hashtags=("energie",)) == {"telegram:p2", "reddit:p4"}

    def test_update_enrichment_can_clear_tags(self, filled: Store) -> None:
        assert filled.update_enrichment("telegram:p2", tags=[], narratives=[], matches=[])
        assert "telegram:p2" not in found(filled, narratives=("miracle_healing",))
        assert [(t.value, t.count) for t in filled.top_terms(PostQuery(), "term")][0] == ("guérison miraculeuse", 1)

    def test_update_enrichment_of_unknown_post(self, filled: Store) -> None:
        assert filled.update_enrichment("feed:nope", tags=[], narratives=[], matches=[]) is False

    def test_delete_posts_before_a_date(self, filled: Store) -> None:
        assert filled.delete_posts(at(2)) == 3
        assert sorted(post.native_id for post in filled.search(PostQuery()).posts) == ["p4", "p5", "p6"]
        assert found(filled, text="guerison") == set()
        assert filled.get_post("feed:p1") is None
        assert [t.value for t in filled.top_terms(PostQuery(), "hashtag")] == ["cure", "energie"]
        assert filled.find_near_duplicates(["00aaaa"]) == []
        assert filled.delete_posts(at(2)) == 0

    def test_deleted_post_can_come_back(self, filled: Store) -> None:
        filled.delete_posts(at(2))
        result = filled.upsert_posts(corpus()[:1])
        assert (result.new, result.updated) == (1, 0)
        assert found(filled, text="cristaux") == {"feed:p1"}

    # ------------------------------------------------------------ crawl runs and cursors

    def test_crawl_runs_are_replaced_by_id_most_recent_first(self, store: Store) -> None:
        started = CrawlRun(id="r1", source_id="rss-a", platform="feed", started_at=at(1, 10))
        store.record_crawl_run(started)
        store.record_crawl_run(CrawlRun(id="r2", source_id="tg-b", platform="telegram", started_at=at(1, 11)))
        finished = started.model_copy(
            update={"finished_at": at(1, 10, 5), "status": "partial", "pages": 3, "new_posts": 7, "errors": [CrawlError(url="https://x.example/2", status=500, message="server error")]}
        )
        store.record_crawl_run(finished)
        store.record_crawl_run(CrawlRun(id="r3", source_id="rss-a", platform="feed", started_at=at(2, 10)))
        assert [run.id for run in store.crawl_runs()] == ["r3", "r2", "r1"]
        assert [run.id for run in store.crawl_runs("rss-a")] == ["r3", "r1"]
        assert store.crawl_runs("rss-a")[1] == finished
        assert [run.id for run in store.crawl_runs(limit=1)] == ["r3"]
        assert store.crawl_runs("unknown") == []
        assert store.last_runs(["rss-a", "unknown", "tg-b"]) == {"rss-a": store.crawl_runs("rss-a")[0], "tg-b": store.crawl_runs("tg-b")[0]}
        assert store.last_runs([]) == {}

    def test_cursors(self, store: Store) -> None:
        assert store.get_cursor("rss-a") is None
        store.set_cursor("rss-a", {"etag": "W/1", "seen": ["a", "b"]})
        store.set_cursor("rss-a", {"etag": "W/2", "since_id": 42})
        store.set_cursor("tg-b", {"before": 100})
        assert store.get_cursor("rss-a") == {"etag": "W/2", "since_id": 42}
        assert store.get_cursor("tg-b") == {"before": 100}

    # ------------------------------------------------------------ alerts

    def _alert(self, alert_id: str, state: str, updated: datetime) -> Alert:
        return Alert(
            id=alert_id,
            rule_id="spike",
            kind="spike",
            subject_type="narrative",
            subject="miracle_healing",
            state=state,
            opened_at=at(1),
            updated_at=updated,
            count=12,
            ratio=4.5,
            evidence={"top_sources": ["tg-b"], "sample_post_ids": ["telegram:p2"]},
            history=[AlertEvent(at=at(1), action="opened")],
        )

    def test_alerts_saved_read_and_replaced(self, store: Store) -> None:
        alert = self._alert("a1", "open", at(1, 10))
        store.save_alert(alert)
        assert store.get_alert("a1") == alert
        acknowledged = alert.model_copy(update={"state": "acknowledged", "updated_at": at(1, 11), "history": [*alert.history, AlertEvent(at=at(1, 11), action="acknowledged", by="analyst")]})
        store.save_alert(acknowledged)
        assert store.get_alert("a1") == acknowledged
        assert store.get_alert("nope") is None

    def test_list_alerts_by_state_since_and_recency(self, store: Store) -> None:
        for alert_id, state, updated in [("a1", "open", at(1)), ("a2", "resolved", at(2)), ("a3", "open", at(3)), ("a4", "acknowledged", at(4))]:
            store.save_alert(self._alert(alert_id, state, updated))
        assert [a.id for a in store.list_alerts()] == ["a4", "a3", "a2", "a1"]
        assert [a.id for a in store.list_alerts(states=["open"])] == ["a3", "a1"]
        assert [a.id for a in store.list_alerts(states=["open", "acknowledged"], since=at(2))] == ["a4", "a3"]
        assert [a.id for a in store.list_alerts(limit=2)] == ["a4", "a3"]

    # ------------------------------------------------------------ candidate narratives

    def _candidate(self, candidate_id: str, state: str, updated: datetime) -> Candidate:
        ref = PostRef(id="telegram:p2", platform="telegram", source_id="tg-b", published_at=at(1, 9), url="https://t.me/b/2", shares=40)
        return Candidate(
            id=candidate_id,
            state=state,
            terms=["#reveil", "protocole", "thalassine"],
            clusters=["c-1"],
            posts=14,
            authors=9,
            baseline=0.4,
            growth=35.0,
            score=12.5,
            first_post_at=at(1, 9),
            detected_at=at(1, 12),
            updated_at=updated,
            earliest=[ref],
            most_shared=[ref],
            sources={"tg-b": 8, "rss-a": 6},
            platforms={"telegram": 8, "feed": 6},
            languages={"fr": 14},
            spread=[Arrival(key="tg-b", platform="telegram", first_at=at(1, 9), posts=8), Arrival(key="rss-a", platform="feed", first_at=at(1, 11), posts=6)],
        )

    def test_candidates_saved_read_dismissed_and_listed(self, store: Store) -> None:
        for candidate_id, state, updated in [("c1", "new", at(1)), ("c2", "dismissed", at(2)), ("c3", "new", at(3)), ("c4", "promoted", at(4))]:
            store.save_candidate(self._candidate(candidate_id, state, updated))
        assert store.get_candidate("c1") == self._candidate("c1", "new", at(1))
        assert store.get_candidate("nope") is None
        assert [c.id for c in store.list_candidates()] == ["c4", "c3", "c2", "c1"]
        assert [c.id for c in store.list_candidates(states=["new"])] == ["c3", "c1"]
        assert [c.id for c in store.list_candidates(states=["new", "dismissed"], since=at(2))] == ["c3", "c2"]
        assert [c.id for c in store.list_candidates(limit=1)] == ["c4"]
        dismissed = store.get_candidate("c1").model_copy(update={"state": "dismissed", "dismissed_posts": 14, "by": "analyst", "updated_at": at(5)})
        store.save_candidate(dismissed)
        assert store.get_candidate("c1") == dismissed
        assert [c.id for c in store.list_candidates(states=["new"])] == ["c3"]

    def test_origin_of_a_cluster_first_post_and_spread(self, store: Store) -> None:
        store.upsert_posts(
            [
                make_post("o1", "Partagez avant suppression", platform="telegram", source_id="tg-b", published_at=at(2, 9, 40), cluster_id="c-9"),
                make_post("o2", "Partagez avant suppression", platform="telegram", source_id="tg-b", published_at=at(2, 10, 5), cluster_id="c-9"),
                make_post("o3", "Partagez avant suppression", platform="mastodon", source_id="masto-a", published_at=at(2, 11, 30), cluster_id="c-9"),
                make_post("o4", "Partagez avant suppression", platform="feed", source_id="rss-a", published_at=at(2, 14, 10), cluster_id="c-9"),
                make_post("o5", "Autre chose", platform="feed", source_id="rss-a", published_at=at(2, 8), cluster_id="c-8"),
            ]
        )
        origin = load_origin(store, PostQuery(cluster_id="c-9"))
        assert origin.first is not None and origin.first.id == "telegram:o1"
        assert [(a.key, a.platform, a.first_at, a.posts) for a in origin.sources] == [
            ("tg-b", "telegram", at(2, 9, 40), 2),
            ("masto-a", "mastodon", at(2, 11), 1),
            ("rss-a", "feed", at(2, 14), 1),
        ]
        assert [a.key for a in origin.platforms] == ["telegram", "mastodon", "feed"]
        assert origin.spread_hours == 5
        assert load_origin(store, PostQuery(cluster_id="nothing")).first is None

    # ------------------------------------------------------------ subscriptions and saved searches

    def test_subscriptions(self, store: Store) -> None:
        first = Subscription(id="s1", email="veille@example.org", created_at=at(1))
        second = Subscription(id="s2", email="chef@example.org", rules=["spike"], mode="digest", created_at=at(2))
        store.save_subscription(second)
        store.save_subscription(first)
        assert store.list_subscriptions() == [first, second]
        changed = first.model_copy(update={"mode": "digest"})
        store.save_subscription(changed)
        assert store.list_subscriptions() == [changed, second]
        assert store.delete_subscription("s2") is True
        assert store.delete_subscription("s2") is False
        assert store.list_subscriptions() == [changed]

    def test_saved_searches(self, store: Store) -> None:
        query = PostQuery(text="guérison", narratives=("miracle_healing",), since=at(1)).model_dump(mode="json")
        saved = SavedSearch(id="q1", name="Guérisons", query=query, created_at=at(1))
        store.save_search(saved)
        store.save_search(SavedSearch(id="q2", name="Vaccins", query={"text": "vaccin"}, created_at=at(2)))
        assert [s.id for s in store.list_searches()] == ["q1", "q2"]
        assert PostQuery.model_validate(store.list_searches()[0].query) == PostQuery.model_validate(query)
        assert store.delete_search("q1") is True
        assert store.delete_search("q1") is False
        assert [s.id for s in store.list_searches()] == ["q2"]

    # ------------------------------------------------------------ outbox

    def _message(self, message_id: str, created: datetime, due: datetime | None = None) -> OutboxMessage:
        return OutboxMessage(id=message_id, recipient="veille@example.org", subject=f"alert {message_id}", body_text="…", created_at=created, next_attempt_at=due or created)

    def test_enqueue_is_idempotent(self, store: Store) -> None:
        assert store.enqueue(self._message("m1", at(1))) is True
        assert store.enqueue(self._message("m1", at(2)).model_copy(update={"subject": "changed"})) is False
        (message,) = store.due_messages(at(5))
        assert (message.id, message.subject, message.created_at) == ("m1", "alert m1", at(1))

    def test_due_messages_oldest_first_and_only_when_due(self, store: Store) -> None:
        store.enqueue(self._message("m2", at(2)))
        store.enqueue(self._message("m1", at(1)))
        store.enqueue(self._message("m3", at(1, 13), due=at(4)))
        assert [m.id for m in store.due_messages(at(3))] == ["m1", "m2"]
        assert [m.id for m in store.due_messages(at(5))] == ["m1", "m3", "m2"]
        assert [m.id for m in store.due_messages(at(5), limit=1)] == ["m1"]

    def test_mark_sent_takes_a_message_out_of_the_queue(self, store: Store) -> None:
        store.enqueue(self._message("m1", at(1)))
        store.enqueue(self._message("m2", at(1, 13)))
        store.mark_sent("m1", at(1, 14))
        assert [m.id for m in store.due_messages(at(5))] == ["m2"]
        assert store.enqueue(self._message("m1", at(1))) is False

    def test_mark_failed_counts_keeps_error_and_backs_off(self, store: Store) -> None:
        store.enqueue(self._message("m1", at(1)))
        store.mark_failed("m1", "SMTP 451 try later", at(1, 13))
        store.mark_failed("m1", "connection refused", at(2))
        assert store.due_messages(at(1, 23)) == []
        (message,) = store.due_messages(at(2))
        assert (message.attempts, message.last_error, message.next_attempt_at, message.sent_at) == (2, "connection refused", at(2), None)
