"""What every subcommand shares: the loaded config and the open store, created on first use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vigie.config import Config, load_config

if TYPE_CHECKING:
    from store.base import Store


@dataclass
class AppContext:
    config_dir: Path | None = None
    data_dir: Path | None = None
    _config: Config | None = field(default=None, repr=False)
    _store: Store | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_dir, self.data_dir)
        return self._config

    @property
    def store(self) -> Store:
        if self._store is None:
            from store import open_store

            self._store = open_store(self.config)
            click.get_current_context().call_on_close(self._store.close)
        return self._store


pass_app = click.make_pass_decorator(AppContext)


@contextmanager
def store_errors() -> Iterator[None]:
    """A store failure as the command's one-line error (exit code 1)."""
    from store.base import StoreError

    try:
        yield
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
