"""Checks shared by the API spider tests (Mastodon, Reddit, Bluesky): stored posts against values read by hand
from the recorded responses, and which recorded response each post came from."""

from __future__ import annotations

from typing import Any

from enrich.entities import extract_entities
from enrich.pipeline import post_body
from vigie.models import Post, sha256_hex

ENRICHMENT_FIELDS = frozenset(
    {"language", "language_confidence", "tags", "narratives", "matches", "cluster_id", "near_dup_keys", "collected_at", "first_seen_at", "domains"}
)
"""Fields the spider does not decide (enrichment and the store fill them); `domains` is derived from the links."""


def assert_stored_post(post: Post, expected: dict[str, Any]) -> None:
    """Every field the spider sets, as `expected` says. Enrichment appends the hashtags, mentions and links it
    finds in the text after the spider's own, so those lists are compared with the spider's values merged
    the same way: a wrong or missing value from the spider still shows."""
    merged = extract_entities(post_body(post), hashtags=expected["hashtags"], mentions=expected["mentions"], links=expected["links"])
    want = {**expected, "id": f"{expected['platform']}:{expected['native_id']}", "hashtags": merged.hashtags, "mentions": merged.mentions, "links": merged.links}
    assert post.model_dump(mode="json", exclude=ENRICHMENT_FIELDS) == want


def from_response(posts: list[Post], body: bytes) -> list[Post]:
    """The posts parsed from this exact response body (their `raw_sha256`)."""
    digest = sha256_hex(body)
    return [post for post in posts if post.raw_sha256 == digest]


def by_native_id(posts: list[Post]) -> dict[str, Post]:
    return {post.native_id: post for post in posts}
