"""`vigie enrich`: JSON Lines in, enriched JSON Lines out, so anyone can enrich text from a shell."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, TextIO

import click
from pydantic import ValidationError

from vigie.cli.context import AppContext, pass_app
from vigie.models import Post, utcnow

ENRICHED_FIELDS = ("language", "language_confidence", "hashtags", "mentions", "links", "domains", "tags", "narratives", "matches", "cluster_id", "near_dup_keys")
"""What a text-only input object gets back, next to its own keys."""


class BadLine(ValueError):
    """One input line that is neither a post nor an object with a `text` string."""


@dataclass(frozen=True)
class Item:
    line: int
    post: Post
    original: dict[str, Any] | None
    """The input object when it was not a full post: only enrichment fields are added to it."""


def parse_line(raw: str, line: int) -> Item | None:
    """A post, a text-only object, None for a blank line; BadLine says what is wrong."""
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadLine(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, dict):
        raise BadLine(f"expected a JSON object, got {type(data).__name__}")
    if "platform" in data or "native_id" in data:
        try:
            return Item(line, Post.model_validate(data), None)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "post"
            raise BadLine(f"not a valid post: {where}: {first['msg']}") from None
    text, title = data.get("text"), data.get("title")
    if not isinstance(text, str) or (title is not None and not isinstance(title, str)):
        raise BadLine("expected a post or an object with a `text` string")
    declared = data.get("platform_language")
    post = Post(
        platform="feed",
        native_id=f"stdin-{line}",
        source_id="stdin",
        published_at=utcnow(),
        text=text,
        title=title,
        platform_language=declared if isinstance(declared, str) else None,
    )
    return Item(line, post, data)


@dataclass
class LineReader:
    """Parsed lines of a stream; bad ones are reported as `stdin:LINE: reason`, counted and skipped."""

    errors: TextIO
    bad: int = 0

    def items(self, stream: TextIO) -> Iterator[Item]:
        for number, raw in enumerate(stream, start=1):
            try:
                item = parse_line(raw, number)
            except BadLine as exc:
                self.errors.write(f"stdin:{number}: {exc}\n")
                self.bad += 1
                continue
            if item is not None:
                yield item


def render(item: Item, post: Post) -> dict[str, Any]:
    data = post.to_json_dict()
    if item.original is None:
        return data
    return {**item.original, **{name: data[name] for name in ENRICHED_FIELDS}}


@click.command()
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1), help="Posts enriched together.")
@pass_app
def enrich(app: AppContext, batch_size: int) -> None:
    """Enrich JSON Lines from stdin (posts, or objects with a `text`) and write them to stdout.

    Each output line is the input with its language and confidence, entities, watchlist tags with their
    spans, narratives and copy-paste cluster (near-copies are grouped across the whole input).
    Bad lines are reported on stderr as `stdin:LINE: reason` and skipped; the exit code is then 1.
    """
    from enrich import Enricher
    from enrich.duplicates import MemoryIndex

    index = MemoryIndex()
    enricher = Enricher.from_config(app.config, store=index)
    reader = LineReader(sys.stderr)
    items = reader.items(click.get_text_stream("stdin"))
    out = click.get_text_stream("stdout")
    while batch := list(islice(items, batch_size)):
        enriched = enricher.enrich([item.post for item in batch])
        index.add(enriched)
        for item, post in zip(batch, enriched, strict=True):
            out.write(json.dumps(render(item, post), ensure_ascii=False) + "\n")
        out.flush()
    if reader.bad:
        raise click.ClickException(f"{reader.bad} bad line{'s' if reader.bad > 1 else ''} skipped (reported above)")
