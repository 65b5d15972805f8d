"""`vigie reenrich`: re-tag stored posts after a watchlist edit."""

from __future__ import annotations

from datetime import datetime

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vigie.cli.context import AppContext, pass_app
from vigie.config import ConfigError
from vigie.models import as_utc


@click.command()
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]), help="Only posts published on or after this date (UTC).")
@click.option("--watchlist", "watchlist_id", metavar="ID", help="Re-tag with this watchlist only (its file name without .yaml); other watchlists' tags are kept.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1), help="Posts read and saved per batch (and per checkpoint).")
@click.option("--restart", is_flag=True, help="Ignore the saved progress and start from the first post.")
@pass_app
def reenrich(app: AppContext, since: datetime | None, watchlist_id: str | None, batch_size: int, restart: bool) -> None:
    """Re-tag stored posts with the current watchlists: tags, narratives and matches change, nothing else.

    Progress is saved after every batch; run the same command again to resume after an interruption.
    """
    from enrich.reenrich import ReenrichReport, reenrich as run
    from enrich.watchlists import load_watchlists

    folder = app.config.config_dir / "watchlists"
    watchlists = load_watchlists(folder)
    if watchlist_id is not None and watchlist_id not in {w.id for w in watchlists}:
        known = ", ".join(w.id for w in watchlists) or "none"
        raise ConfigError(f"{folder}: no watchlist {watchlist_id!r} (known: {known})")
    console = Console(stderr=True)
    columns = (TextColumn("re-tagging"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("posts", total=None)

        def started(report: ReenrichReport) -> None:
            progress.update(task, total=report.total, completed=report.seen)
            if report.resumed_from:
                console.print(f"resuming after posts published at {report.resumed_from} ({report.seen} already done)")

        report = run(
            app.store,
            watchlists,
            since=as_utc(since) if since else None,
            only=watchlist_id,
            batch_size=batch_size,
            restart=restart,
            on_start=started,
            on_batch=lambda count: progress.advance(task, count),
        )
    if report.already_done:
        click.echo(f"already done for these watchlists ({report.seen} posts, {report.changed} re-tagged); use --restart to run again")
    else:
        click.echo(f"{report.seen} posts checked, {report.changed} re-tagged")
