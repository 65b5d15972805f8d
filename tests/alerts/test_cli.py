"""`vigie alerts` commands in-process (the end-to-end test runs them as real processes): tables, test-email, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from store.sqlite import SQLiteStore
from tests.alerts.posts import daily_life, surge
from tests.alerts.mailserver import SmtpServer
from tests.support.factories import make_post, write_config
from vigie.cli import cli
from vigie.models import Author, CrawlRun

START = datetime(2024, 5, 1, tzinfo=UTC)
NOW = datetime(2024, 5, 16, 12, 5, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = write_config(tmp_path / "config", settings={"dashboard": {"public_url": "http://vigie.test"}})
    (config / "alerts.yaml").write_text("rules:\n  - {id: spikes, kind: spike, watch: {narrative: '*'}}\nsubscriptions:\n  - email: alice@example.org\n", encoding="utf-8")
    return {"VIGIE_CONFIG": str(config), "VIGIE_DATA_DIR": str(tmp_path / "data")}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env | {"COLUMNS": "160"}, catch_exceptions=False)


def test_check_and_list_print_tables(env: dict[str, str]) -> None:
    data = Path(env["VIGIE_DATA_DIR"])
    data.mkdir()
    with SQLiteStore(data / "vigie.db") as store:
        store.record_crawl_run(CrawlRun(id="first", source_id="src", platform="feed", started_at=START, status="ok"))
        store.upsert_posts(daily_life("miracle_healing", START, NOW))
        store.upsert_posts(surge("miracle_healing", NOW - timedelta(hours=1, minutes=5), posts=30, authors=20))
    checked = run(env, "alerts", "check", "--at", "2024-05-16T12:05")
    assert checked.exit_code == 0
    assert "opened" in checked.output and "miracle_healing" in checked.output and "1 alert(s) touched" in checked.output
    assert "outbox: 1 sent" in checked.output
    assert len(list((data / "outbox").glob("*.eml"))) == 1, "no SMTP host: the email is a file"
    listed = run(env, "alerts", "list", "--state", "open")
    assert listed.exit_code == 0 and "spike" in listed.output and "1 alert(s)" in listed.output
    assert "0 alert(s)" in run(env, "alerts", "list", "--state", "resolved").output


def test_test_email_goes_through_smtp(env: dict[str, str], smtp: SmtpServer) -> None:
    smtp_env = env | {"VIGIE_SMTP_HOST": "127.0.0.1", "VIGIE_SMTP_PORT": str(smtp.port), "VIGIE_SMTP_TLS": "none"}
    result = run(smtp_env, "alerts", "test-email", "carol@example.org")
    assert result.exit_code == 0 and "sent to carol@example.org through 127.0.0.1" in result.output
    [message] = smtp.inbox.messages
    assert message["Subject"] == "[Vigie] Test message" and message.get_content_type() == "multipart/alternative"


def test_test_email_without_smtp_writes_a_file(env: dict[str, str]) -> None:
    result = run(env, "alerts", "test-email", "carol@example.org")
    assert result.exit_code == 0 and "no VIGIE_SMTP_HOST" in result.output
    [eml] = (Path(env["VIGIE_DATA_DIR"]) / "outbox").glob("*.eml")
    assert message_from_bytes(eml.read_bytes(), policy=policy.default)["To"] == "carol@example.org"


def test_test_email_with_smtp_down_fails_with_one_line(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["alerts", "test-email", "carol@example.org"], env=env | {"VIGIE_SMTP_HOST": "127.0.0.1", "VIGIE_SMTP_PORT": "9", "VIGIE_SMTP_TLS": "none"}, standalone_mode=True)
    assert result.exit_code == 1 and "SMTP 127.0.0.1:9 unavailable" in result.output


def test_bad_rules_file_is_a_config_error(env: dict[str, str]) -> None:
    (Path(env["VIGIE_CONFIG"]) / "alerts.yaml").write_text("rules:\n  - {id: a, kind: spike}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["alerts", "check"], env=env)
    assert "alerts.yaml:2" in str(result.exception) and "watch" in str(result.exception)


def test_narratives_candidates_finds_lists_and_prints_json(env: dict[str, str]) -> None:
    data = Path(env["VIGIE_DATA_DIR"])
    data.mkdir()
    start = NOW - timedelta(hours=8)
    with SQLiteStore(data / "vigie.db") as store:
        store.upsert_posts(daily_life("miracle_healing", START, NOW))
        store.upsert_posts(
            make_post(f"cand-{n}", f"Le protocole Azurite commence, stockez la thalassine ({n})", source_id=f"src{n % 3}", published_at=start + n * timedelta(minutes=25), author=Author(id=f"v{n}", handle=f"v{n}"), hashtags=["azurite"])
            for n in range(14)
        )
    assert "0 candidate(s)" in run(env, "narratives", "candidates").output, "nothing until a cycle looked"
    listed = run(env, "narratives", "candidates", "--find", "--at", "2024-05-16T12:05")
    assert listed.exit_code == 0 and "#azurite" in listed.output and "1 candidate(s)" in listed.output
    [line] = run(env, "narratives", "candidates", "--json").output.splitlines()
    candidate = json.loads(line)
    assert candidate["state"] == "new" and candidate["posts"] == 14 and set(candidate["sources"]) == {"src0", "src1", "src2"}
    assert run(env, "narratives", "candidates", "--state", "dismissed", "--json").output == ""
