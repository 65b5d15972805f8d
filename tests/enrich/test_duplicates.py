from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from enrich import Enricher
from enrich.duplicates import MemoryIndex, NearDuplicates, cluster_id_for, lsh_parameters
from enrich.language import LanguageIdentifier
from enrich.watchlists import WatchlistMatcher
from store.sqlite import SQLiteStore
from tests.support.factories import make_post

CAMPAIGN = (
    "URGENT : le gouvernement prépare en secret une loi pour rendre obligatoire la puce sous la peau "
    "de tous les enfants dès la rentrée de septembre, les médias refusent d'en parler, partagez massivement "
    "avant que ce message soit supprimé par la censure"
)
EDITED = CAMPAIGN.replace("URGENT : ", "").replace("massivement", "partout") + " #reveil https://t.me/relay/42"
UNRELATED = (
    "La bibliothèque municipale ouvre ses portes le dimanche matin à partir du mois prochain, avec des ateliers "
    "de lecture pour les enfants et une exposition de photographies anciennes du quartier"
)
T0 = datetime(2024, 5, 1, 8, tzinfo=UTC)


@pytest.fixture(scope="module")
def enricher(identifier: LanguageIdentifier) -> Enricher:
    return Enricher(identifier, WatchlistMatcher([]), NearDuplicates(0.7, 8))


def test_near_copies_across_sources_share_a_cluster_and_unrelated_posts_do_not(enricher: Enricher) -> None:
    posts = [
        make_post("a", CAMPAIGN, source_id="chan-a", published_at=T0 + timedelta(hours=2)),
        make_post("b", EDITED, source_id="chan-b", published_at=T0),
        make_post("c", UNRELATED, source_id="chan-c", published_at=T0),
    ]
    a, b, c = enricher.enrich(posts)
    assert a.cluster_id == b.cluster_id == cluster_id_for(b.id, T0), "the earliest member names the cluster"
    assert c.cluster_id not in (None, a.cluster_id)
    assert len(a.near_dup_keys) == enricher.duplicates.bands
    assert set(a.near_dup_keys) & set(b.near_dup_keys)
    assert not set(a.near_dup_keys) & set(c.near_dup_keys)


def test_short_texts_get_no_signature(enricher: Enricher) -> None:
    (post,) = enricher.enrich([make_post("s", "trop court pour un cluster")])
    assert post.near_dup_keys == [] and post.cluster_id is None


def test_keys_are_the_same_in_every_instance() -> None:
    assert NearDuplicates(0.7, 8).signatures([CAMPAIGN]) == NearDuplicates(0.7, 8).signatures([CAMPAIGN])
    assert NearDuplicates(0.7, 8).signatures([CAMPAIGN]) != NearDuplicates(0.7, 8, seed=2).signatures([CAMPAIGN])


def test_lsh_bands_put_the_s_curve_at_the_threshold() -> None:
    bands, rows = lsh_parameters(0.7, 128)
    assert bands * rows <= 128
    assert 0.6 < (1 / bands) ** (1 / rows) < 0.8


def test_a_later_copy_joins_the_stored_cluster(enricher: Enricher, tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "vigie.db") as store:
        stored = Enricher(enricher.language, enricher.matcher, enricher.duplicates, store=store)
        (first,) = stored.enrich([make_post("first", CAMPAIGN, source_id="chan-a", published_at=T0 + timedelta(days=1))])
        store.upsert_posts([first])
        (late, other) = stored.enrich([
            make_post("late", EDITED, source_id="chan-b", published_at=T0),
            make_post("other", UNRELATED, source_id="chan-c", published_at=T0),
        ])
        assert late.cluster_id == first.cluster_id, "a stored cluster keeps its id even when an older copy arrives"
        assert other.cluster_id != first.cluster_id
        (again,) = stored.enrich([first])
        assert again.cluster_id == first.cluster_id, "re-enriching a stored post is stable"


def test_memory_index_links_batches(enricher: Enricher) -> None:
    index = MemoryIndex()
    linked = Enricher(enricher.language, enricher.matcher, enricher.duplicates, store=index)
    (first,) = linked.enrich([make_post("1", CAMPAIGN)])
    index.add([first])
    (second,) = linked.enrich([make_post("2", EDITED, published_at=T0 - timedelta(days=3))])
    assert second.cluster_id == first.cluster_id


def test_keys_do_not_depend_on_the_batch_and_stay_those_already_stored() -> None:
    """Keys are stored with the posts: a text gets the same ones alone or in any batch, long batches included."""
    near = NearDuplicates(0.7, 8)
    articles = [f"{CAMPAIGN} édition {number} " * 8 for number in range(40)]  # more shingles than one MinHash chunk
    texts = [CAMPAIGN, "trop court", EDITED, "", UNRELATED, "suivez @relais et www.Exemple.org/page", *articles]
    together = near.signatures(texts)
    assert together == [near.signatures([text])[0] for text in texts]
    assert together[1] == together[3] == together[5] == []
    assert together[0][:2] == ["00efee45c5ec4059c4", "0175b70ce395945f78"]  # as computed before the batched version
    assert together[0][-1] == "13e92a0003c18efe5c"  # and before the bands were hashed from one byte string
