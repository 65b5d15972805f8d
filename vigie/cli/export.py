"""`vigie export`: every post matching a search, as CSV or JSON Lines, streamed in constant memory."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vigie.cli.context import AppContext, pass_app
from vigie.config import parse_duration
from vigie.models import as_utc, utcnow


def parse_moment(value: str) -> datetime:
    """An ISO date or date-time (UTC unless it says otherwise), or a duration back from now (`7d`, `12h`)."""
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        pass
    try:
        return utcnow() - parse_duration(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a date (2024-05-01, 2024-05-01T08:00) nor a duration (7d, 12h)") from None


class Moment(click.ParamType):
    name = "DATE|DURATION"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        return value if isinstance(value, datetime) else parse_moment(str(value))


@click.command()
@click.argument("text", required=False)
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl", show_default=True, help="CSV for spreadsheets, JSON Lines for every field.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write [default: stdout].")
@click.option("--since", type=Moment(), help="Published at or after: a date, or a duration back from now (7d).")
@click.option("--until", type=Moment(), help="Published before: a date, or a duration back from now.")
@click.option("--platform", "platforms", multiple=True, help="Repeat for several (OR).")
@click.option("--source", "sources", multiple=True, help="Source id; repeat for several.")
@click.option("--language", "languages", multiple=True)
@click.option("--narrative", "narratives", multiple=True)
@click.option("--tag", "tags", multiple=True)
@click.option("--term", "terms", multiple=True, help="Watchlist term that matched.")
@click.option("--hashtag", "hashtags", multiple=True)
@click.option("--author", "authors", multiple=True, help="Author handle or id.")
@click.option("--cluster", "cluster_id", help="Copy-paste cluster id.")
@click.option("--sort", type=click.Choice(["newest", "oldest"]), default="newest", show_default=True)
@pass_app
def export(app: AppContext, text: str | None, fmt: str, output: Path | None, **filters: object) -> None:
    """Export every post matching TEXT (full-text words) and the filters; progress on stderr."""
    from dashboard.export import write_export
    from store.base import PostQuery, StoreError

    query = PostQuery(text=text, **{name: tuple(value) if isinstance(value, tuple) else value for name, value in filters.items()})  # type: ignore[arg-type]
    console = Console(stderr=True)
    try:
        total = app.store.count_posts(query)
        with Progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=True) as progress:
            task = progress.add_task("export", total=total)
            posts = app.store.iter_posts(query)
            if output is None:
                write_export(posts, fmt, sys.stdout, lambda n: progress.advance(task, n))  # type: ignore[arg-type]
                sys.stdout.flush()
            else:
                _write_file(output, lambda out: write_export(posts, fmt, out, lambda n: progress.advance(task, n)))  # type: ignore[arg-type]
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{output or 'stdout'}: cannot write the export: {exc.strerror or exc}") from None
    console.print(f"exported {total:,} post(s)" + (f" to {output}" if output else ""))


def _write_file(path: Path, write: Callable[[TextIO], None]) -> None:
    """Write next to the target and rename at the end: an interrupted export never leaves half a file under its name."""
    folder = path.resolve().parent
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            write(out)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as if created under its own name, not mkstemp's 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
