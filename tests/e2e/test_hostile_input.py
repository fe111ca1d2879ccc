"""Hostile input over HTTP on the real local stack (gunicorn + the WSGI adapter): a 4xx with the error
envelope, never a 500 or an HTML page (SPEC §4, issue 13)."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from tests.support.catalog import unique

GROWS_WHEN_FOLDED = "\u0390" * 200  # 200 characters; 1,200 bytes of UTF-8 once case-folded


def raw_request(stack, request_head: bytes, body: bytes = b"") -> tuple[int, dict, bytes]:
    """Sends exact bytes (no client-side encoding or limits) and reads the whole answer."""
    host = urlsplit(stack.base_url)
    with socket.create_connection((host.hostname, host.port), timeout=30) as sock:
        sock.sendall(request_head + b"Connection: close\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, payload


def assert_envelope(status, headers, body, expected_status, code):
    assert status == expected_status, body[:300]
    assert headers["content-type"].startswith("application/json"), body[:300]
    assert json.loads(body)["error"]["code"] == code


def auth_line(stack, email):
    return f"Authorization: Bearer {stack.token(email)}\r\n".encode()


@pytest.mark.parametrize("target", [
    b"/api/v1/products/%ED%A0%80",
    b"/api/v1/categories/%FF/average-price",
    b"/api/v1/products?category_id=%ED%A0%80",
    b"/api/v1/orders?status=%ED%A0%80",
])
def test_invalid_unicode_in_path_or_query_is_400(stack, target):
    from tests.support.stack import STAFF_EMAIL

    head = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + auth_line(stack, STAFF_EMAIL)
    assert_envelope(*raw_request(stack, head), 400, "invalid_unicode")


def test_raw_non_ascii_bytes_in_the_request_line_are_400_with_the_envelope(stack):
    """gunicorn itself refuses these before the app: its answer is enveloped too (bad_request)."""
    head = b"GET /api/v1/orders?status=\xed\xa0\x80 HTTP/1.1\r\nHost: x\r\n"
    assert_envelope(*raw_request(stack, head), 400, "bad_request")


def test_invalid_unicode_in_a_header_is_400(stack):
    head = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Note: \xed\xa0\x80\r\n"
    assert_envelope(*raw_request(stack, head), 400, "invalid_unicode")


def test_a_lone_surrogate_in_a_json_body_is_400(stack, staff):
    category = staff.post(f"{stack.api}/categories", json={"name": unique("Surrogates")}, timeout=30).json()
    fields = json.dumps({"name": "NAME", "price": "1.00", "stock": 1, "category_id": category["id"]})
    body = fields.replace("NAME", "\\ud800").encode()  # a lone surrogate, escaped as JSON allows
    response = staff.post(f"{stack.api}/products", data=body, headers={"Content-Type": "application/json"},
                          timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_unicode"
    renamed = staff.patch(f"{stack.api}/categories/{category['id']}", data=b'{"name": "a\\udfffb"}',
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert renamed.status_code == 400 and renamed.json()["error"]["code"] == "invalid_unicode"


@pytest.mark.parametrize("size", [40 * 1024, 100 * 1024])
def test_oversize_headers_are_431_with_the_envelope(stack, size):
    """40 kB: over the adapter's 32 KiB; 100 kB: over gunicorn's own per-field limit. Both JSON, never HTML."""
    from tests.support.stack import STAFF_EMAIL

    head = (b"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\n" + auth_line(stack, STAFF_EMAIL)
            + b"Content-Type: application/json\r\nContent-Length: 2\r\nIdempotency-Key: " + b"k" * size + b"\r\n")
    assert_envelope(*raw_request(stack, head, b"{}"), 431, "request_header_fields_too_large")


def test_too_many_header_fields_are_431_with_the_envelope(stack):
    head = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-F%d: 1\r\n" % i for i in range(200))
    assert_envelope(*raw_request(stack, head), 431, "request_header_fields_too_large")


def test_idempotency_key_over_255_characters_is_400(stack, staff):
    response = staff.post(f"{stack.api}/orders", json={"items": [{"product_id": "p", "quantity": 1}]},
                          headers={"Idempotency-Key": "k" * 256}, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_idempotency_key"


@pytest.mark.parametrize("route", ["/admin/customers/{}", "/products/{}", "/orders/{}", "/categories/{}",
                                   "/categories/{}/price-history"])
def test_ids_too_long_for_a_key_are_404(stack, staff, route):
    response = staff.get(stack.api + route.format("i" * 3000), timeout=30)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path, params, status", [
    ("/products", {"category_id": "i" * 3000}, 404),
    ("/products", {"category_id": "\u0390" * 700, "include_descendants": "true"}, 404),
    ("/categories", {"parent_id": "i" * 3000}, 404),
    ("/notifications", {"order_id": "i" * 3000}, 400),
    ("/orders", {"status": "i" * 3000}, 400),
])
def test_filters_too_long_for_a_key_never_reach_the_store(stack, staff, path, params, status):
    response = staff.get(stack.api + path, params=params, timeout=30)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"]


def test_names_too_long_for_a_key_once_case_folded_are_400(stack, staff):
    category = staff.post(f"{stack.api}/categories", json={"name": unique("Folded")}, timeout=30).json()
    product = staff.post(f"{stack.api}/products", json={"name": GROWS_WHEN_FOLDED, "price": "1.00", "stock": 1,
                                                        "category_id": category["id"]}, timeout=30)
    assert product.status_code == 400, product.text
    assert "name" in product.json()["error"]["details"]
    sub = staff.post(f"{stack.api}/categories", json={"name": GROWS_WHEN_FOLDED, "parent_id": category["id"]},
                     timeout=30)
    assert sub.status_code == 400, sub.text
    csv = f"name,stock,price,category\n{GROWS_WHEN_FOLDED},1,1.00,{category['name']}\n" \
          f"fine,1,1.00,{category['name']}/{GROWS_WHEN_FOLDED}\n"
    upload = staff.post(f"{stack.api}/products/bulk-upload?dry_run=true", data=csv.encode(),
                        headers={"Content-Type": "text/csv"}, timeout=60)
    assert upload.status_code == 400, upload.text
    assert [error["row"] for error in upload.json()["errors"]] == [1, 2]


FORGED_CURSOR = "eyJpZCI6IHsiUyI6ICJ4In19"  # base64 of {"id": {"S": "x"}}


def test_cursors_work_only_in_the_list_that_gave_them_out(stack, staff):
    customer = stack.session("cursor-shopper@ekiosk.test")
    top = staff.post(f"{stack.api}/categories", json={"name": unique("Paged")}, timeout=30).json()
    for name in ("a", "b", "c"):
        created = staff.post(f"{stack.api}/products", timeout=30,
                             json={"name": name, "price": "1.00", "stock": 1, "category_id": top["id"]})
        assert created.status_code == 201, created.text
    first = staff.get(f"{stack.api}/products", params={"limit": 1, "category_id": top["id"]}, timeout=30).json()
    cursor = first["next_cursor"]
    second = staff.get(f"{stack.api}/products", params={"limit": 1, "category_id": top["id"], "cursor": cursor},
                       timeout=30)
    assert second.status_code == 200 and second.json()["items"][0]["id"] != first["items"][0]["id"]

    def refused(session, path, **params):
        response = session.get(stack.api + path, params=params, timeout=30)
        assert response.status_code == 400, (path, params, response.text)
        assert response.json()["error"]["code"] == "invalid_cursor"

    for path in ("/products", "/categories", "/admin/customers", "/notifications", "/orders",
                 f"/categories/{top['id']}/price-history"):
        refused(staff, path, cursor=FORGED_CURSOR)
    refused(staff, "/categories", cursor=cursor)  # another list
    refused(staff, "/products", cursor=cursor)  # other filters
    refused(customer, "/products", cursor=cursor, category_id=top["id"])  # another caller
    refused(staff, "/products", cursor=cursor[:-2] + "xx", category_id=top["id"])  # altered
