"""What the API spider tests (Mastodon, Reddit, Bluesky) share: a crawl of recorded responses replayed on
loopback, and checks of the stored posts against values read by hand from those responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from enrich.entities import extract_entities
from enrich.pipeline import post_body
from tests.support.crawling import VigieProject
from tests.support.replay import ReplayServer
from vigie.models import CrawlRun, Post, sha256_hex

ENRICHMENT_FIELDS = frozenset(
    {"language", "language_confidence", "tags", "narratives", "matches", "cluster_id", "near_dup_keys", "collected_at", "first_seen_at", "domains"}
)
"""Fields the spider does not decide (enrichment and the store fill them); `domains` is derived from the links."""


@dataclass
class Crawl:
    """One `vigie crawl`: its runs, what each source has in the store afterwards, the requests it made."""

    server: ReplayServer
    runs: dict[str, CrawlRun]
    posts: dict[str, list[Post]]
    paths: list[str]
    log: str

    def requested(self, prefix: str) -> list[str]:
        """Paths asked for during the crawl that start with `prefix`, in order, once each (an HTTP client
        may send a request again when a reused connection closes under it)."""
        return list(dict.fromkeys(path for path in self.paths if path.startswith(prefix)))


def crawl(vigie: VigieProject, server: ReplayServer, *source_ids: str) -> Crawl:
    before = len(server.requests)
    runs = vigie.crawl(*source_ids)
    posts = {source: vigie.posts(source) for source in runs}
    return Crawl(server, runs, posts, [request.path for request in server.requests[before:]], vigie.log())


def assert_stored_post(post: Post, expected: dict[str, Any]) -> None:
    """Every field the spider sets, as `expected` says. Enrichment appends the hashtags, mentions and links it
    finds in the text after the spider's own, so those lists are compared with the spider's values merged
    the same way: a wrong or missing value from the spider still shows."""
    merged = extract_entities(post_body(post), hashtags=expected["hashtags"], mentions=expected["mentions"], links=expected["links"])
    want = {**expected, "id": f"{expected['platform']}:{expected['native_id']}", "hashtags": merged.hashtags, "mentions": merged.mentions, "links": merged.links}
    assert post.model_dump(mode="json", exclude=ENRICHMENT_FIELDS) == want


def expected_post(platform: str, source_id: str, body: bytes, fields: dict[str, Any]) -> dict[str, Any]:
    """A post's expected fields: what the test spells out, `None` or empty for the rest."""
    nothing = {"title": None, "platform_language": None, "hashtags": [], "mentions": [], "links": [], "media": [], "reply_to": None, "repost_of": None, "quote_of": None, "transcript": None}
    return {"platform": platform, "source_id": source_id, "forwarded_from": None, "raw_sha256": sha256_hex(body), **nothing, **fields}


def from_response(posts: list[Post], body: bytes) -> list[Post]:
    """The posts parsed from this exact response body (their `raw_sha256`)."""
    digest = sha256_hex(body)
    return [post for post in posts if post.raw_sha256 == digest]


def by_native_id(posts: list[Post]) -> dict[str, Post]:
    return {post.native_id: post for post in posts}
