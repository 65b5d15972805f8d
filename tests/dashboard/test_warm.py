"""The pages' first views computed in the background (`dashboard/warm.py`), checked by the pages themselves: once
warmed, they render without asking the store."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import session, warm
from store import StoreError, open_store
from store.sqlite import SQLiteStore
from tests.dashboard.conftest import APP, Seeded
from vigie.config import load_config

WARMED = ("views/overview.py", "views/narrative.py", "views/sources.py", "views/alerts.py")


@contextmanager
def _refused(_store: SQLiteStore) -> Iterator[None]:
    raise StoreError("the store was asked")
    yield


def _errors_without_the_store(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Each warmed page's errors when every read of the store fails."""
    monkeypatch.setattr(SQLiteStore, "_reading", _refused)
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    shown = {}
    for page in WARMED:
        at.switch_page(page).run()
        shown[page] = [e.value for e in at.error] + [str(e.value) for e in at.exception]
    return shown


def test_warmed_first_views_are_what_the_pages_ask_for(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config()
    with open_store(config) as store:
        warm.first_views(store, session.store_key(config), config, session.hour_end())
    assert _errors_without_the_store(monkeypatch) == {page: [] for page in WARMED}


def test_without_warming_the_pages_ask_the_store(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: the same pages, not warmed, say the store did not answer."""
    shown = _errors_without_the_store(monkeypatch)
    assert all(any("the store was asked" in error for error in errors) for errors in shown.values()), shown


def test_rounds_run_until_stopped_and_a_failing_round_is_one_line(seeded: Seeded, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    rounds = threading.Semaphore(0)
    failing = {"now": True}

    def first_views(*_args: object) -> None:
        rounds.release()
        if failing["now"]:
            raise StoreError("database is locked")

    monkeypatch.setattr(warm, "first_views", first_views)
    caplog.set_level(logging.INFO, logger="vigie.dashboard")
    stop = threading.Event()
    rounds_thread = threading.Thread(target=warm.keep_warm, args=(stop, 0.01))
    rounds_thread.start()
    for _ in range(3):
        assert rounds.acquire(timeout=10)
    failing["now"] = False
    for _ in range(2):
        assert rounds.acquire(timeout=10)
    stop.set()
    rounds_thread.join(10)
    assert not rounds_thread.is_alive()
    lines = [record.getMessage() for record in caplog.records if record.name == "vigie.dashboard"]
    assert lines == ["dashboard first views not computed in advance: StoreError: database is locked (trying again every 0.01 s)", "dashboard first views computed again"]


def test_rounds_can_be_turned_off(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_DASHBOARD__WARM_FIRST_VIEWS", "false")
    monkeypatch.setattr(warm, "open_store", lambda _config: pytest.fail("the store was opened"))
    rounds_thread = threading.Thread(target=warm.keep_warm, args=(threading.Event(), 0.01))
    rounds_thread.start()
    rounds_thread.join(10)
    assert not rounds_thread.is_alive()
