"""Candidate narratives: words, hashtags and copy-paste clusters that surge together and that no watchlist names.

Pure, no I/O: the alert cycle reads the posts of the current window and the counts of the baseline window from the
store and hands them here. Each word (folded, four letters or more), hashtag and copy-paste cluster of a post is a
feature; a feature emerges when the emerging-terms test (`alerts/emerging.py`: rare in the baseline, frequent now)
passes it, a loose screen. Emerging features that share their posts (at least half of the rarer one's, and
`MIN_SHARED` posts) are linked, and each connected group is a candidate: the posts holding two of its features (or in
one of its clusters). A candidate is kept when those posts are significant against the baseline rate of its core,
span several sources and authors, and mostly match no watchlist narrative. `docs/alerts.md` ("Candidate narratives") explains the parameters.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations

from alerts.emerging import PRIOR_POSTS, EmergingParams, EmergingTerm, TermWindow, find_emerging
from alerts.origin import arrivals
from alerts.spikes import log_upper_tail
from enrich.folding import WORD, fold_word
from vigie.models import Candidate, Post, PostRef

CLUSTER = "~"
"""Prefix of a cluster feature (`~cluster-id`); hashtags are `#tag`, words are bare."""
MIN_WORD = 4
MIN_SHARED = 3
"""Posts two features must share to be linked."""
OVERLAP = 0.5
"""Share of the rarer feature's posts the two must share to be linked."""
MAX_TERMS = 12
REFS = 3
"""Earliest and most-shared posts kept per candidate."""
TAGGED_SHARE = 0.5
"""A group whose posts mostly match a watchlist narrative is that narrative, not a new one."""
SAME_CANDIDATE = 0.3
"""Term overlap (Jaccard) above which a group found now is a candidate proposed before."""


@dataclass(frozen=True, slots=True)
class PostFeatures:
    """What detection needs of a post."""

    ref: PostRef
    author: str
    language: str | None
    tagged: bool
    """The post matched a watchlist narrative."""
    features: frozenset[str]


@dataclass(frozen=True, slots=True)
class CandidateParams:
    min_posts: int = 5
    min_term_posts: int = 3
    """Posts a word, hashtag or cluster needs to emerge: fewer than a candidate needs, since a candidate also needs
    two of them in the same posts, and a young narrative spreads its posts over several words."""
    min_sources: int = 3
    min_authors: int = 3
    two_source_authors: int | None = 6
    """Authors that make two sources enough, short of `min_sources`: many people taking it up on two sources is a
    spread already, and a young narrative often takes hours to reach a third source. None: `min_sources` always."""
    min_ratio: float = 5.0
    term_p_value: float = 1e-4
    """Largest tail probability of each feature on its own (not corrected for the number of features tried): a screen,
    loose enough that a young narrative's words pass it while they are still spread over its first posts."""
    p_value: float = 1e-5
    """Largest tail probability of a candidate's posts at the baseline rate of its core features."""


def post_features(post: Post) -> PostFeatures:
    """Words (folded, `MIN_WORD` letters or more, not numbers), hashtags (folded too) and the cluster of a post."""
    hashtags = {fold_word(tag) for tag in post.hashtags}
    words = {fold_word(word) for word in WORD.findall(f"{post.title or ''}\n{post.text}")}
    features = {word for word in words if len(word) >= MIN_WORD and not word.isdigit() and word not in hashtags}
    features |= {f"#{tag}" for tag in hashtags}
    if post.cluster_id:
        features.add(CLUSTER + post.cluster_id)
    ref = PostRef(id=post.id, platform=post.platform, source_id=post.source_id, published_at=post.published_at, url=post.url, shares=post.engagement.shares or 0)
    return PostFeatures(ref, post.author.handle or post.author.id or post.source_id, post.language, bool(post.narratives), frozenset(features))


def count_features(posts: Iterable[PostFeatures]) -> tuple[Counter[str], int]:
    """Posts per feature and the number of posts: what the baseline window is reduced to."""
    counts: Counter[str] = Counter()
    total = 0
    for post in posts:
        counts.update(post.features)
        total += 1
    return counts, total


def find_candidates(current: Sequence[PostFeatures], baseline: Mapping[str, int], baseline_posts: int, at: datetime, params: CandidateParams = CandidateParams()) -> list[Candidate]:
    """Groups of emerging features in `current` that make candidates, newest first then fastest growing.

    They come out with the state `new` and an id made of their terms; `reconcile` matches them with those already proposed.
    """
    if not current or baseline_posts <= 0:
        return []
    emerging = {term.term: term for term in _emerging(current, baseline, baseline_posts, params)}
    holders: dict[str, list[int]] = defaultdict(list)
    for index, post in enumerate(current):
        for feature in post.features & emerging.keys():
            holders[feature].append(index)
    shared: Counter[tuple[str, str]] = Counter()
    for post in current:
        shared.update(combinations(sorted(post.features & emerging.keys()), 2))
    groups = _Groups(emerging)
    for (a, b), together in shared.items():
        if together >= MIN_SHARED and together >= OVERLAP * min(len(holders[a]), len(holders[b])):
            groups.union(a, b)
    scale = len(current) / baseline_posts
    found = []
    for members in groups.components():
        candidate = _candidate(members, current, holders, emerging, baseline, scale, at, params)
        if candidate is not None:
            found.append(candidate)
    return sorted(found, key=lambda c: (-c.first_post_at.timestamp(), -c.growth, c.id))


def spans(sources: int, authors: int, params: CandidateParams) -> bool:
    """Whether posts from this many sources and authors are spread enough to make a candidate."""
    if authors < params.min_authors:
        return False
    return sources >= params.min_sources or (params.two_source_authors is not None and sources >= 2 and authors >= params.two_source_authors)


def reconcile(found: Sequence[Candidate], previous: Sequence[Candidate], at: datetime, regrowth: float) -> list[Candidate]:
    """The candidates of this cycle, carrying over what earlier cycles decided: the id, when it was first proposed,
    and a promotion or dismissal (a dismissed one is `new` again once its posts reach `regrowth` times those it had)."""
    out = []
    taken: set[str] = set()
    for candidate in found:
        before = max((p for p in previous if p.id not in taken), key=lambda p: _overlap(candidate, p), default=None)
        if before is None or _overlap(candidate, before) < SAME_CANDIDATE:
            out.append(candidate)
            continue
        taken.add(before.id)
        kept = {"id": before.id, "detected_at": before.detected_at, "state": before.state, "dismissed_posts": before.dismissed_posts, "narrative": before.narrative, "by": before.by}
        if before.state == "dismissed" and candidate.posts >= regrowth * (before.dismissed_posts or 0):
            kept.update(state="new", dismissed_posts=None, by=None, detected_at=at)
        out.append(candidate.model_copy(update=kept))
    return out


def candidate_id(terms: Sequence[str], first_post_at: datetime) -> str:
    digest = hashlib.sha256("\n".join([first_post_at.date().isoformat(), *sorted(terms[:3])]).encode()).hexdigest()[:12]
    return f"cand-{digest}"


def _emerging(current: Sequence[PostFeatures], baseline: Mapping[str, int], baseline_posts: int, params: CandidateParams) -> list[EmergingTerm]:
    counts = Counter(feature for post in current for feature in post.features)
    eligible = {feature for feature, n in counts.items() if n >= params.min_term_posts}
    authors: dict[str, set[str]] = defaultdict(set)
    for post in current:
        for feature in post.features & eligible:
            authors[feature].add(post.author)
    windows = [TermWindow(feature, counts[feature], baseline.get(feature, 0), len(authors[feature])) for feature in eligible]
    # find_emerging corrects for the number of features tried; a feature here is only a screen, not a verdict (the
    # candidate needs two of them in the same posts across sources), so the level applies to each feature alone.
    emerging = EmergingParams(p_value=min(1.0, params.term_p_value * max(1, len(windows))), min_count=params.min_term_posts, min_authors=params.min_authors, min_ratio=params.min_ratio)
    return find_emerging(windows, len(current), baseline_posts, emerging)


def _candidate(
    members: list[str],
    current: Sequence[PostFeatures],
    holders: Mapping[str, list[int]],
    emerging: Mapping[str, EmergingTerm],
    baseline: Mapping[str, int],
    scale: float,
    at: datetime,
    params: CandidateParams,
) -> Candidate | None:
    clusters = sorted(m for m in members if m.startswith(CLUSTER))
    if len(members) < 2 and not clusters:
        return None  # a lone word or hashtag: the emerging-terms rule reports it
    hits: Counter[int] = Counter(index for member in members for index in holders[member])
    in_cluster = {index for cluster in clusters for index in holders[cluster]}
    posts = [current[index] for index in sorted(hits) if hits[index] >= 2 or index in in_cluster]
    sources = Counter(post.ref.source_id for post in posts)
    authors = {post.author for post in posts}
    if not spans(len(sources), len(authors), params) or len(posts) < params.min_posts:
        return None
    if sum(post.tagged for post in posts) > TAGGED_SHARE * len(posts):
        return None
    chosen = {post.ref.id for post in posts}
    usage = Counter({m: sum(current[i].ref.id in chosen for i in holders[m]) for m in members if not m.startswith(CLUSTER)})
    terms = [term for term, _ in sorted(usage.items(), key=lambda item: (-item[1], item[0]))[:MAX_TERMS]]
    if not terms:  # a cluster whose words were all seen before: its most shared words describe it
        common = Counter(f for post in posts for f in post.features if not f.startswith(CLUSTER))
        terms = [term for term, _ in sorted(common.items(), key=lambda item: (-item[1], item[0]))[:MAX_TERMS]]
    # The candidate's verdict: its posts against those expected at the baseline rate of its core (its two most used
    # features, the rarer one counting), where each feature alone was only screened.
    used = usage + Counter({cluster: len(holders[cluster]) for cluster in clusters})
    core = [m for m, _ in sorted(used.items(), key=lambda item: (-item[1], baseline.get(item[0], 0), item[0]))[:2]]
    expected = (min(baseline.get(m, 0) for m in core) + PRIOR_POSTS) * scale
    if math.exp(log_upper_tail(len(posts), expected, 1.0 + scale)) > params.p_value:
        return None
    refs = sorted((post.ref for post in posts), key=lambda ref: (ref.published_at, ref.id))
    first = refs[0].published_at
    return Candidate(
        id=candidate_id(terms or clusters, first),
        terms=terms,
        clusters=[cluster.removeprefix(CLUSTER) for cluster in clusters],
        posts=len(posts),
        authors=len(authors),
        baseline=round(expected, 3),
        growth=round(len(posts) / expected, 1),
        score=round(max(emerging[m].score for m in members), 2),
        first_post_at=first,
        detected_at=at,
        updated_at=at,
        earliest=refs[:REFS],
        most_shared=sorted(refs, key=lambda ref: (-ref.shares, ref.published_at, ref.id))[:REFS],
        sources=dict(sources.most_common()),
        platforms=dict(Counter(post.ref.platform for post in posts).most_common()),
        languages=dict(Counter(post.language or "und" for post in posts).most_common()),
        spread=arrivals(refs, "source"),
    )


def _overlap(a: Candidate, b: Candidate) -> float:
    mine, theirs = {*a.terms, *(CLUSTER + c for c in a.clusters)}, {*b.terms, *(CLUSTER + c for c in b.clusters)}
    return len(mine & theirs) / len(mine | theirs) if mine | theirs else 0.0


class _Groups:
    """Union-find over the emerging features."""

    def __init__(self, features: Iterable[str]) -> None:
        self._parent = {feature: feature for feature in features}

    def find(self, feature: str) -> str:
        while self._parent[feature] != feature:
            self._parent[feature] = self._parent[self._parent[feature]]
            feature = self._parent[feature]
        return feature

    def union(self, a: str, b: str) -> None:
        self._parent[self.find(a)] = self.find(b)

    def components(self) -> list[list[str]]:
        groups: dict[str, list[str]] = defaultdict(list)
        for feature in self._parent:
            groups[self.find(feature)].append(feature)
        return sorted((sorted(members) for members in groups.values()), key=lambda members: members[0])
