"""`vigie up --demo` end to end, on a compressed clock: real crawls of the replay server, the real spike
detector, a real SMTP server on loopback and the real dashboard."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from scheduler.demo import NARRATIVE, SUBSCRIBER
from store.sqlite import SQLiteStore
from tests.scheduler.support import wait_until
from tests.support.ports import free_port
from vigie.models import utcnow

SPEED = 5
"""The story's 75 s before the surge become 15 s; crawls and alert cycles run every 6 s."""


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


def dashboard_answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def smtp() -> tuple[Inbox, int]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def test_the_demo_shows_posts_a_spike_an_alert_email_and_the_dashboard(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, smtp_port = smtp
    dashboard_port = free_port()
    data_dir = tmp_path / "data"
    env = {
        **__import__("os").environ,
        "VIGIE_DATA_DIR": str(data_dir),
        "VIGIE_SMTP_HOST": "127.0.0.1",
        "VIGIE_SMTP_PORT": str(smtp_port),
        "VIGIE_SMTP_TLS": "none",
        "VIGIE_DASHBOARD__PORT": str(dashboard_port),
    }
    log = (tmp_path / "up.log").open("w")
    started = utcnow()
    service = subprocess.Popen([sys.executable, "-m", "vigie.cli", "up", "--demo", "--demo-speed", str(SPEED)], env=env, stdout=log, stderr=subprocess.STDOUT)
    db = data_dir / "demo" / "vigie.db"
    try:
        wait_until(db.exists, timeout=60)
        with SQLiteStore(db) as store:
            # The recorded posts arrive, then the new ones (the seeded history has its own runs, from before the start).
            wait_until(lambda: sum(run.new_posts for run in store.crawl_runs(limit=500) if run.started_at >= started) > 120, timeout=120)
            alert = wait_until(lambda: next((a for a in store.list_alerts(states=("open",)) if a.subject == NARRATIVE), None), timeout=120)
            crawl_runs = store.crawl_runs(limit=500)
        wait_until(lambda: inbox.messages, timeout=60)
        wait_until(lambda: dashboard_answers(dashboard_port), timeout=60)
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=60)
        finally:
            service.kill()
            log.close()
    output = (tmp_path / "up.log").read_text()
    assert service.returncode == 0, output[-3000:]

    assert alert.kind == "spike" and alert.ratio > 1
    crawled = {run.source_id for run in crawl_runs if run.started_at >= started and run.status == "ok" and run.new_posts}
    assert crawled == {"demo-mastodon", "demo-reddit", "demo-telegram"}  # every platform's posts arrived
    recipients, email = inbox.messages[0]
    assert recipients == [SUBSCRIBER]
    assert NARRATIVE in email["Subject"]
    assert NARRATIVE in email.get_body(("plain",)).get_content() and email.get_body(("html",)) is not None
    assert list((data_dir / "demo" / "outbox").glob("*.eml"))  # the outbox keeps a copy of what was sent
