"""`vigie search`: posts matching full-text words and the store's filters, as a table or as JSON Lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vigie.cli.context import AppContext, pass_app, store_errors
from vigie.cli.export import Moment
from vigie.models import PLATFORMS

if TYPE_CHECKING:
    from store.base import SearchHit

EXCERPT = 160
CONTEXT = 40


def excerpt(hit: SearchHit) -> Text:
    """Up to EXCERPT characters on one line, from just before the first matched word, matches in bold; scraped
    text is never read as markup."""
    text = hit.post.text or hit.post.title or ""
    start = max(0, hit.highlights[0][0] - CONTEXT) if hit.highlights and hit.highlights[0][1] > EXCERPT else 0
    end = min(len(text), start + EXCERPT)
    line = Text(("…" if start else "") + text[start:end].replace("\n", " ") + ("…" if end < len(text) else ""))
    shift = 1 if start else 0
    for first, last in hit.highlights:
        if first < end and last > start:
            line.stylize("bold yellow", max(first, start) - start + shift, min(last, end) - start + shift)
    return line


COLUMNS = {"published (UTC)": None, "platform": None, "source": 1, "author": 1, "lang": None, "text": 5, "narratives": 1, "id": 1}


def table(hits: list[SearchHit]) -> Table:
    grid = Table(expand=True)
    for name, ratio in COLUMNS.items():
        grid.add_column(name, overflow="fold", ratio=ratio, no_wrap=ratio is None)
    for hit in hits:
        post = hit.post
        grid.add_row(
            f"{post.published_at:%Y-%m-%d %H:%M}",
            post.platform,
            Text(post.source_id),
            Text(post.author.handle or post.author.id or ""),
            post.language or "",
            excerpt(hit),
            Text(", ".join(post.narratives)),
            Text(post.id),
        )
    return grid


@click.command()
@click.argument("text", required=False)
@click.option("--source", "sources", multiple=True, help="Source id; repeat for several (OR).")
@click.option("--platform", "platforms", multiple=True, type=click.Choice(PLATFORMS), help="Repeat for several (OR).")
@click.option("--lang", "languages", multiple=True, help="Detected language (ISO 639-1); repeat for several.")
@click.option("--narrative", "narratives", multiple=True, help="Watchlist narrative id; repeat for several.")
@click.option("--tag", "tags", multiple=True, help="Source tag or matched watchlist term; repeat for several.")
@click.option("--author", "authors", multiple=True, help="Author handle or id; repeat for several.")
@click.option("--since", type=Moment(), help="Published at or after: 2024-05-01, an ISO date-time, or back from now (7d, 24h).")
@click.option("--until", type=Moment(), help="Published before (exclusive): same forms as --since.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(0, 10_000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@click.option("--sort", type=click.Choice(["newest", "oldest", "relevance"]), default="newest", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One post per line, every field of the post model.")
@pass_app
def search(app: AppContext, text: str | None, as_json: bool, **filters: object) -> None:
    """Posts whose text has every word of TEXT (accents and case ignored, "quoted phrases" kept together) and that
    pass the filters; without TEXT, every post that passes them. Newest first unless --sort says otherwise."""
    from store.base import PostQuery

    query = PostQuery(text=text, **filters)  # type: ignore[arg-type]
    with store_errors():
        result = app.store.search(query)
    if as_json:
        for post in result.posts:
            click.echo(post.model_dump_json())
        return
    console = Console(soft_wrap=False)
    if result.hits:
        console.print(table(result.hits))
    shown = f"{query.offset + 1:,}-{query.offset + len(result.hits):,} of " if result.hits else "0 of "
    console.print(f"{shown}{result.total:,} matching post(s)", highlight=False)
