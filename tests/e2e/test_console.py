"""The staff console (`GET /console`) driven in headless Chromium against the real local stack.

Every action in the page is a call to /api/v1 with the signed-in person's token; these tests check both
what the page shows and, through the API, that the action really happened. Screenshots of each view go
to tests/e2e/screenshots/.
"""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from tests.support.browser import PHONE, assert_own_api_only, chromium, new_page, screenshot
from tests.support.stack import STAFF_EMAIL

pytestmark = pytest.mark.timeout(120)


# ---------------------------------------------------------------- the page itself over HTTP


def test_console_page_and_assets_are_served_with_their_types(stack):
    page = requests.get(stack.base_url + "/console", timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert '<script src="console/app.js"' in page.text
    for asset, kind in (("app.js", "text/javascript"), ("console.css", "text/css"), ("icon.svg", "image/svg+xml")):
        answer = requests.get(f"{stack.base_url}/console/{asset}", timeout=5)
        assert answer.status_code == 200, asset
        assert answer.headers["Content-Type"].startswith(kind), asset
    # Only the listed files: nothing else of the package is reachable through the console route.
    for name in ("index.html.bak", "..%2F..%2Fapp.py", "console.py"):
        missing = requests.get(f"{stack.base_url}/console/{name}", timeout=5)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
    assert requests.post(stack.base_url + "/console", timeout=5).status_code == 405


# ---------------------------------------------------------------- data, placed through the API


def _ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


@pytest.fixture(scope="module")
def shop(stack):
    """A category with products and a customer with a complete profile; unique names per run."""
    staff = stack.session(STAFF_EMAIL)
    tag = uuid.uuid4().hex[:6]
    root = _ok(staff.post(f"{stack.api}/categories", json={"name": f"Console {tag}"}), 201)
    child = _ok(staff.post(f"{stack.api}/categories", json={"name": "Lamps", "parent_id": root["id"]}), 201)

    def product(name, price, stock, category=child):
        body = {"name": f"{name} {tag}", "price": price, "stock": stock, "category_id": category["id"]}
        return _ok(staff.post(f"{stack.api}/products", json=body), 201)

    products = {
        "lamp": product("Desk lamp", "1500.00", 10),
        "bulb": product("Bulb", "200.00", 6),
        "shade": product("Shade", "800.00", 4, root),
        "old": product("Old stock", "50.00", 1, root),
    }
    buyer_email = f"buyer-{tag}@ekiosk.test"
    buyer = stack.session(buyer_email)
    profile = _ok(buyer.patch(f"{stack.api}/me", json={"phone_number": "0711 223344", "name": f"Buyer {tag}"}))
    return {
        "tag": tag, "staff": staff, "buyer": buyer, "buyer_email": buyer_email, "buyer_profile": profile,
        "root": root, "child": child, "products": products,
    }


def place(stack, shop, *lines):
    items = [{"product_id": shop["products"][name]["id"], "quantity": quantity} for name, quantity in lines]
    return _ok(shop["buyer"].post(f"{stack.api}/orders", json={"items": items}), 201)


def product_now(stack, shop, name):
    return _ok(shop["staff"].get(f"{stack.api}/products/{shop['products'][name]['id']}"))


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def chromium_browser():
    with chromium() as running:
        yield running


@pytest.fixture
def browser(chromium_browser):
    """The module's Chromium; every browser context a test opens is closed after it."""
    yield chromium_browser
    for context in chromium_browser.contexts:
        context.close()


def open_console(browser, stack, email=STAFF_EMAIL, view="pending", viewport=None):
    """The console signed in through the hand-over fragment, as the OIDC flow would leave it."""
    page = new_page(browser, viewport)
    page.goto(f"{stack.base_url}/console#token={stack.token(email)}")
    page.wait_for_selector("#view:not([hidden]), #forbidden:not([hidden])")
    if page.locator("#forbidden").is_visible():
        return page
    if view != "pending":
        show(page, view)
    else:
        wait_ready(page)
    return page


def show(page, view):
    settle(page, lambda: page.evaluate("view => { location.hash = view; }", view))


def settle(page, action):
    """Runs `action` (which re-renders the view) and waits until the new view has finished loading."""
    page.evaluate("() => document.querySelector('.view-content')?.removeAttribute('data-ready')")
    action()
    wait_ready(page)


def wait_ready(page):
    page.wait_for_selector(".view-content[data-ready='true']")


def test_sign_in_with_a_pasted_token_then_approve_an_order_and_see_stock_change(stack, shop, browser):
    order = place(stack, shop, ("lamp", 3), ("bulb", 2))
    page = new_page(browser)
    page.goto(f"{stack.base_url}/console")
    page.get_by_role("heading", name="Sign in").wait_for()
    page.get_by_label("Or paste a Bearer ID token").fill("Bearer " + stack.token(STAFF_EMAIL))
    page.get_by_role("button", name="Use this token").click()
    page.get_by_role("heading", name="Pending orders").wait_for()
    wait_ready(page)
    page.wait_for_function("() => document.activeElement.id === 'view-title'")  # focus follows the sign-in

    card = page.locator(f"article[data-order-id='{order['id']}']")
    text = card.inner_text()
    assert f"Order #{order['number']}" in text
    assert shop["buyer_email"] in text and "+254711223344" in text
    assert "stock covers it" in text
    assert order["total_price"] == "4900.00" and "Total 4900.00" in text
    assert "stock 10, available 7" in card.locator("tr", has_text="Desk lamp").inner_text()
    assert page.evaluate("sessionStorage.getItem('ekiosk.console.token')").startswith("ey")
    screenshot(page, "console-pending")

    card.get_by_role("button", name=f"Approve order #{order['number']}").click()
    card.locator(".done").wait_for()
    assert "approved" in card.locator(".done").inner_text()
    assert page.evaluate("document.activeElement.classList.contains('done')")  # focus stays on the card
    assert "stock 7, available 7" in card.locator("tr", has_text="Desk lamp").inner_text()  # the stock now
    assert "stock 4, available 4" in card.locator("tr", has_text="Bulb").inner_text()
    assert card.locator(".badge.COMPLETED").is_visible() and card.get_by_role("button").count() == 0
    status = page.get_by_role("status").inner_text()
    assert re.search(r"Order #\d+ approved\. Stock now: Desk lamp \w+: stock 7", status)
    assert _ok(shop["staff"].get(f"{stack.api}/orders/{order['id']}"))["status"] == "COMPLETED"
    assert product_now(stack, shop, "lamp")["stock"] == 7

    # The products view shows the new stock too.
    show(page, f"products?category_id={shop['child']['id']}")
    row = page.locator(f"tr[data-product-id='{shop['products']['lamp']['id']}']")
    assert row.get_by_label(re.compile("^Stock of Desk lamp")).input_value() == "7"
    assert_own_api_only(page, stack.base_url)
    assert not page.script_errors


def test_cancel_an_order_and_see_the_409_reason_when_it_was_already_decided(stack, shop, browser):
    to_cancel = place(stack, shop, ("bulb", 1))
    decided = place(stack, shop, ("shade", 1))
    page = open_console(browser, stack)
    assert "token=" not in page.url  # the hand-over fragment is gone from the address bar

    card = page.locator(f"article[data-order-id='{to_cancel['id']}']")
    card.get_by_role("button", name=f"Cancel order #{to_cancel['number']}").click()
    card.locator(".done").wait_for()
    assert "cancelled" in card.inner_text()
    assert _ok(shop["staff"].get(f"{stack.api}/orders/{to_cancel['id']}"))["status"] == "CANCELED"

    # Someone else approves `decided` meanwhile: the page's Approve gets the API's 409 and says why.
    _ok(shop["staff"].patch(f"{stack.api}/orders/{decided['id']}", json={"status": "COMPLETED"}))
    other = page.locator(f"article[data-order-id='{decided['id']}']")
    other.get_by_role("button", name=f"Approve order #{decided['number']}").click()
    alert = other.get_by_role("alert")
    alert.wait_for()
    assert "409" in alert.inner_text() and "invalid_transition" in alert.inner_text()
    other.locator(".badge.COMPLETED").wait_for()  # the card now shows the order as it is
    assert other.get_by_role("button", name=f"Approve order #{decided['number']}").is_hidden()
    screenshot(page, "console-pending-409")
    assert not page.script_errors


def test_bulk_upload_shows_each_bad_row_against_its_number(stack, shop, browser):
    tag = shop["tag"]
    csv = (
        "name,stock,price,category\n"
        f"Upload one {tag},5,120.00,Console {tag}/Uploads\n"
        f"Upload two {tag},3,-4,Console {tag}/Uploads\n"
        f"Upload three {tag},lots,99.00,Console {tag}/Uploads\n"
    )
    page = open_console(browser, stack, view="upload")
    page.get_by_label("CSV or JSON file").set_input_files(
        files=[{"name": "products.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    page.get_by_role("button", name="Upload").click()
    result = page.locator("#upload-result")
    # The shared stack already holds the 10,000-row upload's catalog; give the emulator time on a busy machine.
    result.get_by_role("table").wait_for(timeout=45_000)
    summary = result.get_by_role("alert").inner_text()
    assert "Some rows failed (207)" in summary and "1 created" in summary
    assert result.locator("tr[data-row='2']").filter(has_text="price").count() == 1
    assert result.locator("tr[data-row='3']").filter(has_text="stock").count() == 1
    assert result.locator("tr[data-row='1']").count() == 0
    screenshot(page, "console-upload")
    under_root = {"category_id": shop["root"]["id"], "include_descendants": "true", "limit": 100}
    names = [p["name"] for p in _ok(shop["staff"].get(f"{stack.api}/products", params=under_root))["items"]]
    assert f"Upload one {tag}" in names and f"Upload two {tag}" not in names
    assert not page.script_errors


def test_notifications_of_an_order_appear_with_their_sms_records(stack, shop, browser):
    order = place(stack, shop, ("bulb", 1))
    _ok(shop["staff"].patch(f"{stack.api}/orders/{order['id']}", json={"status": "COMPLETED"}))
    page = open_console(browser, stack, view=f"notifications?order_id={order['id']}&auto=1")
    # The rows refresh every 5 s until both SMS (placed, approved) are SENT by the worker.
    page.wait_for_function(
        """() => document.querySelectorAll("tr[data-channel='SMS'][data-status='SENT']").length >= 2""",
        timeout=30_000,
    )
    settle(page, lambda: page.get_by_label("Refresh every 5 s").uncheck())  # a still page for the checks
    assert f"Only order #{order['number']}" in page.locator(".scope").inner_text()
    # The re-render after unchecking can briefly race a refresh tick; wait for the settled, filtered table.
    page.wait_for_function("document.querySelectorAll('table.notifications tbody tr').length === 3", timeout=15_000)
    rows = page.locator("table.notifications tbody tr")
    assert rows.count() == 3  # SMS placed, SMS approved, staff email
    assert set(rows.evaluate_all("rows => rows.map(row => row.dataset.orderId)")) == {order["id"]}
    sms = page.locator("tr[data-channel='SMS']")
    texts = sms.all_inner_texts()
    assert len(texts) == 2 and all("+254711223344" in t and "SENT" in t for t in texts)
    assert any(f"Good news, +254711223344! Your order #{order['number']} has been approved." in t for t in texts)
    assert any(f"your order #{order['number']} has been placed successfully" in t for t in texts)
    assert "EMAIL" in page.locator("tr[data-channel='EMAIL']").inner_text()
    screenshot(page, "console-notifications")
    assert not page.script_errors


def test_orders_products_categories_and_customers_views(stack, shop, browser):
    tag = shop["tag"]
    order = place(stack, shop, ("lamp", 1))
    _ok(shop["staff"].patch(f"{stack.api}/orders/{order['id']}", json={"status": "CANCELED"}))
    page = open_console(browser, stack, view="orders?status=CANCELED")

    # All orders, filtered, with history.
    assert page.get_by_label("Status").input_value() == "CANCELED"
    row = page.locator(f"tr[data-order-id='{order['id']}']")
    row.locator("summary").click()
    history = row.get_by_role("list", name="History").inner_text()
    assert "PENDING" in history and "CANCELED" in history and STAFF_EMAIL in history
    assert page.locator("tbody .badge.COMPLETED").count() == 0
    screenshot(page, "console-orders")

    # Products: inline price, discount and stock edits; delete.
    show(page, f"products?category_id={shop['root']['id']}&include_descendants=true")
    shade = page.locator(f"tr[data-product-id='{shop['products']['shade']['id']}']")
    shade.get_by_label(re.compile("^Price of Shade")).fill("900")
    shade.get_by_label(re.compile("^Discount price of Shade")).fill("850.50")
    shade.get_by_label(re.compile("^Stock of Shade")).fill("12")
    shade.get_by_role("button", name=re.compile("^Save Shade")).click()
    shade.locator(".badge.ok").wait_for()
    saved = product_now(stack, shop, "shade")
    assert (saved["price"], saved["discount_price"], saved["stock"], saved["current_price"]) == (
        "900.00", "850.50", 12, "850.50")
    assert "850.50" in shade.inner_text()

    shade.get_by_label(re.compile("^Discount price of Shade")).fill("2000")  # not below the price: refused
    shade.get_by_role("button", name=re.compile("^Save Shade")).click()
    assert "discount_price" in shade.get_by_role("alert").inner_text()
    screenshot(page, "console-products")

    page.once("dialog", lambda dialog: dialog.accept())
    old = page.locator(f"tr[data-product-id='{shop['products']['old']['id']}']")
    old.get_by_role("button", name=re.compile("^Delete Old stock")).click()
    old.wait_for(state="detached")
    assert shop["staff"].get(f"{stack.api}/products/{shop['products']['old']['id']}").status_code == 404

    # Categories as a tree, each with its average price (asked for as a row comes into view).
    show(page, "categories")
    root = page.locator(f"li[data-category-id='{shop['root']['id']}']")
    child = root.locator(f"li[data-category-id='{shop['child']['id']}']")
    expected = _ok(shop["staff"].get(f"{stack.api}/categories/{shop['root']['id']}/calculate_average_price"))
    root.scroll_into_view_if_needed()
    root.locator(".average[data-loaded]").first.wait_for()
    assert f"average {expected['average_price']} over {expected['products_count']} products" in root.inner_text()
    assert child.is_hidden()  # branches start closed
    root.locator("summary strong").first.click()
    child.locator(".average[data-loaded]").wait_for()
    assert "average 850.00 over 2 products" in child.inner_text()  # lamp 1500 and bulb 200
    screenshot(page, "console-categories")

    # Customers: a role change, checked through the new staff member's own next request.
    newcomer_email = f"newcomer-{tag}@ekiosk.test"
    newcomer = stack.session(newcomer_email)
    assert _ok(newcomer.get(f"{stack.api}/me"))["role"] == "customer"
    show(page, "customers")
    person = page.locator("tr", has_text=newcomer_email)
    while person.count() == 0 and page.get_by_role("button", name="Load more").is_visible():
        page.get_by_role("button", name="Load more").click()
    person.get_by_label(f"Role of {newcomer_email}", exact=True).select_option("admin")
    person.get_by_role("button", name=f"Save role of {newcomer_email}").click()
    person.locator(".badge.ok").wait_for()
    assert _ok(newcomer.get(f"{stack.api}/me"))["role"] == "admin"
    assert newcomer.get(f"{stack.api}/notifications", params={"limit": 1}).status_code == 200
    screenshot(page, "console-customers")
    assert not page.script_errors


def test_a_customer_sees_staff_only_and_no_staff_data(stack, shop, browser):
    page = open_console(browser, stack, email=shop["buyer_email"])
    page.get_by_role("heading", name="Staff only").wait_for()
    detail = page.locator("#forbidden-detail").inner_text()
    assert "403" in detail and shop["buyer_email"] in detail and "role: customer" in detail
    assert page.locator("nav").is_hidden() and page.locator("#view").is_hidden()
    screenshot(page, "console-staff-only")
    # Moving to a staff view by hand changes nothing: the API still answers 403.
    page.evaluate("location.hash = 'customers'")
    assert page.get_by_role("heading", name="Staff only").is_visible()
    assert page.locator("tr[data-customer-id]").count() == 0
    assert_own_api_only(page, stack.base_url)
    page.get_by_role("button", name="Sign out and use another account").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.evaluate("sessionStorage.getItem('ekiosk.console.token')") is None
    assert not page.script_errors


def test_a_bad_token_is_refused_back_to_sign_in(stack, browser):
    page = new_page(browser)
    page.goto(f"{stack.base_url}/console#token=not-a-token")
    page.get_by_role("heading", name="Sign in").wait_for()
    assert "401" in page.get_by_role("alert").inner_text()
    assert page.evaluate("sessionStorage.getItem('ekiosk.console.token')") is None
    # This stack has no OIDC_*: the sign-in link leads to the development issuer's sign-in form, and back.
    page.get_by_role("link", name="Sign in with Google").click()
    page.get_by_role("heading", name="Development sign-in").wait_for()
    assert page.url.startswith(f"{stack.api}/oidc/dev/authorize?")
    # The sign-in is bound to this browser by an HttpOnly, SameSite=Lax cookie (plain http on 127.0.0.1: the
    # local name without Secure), which the callback requires and clears.
    (login_cookie,) = [c for c in page.context.cookies() if c["name"].startswith(("__Host-ekiosk", "ekiosk-login"))]
    assert (login_cookie["name"], login_cookie["httpOnly"], login_cookie["sameSite"]) == (
        "ekiosk-login-local", True, "Lax")
    assert page.evaluate("document.cookie") == ""  # not readable by scripts
    page.get_by_label("Email").fill(STAFF_EMAIL)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{stack.base_url}/console*")
    page.locator("nav").wait_for()
    assert page.evaluate("sessionStorage.getItem('ekiosk.console.token')")
    assert not [c for c in page.context.cookies() if c["name"] == "ekiosk-login-local"]


def _too_wide(page) -> list[str]:
    """The innermost elements reaching past the right edge of the screen, to name the culprit."""
    return page.evaluate(
        """() => [...document.querySelectorAll('main *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                && ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
            .slice(0, 5).map(e => `${e.tagName.toLowerCase()}.${e.className}`)"""
    )


def test_phone_sized_screen_keyboard_and_labels(stack, shop, browser):
    place(stack, shop, ("bulb", 1))
    # Names with no break opportunity (as other tests and fuzzing leave behind) must wrap, not widen the page.
    category = _ok(shop["staff"].post(f"{stack.api}/categories", json={"name": "C" * 190 + shop["tag"]}), 201)
    unbroken = {"name": "N" * 190 + shop["tag"], "price": "1.00", "stock": 1, "category_id": category["id"]}
    _ok(shop["staff"].post(f"{stack.api}/products", json=unbroken), 201)
    page = open_console(browser, stack, viewport=PHONE)
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(page, "console-phone-pending", full_page=False)
    for view in ("orders", "products", "upload", "categories", "notifications", "customers"):
        show(page, view)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (view, _too_wide(page))
        # Every form control has an accessible name (a <label> or aria-label).
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('main input, main select, main textarea')]
                 .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
                 .map(el => el.outerHTML)"""
        )
        assert unlabeled == [], (view, unlabeled)
    show(page, "products")
    screenshot(page, "console-phone-products", full_page=False)
    # Keyboard: the skip link comes first, then "Sign out", then the navigation; focus is visibly outlined.
    page.reload()
    wait_ready(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "sign-out"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('data-view')") == "pending"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'view-title'")
    assert not page.script_errors
