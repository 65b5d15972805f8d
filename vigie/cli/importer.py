"""`vigie import FILE.jsonl`: posts from another collector (or from `vigie search --json`) into the store.

Each line is validated as a post; a bad line is reported as `FILE:LINE: reason` and the import goes on. Imported
posts are enriched like crawled ones, then upserted in batches, so a re-import updates instead of duplicating.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import click
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from vigie.cli.context import AppContext, pass_app
from vigie.models import Post


def reason(error: ValidationError) -> str:
    """The first problem of a line, on one line, naming the field."""
    problems = error.errors()
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"


def read_posts(path: Path, bad: Callable[[str], None], advance: Callable[[int], None]) -> Iterator[Post]:
    """Valid posts of a JSON Lines file, in order; each bad line is reported as `FILE:LINE: reason`."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            advance(len(raw))
            if not raw.strip():
                continue
            try:
                yield Post.model_validate_json(raw)
            except ValidationError as exc:
                bad(f"{path}:{number}: {reason(exc)}")


def batches(posts: Iterator[Post], size: int) -> Iterator[list[Post]]:
    batch: list[Post] = []
    for post in posts:
        batch.append(post)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@click.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch-size", type=click.IntRange(1), help="Posts enriched and written together [default: store.batch_size].")
@pass_app
def import_posts(app: AppContext, file: Path, batch_size: int | None) -> None:
    """Load posts written as JSON Lines in the post model; exit code 1 if any line was bad."""
    from enrich import Enricher
    from store.base import StoreError

    config = app.config
    store = app.store
    enricher = Enricher.from_config(config, store)
    errors = Console(stderr=True, highlight=False)
    new = updated = bad = 0

    def report(line: str) -> None:
        nonlocal bad
        bad += 1
        errors.print(line, markup=False, soft_wrap=True)

    columns = (TextColumn(f"importing {file.name}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=errors, transient=True) as progress:
            task = progress.add_task("import", total=file.stat().st_size)
            posts = read_posts(file, report, lambda n: progress.advance(task, n))
            for batch in batches(posts, batch_size or config.settings.store.batch_size):
                result = store.upsert_posts(enricher.enrich(batch))
                new, updated = new + result.new, updated + result.updated
                for post_id, why in result.errors:
                    report(f"{file}: post {post_id}: refused by the store: {why}")
    except StoreError as exc:
        raise click.ClickException(f"{exc} (posts before this batch are stored)") from None
    except OSError as exc:
        raise click.ClickException(f"{file}: cannot read: {exc.strerror or exc}") from None
    click.echo(f"{file}: {new + updated:,} imported ({new:,} new, {updated:,} updated), {bad:,} bad line(s)")
    if bad:
        click.get_current_context().exit(1)
