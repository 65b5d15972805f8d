from __future__ import annotations

import click

from vigie.models import Post


def post_fields_markdown() -> str:
    """The post model's reference, built from the field descriptions in `vigie/models.py`."""
    lines = ["| field | type | meaning |", "|---|---|---|"]
    for name, info in Post.model_fields.items():
        annotation = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
        lines.append(f"| `{name}` | `{annotation}` | {info.description or ''} |")
    return "\n".join(lines)


@click.command()
@click.option("--markdown", is_flag=True, help="The field table for docs/post-model.md.")
def schema(markdown: bool) -> None:
    """Print the post model: JSON Schema, or a Markdown table of every field."""
    import json

    click.echo(post_fields_markdown() if markdown else json.dumps(Post.model_json_schema(), indent=2))
