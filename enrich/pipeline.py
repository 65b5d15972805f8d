"""The enricher: one object that runs every enrichment step over a batch of posts.

The crawl pipeline calls it on new posts and `vigie enrich` / `vigie reenrich` call it in bulk:
the same code, so a post is enriched the same way however it arrived.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from enrich.duplicates import Member, NearDuplicateIndex, NearDuplicates, assign_clusters, text_words
from enrich.entities import extract_entities
from enrich.folding import WORD
from enrich.language import LanguageIdentifier
from enrich.transcripts import timed
from enrich.watchlists import Tagging, WatchlistMatcher, watchlist_matcher
from vigie.config import ConfigError
from vigie.models import Post, TagMatch

if TYPE_CHECKING:
    from vigie.config import Config


def post_body(post: Post) -> str:
    return "\n".join(part for part in (post.title, post.text) if part)


def retag(post: Post, tagging: Tagging, replaced: Iterable[TagMatch] | None = None) -> tuple[list[str], list[str], list[TagMatch]]:
    """Tags, narratives and matches after a new tagging: tags that no replaced match produced
    (the source's tags) are kept, in front; matches in a transcript get their second in the video."""
    old_terms = {match.term for match in (post.matches if replaced is None else replaced)}
    kept = [tag for tag in post.tags if tag not in old_terms]
    return list(dict.fromkeys([*kept, *tagging.terms])), tagging.narratives, timed(post, tagging.matches)


class Enricher:
    """Language, entities, watchlist narratives and copy-paste clusters, for a batch of posts."""

    def __init__(self, language: LanguageIdentifier, matcher: WatchlistMatcher, duplicates: NearDuplicates, store: NearDuplicateIndex | None = None) -> None:
        self.language = language
        self.matcher = matcher
        self.duplicates = duplicates
        self.store = store

    @classmethod
    def from_config(cls, config: Config, store: NearDuplicateIndex | None = None) -> Enricher:
        """`store` (the Store, or any index of earlier posts) is where near-copies published before are looked up."""
        settings = config.settings.enrich
        try:
            language = LanguageIdentifier.from_settings(settings.language)
        except ValueError as exc:
            raise ConfigError(f"{config.config_dir / 'vigie.yaml'}: {exc}") from None
        return cls(
            language,
            watchlist_matcher(config.config_dir / "watchlists"),
            NearDuplicates(settings.duplicate_threshold, settings.min_duplicate_words),
            store=store,
        )

    def enrich(self, posts: list[Post]) -> list[Post]:
        """New Post objects with every enrichment field filled; the input posts are not changed.

        Each step runs over the whole batch before the next one, so its model stays in the CPU caches. A text's
        words are found once, for the watchlists and the copy-paste signatures.
        """
        bodies = [post_body(post) for post in posts]
        detections = [self.language.identify(body, post.platform_language) for body, post in zip(bodies, posts, strict=True)]
        entities = [extract_entities(body, hashtags=p.hashtags, mentions=p.mentions, links=p.links) for body, p in zip(bodies, posts, strict=True)]
        words = [WORD.findall(post.text) for post in posts]
        taggings = [retag(post, self.matcher.tag(post.text, post.title, found)) for post, found in zip(posts, words, strict=True)]
        keys = self.duplicates.word_signatures([text_words(post.text, found) if post.text else text_words(post.title or "") for post, found in zip(posts, words, strict=True)])
        lookup = self.store.near_duplicate_clusters if self.store is not None else None
        clusters = assign_clusters([Member(post.id, post.published_at, k) for post, k in zip(posts, keys, strict=True)], lookup)
        return [
            post.model_copy(
                update={
                    "language": detection.language,
                    "language_confidence": detection.confidence,
                    "hashtags": found.hashtags,
                    "mentions": found.mentions,
                    "links": found.links,
                    "domains": found.domains,
                    "tags": tags,
                    "narratives": narratives,
                    "matches": matches,
                    "near_dup_keys": post_keys,
                    "cluster_id": cluster,
                }
            )
            for post, detection, found, (tags, narratives, matches), post_keys, cluster in zip(posts, detections, entities, taggings, keys, clusters, strict=True)
        ]
