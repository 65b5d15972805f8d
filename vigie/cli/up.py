from __future__ import annotations

import click

from vigie.cli.context import AppContext, pass_app
from vigie.config import default_data_dir


@click.command()
@click.option("--demo", is_flag=True, help="Offline demo on its own config (--config is not used): replayed recorded posts, a surge, an alert email in DATA_DIR/demo/outbox.")
@click.option("--demo-speed", type=click.FloatRange(min=0.1), default=1.0, show_default=True, help="With --demo: run the demo's clock this many times faster.")
@click.option("--no-dashboard", is_flag=True, help="Do not start the dashboard (run it elsewhere with `vigie dashboard`).")
@pass_app
def up(app: AppContext, demo: bool, demo_speed: float, no_dashboard: bool) -> None:
    """Run Vigie as a service: scheduled crawls, alert cycles, digests, retention and the dashboard.

    Runs until SIGINT/SIGTERM, then stops cleanly: running crawls get SIGTERM (they flush their current
    batch) and are killed after `schedule.stop_grace`; unsent emails stay in the outbox.
    """
    from scheduler.logging import configure_logging
    from scheduler.service import Service, ServiceError

    try:
        if demo:
            from scheduler.demo import Demo

            story = Demo((app.data_dir or default_data_dir()) / "demo", speed=demo_speed)
            with story.running() as config:
                configure_logging(config.settings.log, config.data_dir)
                story.seed()
                Service(config, dashboard=not no_dashboard).run(on_started=story.banner)
            return
        config = app.config
        configure_logging(config.settings.log, config.data_dir)
        Service(config, dashboard=not no_dashboard).run()
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
