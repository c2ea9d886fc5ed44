"""Browser tests: Debian's Chromium (``/usr/bin/chromium``), driven by Playwright, against a real uvicorn
process serving the app (HTTP and the dashboard socket) on the test's PostgreSQL database and Redis.

Playwright never downloads a browser here: it launches the machine's Chromium by path, with the flags a
headless CI machine needs. ``.ci/run`` installs Chromium when it is missing; a machine without it skips
these tests, except in CI (``CI`` set), where a missing browser fails them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tests.realtime.test_live_servers import ROOT, free_port, test_database_url, wait_until_healthy

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "var" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Chromium for one test. Playwright's synchronous API keeps an event loop running in this thread while it
    is open, so it is opened and closed around each test (a worker's next test, Channels' included, finds no
    loop left behind), and for that test only Django allows its plain synchronous database calls."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI installs Debian's chromium before the tests")
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()
        # While Playwright runs, the test's database calls went through a connection that pytest-django's
        # teardown did not close (a context of Playwright's, not the one it closes): left open, it kept the
        # test database from being dropped at the end ("being accessed by other users"). Closed here.
        connections.close_all()


class Site:
    """One uvicorn process serving the app to the browser."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "REALTIME_DB_THREAD_SENSITIVE": "0",
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--no-access-log", "--log-level", "warning"]
        output = self.log.open("ab")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
        wait_until_healthy(self.port, self.process)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    running = Site(tmp_path / "site.log")
    running.start()
    try:
        yield running
    finally:
        running.stop()
        print("\n--- site log ---\n" + running.log.read_text(errors="replace"))


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page; any console error or uncaught error fails the test."""
    context = browser.new_context(viewport=DESKTOP)
    opened = context.new_page()
    problems: list[tuple[str, str]] = []
    # A page answered 400/403/404 on purpose is logged by the browser as a failed load: the test asserts that
    # status itself. Failures of anything the page loads (scripts, styles, the socket) still count.
    documents_refused: set[str] = set()
    opened.on(
        "response",
        lambda response: (
            documents_refused.add(response.url)
            if response.request.resource_type == "document" and response.status >= 400
            else None
        ),
    )
    opened.on(
        "console",
        lambda message: (
            problems.append((message.text, message.location.get("url", ""))) if message.type == "error" else None
        ),
    )
    opened.on("pageerror", lambda error: problems.append((str(error), "")))
    yield opened
    context.close()
    # A test that stops the server on purpose (``page.server_stopped_on_purpose = True``) expects the browser to
    # report its reconnection attempts refused while the server is away.
    refused_on_purpose = getattr(opened, "server_stopped_on_purpose", False)
    unexpected = [
        text
        for text, url in problems
        if not (text.startswith("Failed to load resource") and url in documents_refused)
        and not (refused_on_purpose and text.startswith("WebSocket connection to") and "ERR_CONNECTION_REFUSED" in text)
    ]
    assert unexpected == [], unexpected


def screenshot(page: Any, name: str) -> None:
    """The page at desktop and at phone width, under ``var/screenshots/`` (CI keeps them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def serious_violations(page: Any) -> list[str]:
    """What axe-core finds on the page at the serious and critical levels."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{violation['id']}: {violation['help']}"
        for violation in results.response["violations"]
        if violation["impact"] in {"serious", "critical"}
    ]
