"""The dashboard served by `vigie dashboard` on loopback, every page loaded in Debian's headless Chromium."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.dashboard.conftest import HOSTILE_TEXT, Seeded, code_shown, seed_candidate
from tests.support.ports import free_port

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(__file__).resolve().parents[1] / "artefacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
DRAWN = "!document.querySelector('[data-testid=\"stStatusWidget\"], [data-testid=\"stSkeleton\"]')"
"""The script has finished (no running indicator) and no element is still a loading placeholder."""
PAGES = {"": "Overview", "narrative?kind=narrative&value=miracle_healing": "Narrative", "search": "Search", "alerts": "Alerts", "candidates": "Candidates", "sources": "Sources", "subscriptions": "Subscriptions"}


@pytest.fixture
def served(seeded: Seeded) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (`python tests/browser_setup.py` does it as root)")
    port = free_port()
    vigie = Path(sys.executable).with_name("vigie")
    process = subprocess.Popen([str(vigie), "dashboard", "--port", str(port)], env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"the dashboard did not start: {output[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_every_page_loads_in_chromium(served: str, seeded: Seeded) -> None:
    from playwright.sync_api import sync_playwright

    seed_candidate(seeded)
    ARTEFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
            for path, title in PAGES.items():
                page.goto(f"{served}/{path}")
                page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=30_000)
                page.wait_for_function(DRAWN, timeout=30_000)
                page.wait_for_timeout(500)  # charts finish drawing
                page.screenshot(path=str(ARTEFACTS / f"dashboard-{path.partition('?')[0] or 'overview'}.png"))
                assert page.locator('[data-testid="stException"]').count() == 0, f"exception box on {path}"
                assert not code_shown(page.locator("body").inner_text()), f"{path or '/'} shows text from the code"
                if path == "search":
                    _check_inert(page)
                    _check_export(page, served)
                if path == "candidates":
                    _check_origin_chart(page)
                if path == "alerts":
                    _check_alert_opens(page, served)
        finally:
            browser.close()


def _check_inert(page) -> None:
    """The hostile post shows its text as text: no script, no image, no javascript: link, no bold."""
    card = page.locator('[data-testid="stMarkdownContainer"]', has_text="onerror=alert(2)").first
    card.wait_for(timeout=10_000)
    card.locator("xpath=ancestor::div[@data-testid='stVerticalBlock'][1]").screenshot(path=str(ARTEFACTS / "dashboard-hostile-post.png"))
    shown = card.inner_text()
    for fragment in ("<script>alert('x')</script>", "[click](javascript:alert(1))", "**bold**", "<img src=x onerror=alert(2)>", "&lt;b&gt;", ":red[red]", ":smile:", "$x^2$"):
        assert fragment in shown, (fragment, shown)
    assert card.locator("script, img, strong, a, .katex").count() == 0
    assert page.locator('a[href^="javascript"]').count() == 0
    assert page.evaluate("typeof window.__vigie_pwned") == "undefined"


def _check_export(page, served: str) -> None:
    """The CSV link streams every matching post."""
    link = page.get_by_role("link", name="CSV")
    href = link.get_attribute("href")
    response = page.request.get(href if href.startswith("http") else f"{served}/{href.lstrip('./')}")
    assert response.status == 200, response.text()
    rows = list(csv.reader(io.StringIO(response.text())))
    assert rows[0][0] == "id" and len(rows) > 1
    assert any(HOSTILE_TEXT in row for row in rows)


def _check_alert_opens(page, served: str) -> None:
    """A closed alert's evidence is drawn when the analyst opens it (only the first one's is sent with the page)."""
    page.goto(f"{served}/alerts?alert=emerging:sante:1")
    page.get_by_role("heading", name="Linked alert (resolved)").wait_for(timeout=30_000)
    page.wait_for_function(DRAWN, timeout=30_000)
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    page.locator('[data-testid="stExpander"] summary', has_text="quantum_healing").click()
    page.get_by_role("button", name="Acknowledge").wait_for(timeout=30_000)
    assert page.get_by_text("tg-healing").count() > 0


def _check_origin_chart(page) -> None:
    """The candidate's spread chart is drawn: Vega rendered it with a point per source."""
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    chart.wait_for(timeout=10_000)
    drawn = chart.locator("canvas, svg").first
    drawn.wait_for(timeout=10_000)
    box = drawn.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100, box
    chart.screenshot(path=str(ARTEFACTS / "dashboard-origin-chart.png"))
    assert page.get_by_text("tg-healing").count() > 0
