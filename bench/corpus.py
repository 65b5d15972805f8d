"""Benchmark volume built from the recorded fixtures: realistic posts, as many as asked, always the same for a seed.

The texts are the real ones in `tests/fixtures/` (Reddit, Mastodon, Bluesky, feeds, YouTube, Telegram, PeerTube, Odysee, 4chan, the langid
sentences); the rest (platform spread, ~200 sources, ~5,000 authors, hashtags, links, watchlist narratives with their
match spans, copy-paste clusters, a daily cycle over 60 days) is drawn from a seeded generator. Posts come out one at
a time, so a million of them never sit in memory, day after day as a crawler collects them (in random order within
a day). Other benches import it: `from corpus import generate_posts`.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import accumulate
from html import unescape
from pathlib import Path

from vigie.models import Author, Engagement, Post, TagMatch, normalise_text

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
DEFAULT_END = datetime(2024, 6, 1, tzinfo=UTC)

NARRATIVES: dict[str, tuple[str, ...]] = {
    "miracle_healing": ("guérison miraculeuse", "miracle cure", "guérison quantique", "heilung"),
    "anti_vaccine": ("vaccin tueur", "vaccine injury", "poison vaccinal", "plandemic"),
    "new_age_channeling": ("channeling", "énergie cosmique", "ascension spirituelle", "lightworker"),
    "end_times": ("fin des temps", "apocalypse imminente", "end times", "rapture"),
    "chemtrails": ("chemtrails", "épandages aériens", "geoengineering"),
    "sovereign_citizen": ("citoyen souverain", "sovereign citizen", "strawman"),
    "guru_recruitment": ("maître spirituel", "stage initiatique", "awakening retreat"),
    "5g_health": ("ondes 5g", "5g radiation", "électrosensibilité"),
}

_PLATFORM_WEIGHTS = {"telegram": 30, "mastodon": 18, "reddit": 15, "bluesky": 10, "feed": 14, "youtube": 5, "forum": 8, "peertube": 2, "odysee": 2, "imageboard": 3}
_FIXTURE_LANGUAGE = {"telegram": "ru", "mastodon": "en", "reddit": "en", "bluesky": "en", "feed": "en", "youtube": "en", "forum": "de", "peertube": "fr", "odysee": "en", "imageboard": "en"}
_LANGUAGE_WEIGHTS = {"fr": 40, "en": 25, "de": 7, "es": 5, "it": 4, "pt": 4, "nl": 3, "ru": 5, "ar": 2, "pl": 2, "sv": 1, "tr": 2}
_HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 9, 10, 9, 8, 8, 9, 10, 12, 14, 15, 13, 8, 4)
_SOURCES = 200
_AUTHORS = 5000
_HASHTAGS = 400
_DOMAINS = 150
_CAMPAIGNS = 300
_BANDS = 14
"""As many LSH bands as `enrich.duplicates` uses at its default threshold (0.7, 128 permutations)."""

_TAG = re.compile(r"<[^>]+>")
_TELEGRAM_TEXT = re.compile(r'<div class="tgme_widget_message_text[^"]*"[^>]*>(.*?)</div>', re.S)


def _plain(html: str) -> str:
    return " ".join(unescape(_TAG.sub(" ", html.replace("<br>", "\n").replace("<br/>", "\n"))).split())


def _forum_texts(page: bytes) -> list[str]:
    """Innermost text blocks of a forum page that are long enough to be a message."""
    import lxml.html

    doc = lxml.html.fromstring(page)
    for element in doc.xpath("//script|//style"):
        element.drop_tree()
    blocks = (" ".join(e.text_content().split()) for e in doc.xpath("//div|//p|//td|//blockquote") if not e.xpath(".//div|.//p|.//td|.//table"))
    return [block for block in blocks if 80 <= len(block) <= 1500]


@dataclass(frozen=True)
class _Source:
    id: str
    platform: str
    language: str
    tags: tuple[str, ...]
    authors: tuple[Author, ...]


@lru_cache(maxsize=1)
def _texts() -> dict[str, tuple[str, ...]]:
    """Real texts per platform, and langid sentences per language (keys `lang:fr`...)."""
    import feedparser

    texts: dict[str, list[str]] = {platform: [] for platform in _PLATFORM_WEIGHTS}
    reddit = json.loads((FIXTURES / "reddit" / "TestSubredditListings.test_new.body.json").read_text(encoding="utf-8"))
    for child in reddit["data"]["children"]:
        texts["reddit"].append(f"{child['data']['title']}\n{child['data'].get('selftext', '')}".strip())
    for name in ("tootkit_public_timeline.json", "tag_timeline.json"):
        for status in json.loads((FIXTURES / "mastodon" / name).read_text(encoding="utf-8")):
            texts["mastodon"].append(_plain(status["content"]))
    for name in ("getAuthorFeed.json", "getFeed.json"):
        for item in json.loads((FIXTURES / "bluesky" / name).read_text(encoding="utf-8"))["feed"]:
            texts["bluesky"].append(item["post"]["record"].get("text", ""))
    for path in sorted((FIXTURES / "rss").glob("*")):
        if path.suffix == ".json":
            items = json.loads(path.read_text(encoding="utf-8"))["items"]
            texts["feed"] += [f"{item.get('title', '')}\n{_plain(item.get('content_html', ''))}" for item in items]
        else:
            texts["feed"] += [f"{e.get('title', '')}\n{_plain(e.get('summary', ''))}" for e in feedparser.parse(path.read_bytes()).entries]
    youtube = feedparser.parse((FIXTURES / "youtube" / "kurzgesagt_videos.xml").read_bytes())
    texts["youtube"] += [f"{e.get('title', '')}\n{e.get('summary', '')}" for e in youtube.entries]
    for video in json.loads((FIXTURES / "peertube" / "videos-data.json").read_text(encoding="utf-8")):
        texts["peertube"].append(f"{video['name']}\n{video.get('description') or ''}".strip())
    for claim in json.loads((FIXTURES / "odysee" / "claim_search.json").read_text(encoding="utf-8"))["result"]["items"]:
        texts["odysee"].append(f"{claim['value'].get('title', '')}\n{claim['value'].get('description', '')}".strip())
    for page in json.loads((FIXTURES / "imageboard" / "4chan-catalog-po.json").read_text(encoding="utf-8")):
        for thread in page["threads"]:
            texts["imageboard"] += [_plain(post.get("com", "")) for post in [thread, *thread.get("last_replies", [])]]
    for path in sorted((FIXTURES / "telegram").rglob("*.html")):
        texts["telegram"] += [_plain(m) for m in _TELEGRAM_TEXT.findall(path.read_text(encoding="utf-8"))]
    for path in sorted((FIXTURES / "forum").glob("*.html")):
        texts["forum"] += _forum_texts(path.read_bytes())
    for path in sorted((FIXTURES / "langid" / "sentences").glob("*.txt")):
        texts[f"lang:{path.stem}"] = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {key: tuple(t[:1500] for t in values if t.strip()) for key, values in texts.items()}


def _zipf(n: int, s: float = 1.1) -> list[float]:
    """Cumulative Zipf weights, for `random.choices(cum_weights=...)`."""
    return list(accumulate(1 / (rank**s) for rank in range(1, n + 1)))


def _sources(rng: random.Random) -> list[_Source]:
    platforms = list(_PLATFORM_WEIGHTS)
    languages, language_weights = list(_LANGUAGE_WEIGHTS), list(_LANGUAGE_WEIGHTS.values())
    tag_pool = ("sante", "sectes", "complot", "spiritualite", "francophone", "veille")
    sources, author_index = [], 0
    for index in range(_SOURCES):
        platform = rng.choices(platforms, weights=list(_PLATFORM_WEIGHTS.values()))[0]
        # Telegram channels and feeds speak with one voice; forums and social timelines with many.
        count = 1 if platform in ("telegram", "youtube", "feed") else max(2, (2 * _AUTHORS) // _SOURCES - 2)
        authors = []
        for _ in range(count):
            handle = f"user{author_index % _AUTHORS}"
            authors.append(Author(id=f"{platform}-{author_index % _AUTHORS}", handle=handle, name=handle.title()))
            author_index += 1
        sources.append(
            _Source(
                id=f"{platform}-src{index:03d}",
                platform=platform,
                language=rng.choices(languages, weights=language_weights)[0],
                tags=tuple(rng.sample(tag_pool, rng.randint(0, 2))),
                authors=tuple(authors),
            )
        )
    return sources


def generate_posts(n: int, *, seed: int = 0, end: datetime = DEFAULT_END, days: int = 60) -> Iterator[Post]:
    """`n` posts published over the `days` before `end`, deterministic for a seed."""
    rng = random.Random(seed)
    texts = _texts()
    sources = _sources(rng)
    source_weights = _zipf(len(sources), 0.8)
    hashtags = [f"tag{i}" for i in range(_HASHTAGS)]
    hashtag_weights = _zipf(_HASHTAGS)
    domains = [f"site{i}.example.{('fr', 'com', 'org', 'net')[i % 4]}" for i in range(_DOMAINS)]
    domain_weights = _zipf(_DOMAINS)
    narratives = list(NARRATIVES)
    narrative_weights = _zipf(len(narratives), 0.7)
    hour_weights = list(accumulate(_HOUR_WEIGHTS))
    campaigns = [rng.choice(texts["lang:fr"]) + " " + rng.choice(texts["lang:fr"]) for _ in range(_CAMPAIGNS)]
    start = end - timedelta(days=days)
    hours = list(range(24))
    languages = list(_LANGUAGE_WEIGHTS)

    for index in range(n):
        source = rng.choices(sources, cum_weights=source_weights)[0]
        platform = source.platform
        language = source.language if rng.random() < 0.85 else rng.choice(languages)
        campaign = rng.randrange(_CAMPAIGNS) if rng.random() < 0.03 else None
        if campaign is not None:
            text, language = campaigns[campaign], "fr"
        elif rng.random() < 0.25:
            text, language = rng.choice(texts[platform]), _FIXTURE_LANGUAGE[platform]
        else:
            sentences = texts[f"lang:{language}"]
            text = " ".join(rng.choice(sentences) for _ in range(rng.randint(1, 3)))

        text = normalise_text(text)  # as Post will store it, so that match spans point at the term
        post_narratives, matches, tags = [], [], list(source.tags)
        if rng.random() < 0.3:
            for narrative in dict.fromkeys(rng.choices(narratives, cum_weights=narrative_weights, k=1 if rng.random() < 0.8 else 2)):
                term = rng.choice(NARRATIVES[narrative])
                text = f"{text} {term}"
                matches.append(TagMatch(narrative=narrative, term=term, start=len(text) - len(term), end=len(text), watchlist="bench"))
                post_narratives.append(narrative)
                tags.append(term)

        post_hashtags = list(dict.fromkeys(rng.choices(hashtags, cum_weights=hashtag_weights, k=rng.randint(1, 3)))) if rng.random() < 0.3 else []
        if post_hashtags:
            text = f"{text} " + " ".join(f"#{tag}" for tag in post_hashtags)
        links, post_domains = [], []
        if rng.random() < 0.25:
            domain = rng.choices(domains, cum_weights=domain_weights)[0]
            links, post_domains = [f"https://{domain}/article/{rng.randrange(10**6)}"], [domain]
        mentions = [f"user{rng.randrange(_AUTHORS)}"] if rng.random() < 0.1 else []

        day = index * days // n
        published = start + timedelta(days=day, hours=rng.choices(hours, cum_weights=hour_weights)[0], seconds=rng.randrange(3600))
        if len(text.split()) < 8:
            keys = []
        elif campaign is not None:
            keys = [f"{band:02d}{campaign:016x}" for band in range(_BANDS)]
        else:
            keys = [f"{band:02d}{rng.getrandbits(64):016x}" for band in range(_BANDS)]
        yield Post(
            platform=platform,
            native_id=f"{source.id}/{index}",
            source_id=source.id,
            url=f"https://{platform}.example/{source.id}/{index}",
            author=rng.choice(source.authors),
            published_at=published,
            collected_at=published + timedelta(minutes=rng.randrange(5, 600)),
            text=text,
            language=language,
            language_confidence=round(rng.uniform(0.6, 1.0), 3),
            hashtags=post_hashtags,
            mentions=mentions,
            links=links,
            domains=post_domains,
            engagement=Engagement(views=rng.randrange(50_000) if platform == "telegram" else None, likes=rng.randrange(500), shares=rng.randrange(100), replies=rng.randrange(50)),
            tags=tags,
            narratives=post_narratives,
            matches=matches,
            cluster_id=f"cluster-{campaign}" if campaign is not None else None,
            near_dup_keys=keys,
        )
