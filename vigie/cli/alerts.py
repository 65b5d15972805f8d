"""`vigie alerts`: run a detection cycle, list alerts, send the outbox and digests, try the email settings."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vigie.cli.context import AppContext, pass_app, store_errors
from vigie.cli.export import Moment
from vigie.models import utcnow

if TYPE_CHECKING:
    from alerts.outbox import DeliveryReport
    from vigie.models import Alert

STATES = ("open", "acknowledged", "resolved")


def alerts_table(rows: list[tuple[str | None, Alert]]) -> Table:
    grid = Table(expand=True)
    columns = ["action", "state", "kind", "subject", "posts / expected", "since (UTC)", "id"]
    for name in columns if rows and rows[0][0] is not None else columns[1:]:
        grid.add_column(name, overflow="fold", no_wrap=name in ("state", "posts / expected", "since (UTC)"), ratio=2 if name in ("subject", "id") else None)
    for action, alert in rows:
        since = alert.bucket_start or alert.opened_at
        amount = f"{alert.count} / {alert.baseline:.1f} ({alert.ratio:.1f}x)" if alert.kind != "source_silent" else "-"
        cells = [alert.state, alert.kind, Text(f"{alert.subject_type} {alert.subject}"), amount, f"{since:%Y-%m-%d %H:%M}", Text(alert.id)]
        grid.add_row(*([action] if action is not None else []), *cells)
    return grid


def _json_line(alert: Alert, **extra: str) -> str:
    return json.dumps({**alert.model_dump(mode="json"), **extra}, ensure_ascii=False)


def _report(report: DeliveryReport) -> None:
    if report.sent or report.failed:
        click.echo(f"outbox: {report.sent} sent, {report.failed} waiting for a retry", err=True)
    for error in report.errors:
        click.echo(f"  {error}", err=True)


@click.group()
def alerts() -> None:
    """Spike, emerging-term and silent-source alerts (rules and subscriptions in config/alerts.yaml)."""


@alerts.command()
@click.option("--at", type=Moment(), help="Run the cycle as if it were this time (ISO date-time, UTC unless it says otherwise), to replay a past cycle.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per alert (the alert model plus `action`).")
@click.option("--no-send", is_flag=True, help="Queue notifications in the outbox without sending them.")
@pass_app
def check(app: AppContext, at: datetime | None, as_json: bool, no_send: bool) -> None:
    """Run one detection cycle, print the alerts it opened, escalated, saw going on or resolved, then send what is due."""
    from alerts.cycle import check as run_check
    from alerts.outbox import deliver_due

    moment = at or utcnow()
    with store_errors():
        outcomes = run_check(app.config, app.store, moment)
        report = None if no_send else deliver_due(app.config, app.store, moment)
    if as_json:
        for outcome in outcomes:
            click.echo(_json_line(outcome.alert, action=outcome.action))
    else:
        console = Console(soft_wrap=False)
        if outcomes:
            console.print(alerts_table([(outcome.action, outcome.alert) for outcome in outcomes]))
        console.print(f"{moment:%Y-%m-%d %H:%M} UTC: {len(outcomes)} alert(s) touched", highlight=False)
    if report is not None:
        _report(report)


@alerts.command(name="list")
@click.option("--state", "states", multiple=True, type=click.Choice(STATES), help="Only alerts in this state; repeat for several.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per alert, every field of the alert model.")
@pass_app
def list_alerts(app: AppContext, states: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Stored alerts, most recently updated first."""
    with store_errors():
        found = app.store.list_alerts(states=states, limit=limit)  # type: ignore[arg-type]
    if as_json:
        for alert in found:
            click.echo(_json_line(alert))
        return
    console = Console(soft_wrap=False)
    if found:
        console.print(alerts_table([(None, alert) for alert in found]))
    console.print(f"{len(found)} alert(s)", highlight=False)


@alerts.command()
@click.option("--at", type=Moment(), help="Act as if it were this time: digests due then, retries due then.")
@pass_app
def send(app: AppContext, at: datetime | None) -> None:
    """Queue the daily digests that are due and send every message of the outbox whose time has come."""
    from alerts.digest import queue_digests
    from alerts.outbox import deliver_due

    moment = at or utcnow()
    with store_errors():
        digests = queue_digests(app.config, app.store, moment)
        report = deliver_due(app.config, app.store, moment)
    click.echo(f"{digests} digest(s) queued; {report.sent} message(s) sent, {report.failed} waiting for a retry")
    for error in report.errors:
        click.echo(f"  {error}", err=True)


@alerts.command(name="test-email")
@click.argument("address")
@pass_app
def test_email(app: AppContext, address: str) -> None:
    """Send a test message to ADDRESS now, through the SMTP settings of the environment (VIGIE_SMTP_*)."""
    from alerts.email import test_email as render_test
    from alerts.outbox import DeliveryError, Transport
    from vigie.models import OutboxMessage

    now = utcnow()
    rendered = render_test(app.config.settings, now)
    message = OutboxMessage(id=f"test:{now:%Y%m%dT%H%M%S%f}:{address}", recipient=address, subject=rendered.subject, body_text=rendered.text, body_html=rendered.html, created_at=now)
    try:
        with Transport(app.config) as transport:
            where = transport.send(message)
    except DeliveryError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"test message {where}")
