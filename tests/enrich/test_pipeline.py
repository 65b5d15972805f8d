from __future__ import annotations

from enrich import Enricher
from enrich.duplicates import NearDuplicates
from enrich.language import LanguageIdentifier
from enrich.watchlists import WatchlistMatcher
from tests.support.factories import make_post
from vigie.models import TagMatch


def test_enrich_fills_every_field_keeps_source_tags_and_leaves_the_input_alone(identifier: LanguageIdentifier, default_matcher: WatchlistMatcher) -> None:
    enricher = Enricher(identifier, default_matcher, NearDuplicates())
    post = make_post(
        "1",
        "Ils nous aspergent encore ce matin, regardez ces chemtrails au-dessus de la ville ! #StopSpraying @MeteoFrance https://www.Example.fr/ciel?utm_source=tg",
        title="Chemtrails : la preuve",
        platform="mastodon",
        platform_language="fr",
        tags=["veille", "complot"],
        hashtags=["ciel"],
        links=["https://other.org/x?fbclid=1"],
    )
    before = post.model_dump()
    (enriched,) = enricher.enrich([post])
    assert post.model_dump() == before

    assert enriched.language == "fr" and enriched.language_confidence > 0.5
    assert enriched.hashtags == ["ciel", "stopspraying"]
    assert enriched.mentions == ["meteofrance"]
    assert enriched.links == ["https://other.org/x", "https://www.example.fr/ciel"]
    assert enriched.domains == ["other.org", "example.fr"]
    assert enriched.narratives == ["chemtrails"]
    assert enriched.tags[:2] == ["veille", "complot"]
    assert set(enriched.tags[2:]) == {"chemtrail", "ils nous aspergent", "#stopspraying"}
    title_match = next(m for m in enriched.matches if m.field == "title")
    assert (post.title[title_match.start : title_match.end], title_match.watchlist) == ("Chemtrails", "conspiracy")
    assert enriched.cluster_id and len(enriched.near_dup_keys) == enricher.duplicates.bands


def test_enriching_again_replaces_watchlist_tags_and_keeps_the_others(identifier: LanguageIdentifier, default_matcher: WatchlistMatcher) -> None:
    enricher = Enricher(identifier, default_matcher, NearDuplicates())
    stale = TagMatch(narrative="gone", term="old term", start=0, end=3, watchlist="old")
    post = make_post("2", "Rien à signaler aujourd'hui.", tags=["veille", "old term"], narratives=["gone"], matches=[stale])
    (enriched,) = enricher.enrich([post])
    assert (enriched.tags, enriched.narratives, enriched.matches) == (["veille"], [], [])


def test_an_empty_batch_is_fine(identifier: LanguageIdentifier, default_matcher: WatchlistMatcher) -> None:
    assert Enricher(identifier, default_matcher, NearDuplicates()).enrich([]) == []
