"""Fixtures of the crawler tests: the loopback replay server and a Vigie project to crawl into."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.crawling import VigieProject
from tests.support.replay import replay  # noqa: F401 (a fixture)


@pytest.fixture
def vigie(tmp_path: Path) -> VigieProject:
    return VigieProject(tmp_path)
