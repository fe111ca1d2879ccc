"""Headless Chromium for the console's browser tests: Debian's `chromium` driven by Playwright (Python).

Never `playwright install`: the browser is the system one (`.ci/run` installs Debian's package), so
Playwright's own browser download is never needed. Without Chromium or Playwright the browser tests
are skipped on a developer's machine and fail in CI (CI=true), where they must run.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("EKIOSK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "e2e" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def chromium():
    """The system Chromium under Playwright, for one test module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the `playwright` package is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, viewport: dict | None = None):
    """A fresh browser context (own sessionStorage) with one page; script errors are collected."""
    context = browser.new_context(viewport=viewport or DESKTOP, locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.script_errors = []  # uncaught exceptions in the page's JavaScript (failed requests are not counted)
    page.on("pageerror", lambda error: page.script_errors.append(str(error)))
    page.requests_made = []  # (url, Authorization header) of every request the page made
    page.on("request", lambda request: page.requests_made.append((request.url, request.headers.get("authorization"))))
    return page


def assert_own_api_only(page, base_url: str) -> None:
    """The page talked only to its own origin, and to the API only with the signed-in person's Bearer token."""
    assert page.requests_made
    for url, authorization in page.requests_made:
        assert url.startswith(base_url + "/"), url
        path = url[len(base_url):]
        assert path.startswith(("/console", "/api/v1/")), url
        if path.startswith("/api/v1/") and not path.startswith("/api/v1/oidc/"):
            assert authorization and authorization.startswith("Bearer ey"), url


def screenshot(page, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
