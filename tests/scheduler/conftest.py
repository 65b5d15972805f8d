from __future__ import annotations

from pathlib import Path

import pytest

from tests.scheduler.support import FakeCrawls


@pytest.fixture
def fake_crawls(tmp_path: Path) -> FakeCrawls:
    return FakeCrawls(tmp_path)
