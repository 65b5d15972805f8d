"""`vigie narratives`: the narratives Vigie proposes that no watchlist names yet."""

from __future__ import annotations

import json
from datetime import datetime

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vigie.cli.context import AppContext, pass_app, store_errors
from vigie.cli.export import Moment
from vigie.models import utcnow

STATES = ("new", "promoted", "dismissed")


@click.group()
def narratives() -> None:
    """Candidate narratives: words, hashtags and copied texts surging together that no watchlist names."""


@narratives.command()
@click.option("--state", "states", multiple=True, type=click.Choice(STATES), help="Only candidates in this state; repeat for several [default: new].")
@click.option("--find", is_flag=True, help="Look for candidates now, as the alert cycle does once an hour, before listing.")
@click.option("--at", type=Moment(), help="With --find: look as if it were this time (ISO date-time, UTC unless it says otherwise).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per candidate, every field of the candidate model.")
@pass_app
def candidates(app: AppContext, states: tuple[str, ...], find: bool, at: datetime | None, limit: int, as_json: bool) -> None:
    """Stored candidate narratives, newest first then fastest growing."""
    from alerts.cycle import propose_candidates

    with store_errors():
        if find:
            propose_candidates(app.config, app.store, at or utcnow(), force=True)
        found = app.store.list_candidates(states=states or ("new",), limit=limit)  # type: ignore[arg-type]
    found.sort(key=lambda c: (-c.first_post_at.timestamp(), -c.growth, c.id))
    if as_json:
        for candidate in found:
            click.echo(json.dumps(candidate.model_dump(mode="json"), ensure_ascii=False))
        return
    console = Console(soft_wrap=False)
    if found:
        grid = Table(expand=True)
        for name in ("state", "terms", "posts / expected", "sources", "platforms", "languages", "first post (UTC)", "id"):
            grid.add_column(name, overflow="fold", ratio=3 if name == "terms" else None)
        for c in found:
            grid.add_row(
                c.state,
                Text(", ".join(c.terms[:6])),
                f"{c.posts} / {c.baseline:.1f} ({c.growth:.0f}x)",
                str(len(c.sources)),
                Text(", ".join(c.platforms)),
                Text(", ".join(c.languages)),
                f"{c.first_post_at:%Y-%m-%d %H:%M}",
                Text(c.id),
            )
        console.print(grid)
    console.print(f"{len(found)} candidate(s)", highlight=False)
