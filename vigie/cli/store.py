"""`vigie store init`, `replay`, `copy`, `backup` and `restore`: set up the configured store, flush its spool, move
data between stores, back the embedded store up while it is in use and put a backup back.

A store is named `sqlite:PATH` (an embedded store file), `elasticsearch` (the configured cluster and index
prefix) or `elasticsearch:PREFIX` (the configured cluster, other indices); `opensearch` and `opensearch:PREFIX`
likewise. Store failures are one line, exit 1.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from store.base import Store, StoreError
from vigie.cli.context import AppContext, pass_app, store_errors
from vigie.config import Config


STORE_NAMES = "sqlite:PATH, elasticsearch[:PREFIX] or opensearch[:PREFIX]"


def open_named_store(config: Config, name: str) -> Store:
    """`sqlite:PATH`, `elasticsearch`, `opensearch` or either `:PREFIX`; the cluster never spools here, it fails loudly."""
    kind, _, argument = name.partition(":")
    if kind == "sqlite" and argument:
        from store.sqlite import SQLiteStore

        return SQLiteStore(Path(argument))
    if kind == "elasticsearch":
        from store.elasticsearch import ElasticsearchStore

        return ElasticsearchStore.from_config(config, spool=False, index_prefix=argument or None)
    if kind == "opensearch":
        from store.opensearch import OpenSearchStore

        return OpenSearchStore.from_config(config, spool=False, index_prefix=argument or None)
    raise click.BadParameter(f"{name!r}: expected {STORE_NAMES}")


def _describe(config: Config, name: str) -> str:
    """A stable description of a store for the checkpoint (the cluster URL without credentials)."""
    kind, _, argument = name.partition(":")
    if kind == "sqlite":
        return f"sqlite:{Path(argument).resolve()}"
    from store.elasticsearch import redact_url

    settings = config.settings.store.opensearch if kind == "opensearch" else config.settings.store.elasticsearch
    return f"{kind}:{redact_url(settings.url or '')}/{argument or settings.index_prefix}"


def default_checkpoint(config: Config, source: str, destination: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{source}--{destination}")[-80:]
    digest = hashlib.sha256(f"{source}\n{destination}".encode()).hexdigest()[:8]
    return config.data_dir / "store-copy" / f"{slug}-{digest}.json"


@click.group()
def store() -> None:
    """Set up the store and move data between stores."""


@store.command("init")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per step.")
@pass_app
def init(app: AppContext, as_json: bool) -> None:
    """Create or upgrade the configured store's schema (Elasticsearch, OpenSearch: index templates, indices, aliases); idempotent.

    On a cluster it first says which server it found and the oldest version Vigie needs, and refuses an older one.
    """
    from store.elasticsearch import SearchEngineStore

    with store_errors():
        opened = app.store
        if isinstance(opened, SearchEngineStore):
            steps = opened.init_schema()
        else:
            steps = [f"embedded store {app.config.sqlite_path}: schema up to date"]
    for step in steps:
        click.echo(json.dumps({"step": step}, ensure_ascii=False) if as_json else step)


@store.command("replay")
@pass_app
def replay(app: AppContext) -> None:
    """Send the posts waiting in the spool to the cluster now (it also happens before every write)."""
    from store.elasticsearch import SearchEngineStore

    with store_errors():
        opened = app.store
        if not isinstance(opened, SearchEngineStore) or opened.spool is None:
            click.echo("the configured store is not Elasticsearch or OpenSearch: nothing is ever spooled")
            return
        waiting = opened.spool.count()
        result = opened.replay_spool()
    left = opened.spool.count()
    click.echo(f"{waiting - left} spooled posts sent: {result.new} new, {result.updated} updated, {len(result.errors)} refused (kept in {opened.spool.directory}); {left} still waiting.")


@store.command("copy")
@click.option("--from", "source_name", required=True, metavar="STORE", help=STORE_NAMES)
@click.option("--to", "destination_name", required=True, metavar="STORE", help=STORE_NAMES)
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=1000, show_default=True, help="Posts read and written per batch.")
@click.option("--checkpoint", type=click.Path(path_type=Path), help="Where progress is kept [default: DATA_DIR/store-copy/...].")
@click.option("--restart", is_flag=True, help="Ignore an existing checkpoint and copy everything again.")
@click.option("--posts-only", is_flag=True, help="Skip crawl runs, cursors, alerts, subscriptions, saved searches and the outbox.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@pass_app
def copy(app: AppContext, source_name: str, destination_name: str, batch_size: int, checkpoint: Path | None, restart: bool, posts_only: bool, as_json: bool) -> None:
    """Copy posts (then the other records) from one store to another, resuming where a previous run stopped."""
    from store.copy import Checkpoint, copy_posts, copy_records, posts_to_copy

    config = app.config
    source_key, destination_key = _describe(config, source_name), _describe(config, destination_name)
    if source_key == destination_key:
        raise click.BadParameter(f"{source_name} and {destination_name} are the same store", param_hint="--to")
    path = checkpoint or default_checkpoint(config, source_key, destination_key)
    with store_errors():
        progress_at = Checkpoint(path, source_key, destination_key) if restart else Checkpoint.load(path, source_key, destination_key)
        with open_named_store(config, source_name) as source, open_named_store(config, destination_name) as destination:
            total = posts_to_copy(source, progress_at)
            bar = Progress(
                TextColumn("copying posts"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True
            )
            try:
                with bar:
                    task = bar.add_task("posts", total=total)
                    report = copy_posts(source, destination, progress_at, batch_size=batch_size, on_batch=lambda n: bar.advance(task, n))
                    if not posts_only:
                        report.records = copy_records(source, destination, [s.id for s in config.sources])
            except StoreError as exc:
                raise StoreError(f"{exc}; run the same command again to resume from {path}") from exc
        progress_at.clear()
    if as_json:
        click.echo(json.dumps(report.to_json_dict(), ensure_ascii=False))
        return
    console = Console(file=sys.stdout, soft_wrap=True, highlight=False)
    resumed = f" (resumed from posts published at {report.resumed_from.isoformat()})" if report.resumed_from else ""
    console.print(f"{report.posts} posts copied from {escape(source_name)} to {escape(destination_name)}: {report.new} new, {report.updated} updated{resumed}.")
    for kind, count in report.records.items():
        console.print(f"{count} {kind}")
    for post_id, reason in report.errors[:10]:
        console.print(f"refused {escape(post_id)}: {escape(reason)}", style="red")
    if len(report.errors) > 10:
        console.print(f"... and {len(report.errors) - 10} more refused posts", style="red")


def _embedded_path(app: AppContext, verb: str) -> Path:
    config = app.config
    if config.settings.store.backend != "sqlite":
        raise click.ClickException(f"the configured store is {config.settings.store.backend}: {verb} its data with snapshot repositories (docs/operations.md)")
    return config.sqlite_path


@store.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def backup(app: AppContext, file: Path) -> None:
    """Copy the embedded store to FILE, consistently, while crawls and the dashboard keep using it."""
    from store.backup import backup as make_backup

    with store_errors():
        report = make_backup(_embedded_path(app, "back up"), file)
    click.echo(f"{report.path}: {report.posts:,} posts, {report.bytes / 1e6:,.1f} MB, in {report.seconds:.1f} s (quick_check ok)")


@store.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the store's content.")
@pass_app
def restore(app: AppContext, file: Path, yes: bool) -> None:
    """Replace the embedded store's content by the backup FILE (stop `vigie up` and the dashboards first)."""
    from scheduler.service import DataDirLock, lock_path
    from store.backup import check_store_file
    from store.backup import restore as put_back

    database = _embedded_path(app, "restore")
    pid = DataDirLock.holder(lock_path(app.config.data_dir))
    if pid is not None:
        raise click.ClickException(f"vigie up is running on {app.config.data_dir} (pid {pid}): stop it before restoring")
    with store_errors():
        posts = check_store_file(file)
        if database.exists() and not yes:
            click.confirm(f"Replace the content of {database} by {file} ({posts:,} posts)?", abort=True, err=True)
        put_back(file, database)
    click.echo(f"{database}: restored from {file} ({posts:,} posts)")
