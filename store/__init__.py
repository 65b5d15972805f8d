"""Storage: one interface (`Store`), three implementations (embedded SQLite, Elasticsearch, OpenSearch)."""

from __future__ import annotations

from store.base import (
    BucketCount,
    ClusterSummary,
    PostQuery,
    SearchHit,
    SearchResult,
    Store,
    StoreError,
    TermCount,
    UpsertResult,
)
from vigie.config import Config

__all__ = [
    "BucketCount",
    "ClusterSummary",
    "PostQuery",
    "SearchHit",
    "SearchResult",
    "Store",
    "StoreError",
    "TermCount",
    "UpsertResult",
    "open_store",
]


def open_store(config: Config) -> Store:
    """The store named by `store.backend` in vigie.yaml (or VIGIE_STORE)."""
    if config.settings.store.backend == "elasticsearch":
        from store.elasticsearch import ElasticsearchStore

        return ElasticsearchStore.from_config(config)
    if config.settings.store.backend == "opensearch":
        from store.opensearch import OpenSearchStore

        return OpenSearchStore.from_config(config)
    from store.sqlite import SQLiteStore

    config.data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(config.sqlite_path)
