"""Posts for the alert tests: a narrative's steady daily life and its surges, from a seeded generator."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from tests.support.factories import make_post
from vigie.models import Author, Post, TagMatch

HOUR = timedelta(hours=1)
DAILY = [1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 6, 7, 8, 8, 7, 5, 3, 2]
"""Posts per hour of an ordinary narrative, UTC hour by hour."""
SOURCES = ("tg-eveil", "masto-sante", "rss-bienetre")


def watch_post(native_id: str, narrative: str, published_at: datetime, author: str, *, source: str = SOURCES[0], text: str | None = None, hashtags: tuple[str, ...] = ()) -> Post:
    term = f"{narrative.replace('_', ' ')}"
    text = text or f"Encore un message sur {term}, numéro {native_id}."
    start = text.find(term)
    matches = [TagMatch(narrative=narrative, term=term, start=start, end=start + len(term))] if start >= 0 else []
    return make_post(
        native_id,
        text,
        source_id=source,
        published_at=published_at,
        author=Author(id=author, handle=author),
        narratives=[narrative],
        tags=[term],
        matches=matches,
        hashtags=list(hashtags),
        url=f"https://example.org/{native_id}",
    )


def _poisson(rng: random.Random, mean: float) -> int:
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def daily_life(narrative: str, start: datetime, end: datetime, *, seed: int = 1, scale: float = 1.0, hashtags: tuple[str, ...] = ()) -> Iterator[Post]:
    """Posts of `narrative` from `start` to `end` following the DAILY profile, by 150 accounts of which a few are loud."""
    rng = random.Random(seed)
    accounts = [f"{narrative}-fan{n}" for n in range(150)]
    loudness = [1 / (n + 1) for n in range(150)]
    hour, n = start, 0
    while hour < end:
        for _ in range(_poisson(rng, DAILY[hour.hour] * scale)):
            n += 1
            yield watch_post(f"{narrative}-{seed}-{n}", narrative, hour + timedelta(seconds=rng.randrange(3600)), rng.choices(accounts, loudness)[0], source=rng.choice(SOURCES), hashtags=hashtags)
        hour += HOUR


def surge(narrative: str, start: datetime, *, posts: int, authors: int, hashtags: tuple[str, ...] = (), prefix: str = "surge") -> list[Post]:
    """`posts` posts spread over one hour from `start`, by `authors` different accounts."""
    return [
        watch_post(f"{prefix}-{narrative}-{n}", narrative, start + timedelta(seconds=n * 3600 // posts), f"{prefix}-voice{n % authors}", source=SOURCES[n % len(SOURCES)], hashtags=hashtags)
        for n in range(posts)
    ]
