"""The benchmark corpus (`bench/corpus.py`): the same posts for a seed, spread like real monitoring data."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from vigie.models import PLATFORMS


@pytest.fixture(scope="module")
def corpus():
    spec = importlib.util.spec_from_file_location("bench_corpus", Path(__file__).resolve().parents[2] / "bench" / "corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_same_seed_same_posts(corpus) -> None:
    first = [post.model_dump() for post in corpus.generate_posts(300, seed=3)]
    again = [post.model_dump() for post in corpus.generate_posts(300, seed=3)]
    other = [post.model_dump() for post in corpus.generate_posts(300, seed=4)]
    assert first == again and first != other


def test_posts_look_like_monitoring_data(corpus) -> None:
    posts = list(corpus.generate_posts(3000, seed=1))
    assert len({post.id for post in posts}) == 3000
    assert set(Counter(post.platform for post in posts)) == set(PLATFORMS)
    assert len({post.source_id for post in posts}) > 100
    assert len({post.author.handle for post in posts}) > 500
    start = corpus.DEFAULT_END - timedelta(days=60)
    assert all(start <= post.published_at < corpus.DEFAULT_END for post in posts)
    assert [post.published_at.date() for post in posts] == sorted(post.published_at.date() for post in posts)
    tagged = [post for post in posts if post.narratives]
    assert 0.2 < len(tagged) / len(posts) < 0.45
    assert all(post.text[m.start : m.end] == m.term for post in tagged for m in post.matches)
    assert {narrative for post in tagged for narrative in post.narratives} <= set(corpus.NARRATIVES)
    assert any(post.hashtags for post in posts) and any(post.domains for post in posts) and any(post.cluster_id for post in posts)
    assert all(len(post.near_dup_keys) in (0, 14) for post in posts)
