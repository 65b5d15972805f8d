from __future__ import annotations

from collections.abc import Iterator

import pytest

from store.sqlite import SQLiteStore
from tests.alerts.mailserver import SmtpServer
from vigie.config import Config


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def store(config: Config) -> Iterator[SQLiteStore]:
    """The embedded store of the test module's own `config`."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    with SQLiteStore(config.sqlite_path) as opened:
        yield opened
