from __future__ import annotations

import click

from vigie.cli.context import AppContext, pass_app


@click.command()
@pass_app
def check(app: AppContext) -> None:
    """Validate the whole config folder (vigie.yaml, sources, watchlists, alerts); exit code 2 on the first mistake."""
    from alerts.rules import load_alerts
    from enrich.watchlists import load_watchlists

    config = app.config
    watchlists = load_watchlists(config.config_dir / "watchlists")
    alerts = load_alerts(config)
    enabled = sum(1 for s in config.sources if s.enabled)
    narratives = sum(len(w.narratives) for w in watchlists)
    click.echo(
        f"{config.config_dir}: ok ({len(config.sources)} sources, {enabled} enabled; {len(watchlists)} watchlists, "
        f"{narratives} narratives; {len(alerts.rules)} alert rules, {len(alerts.subscriptions)} subscriptions; "
        f"store {config.settings.store.backend})"
    )
