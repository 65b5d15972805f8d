"""How well candidate narratives are proposed: unnamed narratives planted in a simulated stream, against emerging
terms alone as the baseline, in the same run.

Background traffic is `bench/corpus.py`: the recorded posts of `tests/fixtures/` (and the langid sentences), ~200
sources, ~5,000 authors, hashtags, watchlist narratives and copy-paste campaigns, at a steady rate with a daily
cycle. Planted on top, from a seeded generator: narratives with new vocabulary (words and a hashtag fused from
words of the recorded texts of their language, so no one has used them before), each spreading from one source to
3-10 sources (each taking it up at a random time in its first 12 hours) and their authors over 24 hours at 1 to 4
posts an hour; each post is a recorded post of that
language (with its hashtags) plus two to four of the narrative's words (and its hashtag, in two posts out of three, for the two thirds
of narratives that have one). One narrative in three is a copy-paste message: the same text in every post, one
copy-paste cluster.

Each simulated hour runs what the alert cycle runs: `alerts/candidates.py` on the last 48 hours against the 7 days
before. Reported per seed, then over the seeds (mean and worst): the share of planted narratives proposed as a
candidate within 6 hours of their first post (target >= 0.8), and the distinct candidates per simulated day that match
nothing planted (target <= 3). The baselines, same stream, same hours: (1) emerging hashtags, the emerging-terms rule as
shipped (24 hours against the 7 days before, default thresholds); a narrative is found when one of its hashtags
emerges; (2) emerging words and hashtags one by one, with the candidates' thresholds but without grouping. Candidates
run twice: with the default settings, and with three sources always (`two_source_authors: null`), to show what the
sources guard costs in delay. Also printed: how many plants reach the default guards (posts, sources, authors) by the
last cycle within 6 hours, the most any detector with those guards can propose in time.

Run: `.venv/bin/python bench/narratives.py [--posts-per-day 2000] [--plants 24] [--seeds 1 2 3 4 5]`.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from statistics import mean
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))

from alerts.candidates import CLUSTER, CandidateParams, PostFeatures, find_candidates, post_features, reconcile, spans  # noqa: E402
from alerts.cycle import candidate_params  # noqa: E402
from alerts.emerging import EmergingParams, TermWindow, find_emerging  # noqa: E402
from alerts.rules import EmergingRule  # noqa: E402
from enrich.folding import fold_word  # noqa: E402
from corpus import DEFAULT_END, generate_posts  # noqa: E402
from vigie.config import CandidateSettings  # noqa: E402
from vigie.models import Author, Engagement, Post  # noqa: E402

HOUR = timedelta(hours=1)
DAYS = 16
WARM_UP = timedelta(days=9)
"""The 48-hour window and the 7 days of baseline before the first simulated cycle."""
WITHIN = timedelta(hours=6)
SPREAD = timedelta(hours=24)
JOINED_WITHIN = timedelta(hours=12)
"""Each source after the first takes the narrative up at a random time within this long after its first post."""
_LETTERS = re.compile(r"^[^\W\d_]{5,9}$")


@dataclass
class Plant:
    index: int
    start: datetime
    language: str
    words: list[str]
    hashtag: str | None
    cluster: str | None
    posts: list[Post] = field(default_factory=list)

    @property
    def vocabulary(self) -> set[str]:
        """Its words, hashtag and cluster as detection spells them (folded)."""
        words = {fold_word(word) for word in self.words}
        return {*words, *([f"#{fold_word(self.hashtag)}"] if self.hashtag else []), *([CLUSTER + self.cluster] if self.cluster else [])}


def _plants(background: list[Post], count: int, rng: random.Random, start: datetime, end: datetime) -> list[Plant]:
    by_language: dict[str, list[Post]] = defaultdict(list)
    for post in background:
        if post.language and not post.narratives:
            by_language[post.language].append(post)
    languages = sorted(language for language, posts in by_language.items() if len(posts) > 200)
    voices = sorted({(post.source_id, post.platform, post.author.id or "") for post in background})
    plants = []
    for index in range(count):
        language = rng.choice(languages)
        pool = by_language[language]
        words = sorted({word.lower() for post in rng.sample(pool, 50) for word in post.text.split() if _LETTERS.match(word)})
        coined = [rng.choice(words) + rng.choice(words) for _ in range(6)]
        hashtag = coined.pop() if index % 3 != 2 else None
        cluster = f"plant-{index}" if index % 3 == 1 else None
        first = start + rng.random() * (end - start - WITHIN)
        plant = Plant(index, first, language, coined[:4], hashtag, cluster)
        sources = rng.sample(voices, rng.randint(3, 10))
        rate = rng.uniform(1.0, 4.0)
        # A recorded post's text keeps its hashtags (inline, as `#tag`), as a crawler would parse them.
        base = rng.choice(pool)
        message = f"{base.text} {' '.join(plant.words)}"
        joins = sorted(first + rng.random() * JOINED_WITHIN for _ in sources[1:])
        for n in range(int(rate * SPREAD / HOUR)):
            at = first + (n / rate) * HOUR + timedelta(minutes=rng.randrange(30))
            # The first source starts it; each other source takes it up at its own time, then posts like the others.
            voice = rng.choice([sources[0], *(source for source, joined in zip(sources[1:], joins) if joined <= at)])
            if cluster:
                text, recorded = message, base.hashtags
            else:
                post = rng.choice(pool)
                text, recorded = f"{post.text} {' '.join(rng.sample(plant.words, rng.randint(2, 4)))}", post.hashtags
            tags = [hashtag] if hashtag and (cluster or rng.random() < 2 / 3) else []
            if tags:
                text += f" #{hashtag}"
            plant.posts.append(
                Post(
                    platform=voice[1],
                    native_id=f"plant{index}-{n}",
                    source_id=voice[0],
                    author=Author(id=f"{voice[2]}-{rng.randrange(6)}", handle=f"{voice[2]}-{rng.randrange(6)}"),
                    published_at=at,
                    text=text,
                    language=language,
                    hashtags=[*recorded, *tags],
                    cluster_id=cluster,
                    engagement=Engagement(shares=rng.randrange(200)),
                )
            )
        plants.append(plant)
    return plants


class _Window:
    """Features of the posts per hour, and running totals over a sliding span of hours."""

    def __init__(self, hours: dict[datetime, list[PostFeatures]]) -> None:
        self.hours = hours

    def posts(self, start: datetime, end: datetime) -> list[PostFeatures]:
        out: list[PostFeatures] = []
        hour = start
        while hour < end:
            out += self.hours.get(hour, [])
            hour += HOUR
        return out

    def counts(self, start: datetime, end: datetime) -> tuple[Counter[str], int]:
        counts: Counter[str] = Counter()
        total = 0
        hour = start
        while hour < end:
            for post in self.hours.get(hour, []):
                counts.update(post.features)
                total += 1
            hour += HOUR
        return counts, total


class _Sliding:
    """Feature counts over [end - span, end), moved one hour at a time."""

    def __init__(self, window: _Window, span: timedelta) -> None:
        self.window, self.span = window, span
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.end: datetime | None = None

    def move_to(self, end: datetime) -> None:
        if self.end is None:
            self.counts, self.total = self.window.counts(end - self.span, end)
        else:
            for post in self.window.posts(self.end, end):
                self.counts.update(post.features)
            for post in self.window.posts(self.end - self.span, end - self.span):
                self.counts.subtract(post.features)
            self.total += len(self.window.posts(self.end, end)) - len(self.window.posts(self.end - self.span, end - self.span))
        self.end = end


def _plant_of(features: Iterable[str], plants: list[Plant]) -> Plant | None:
    features = set(features)
    return next((plant for plant in plants if features & plant.vocabulary), None)


@dataclass
class Score:
    name: str
    found: dict[int, datetime] = field(default_factory=dict)
    """Planted narrative -> the first hour it was proposed."""
    unmatched: set[str] = field(default_factory=set)
    seconds: float = 0.0

    def report(self, plants: list[Plant], days: float) -> tuple[float, float]:
        within = [plant for plant in plants if plant.index in self.found and self.found[plant.index] - plant.start <= WITHIN]
        delays = sorted((self.found[p.index] - p.start) / HOUR for p in plants if p.index in self.found)
        share, per_day = len(within) / len(plants), len(self.unmatched) / days
        median = f"{delays[len(delays) // 2]:.1f} h" if delays else "n/a"
        print(f"\n{self.name}")
        print(f"  proposed within 6 h: {share:.2f} ({len(within)}/{len(plants)}); ever: {len(delays)}/{len(plants)}; median delay {median}")
        for kind, chosen in (("with a hashtag", [p for p in plants if p.hashtag]), ("without", [p for p in plants if not p.hashtag]), ("copy-paste", [p for p in plants if p.cluster])):
            hit = sum(1 for p in chosen if p in within)
            print(f"    {kind}: {hit}/{len(chosen)}")
        print(f"  unmatched per simulated day: {per_day:.2f} ({len(self.unmatched)} in {days:g} days)")
        print(f"  time {self.seconds:.1f} s")
        return share, per_day


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts-per-day", type=int, default=2000)
    parser.add_argument("--plants", type=int, default=24)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, float]]] = defaultdict(list)
    reachable: list[float] = []
    for seed in args.seeds:
        print(f"\n=== seed {seed}")
        scores, reach = _run(seed, args.posts_per_day, args.plants)
        reachable.append(reach)
        for name, figure in scores.items():
            figures[name].append(figure)
    print(f"\nover {len(args.seeds)} seeds ({', '.join(map(str, args.seeds))}): share proposed within 6 h, mean (min); unmatched per simulated day, mean (max)")
    print(f"  reachable at the default guards: {mean(reachable):.2f} ({min(reachable):.2f})")
    for name, per_seed in figures.items():
        shares, per_day = [share for share, _ in per_seed], [unmatched for _, unmatched in per_seed]
        print(f"  {name}: {mean(shares):.2f} ({min(shares):.2f}); {mean(per_day):.2f} ({max(per_day):.2f})")
    print("\ntargets (share within 6 h >= 0.8, unmatched candidates per day <= 3), on the mean; and on every seed:")
    for name in list(figures)[:2]:
        shares, per_day = [share for share, _ in figures[name]], [unmatched for _, unmatched in figures[name]]
        on_mean = mean(shares) >= 0.8 and mean(per_day) <= 3
        every = sum(share >= 0.8 and unmatched <= 3 for share, unmatched in figures[name])
        print(f"  {name}: {'met' if on_mean else 'NOT met'} on the mean; met on {every}/{len(shares)} seeds")
    return 0


def _run(seed: int, posts_per_day: int, count: int) -> tuple[dict[str, tuple[float, float]], float]:
    """One simulated stream: the share within 6 h and the unmatched per day of each detector, and the share of plants
    reachable at the default guards."""
    rng = random.Random(seed)
    began = time.perf_counter()
    background = list(generate_posts(posts_per_day * DAYS, seed=seed, end=DEFAULT_END, days=DAYS))
    start, end = DEFAULT_END - timedelta(days=DAYS), DEFAULT_END
    first_cycle = start + WARM_UP
    plants = _plants(background, count, rng, first_cycle, end)
    planted = [post for plant in plants for post in plant.posts if post.published_at < end]
    hours: dict[datetime, list[PostFeatures]] = defaultdict(list)
    for post in [*background, *planted]:
        hours[post.published_at.replace(minute=0, second=0, microsecond=0)].append(post_features(post))
    window = _Window(hours)
    print(f"{len(background)} background posts over {DAYS} days from the recorded fixtures ({len({p.source_id for p in background})} sources), "
          f"{len(plants)} planted narratives ({len(planted)} posts, {sum(1 for p in plants if p.hashtag)} with a hashtag, "
          f"{sum(1 for p in plants if p.cluster)} copy-paste) in {', '.join(sorted({p.language for p in plants}))}; built in {time.perf_counter() - began:.1f} s")

    settings, rule = CandidateSettings(), EmergingRule(id="emerging", kind="emerging", fields=["hashtag"])
    params = candidate_params(settings)
    variants = [
        (Score(f"candidate narratives (alerts/candidates.py, defaults: {params.min_sources} sources or 2 with {params.two_source_authors} authors, {params.min_authors} authors, {params.min_posts} posts)"), params, []),
        (Score(f"candidate narratives, {params.min_sources} sources always (two_source_authors: null)"), replace(params, two_source_authors=None), []),
    ]
    hashtags, words = Score("baseline 1: emerging hashtags (the emerging-terms rule)"), Score("baseline 2: emerging words and hashtags, not grouped")
    baseline = _Sliding(window, settings.window)
    rule_baseline = _Sliding(window, timedelta(days=7))
    cycles = 0
    at = first_cycle
    while at <= end:
        cycles += 1
        current_start = at - settings.current

        baseline.move_to(current_start)
        current = window.posts(current_start, at)
        for score, variant, previous in variants:
            clock = time.perf_counter()
            found = reconcile(find_candidates(current, baseline.counts, baseline.total, at, variant), previous, at, settings.regrowth)
            previous[:] = [*{c.id: c for c in [*previous, *found]}.values()]
            for candidate in found:
                plant = _plant_of([*candidate.terms, *(CLUSTER + c for c in candidate.clusters)], plants)
                if plant is None:
                    score.unmatched.add(candidate.id)
                else:
                    score.found.setdefault(plant.index, at)
            score.seconds += time.perf_counter() - clock

        clock = time.perf_counter()
        rule_start = at - rule.current
        rule_baseline.move_to(rule_start)
        recent = window.posts(rule_start, at)
        emerging = _emerging(recent, rule_baseline.counts, rule_baseline.total, rule.params(), lambda f: f.startswith("#"))
        _score(hashtags, emerging, plants, at)
        hashtags.seconds += time.perf_counter() - clock

        clock = time.perf_counter()
        emerging = _emerging(current, baseline.counts, baseline.total, EmergingParams(min_count=params.min_posts, min_authors=params.min_authors), lambda f: not f.startswith(CLUSTER))
        _score(words, emerging, plants, at)
        words.seconds += time.perf_counter() - clock
        at += HOUR

    days = (end - first_cycle) / timedelta(days=1)
    print(f"{cycles} hourly cycles over {days:g} simulated days")
    reachable = sum(_reachable(plant, params) for plant in plants)
    print(f"planted narratives that reach the default guards by the last cycle within 6 h of their start: {reachable}/{len(plants)} "
          f"(the most a detector with those guards can propose in time); {sum(_reachable(plant, replace(params, two_source_authors=None)) for plant in plants)}/{len(plants)} "
          f"with {params.min_sources} sources always; {sum(_reachable(plant, replace(params, min_sources=1)) for plant in plants)}/{len(plants)} from one source")
    return {score.name: score.report(plants, days) for score in [*(score for score, _, _ in variants), hashtags, words]}, reachable / len(plants)


def _reachable(plant: Plant, params: CandidateParams) -> bool:
    last_cycle = (plant.start + WITHIN).replace(minute=0, second=0, microsecond=0)
    early = [post_features(post) for post in plant.posts if post.published_at < last_cycle]
    return len(early) >= params.min_posts and spans(len({post.ref.source_id for post in early}), len({post.author for post in early}), params)


def _emerging(posts: list[PostFeatures], baseline: Counter[str], baseline_total: int, params: EmergingParams, keep) -> list[str]:
    counts = Counter(f for post in posts for f in post.features if keep(f))
    authors: dict[str, set[str]] = defaultdict(set)
    for post in posts:
        for feature in post.features:
            if counts[feature] >= params.min_count:
                authors[feature].add(post.author)
    terms = [TermWindow(f, n, baseline.get(f, 0), len(authors[f])) for f, n in counts.items() if n >= params.min_count]
    return [term.term for term in find_emerging(terms, len(posts), baseline_total, params)]


def _score(score: Score, emerging: list[str], plants: list[Plant], at: datetime) -> None:
    for term in emerging:
        plant = _plant_of([term], plants)
        if plant is None:
            score.unmatched.add(term)
        else:
            score.found.setdefault(plant.index, at)


if __name__ == "__main__":
    sys.exit(main())
