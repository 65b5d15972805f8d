"""Posts and configs for tests, built in code so each test shows the values it relies on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from vigie.models import Author, Post


def make_post(native_id: str, text: str = "", *, platform: str = "feed", source_id: str = "src", published_at: datetime | None = None, **fields: Any) -> Post:
    author = fields.pop("author", None) or Author(id=f"{source_id}-author", handle=f"{source_id}-author")
    return Post(
        platform=platform,
        native_id=native_id,
        source_id=source_id,
        text=text,
        author=author,
        published_at=published_at or datetime(2024, 5, 1, 12, tzinfo=UTC),
        **fields,
    )


def write_config(folder: Path, *, sources: list[dict[str, Any]] | None = None, settings: dict[str, Any] | None = None, watchlists: dict[str, Any] | None = None) -> Path:
    """A config folder for a test: vigie.yaml, sources.yaml and watchlists/*.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vigie.yaml").write_text(yaml.safe_dump(settings or {}), encoding="utf-8")
    (folder / "sources.yaml").write_text(yaml.safe_dump({"sources": sources or []}), encoding="utf-8")
    (folder / "watchlists").mkdir(exist_ok=True)
    for name, content in (watchlists or {}).items():
        (folder / "watchlists" / f"{name}.yaml").write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return folder
