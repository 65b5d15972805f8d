from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(autouse=True)
def _main_module_restored() -> Iterator[None]:
    """Streamlit's AppTest (the dashboard's tests, the OpenSearch store's) runs its script as `__main__` and leaves it
    there; a later test of the same worker that starts a multiprocessing forkserver (the crawl launcher) would have
    its children run that script again."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own config, data or secrets."""
    for name in list(__import__("os").environ):
        if name.startswith("VIGIE_") and name != "VIGIE_ES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("VIGIE_DATA_DIR", str(tmp_path / "data"))
