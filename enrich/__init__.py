"""Enrichment: language, watchlist narratives, entities and copy-paste clusters of posts."""

from __future__ import annotations

from typing import Any

__all__ = ["Enricher"]


def __getattr__(name: str) -> Any:
    """`Enricher` on first use: the dashboard and the alert emails use `enrich.rules` without the language models."""
    if name == "Enricher":
        from enrich.pipeline import Enricher

        return Enricher
    raise AttributeError(f"module 'enrich' has no attribute {name!r}")
