"""Access control: scrypt password hashes, the login form, and no open dashboard on a non-loopback address."""

from __future__ import annotations

import logging
import time

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from dashboard import auth, download
from tests.dashboard.conftest import APP, Seeded
from vigie.cli import cli
from vigie.cli.dashboard import streamlit_command
from store.base import PostQuery
from vigie.config import DashboardSettings, load_config


def test_hash_and_verify() -> None:
    encoded = auth.hash_password("correct horse")
    assert encoded.startswith("scrypt$16384$8$1$")
    assert auth.verify_password("correct horse", encoded)
    assert not auth.verify_password("correct horsE", encoded)
    assert encoded != auth.hash_password("correct horse")  # salted


@pytest.mark.parametrize("bad", ["plain", "scrypt$16384$8$1$c2FsdA", "scrypt$1000$8$1$c2FsdA$aGFzaA", "bcrypt$16384$8$1$c2FsdA$aGFzaA", "scrypt$x$8$1$c2FsdA$aGFzaA"])
def test_malformed_hashes_are_refused(bad: str) -> None:
    with pytest.raises(auth.AuthConfigError, match="malformed"):
        auth.password_hash(DashboardSettings(password_hash=bad), {})


def test_where_the_password_comes_from() -> None:
    in_config, in_env = auth.hash_password("from config"), auth.hash_password("from env")
    settings = DashboardSettings(password_hash=in_config)
    assert auth.password_hash(settings, {}) == in_config
    assert auth.password_hash(settings, {auth.HASH_ENV: in_env}) == in_env
    from_plain = auth.password_hash(settings, {auth.PLAIN_ENV: "typed"})
    assert auth.verify_password("typed", from_plain)
    assert auth.password_hash(DashboardSettings(), {}) is None


@pytest.mark.parametrize(("host", "open_ok"), [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("vigie.example.org", False)])
def test_only_loopback_may_be_served_without_a_password(host: str, open_ok: bool) -> None:
    settings = DashboardSettings()
    if open_ok:
        auth.check_exposure(settings, host, None)
    else:
        with pytest.raises(auth.AuthConfigError, match="refusing"):
            auth.check_exposure(settings, host, None)
        auth.check_exposure(settings, host, auth.hash_password("x"))
        auth.check_exposure(DashboardSettings(trust_proxy_auth=True), host, None)


def test_cli_refuses_an_open_public_bind(seeded: Seeded) -> None:
    result = CliRunner().invoke(cli, ["dashboard", "--host", "0.0.0.0", "--port", "8599"])
    assert result.exit_code == 1
    assert "refusing to serve the dashboard on 0.0.0.0 without a password" in result.output


def test_server_gets_the_hash_not_the_password(seeded: Seeded) -> None:
    config = load_config()
    argv, env = streamlit_command(config, "0.0.0.0", 8600, {auth.PLAIN_ENV: "s3cret", "PATH": "/usr/bin"})
    assert auth.PLAIN_ENV not in env and auth.verify_password("s3cret", env[auth.HASH_ENV])
    assert argv[argv.index("--server.address") + 1] == "0.0.0.0" and argv[argv.index("--server.port") + 1] == "8600"
    assert argv[argv.index("run") + 1].endswith("dashboard/server.py")
    assert argv[argv.index("--runner.magicEnabled") + 1] == "false"
    assert env["VIGIE_CONFIG"] == str(seeded.config_dir.resolve())
    assert env["VIGIE_DASHBOARD__CACHE_TTL"] == "30s"  # dashboard.cache_ttl, read as dashboard/queries.py is imported


def test_hash_password_command() -> None:
    result = CliRunner().invoke(cli, ["dashboard", "hash-password"], input="pa55word\npa55word\n")
    assert result.exit_code == 0, result.output
    assert auth.verify_password("pa55word", result.stdout.strip().splitlines()[-1])
    mismatch = CliRunner().invoke(cli, ["dashboard", "hash-password"], input="one\ntwo\n")
    assert "do not match" in mismatch.output


def test_login_form_guards_every_page(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auth.PLAIN_ENV, "letmein")
    monkeypatch.setattr(auth, "FAILED_LOGIN_DELAY", 0)
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    assert [t.value for t in at.title] == ["Vigie"] and not at.metric
    at.text_input(key="login-name").input("Maud")
    at.text_input(key="login-password").input("wrong")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."] and not at.metric
    at.text_input(key="login-password").input("letmein")
    at.button[0].click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    assert "Signed in as Maud" in [c.value for c in at.sidebar.caption]


def test_app_refuses_to_show_anything_on_an_open_public_bind(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_DASHBOARD__HOST", "0.0.0.0")
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    assert not at.title and "refusing to serve" in at.error[0].value


@pytest.fixture
def guarded(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    """A password on the dashboard, no delay per failure, and fresh per-address counts and sign-ins."""
    monkeypatch.setenv(auth.PLAIN_ENV, "letmein")
    monkeypatch.setattr(auth, "FAILED_LOGIN_DELAY", 0)
    monkeypatch.setattr(auth, "failed_logins", auth.FailedLogins())
    monkeypatch.setattr(auth, "sign_ins", auth.SignIns())


def sign_in(at: AppTest, password: str, name: str = "Maud") -> AppTest:
    at.text_input(key="login-name").input(name)
    at.text_input(key="login-password").input(password)
    return at.button[0].click().run()


def test_failed_sign_ins_are_limited_per_address_and_logged(guarded: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vigie.dashboard")
    encoded = auth.hash_password("letmein")
    start = time.time()
    for attempt in range(auth.MAX_FAILED_LOGINS):
        assert auth.attempt_login("guess", encoded, "203.0.113.5", "mallory", now=start + attempt) == auth.LoginResult(ok=False)
    locked = auth.attempt_login("letmein", encoded, "203.0.113.5", "mallory", now=start + 10)
    assert not locked.ok and locked.wait == pytest.approx(auth.LOCKOUT_SECONDS - 10)  # the right password is not even checked
    assert auth.attempt_login("letmein", encoded, "198.51.100.7", "maud", now=start + 10).ok  # another address gets in
    assert auth.attempt_login("letmein", encoded, "203.0.113.5", "mallory", now=start + auth.LOCKOUT_SECONDS + 1).ok  # the oldest failure aged out
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "vigie.dashboard"]
    assert [level for level, _ in logged] == ["WARNING"] * 6 + ["INFO"] * 2
    assert logged[0][1] == "dashboard sign-in failed from 203.0.113.5 as 'mallory': wrong password (1 of 5 allowed within 15 minutes)"
    assert logged[5][1].startswith("dashboard sign-in refused from 203.0.113.5 as 'mallory': 5 failed attempts within 15 minutes")


def test_the_login_form_locks_an_address_out_after_five_failures(guarded: None) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    for _ in range(auth.MAX_FAILED_LOGINS):
        assert [e.value for e in sign_in(at, "wrong").error] == ["Wrong password."]
    sign_in(at, "letmein")
    assert [e.value for e in at.error] == ["Too many failed sign-ins from your address: try again in 15 minute(s)."]
    assert [t.value for t in at.title] == ["Vigie"] and not at.metric


def _export_token(at: AppTest) -> str:
    at.switch_page("views/search.py").run()
    return next(link.proto.url for link in at.get("link_button") if link.proto.label == "CSV").partition("token=")[2]


def test_signing_out_ends_the_session_and_its_export_links(guarded: None) -> None:
    at = sign_in(AppTest.from_file(str(APP), default_timeout=30).run(), "letmein")
    token = _export_token(at)
    assert download.read_link(token)[1] == "csv"
    at.sidebar.button(key="sign-out").click().run()
    assert [t.value for t in at.title] == ["Vigie"] and not at.metric
    with pytest.raises(download.LinkError, match="signed out or expired"):
        download.read_link(token)
    forged_back = download.export_link(PostQuery(), "csv", session=token).partition("token=")[2]  # replaying the old sign-in's token
    with pytest.raises(download.LinkError, match="signed out or expired"):
        download.read_link(forged_back)


def test_an_expired_sign_in_asks_again_and_its_export_links_stop(guarded: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "sign_ins", auth.SignIns(lifetime=3))
    at = sign_in(AppTest.from_file(str(APP), default_timeout=30).run(), "letmein")
    token = _export_token(at)
    assert download.read_link(token)[1] == "csv"
    time.sleep(3.1)
    at.run()
    assert [i.value for i in at.info] == ["Your session has expired: sign in again."] and [t.value for t in at.title] == ["Vigie"]
    with pytest.raises(download.LinkError, match="signed out or expired"):
        download.read_link(token)
    assert [t.value for t in sign_in(at, "letmein").title] == ["Search"]  # back where the analyst was
