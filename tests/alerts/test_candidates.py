"""Candidate narratives: what surges together across sources and matches no watchlist, and only that."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from alerts.candidates import CandidateParams, count_features, find_candidates, post_features, reconcile
from alerts.origin import Origin, arrivals
from tests.support.factories import make_post
from vigie.models import Author, Engagement, Post
from zoneinfo import ZoneInfo

AT = datetime(2024, 5, 10, 12, tzinfo=UTC)
BACKGROUND = (
    "Le conseil municipal a voté le budget de la piscine hier soir",
    "Quelqu'un connaît un bon garage près de la gare de Lyon",
    "Les cerisiers sont en fleur dans le parc, allez les voir",
    "Match nul ce soir, la défense a tenu jusqu'au bout",
    "Nouvelle recette de tarte aux pommes, simple et rapide",
    "Travaux sur la ligne de tram pendant tout le week-end",
)


def _background(rng: random.Random, start: datetime, hours: int, per_hour: int, prefix: str) -> list[Post]:
    posts = []
    for hour in range(hours):
        for n in range(per_hour):
            source = f"src{rng.randrange(20)}"
            posts.append(
                make_post(
                    f"{prefix}{hour}-{n}",
                    rng.choice(BACKGROUND),
                    source_id=source,
                    published_at=start + timedelta(hours=hour, minutes=rng.randrange(60)),
                    author=Author(id=f"a{rng.randrange(200)}", handle=f"a{rng.randrange(200)}"),
                )
            )
    return posts


def _planted(count: int, start: datetime, *, sources: int = 5, authors: int | None = None, cluster: str | None = None, narratives: list[str] | None = None, text: str | None = None) -> list[Post]:
    return [
        make_post(
            f"plant{n}",
            text or f"Le protocole Azurite arrive, préparez vos réserves de thalassine, message {n}",
            platform="telegram" if n % 2 else "mastodon",
            source_id=f"plant-src{n % sources}",
            published_at=start + timedelta(minutes=20 * n),
            author=Author(id=f"p{n % (authors or count)}", handle=f"p{n % (authors or count)}"),
            hashtags=["azurite"],
            cluster_id=cluster,
            narratives=narratives or [],
            engagement=Engagement(shares=n),
            language="fr",
        )
        for n in range(count)
    ]


def _detect(current: list[Post], baseline: list[Post], **params: int) -> list:
    counts, total = count_features(post_features(p) for p in baseline)
    return find_candidates([post_features(p) for p in current], counts, total, AT, CandidateParams(**params))


def test_new_vocabulary_across_sources_is_proposed_with_its_evidence() -> None:
    rng = random.Random(1)
    baseline = _background(rng, AT - timedelta(days=9), 7 * 24, 4, "b")
    start = AT - timedelta(hours=6)
    current = _background(rng, AT - timedelta(hours=48), 48, 4, "c") + _planted(15, start)
    [candidate] = _detect(current, baseline)
    assert {"protocole", "#azurite", "thalassine"} <= set(candidate.terms) and "azurite" not in candidate.terms  # the hashtag stands for the word
    assert candidate.posts == 15 and candidate.authors == 15
    assert set(candidate.sources) == {f"plant-src{n}" for n in range(5)}
    assert candidate.platforms == {"telegram": 7, "mastodon": 8}
    assert candidate.languages == {"fr": 15}
    assert candidate.first_post_at == start
    assert candidate.earliest[0].id == "mastodon:plant0"
    assert candidate.most_shared[0].shares == 14
    assert candidate.growth > 5
    assert [a.key for a in candidate.spread] == [f"plant-src{n}" for n in range(5)]
    assert candidate.state == "new"


def test_ordinary_traffic_and_watchlist_narratives_are_not_candidates() -> None:
    rng = random.Random(2)
    baseline = _background(rng, AT - timedelta(days=9), 7 * 24, 4, "b")
    current = _background(rng, AT - timedelta(hours=48), 48, 4, "c")
    assert _detect(current, baseline) == []
    tagged = current + _planted(15, AT - timedelta(hours=6), narratives=["prepping"])
    assert _detect(tagged, baseline) == []


def test_one_source_or_vocabulary_seen_before_is_not_a_candidate() -> None:
    rng = random.Random(3)
    baseline = _background(rng, AT - timedelta(days=9), 7 * 24, 4, "b")
    current = _background(rng, AT - timedelta(hours=48), 48, 4, "c")
    assert _detect(current + _planted(15, AT - timedelta(hours=6), sources=1), baseline) == []
    old = _planted(15, AT - timedelta(days=5))
    old = [p.model_copy(update={"native_id": f"old{i}", "id": f"{p.platform}:old{i}"}) for i, p in enumerate(old)]
    assert _detect(current + _planted(15, AT - timedelta(hours=6)), baseline + old * 3) == []


def test_two_sources_are_enough_when_many_authors_take_it_up() -> None:
    """A young narrative often takes hours to reach a third source; many people on two sources already make a spread."""
    rng = random.Random(7)
    baseline = _background(rng, AT - timedelta(days=9), 7 * 24, 4, "b")
    current = _background(rng, AT - timedelta(hours=48), 48, 4, "c")
    [candidate] = _detect(current + _planted(8, AT - timedelta(hours=3), sources=2), baseline)
    assert set(candidate.sources) == {"plant-src0", "plant-src1"} and candidate.authors == 8
    assert _detect(current + _planted(8, AT - timedelta(hours=3), sources=2), baseline, two_source_authors=None) == [], "3 sources always, as before"
    assert _detect(current + _planted(15, AT - timedelta(hours=6), sources=2, authors=5), baseline) == [], "two sources, too few authors"
    assert _detect(current + _planted(15, AT - timedelta(hours=6), sources=1), baseline) == [], "one source, however many authors"


def _slow(start: datetime, prefix: str = "slow") -> list[Post]:
    """Eight posts over eight hours on three sources, each with two or three of three new words: no word is in more
    than six of them."""
    words = [("velmorie", "dastrune"), ("dastrune", "quenzoli"), ("velmorie", "quenzoli")] * 2 + [("velmorie", "dastrune", "quenzoli")] * 2
    return [
        make_post(f"{prefix}{n}", f"{BACKGROUND[n % 6]} {' '.join(chosen)}", source_id=f"slow-src{n % 3}", published_at=start + timedelta(hours=n), author=Author(id=f"s{n}", handle=f"s{n}"), language="fr")
        for n, chosen in enumerate(words)
    ]


def test_a_slow_narrative_is_proposed_on_its_posts_together() -> None:
    """Each word alone is only screened; the verdict is on the posts that hold two of them."""
    rng = random.Random(8)
    baseline = _background(rng, AT - timedelta(days=9), 7 * 24, 4, "b")
    current = _background(rng, AT - timedelta(hours=48), 48, 4, "c")
    [candidate] = _detect(current + _slow(AT - timedelta(hours=8)), baseline)
    assert candidate.posts == 8 and set(candidate.terms) == {"velmorie", "dastrune", "quenzoli"}
    assert _detect(current + _slow(AT - timedelta(hours=8)), baseline, term_p_value=1e-5) == [], "each word tested alone, as before"
    seen = _slow(AT - timedelta(days=5), "seen")[:3]
    assert _detect(current + _slow(AT - timedelta(hours=8)), baseline + seen) == [], "words used a few times the week before"


def test_a_copy_paste_cluster_spreading_is_a_candidate() -> None:
    rng = random.Random(4)
    baseline = _background(rng, AT - timedelta(days=9), 7 * 24, 4, "b")
    current = _background(rng, AT - timedelta(hours=48), 48, 4, "c")
    copied = _planted(10, AT - timedelta(hours=3), cluster="cl-1", text="Ils cachent la vérité sur le barrage de Vouglans, partagez avant suppression")
    [candidate] = _detect(current + copied, baseline)
    assert candidate.clusters == ["cl-1"]
    assert {"vouglans", "barrage"} <= set(candidate.terms)


def test_reconcile_keeps_ids_and_remembers_dismissals_until_it_grows() -> None:
    rng = random.Random(5)
    baseline = _background(rng, AT - timedelta(days=9), 7 * 24, 4, "b")
    current = _background(rng, AT - timedelta(hours=48), 48, 4, "c")
    [first] = _detect(current + _planted(12, AT - timedelta(hours=6)), baseline)
    dismissed = first.model_copy(update={"id": "cand-old", "state": "dismissed", "dismissed_posts": 12, "by": "ana"})
    [same] = reconcile(_detect(current + _planted(15, AT - timedelta(hours=6)), baseline), [dismissed], AT, 2.0)
    assert (same.id, same.state, same.dismissed_posts) == ("cand-old", "dismissed", 12)
    [back] = reconcile(_detect(current + _planted(30, AT - timedelta(hours=10)), baseline), [dismissed], AT, 2.0)
    assert (back.id, back.state, back.dismissed_posts) == ("cand-old", "new", None)
    unrelated = first.model_copy(update={"id": "cand-x", "terms": ["velo", "piste"], "clusters": []})
    [fresh] = reconcile([first], [unrelated], AT, 2.0)
    assert fresh.id == first.id


def test_origin_summary_says_where_and_how_fast() -> None:
    posts = _planted(9, datetime(2024, 5, 30, 6, 12, tzinfo=UTC), sources=4)
    refs = [post_features(p).ref for p in posts]
    origin = Origin(refs[0], arrivals(refs, "source"), arrivals(refs, "platform"))
    assert [a.posts for a in origin.sources] == [3, 2, 2, 2]
    assert origin.summary(ZoneInfo("UTC")) == "first seen on Mastodon (plant-src0) at 2024-05-30 06:12 UTC, then 3 sources in 1 hour"
    assert Origin(refs[0], arrivals(refs[:1], "source")).summary(ZoneInfo("UTC")) == "first seen on Mastodon (plant-src0) at 2024-05-30 06:12 UTC"


def test_a_cluster_of_an_ordinary_text_is_described_by_its_words() -> None:
    rng = random.Random(6)
    baseline = _background(rng, AT - timedelta(days=9), 7 * 24, 4, "b")
    current = _background(rng, AT - timedelta(hours=48), 48, 4, "c")
    copied = _planted(10, AT - timedelta(hours=3), cluster="cl-2", text=BACKGROUND[2])
    copied = [post.model_copy(update={"hashtags": []}) for post in copied]
    [candidate] = _detect(current + copied, baseline)
    assert candidate.clusters == ["cl-2"] and candidate.posts == 10
    assert candidate.terms[:4] == ["allez", "cerisiers", "dans", "fleur"], "its words, most used first, ties by name"
