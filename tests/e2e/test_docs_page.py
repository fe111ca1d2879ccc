"""The docs page in a real (headless) browser: Swagger UI renders every operation from the app's own files."""

from __future__ import annotations

import pytest
import requests

from tests.support.browser import chromium, new_page, screenshot

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def browser():
    with chromium() as running:
        yield running


def test_the_docs_page_renders_every_operation_offline(stack, browser):
    document = requests.get(stack.api + "/openapi.json", timeout=10).json()
    operations = sum(1 for item in document["paths"].values() for method in item if method in METHODS)
    page = new_page(browser)
    page.goto(stack.api + "/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() == operations
    assert "ekiosk API" in page.locator(".info .title").inner_text()
    assert page.locator(".errors-wrapper").count() == 0  # Swagger UI lists schema errors there
    assert page.script_errors == []
    urls = [url for url, _authorization in page.requests_made]
    assert stack.api + "/openapi.json" in urls and stack.api + "/docs/swagger-ui-bundle.js" in urls
    assert all(url.startswith(stack.api + "/") or url.startswith("data:") for url in urls), urls  # no CDN
    page.locator(".opblock-summary-path", has_text="/api/v1/orders").first.click()
    page.wait_for_selector(".opblock.is-open .responses-table")
    screenshot(page, "docs", full_page=False)
    page.context.close()
