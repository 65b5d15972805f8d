"""`vigie crawl [SOURCE_ID ...]`: crawl sources now, show progress, then one summary row per source.

With `--scrapyd URL` each source is crawled as a job of that Scrapyd instead (crawlers/scrapyd.py): the command
waits for the jobs and shows the runs they recorded, so `schedule.crawl_command` can point `vigie up` at Scrapyd.

Exit code 0 even when sources fail (each failure is recorded in the crawl-run log and printed on one
line); 1 when the store cannot be opened, or Scrapyd cannot be reached or refuses a job; 2 for a configuration
mistake, unknown source ids included.
"""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from vigie.cli.context import AppContext, pass_app
from vigie.models import CrawlRun

_STATUS_STYLE = {"ok": "green", "partial": "yellow", "failed": "red", "running": "cyan"}


def _counts(run: CrawlRun) -> str:
    return f"{run.pages} pages, {run.new_posts} new, {run.updated_posts} updated, {len(run.errors)} errors"


class _ProgressDisplay:
    """One line per source on stderr, updated as its crawler reports."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal)
        self.tasks: dict[str, TaskID] = {}

    def update(self, run: CrawlRun) -> None:
        task = self.tasks.get(run.source_id)
        if task is None:
            task = self.tasks[run.source_id] = self.progress.add_task(escape(run.source_id), total=1, counts="")
        done = run.finished_at is not None
        label = f"[{_STATUS_STYLE[run.status]}]{run.status}[/]" if done else "crawling"
        self.progress.update(task, counts=f"{label}  {_counts(run)}", completed=1 if done else 0)


def summary_table(runs: list[CrawlRun]) -> Table:
    table = Table(title="Crawl summary", title_justify="left")
    for column, justify in (("source", "left"), ("platform", "left"), ("status", "left"), ("pages", "right"), ("new", "right"), ("updated", "right"), ("dropped", "right"), ("errors", "right"), ("seconds", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for run in runs:
        seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else 0.0
        table.add_row(
            escape(run.source_id),
            run.platform,
            f"[{_STATUS_STYLE[run.status]}]{run.status}[/]",
            str(run.pages),
            str(run.new_posts),
            str(run.updated_posts),
            str(run.dropped_items),
            str(len(run.errors)),
            f"{seconds:.1f}",
        )
    return table


def failure_line(run: CrawlRun) -> str:
    """`source: first error (and N more)`; the full list is in the crawl-run log (`vigie sources`)."""
    first = run.errors[0].message if run.errors else "no detail"
    more = len(run.errors) - 1
    return f"{run.source_id}: {run.status}: {first}" + (f" (and {more} more)" if more > 0 else "")


@click.command()
@click.argument("source_ids", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per source run (the crawl-run record) instead of the table.")
@click.option("--scrapyd", "scrapyd_urls", metavar="URL", multiple=True, help="Run each crawl as a job of the Scrapyd at URL (project `vigie`, deployed with scrapyd-deploy) and wait for it; the runs are read from the store the jobs write to. Repeated: each job goes to the least busy node that answers.")
@pass_app
def crawl(app: AppContext, source_ids: tuple[str, ...], as_json: bool, scrapyd_urls: tuple[str, ...]) -> None:
    """Crawl every enabled source, or the SOURCE_IDs named, into the store."""
    from crawlers.run import crawl_sources, select_sources
    from crawlers.scrapyd import ScrapydError, crawl_on_scrapyd
    from store.base import StoreError

    config = app.config
    sources = select_sources(config, source_ids)
    if not sources:
        click.echo(f"no enabled sources in {config.config_dir / 'sources.yaml'}", err=True)
        return
    try:
        store = app.store
    except StoreError as exc:
        raise click.ClickException(f"cannot open the store: {exc}") from None
    if scrapyd_urls:
        try:
            runs = crawl_on_scrapyd(sources, scrapyd_urls, store)
        except ScrapydError as exc:
            raise click.ClickException(str(exc)) from None
    else:
        display = _ProgressDisplay(Console(stderr=True))
        with display.progress:
            runs = crawl_sources(config, source_ids, store=store, on_progress=display.update)
    if as_json:
        for run in runs:
            click.echo(json.dumps(run.model_dump(mode="json"), ensure_ascii=False))
        return
    console = Console(file=sys.stdout, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    console.print(summary_table(runs))
    for run in runs:
        if run.status != "ok":
            console.print(escape(failure_line(run)), style=_STATUS_STYLE[run.status], highlight=False)
    new = sum(run.new_posts for run in runs)
    failed = sum(run.status == "failed" for run in runs)
    console.print(f"{len(runs)} sources crawled, {new} new posts, {failed} failed.", highlight=False)
