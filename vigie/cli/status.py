from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from vigie.cli.context import AppContext, pass_app
from vigie.models import utcnow


@dataclass(frozen=True)
class JobRow:
    id: str
    name: str
    next_run_at: datetime | None
    state: str
    """scheduled, paused, not scheduled yet (no `vigie up` since it was configured), or removed from config."""


def schedule_rows(app: AppContext) -> list[JobRow]:
    """The planned jobs from the config, with their next run from the persisted schedule."""
    from scheduler.service import planned_jobs, stored_jobs
    from scheduler.simclock import scheduled_time

    stored = {job.id: job for job in stored_jobs(app.config)}
    rows = []
    for planned in planned_jobs(app.config):
        job = stored.pop(planned.id, None)
        if job is None:
            rows.append(JobRow(planned.id, planned.name, None, "not scheduled yet"))
        elif job.name != planned.name:
            rows.append(JobRow(planned.id, job.name, scheduled_time(job.next_run_time), f"changed in config: `{planned.name}` from the next start"))
        else:
            rows.append(JobRow(planned.id, job.name, scheduled_time(job.next_run_time), "scheduled" if job.next_run_time else "paused"))
    rows.extend(JobRow(job.id, job.name, scheduled_time(job.next_run_time), "removed from config") for job in stored.values())
    return rows


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return "—"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _relative(value: datetime | None, now: datetime) -> str:
    if value is None:
        return ""
    seconds = int((value - now).total_seconds())
    word = "in " if seconds >= 0 else ""
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            amount = f"{seconds // size}{unit}"
            break
    else:
        amount = f"{seconds}s"
    return f"{word}{amount}" + ("" if word else " ago")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line: the service, each job, each source's last run, each open alert.")
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """The schedule (next run of each job), the last run of each source and the open alerts."""
    from scheduler.service import DataDirLock, lock_path

    config = app.config
    rows = schedule_rows(app)
    pid = DataDirLock.holder(lock_path(config.data_dir))
    store = app.store
    last_runs = {source.id: next(iter(store.crawl_runs(source.id, limit=1)), None) for source in config.sources}
    alerts = store.list_alerts(states=("open",))
    if as_json:
        lines: list[dict[str, Any]] = [{"kind": "service", "running": pid is not None, "pid": pid if pid and pid > 0 else None}]
        lines += [{"kind": "job", "id": r.id, "name": r.name, "next_run_at": _iso(r.next_run_at), "state": r.state} for r in rows]
        for source in config.sources:
            run = last_runs[source.id]
            lines.append({"kind": "source", "id": source.id, "platform": source.platform, "enabled": source.enabled, "last_run": run.model_dump(mode="json") if run else None})
        lines += [{"kind": "alert", "id": alert.id, "alert": alert.model_dump(mode="json", exclude={"history"})} for alert in alerts]
        for line in lines:
            click.echo(json.dumps(line, ensure_ascii=False))
        return
    _print_tables(app, rows, pid, last_runs, alerts)


def _print_tables(app: AppContext, rows: list[JobRow], pid: int | None, last_runs: dict[str, Any], alerts: list[Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    config = app.config
    zone = ZoneInfo(config.settings.dashboard.timezone)
    now = utcnow()
    console = Console()
    console.print(f"service: {'running (pid ' + str(pid) + ')' if pid else 'not running'} — times in {zone.key}")

    jobs = Table(title="Schedule", title_justify="left")
    for column in ("job", "next run", "", "state"):
        jobs.add_column(column)
    for row in rows:
        jobs.add_row(escape(row.name), _local(row.next_run_at, zone), _relative(row.next_run_at, now), escape(row.state))
    console.print(jobs)

    sources = Table(title="Sources: last run", title_justify="left")
    for column in ("source", "platform", "started", "status", "pages", "new", "updated", "error"):
        sources.add_column(column)
    for source in config.sources:
        run = last_runs[source.id]
        if run is None:
            sources.add_row(source.id, source.platform, "never" + ("" if source.enabled else " (disabled)"), "", "", "", "", "")
            continue
        error = run.errors[-1].message if run.errors else ""
        sources.add_row(
            escape(source.id), source.platform, _local(run.started_at, zone), run.status,
            str(run.pages), str(run.new_posts), str(run.updated_posts), escape(error[:80]),
        )
    console.print(sources)

    table = Table(title=f"Open alerts ({len(alerts)})", title_justify="left")
    for column in ("opened", "rule", "subject", "count", "baseline", "ratio"):
        table.add_column(column)
    for alert in alerts:
        table.add_row(
            _local(alert.opened_at, zone), escape(alert.rule_id), escape(f"{alert.subject_type} {alert.subject}"),
            str(alert.count), f"{alert.baseline:.1f}", f"{alert.ratio:.1f}",
        )
    console.print(table)
