from __future__ import annotations

from pathlib import Path

from vigie.cli.schema import post_fields_markdown
from vigie.models import Post

DOC = Path(__file__).resolve().parents[2] / "docs" / "post-model.md"


def test_post_model_doc_is_current() -> None:
    assert post_fields_markdown() in DOC.read_text(encoding="utf-8"), "run: vigie schema --markdown, and paste it into docs/post-model.md"


def test_every_field_is_described() -> None:
    assert [name for name, info in Post.model_fields.items() if not info.description] == []
