"""CSV and JSON Lines exports of posts, produced chunk by chunk so any number of rows fits in constant memory.

Used by `vigie export` (written to a file or stdout) and by the dashboard's `/export` route (streamed to the browser).
JSON Lines carries every field of every post; CSV carries the columns an analyst sorts and filters on in a
spreadsheet, with list fields joined by ` | `. Scraped text is hostile: a CSV cell starting with `=`, `+`, `-`, `@`
or a control character would run as a formula in Excel or LibreOffice, so it is prefixed with `'`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Literal, TextIO

from vigie.models import Post

ExportFormat = Literal["csv", "jsonl"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "jsonl")
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
CSV_COLUMNS: tuple[str, ...] = (
    "id", "platform", "source_id", "published_at", "author_handle", "author_name", "url", "title", "text", "language",
    "narratives", "terms", "tags", "hashtags", "domains", "links", "views", "likes", "shares", "replies", "cluster_id",
)  # fmt: skip
ROWS_PER_CHUNK = 200
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(post: Post) -> list[str]:
    engagement = post.engagement
    values: list[object] = [
        post.id, post.platform, post.source_id, post.published_at.isoformat(), post.author.handle, post.author.name,
        post.url, post.title, post.text, post.language, " | ".join(post.narratives),
        " | ".join(dict.fromkeys(match.term for match in post.matches)), " | ".join(post.tags), " | ".join(post.hashtags),
        " | ".join(post.domains), " | ".join(post.links), engagement.views, engagement.likes, engagement.shares,
        engagement.replies, post.cluster_id,
    ]  # fmt: skip
    return [csv_cell(value) for value in values]


def jsonl_line(post: Post) -> str:
    return json.dumps(post.to_json_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"


def iter_export(posts: Iterable[Post], fmt: ExportFormat, on_rows: Callable[[int], None] | None = None) -> Iterator[str]:
    """The export as text chunks of ROWS_PER_CHUNK rows (CSV starts with its header); `on_rows(n)` after each chunk."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (expected csv or jsonl)")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if fmt == "csv":
        writer.writerow(CSV_COLUMNS)
    rows = 0
    for post in posts:
        if fmt == "csv":
            writer.writerow(csv_row(post))
        else:
            buffer.write(jsonl_line(post))
        rows += 1
        if rows % ROWS_PER_CHUNK == 0:
            yield _drain(buffer)
            if on_rows:
                on_rows(ROWS_PER_CHUNK)
    tail = _drain(buffer)
    if tail:
        yield tail
    if on_rows and rows % ROWS_PER_CHUNK:
        on_rows(rows % ROWS_PER_CHUNK)


def write_export(posts: Iterable[Post], fmt: ExportFormat, out: TextIO, on_rows: Callable[[int], None] | None = None) -> None:
    for chunk in iter_export(posts, fmt, on_rows):
        out.write(chunk)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
