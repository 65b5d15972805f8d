from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own config, data or secrets."""
    for name in list(__import__("os").environ):
        if name.startswith("VIGIE_") and name != "VIGIE_ES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("VIGIE_DATA_DIR", str(tmp_path / "data"))
