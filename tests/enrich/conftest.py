"""Detectors and the default watchlists are loaded once per session: the models take seconds to load."""

from __future__ import annotations

from pathlib import Path

import pytest

from enrich.language import LanguageIdentifier
from enrich.watchlists import WatchlistMatcher, load_watchlists
from vigie.config import LanguageSettings

REPO = Path(__file__).resolve().parents[2]
DEFAULT_WATCHLISTS = REPO / "config" / "watchlists"


@pytest.fixture(scope="session")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier.from_settings(LanguageSettings())


@pytest.fixture(scope="session")
def default_matcher() -> WatchlistMatcher:
    return WatchlistMatcher(load_watchlists(DEFAULT_WATCHLISTS))
