from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.scheduler.support import FakeCrawls

_MAIN = sys.modules["__main__"]


@pytest.fixture(autouse=True)
def _real_main_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamlit's AppTest (tests/dashboard) leaves its script installed as `__main__`, and multiprocessing runs
    `__main__`'s file again in every process the crawl launcher forks: with a pytest worker that ran a dashboard test
    first, each forked process failed on that script (`NameError: __args`)."""
    monkeypatch.setitem(sys.modules, "__main__", _MAIN)


@pytest.fixture
def fake_crawls(tmp_path: Path) -> FakeCrawls:
    return FakeCrawls(tmp_path)
