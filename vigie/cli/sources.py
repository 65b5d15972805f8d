"""`vigie sources`: every configured source with its last crawl run, its status and how many posts it has."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vigie.cli.context import AppContext, pass_app

_STATUS_STYLE = {"ok": "green", "partial": "yellow", "failed": "red", "running": "cyan", "never run": "dim"}


@dataclass(frozen=True)
class SourceRow:
    id: str
    platform: str
    enabled: bool
    every: str
    status: str
    """The last run's status, or `never run`."""
    last_run_at: str | None
    pages: int | None
    new_posts: int | None
    errors: int | None
    posts: int
    last_error: str | None


def _every(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def source_rows(app: AppContext) -> list[SourceRow]:
    from store.base import PostQuery

    store = app.store
    rows = []
    for source in app.config.sources:
        runs = store.crawl_runs(source.id, limit=1)
        run = runs[0] if runs else None
        rows.append(
            SourceRow(
                id=source.id,
                platform=source.platform,
                enabled=source.enabled,
                every=_every(source.every.total_seconds()),
                status=run.status if run else "never run",
                last_run_at=(run.finished_at or run.started_at).isoformat() if run else None,
                pages=run.pages if run else None,
                new_posts=run.new_posts if run else None,
                errors=len(run.errors) if run else None,
                posts=store.count_posts(PostQuery(sources=(source.id,))),
                last_error=run.errors[0].message if run and run.errors else None,
            )
        )
    return rows


def _cell(value: Any) -> str:
    return "—" if value is None else str(value)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source.")
@pass_app
def sources(app: AppContext, as_json: bool) -> None:
    """List the sources with their last run, its status and their post counts."""
    rows = source_rows(app)
    if as_json:
        for row in rows:
            click.echo(json.dumps(asdict(row), ensure_ascii=False))
        return
    table = Table(title=f"Sources ({app.config.config_dir / 'sources.yaml'})", title_justify="left")
    for column in ("source", "platform", "every", "last run (UTC)", "status", "pages", "new", "errors", "posts"):
        table.add_column(column, justify="right" if column in ("pages", "new", "errors", "posts") else "left")
    for row in rows:
        table.add_row(
            escape(row.id) + ("" if row.enabled else " [dim](disabled)[/]"),
            row.platform,
            row.every,
            (row.last_run_at or "—")[:19].replace("T", " "),
            f"[{_STATUS_STYLE.get(row.status, 'white')}]{row.status}[/]",
            _cell(row.pages),
            _cell(row.new_posts),
            _cell(row.errors),
            str(row.posts),
        )
    console = Console(soft_wrap=True, width=None if Console().is_terminal else 160)
    console.print(table)
    for row in rows:
        if row.last_error:
            console.print(f"{escape(row.id)}: {escape(row.last_error)}", style=_STATUS_STYLE.get(row.status, "white"), highlight=False)
