"""Copy-paste clusters: coordinated campaigns repost one text with small edits across channels.

Each text gets a MinHash signature over word shingles, cut into LSH bands; the band hashes are the post's
`near_dup_keys`. Posts sharing a band key (in the batch, or in the store through `find_near_duplicates`)
are near-copies and share a `cluster_id`. A cluster id is made from the first member's publication time and
id, so the smallest id names the earliest cluster, and a cluster keeps its id when later copies arrive.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import Protocol

import numpy as np

from enrich.entities import may_hold_link
from enrich.folding import WORD, fold_word
from store.base import clusters_of
from vigie.models import Post

SHINGLE_WORDS = 2
"""Word pairs: one changed word alters two shingles, so a lightly edited copy stays above the threshold."""
_LINKS = re.compile(r"(?:[hH][tT][tT][pP][sS\u017f]?://|[wW][wW][wW]\.)\S+|@(?<!\w@)[\w.@-]+")
"""Links and mentions, in any case (as IGNORECASE would: `ſ` is an `s` to it). Written without the flag, and
with every branch starting with a character set, the engine skips the positions where none can start."""


_MIX = np.uint64(0x9E3779B97F4A7C15)
MINHASH_CHUNK = 8192
"""Shingles hashed at a time (the texts they belong to, whole): 128 permutations x 8192 x 8 bytes = 8 MB."""


@lru_cache(maxsize=262_144)
def _word_hash(word: str) -> int:
    return zlib.crc32(fold_word(word).encode())


def text_words(text: str, words: list[str] | None = None) -> list[str]:
    """The words a text's shingles are made of: links and mentions left out. `words` is `WORD.findall(text)`
    when the caller has it (the watchlists read the same words): most texts have no link to leave out."""
    if "@" in text or may_hold_link(text):
        return WORD.findall(_LINKS.sub(" ", text))
    return WORD.findall(text) if words is None else words


def shingle_hashes(word_lists: Sequence[list[str]], size: int = SHINGLE_WORDS) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the word shingles of several texts (none empty) at once, end to end, and how many
    belong to each text; a text shorter than `size` words is one shingle. Hashes may repeat within a text:
    its MinHash is a minimum, which repeats do not change, so no sort to remove them."""
    lengths = np.fromiter(map(len, word_lists), dtype=np.int64, count=len(word_lists))
    hashes = np.fromiter(map(_word_hash, chain.from_iterable(word_lists)), dtype=np.uint64, count=int(lengths.sum()))
    with np.errstate(over="ignore"):
        for _ in range(1, size):
            longer = lengths > 1
            ends = np.cumsum(lengths)
            combined = np.empty_like(hashes)
            combined[:-1] = hashes[:-1] * _MIX + hashes[1:]
            alone = (ends - lengths)[~longer]
            combined[alone] = hashes[alone]
            keep = np.ones(len(hashes), dtype=bool)
            keep[ends[longer] - 1] = False
            hashes, lengths = combined[keep], np.where(longer, lengths - 1, lengths)
    return hashes, lengths


@lru_cache(maxsize=16)
def lsh_parameters(threshold: float, permutations: int) -> tuple[int, int]:
    """(bands, rows per band) that best separate pairs above and below the Jaccard threshold.

    Minimises the area of false positives (similarity below threshold, collide) plus false negatives
    (above threshold, never collide) under the S-curve 1 - (1 - s^r)^b.
    """
    grid = np.linspace(0.0, 1.0, 1001)
    best = (float("inf"), 1, permutations)
    for bands in range(1, permutations + 1):
        for rows in range(1, permutations // bands + 1):
            collide = 1.0 - (1.0 - grid**rows) ** bands
            below, above = grid <= threshold, grid >= threshold
            error = np.trapezoid(collide[below], grid[below]) + np.trapezoid(1.0 - collide[above], grid[above])
            if error < best[0]:
                best = (error, bands, rows)
    return best[1], best[2]


class NearDuplicates:
    """MinHash + LSH with fixed seeds: the same text gets the same keys in every run and every process."""

    def __init__(self, threshold: float = 0.7, min_words: int = 8, permutations: int = 128, seed: int = 1) -> None:
        self.threshold = threshold
        self.min_words = min_words
        self.bands, self.rows = lsh_parameters(threshold, permutations)
        generator = np.random.default_rng(seed)
        self._multipliers = (generator.integers(1, 2**63, size=(self.bands * self.rows, 1), dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
        self._offsets = generator.integers(0, 2**63, size=(self.bands * self.rows, 1), dtype=np.uint64)

    def signatures(self, texts: Sequence[str]) -> list[list[str]]:
        """Band keys of each text; texts shorter than `min_words` get none."""
        return self.word_signatures([text_words(text) for text in texts])

    def word_signatures(self, words: Sequence[list[str]]) -> list[list[str]]:
        """Band keys of each text given as its `text_words`."""
        kept = [i for i, found in enumerate(words) if found and len(found) >= self.min_words]
        result: list[list[str]] = [[] for _ in words]
        if not kept:
            return result
        signatures = self._minima(*shingle_hashes([words[i] for i in kept])).tobytes()
        size = self.rows * 4  # bytes of a band: `rows` uint32 values
        spans = [(f"{band:02d}", band * size, (band + 1) * size) for band in range(self.bands)]
        for row, index in enumerate(kept):
            data = signatures[row * self.bands * size : (row + 1) * self.bands * size]
            result[index] = [prefix + hashlib.blake2b(data[start:end], digest_size=8).hexdigest() for prefix, start, end in spans]
        return result

    def _minima(self, hashes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The MinHash signature of each text (a row), from its shingles (`lengths` of `hashes`, end to end).

        Computed for a few thousand shingles at a time: the permutations x shingles matrix then stays in
        the CPU caches, instead of taking hundreds of megabytes for a batch of long articles."""
        ends = np.cumsum(lengths)
        starts = ends - lengths
        rows = []
        first = 0
        while first < len(lengths):
            last = max(first + 1, int(np.searchsorted(ends, starts[first] + MINHASH_CHUNK, side="right")))
            with np.errstate(over="ignore"):
                hashed = self._multipliers * hashes[None, starts[first] : ends[last - 1]]
                hashed += self._offsets
            minima = np.minimum.reduceat(hashed, starts[first:last] - starts[first], axis=1)
            minima >>= np.uint64(32)  # the high half of the minimum is the minimum of the high halves: one pass less
            rows.append(minima.T.astype(np.uint32))
            first = last
        return np.concatenate(rows)

    @property
    def description(self) -> str:
        return f"MinHash {self.bands * self.rows} permutations, {self.bands} bands of {self.rows} rows, {SHINGLE_WORDS}-word shingles"


def cluster_id_for(post_id: str, published_at: datetime) -> str:
    """Sortable by time: the smallest cluster id belongs to the earliest first member."""
    digest = hashlib.blake2b(post_id.encode(), digest_size=6).hexdigest()
    return f"{published_at:%Y%m%d%H%M%S}-{digest}"


@dataclass(frozen=True, slots=True)
class Member:
    post_id: str
    published_at: datetime
    keys: list[str]


Lookup = Callable[[list[set[str]]], list[set[str]]]
"""For each group of band keys, the clusters of stored posts sharing one (`Store.near_duplicate_clusters`)."""


def assign_clusters(members: Sequence[Member], lookup: Lookup | None = None) -> list[str | None]:
    """The cluster id of each member: near-copies within the batch share one, and a stored cluster they
    join keeps its id; members without keys get None."""
    parent = list(range(len(members)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    owner: dict[str, int] = {}
    for index, member in enumerate(members):
        for key in member.keys:
            other = owner.setdefault(key, index)
            if other != index:
                parent[root(index)] = root(other)
    groups: dict[int, list[int]] = {}
    for index, member in enumerate(members):
        if member.keys:
            groups.setdefault(root(index), []).append(index)
    result: list[str | None] = [None] * len(members)
    keys = [{key for index in indexes for key in members[index].keys} for indexes in groups.values()]
    stored = lookup(keys) if lookup is not None and keys else [set() for _ in keys]
    for indexes, known in zip(groups.values(), stored, strict=True):
        cluster = min(known) if known else min(cluster_id_for(members[i].post_id, members[i].published_at) for i in indexes)
        for index in indexes:
            result[index] = cluster
    return result


class NearDuplicateIndex(Protocol):
    """Where earlier posts' band keys can be looked up: the store, or a `MemoryIndex`."""

    def near_duplicate_clusters(self, groups: Sequence[Iterable[str]], limit: int = 50) -> list[set[str]]: ...


class MemoryIndex:
    """Band keys of the posts enriched so far in this process, for enrichment without a store (`vigie enrich`)."""

    def __init__(self) -> None:
        self._by_key: dict[str, dict[str, str | None]] = {}

    def add(self, posts: Iterable[Post]) -> None:
        for post in posts:
            for key in post.near_dup_keys:
                self._by_key.setdefault(key, {})[post.id] = post.cluster_id

    def find_near_duplicates(self, keys: Iterable[str], limit: int = 50) -> list[tuple[str, str | None]]:
        shared: dict[str, int] = {}
        clusters: dict[str, str | None] = {}
        for key in set(keys):
            for post_id, cluster in self._by_key.get(key, {}).items():
                shared[post_id] = shared.get(post_id, 0) + 1
                clusters[post_id] = cluster
        ranked = sorted(shared, key=lambda post_id: (-shared[post_id], post_id))[:limit]
        return [(post_id, clusters[post_id]) for post_id in ranked]

    def near_duplicate_clusters(self, groups: Sequence[Iterable[str]], limit: int = 50) -> list[set[str]]:
        return [clusters_of(self.find_near_duplicates(keys, limit)) for keys in groups]
