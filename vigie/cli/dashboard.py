"""`vigie dashboard`: serve the analysts' Streamlit app; `vigie dashboard hash-password`: make a password hash."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import click

from vigie.cli.context import AppContext, pass_app
from vigie.config import CONFIG_ENV, DATA_ENV, Config



def server_script() -> Path:
    """`dashboard/server.py`, wherever the package is installed."""
    spec = importlib.util.find_spec("dashboard")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).with_name("server.py")


def streamlit_command(config: Config, host: str, port: int, environ: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that serve the dashboard, after checking it may listen on `host`.

    A plain `VIGIE_DASHBOARD_PASSWORD` is hashed here and only the hash reaches the server's environment.
    Raises `dashboard.auth.AuthConfigError` when the password setup is unusable or the bind would be open to anyone.
    """
    from dashboard import auth

    env = dict(os.environ if environ is None else environ)
    settings = config.settings.dashboard
    encoded = auth.password_hash(settings, env)
    auth.check_exposure(settings, host, encoded)
    env.pop(auth.PLAIN_ENV, None)
    if encoded:
        env[auth.HASH_ENV] = encoded
    env.update(
        {
            CONFIG_ENV: str(config.config_dir.resolve()),
            DATA_ENV: str(config.data_dir.resolve()),
            "VIGIE_DASHBOARD__HOST": host,
            "VIGIE_DASHBOARD__PORT": str(port),
            "VIGIE_DASHBOARD__CACHE_TTL": f"{settings.cache_ttl.total_seconds():g}s",  # read as dashboard/queries.py is imported
        }
    )
    argv = [
        sys.executable, "-m", "streamlit", "run", str(server_script()),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
        "--client.showErrorDetails", "type",
        "--global.developmentMode", "false",
        "--runner.magicEnabled", "false",  # a bare string in a page script stays in the code, not on the page
    ]  # fmt: skip
    return argv, env


@click.group(invoke_without_command=True)
@click.option("--host", help="Address to listen on [default: dashboard.host, 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), help="Port [default: dashboard.port, 8501].")
@pass_app
@click.pass_context
def dashboard(ctx: click.Context, app: AppContext, host: str | None, port: int | None) -> None:
    """Serve the dashboard (loopback only unless a password or an authenticating proxy is set up)."""
    if ctx.invoked_subcommand is not None:
        return
    from dashboard.auth import AuthConfigError

    config = app.config
    host = host or config.settings.dashboard.host
    port = port or config.settings.dashboard.port
    try:
        argv, env = streamlit_command(config, host, port)
    except AuthConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"dashboard: http://{host}:{port}/ (store: {config.settings.store.backend})", err=True)
    sys.stdout.flush()
    os.execve(sys.executable, argv, env)


@dashboard.command("hash-password")
def hash_password() -> None:
    """Print a scrypt hash of a password, for `dashboard.password_hash` or VIGIE_DASHBOARD_PASSWORD_HASH."""
    from dashboard.auth import AuthConfigError
    from dashboard.auth import hash_password as make_hash

    password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    try:
        click.echo(make_hash(password))
    except AuthConfigError as exc:
        raise click.ClickException(str(exc)) from None
