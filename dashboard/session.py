"""What every page shares: the config, the open store, the signed-in analyst and their time zone.

The config and the store are loaded once per process (`st.cache_resource`), keyed by the environment that names
them, so `vigie dashboard` passes them through `VIGIE_CONFIG`, `VIGIE_DATA_DIR` and `VIGIE_<SECTION>__<KEY>`.
The SQLite store lends each session's script thread a read connection of its own, so the sessions share it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import streamlit as st

from alerts.rules import AlertsFile
from dashboard import auth, queries
from dashboard.render import md
from store import Store, StoreError, open_store
from vigie.config import Config, ConfigError, load_config
from vigie.models import utcnow

PROXY_USER_HEADERS = ("X-Forwarded-User", "X-Auth-Request-User", "Remote-User", "X-Remote-User")


@dataclass(frozen=True)
class Session:
    config: Config
    store: Store
    store_key: str
    user: str
    zone: ZoneInfo
    token: str | None = None
    """The sign-in's token (auth.SignIns) when a password guards the dashboard; export links carry it."""

    def watchlists(self) -> queries.Watchlists:
        """The watchlists' narratives and terms; none (with a warning) when a watchlist file is broken."""
        try:
            return queries.watchlists(str(self.config.config_dir))
        except ConfigError as exc:
            st.warning(f"The watchlists cannot be read: {md(exc)}")
            return queries.Watchlists({}, [], [])

    def alerts_file(self) -> AlertsFile:
        """The rules and subscriptions of config/alerts.yaml; none (with a warning) when the file is broken."""
        try:
            return queries.alert_rules(self.config, str(self.config.config_dir))
        except ConfigError as exc:
            st.warning(f"config/alerts.yaml cannot be read: {md(exc)}")
            return AlertsFile()

    def now(self) -> datetime:
        return hour_end()


def hour_end() -> datetime:
    """The end of the current hour (UTC), the pages' "now": queries made within the hour share their cached results."""
    return utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


@st.cache_resource(show_spinner=False)
def _config(environment: tuple[tuple[str, str], ...]) -> Config:
    env = dict(environment)
    config_dir, data_dir = env.get("VIGIE_CONFIG"), env.get("VIGIE_DATA_DIR")
    return load_config(config_dir and os.path.abspath(config_dir), data_dir and os.path.abspath(data_dir), environ=env)


@st.cache_resource(show_spinner=False)
def _store(store_key: str, _config: Config) -> Store:
    return open_store(_config)


@functools.cache
def _zones(default: str) -> list[str]:
    """The time zones offered, listed once per process: listing them reads the zone database (25 ms a page)."""
    return sorted(available_timezones() | {default, "UTC"})


def _environment() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, value) for name, value in os.environ.items() if name.startswith("VIGIE_")))


def store_key(config: Config) -> str:
    settings = config.settings.store
    if settings.backend == "elasticsearch":
        return f"elasticsearch:{os.environ.get('VIGIE_ES_URL') or settings.elasticsearch.url}:{settings.elasticsearch.index_prefix}"
    if settings.backend == "opensearch":
        return f"opensearch:{os.environ.get('VIGIE_OPENSEARCH_URL') or settings.opensearch.url}:{settings.opensearch.index_prefix}"
    return f"sqlite:{config.sqlite_path.resolve()}"


def start() -> Session:
    """Load the config, make sure the visitor may see the dashboard (or stop the script), open the store."""
    try:
        config = _config(_environment())
        user = _gate(config)
        key = store_key(config)
        store = _store(key, config)
    except (ConfigError, StoreError) as exc:
        st.error(f"The dashboard cannot start: {md(exc)}")
        st.stop()
    with st.sidebar:
        default = config.settings.dashboard.timezone
        zones = _zones(default)
        zone = st.selectbox("Time zone", zones, index=zones.index(default), key="vigie_timezone")
        if st.session_state.get("vigie_user"):
            st.caption(f"Signed in as {md(user)}")
            if st.button("Sign out", key="sign-out"):
                _sign_out()
                st.rerun()
    return Session(config=config, store=store, store_key=key, user=user, zone=ZoneInfo(zone), token=st.session_state.get("vigie_token"))


def _gate(config: Config) -> str:
    """The analyst's name once allowed in; otherwise a login form or a refusal, and the script stops."""
    settings = config.settings.dashboard
    try:
        encoded = auth.password_hash(settings)
        auth.check_exposure(settings, st.get_option("server.address") or settings.host, encoded)
    except auth.AuthConfigError as exc:
        st.error(f"The dashboard is not available: {md(exc)}")
        st.stop()
    proxy_user = next((st.context.headers.get(name) for name in PROXY_USER_HEADERS if st.context.headers.get(name)), None)
    if encoded is None:
        if settings.trust_proxy_auth and proxy_user:
            return proxy_user
        with st.sidebar:
            return st.text_input("Your name (recorded with alert actions)", value="analyst", key="vigie_name").strip() or "analyst"
    if st.session_state.get("vigie_user"):
        if auth.sign_ins.valid(st.session_state.get("vigie_token")):
            return st.session_state["vigie_user"]
        _sign_out()
        st.info("Your session has expired: sign in again.")
    _login_form(encoded)
    st.stop()


def _sign_out() -> None:
    """Forget the analyst and end the sign-in, which also ends every export link it made."""
    auth.sign_ins.close(st.session_state.pop("vigie_token", None))
    st.session_state.pop("vigie_user", None)


def client_address() -> str:
    """The visitor's address: the connection's, or, when it comes from this machine (a reverse proxy in front), the
    last X-Forwarded-For entry, the one the proxy added."""
    direct = st.context.ip_address
    if isinstance(direct, str) and direct:
        return direct
    forwarded = (st.context.headers.get("X-Forwarded-For") or "").split(",")[-1].strip()
    return forwarded or "127.0.0.1"


def _login_form(encoded: str) -> None:
    st.title("Vigie")
    with st.form("login"):
        name = st.text_input("Your name (recorded with the alerts you acknowledge)", key="login-name")
        password = st.text_input("Password", type="password", key="login-password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if not name.strip():
            st.error("Give your name: it is recorded with the alerts you acknowledge or resolve.")
        elif (result := auth.attempt_login(password, encoded, client_address(), name.strip())).ok:
            st.session_state["vigie_user"] = name.strip()[:80]
            st.session_state["vigie_token"] = auth.sign_ins.open()
            st.rerun()
        elif result.wait:
            st.error(f"Too many failed sign-ins from your address: try again in {max(1, round(result.wait / 60))} minute(s).")
        else:
            st.error("Wrong password.")


def current() -> Session:
    """The session `app.py` started for this run."""
    return st.session_state["vigie"]
