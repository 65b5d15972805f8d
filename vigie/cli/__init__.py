"""The `vigie` command. Subcommands live in their own modules and are imported only when run,
so `vigie search` does not pay for importing Scrapy or Streamlit."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import click

from vigie.cli.context import AppContext
from vigie.config import ConfigError

COMMANDS: dict[str, str] = {
    "alerts": "vigie.cli.alerts:alerts",
    "check": "vigie.cli.check:check",
    "crawl": "vigie.cli.crawl:crawl",
    "dashboard": "vigie.cli.dashboard:dashboard",
    "enrich": "vigie.cli.enrich:enrich",
    "evidence": "vigie.cli.evidence:evidence",
    "export": "vigie.cli.export:export",
    "import": "vigie.cli.importer:import_posts",
    "narratives": "vigie.cli.narratives:narratives",
    "reenrich": "vigie.cli.reenrich:reenrich",
    "schema": "vigie.cli.schema:schema",
    "search": "vigie.cli.search:search",
    "sources": "vigie.cli.sources:sources",
    "status": "vigie.cli.status:status",
    "store": "vigie.cli.store:store",
    "up": "vigie.cli.up:up",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, target in COMMANDS.items() if _module_exists(target))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None or not _module_exists(target):
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


def _module_exists(target: str) -> bool:
    return importlib.util.find_spec(target.split(":")[0]) is not None


@click.group(cls=LazyGroup)
@click.option("--config", "config_dir", type=click.Path(path_type=Path), envvar="VIGIE_CONFIG", help="Config folder [default: ./config].")
@click.option("--data-dir", type=click.Path(path_type=Path), envvar="VIGIE_DATA_DIR", help="Where data lives [default: ./data].")
@click.pass_context
def cli(ctx: click.Context, config_dir: Path | None, data_dir: Path | None) -> None:
    """Vigie: watch public posts for cult-like, healing-scam and conspiracy narratives."""
    ctx.obj = AppContext(config_dir=config_dir, data_dir=data_dir)


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)  # a command's `ctx.exit(N)` comes back here as N, not raised
    except ConfigError as exc:
        click.echo(f"config error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
