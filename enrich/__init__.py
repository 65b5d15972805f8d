"""Enrichment: language, watchlist narratives, entities and copy-paste clusters of posts."""

from __future__ import annotations

from enrich.pipeline import Enricher

__all__ = ["Enricher"]
