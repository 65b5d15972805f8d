from __future__ import annotations

import click

from vigie.cli.context import AppContext, pass_app


@click.command()
@pass_app
def check(app: AppContext) -> None:
    """Validate the config folder; exit code 2 and one line per mistake if it is wrong."""
    config = app.config
    enabled = sum(1 for s in config.sources if s.enabled)
    click.echo(f"{config.config_dir}: ok ({len(config.sources)} sources, {enabled} enabled; store {config.settings.store.backend})")
