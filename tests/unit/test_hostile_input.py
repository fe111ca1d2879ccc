"""Hostile input answered with a 4xx and the envelope, never a 500 (SPEC §4, issue 13):
text that is not valid Unicode, oversize headers, and values too long for DynamoDB's keys."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from werkzeug.test import Client

from chalicelib.domain import catalog as rules
from chalicelib.domain.errors import InvalidInput, NotFound

GROWS_WHEN_FOLDED = "\u0390" * 200  # "ΐ": 200 characters, 400 bytes; case-folded 3 code points, 1,200 bytes


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    import os

    os.environ["EKIOSK_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    from chalicelib.config import get_settings

    get_settings.cache_clear()
    from app import app
    from chalicelib.runtime.wsgi import ChaliceWSGI

    return Client(ChaliceWSGI(app))


def envelope(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.json["error"]["code"] == code
    return response.json["error"]


# --- text that is not valid Unicode → 400 invalid_unicode, before any route or store


@pytest.mark.parametrize("path_info, query", [
    ("/api/v1/products/\xed\xa0\x80", ""),  # a lone surrogate's UTF-8 bytes in the path (WSGI: latin-1 characters)
    ("/api/v1/categories/\xff", ""),  # not UTF-8 at all
    ("/api/v1/products", "category_id=%ED%A0%80"),  # in the query
    ("/api/v1/health", "x=%C3"),  # a truncated sequence, even in an ignored parameter
])
def test_invalid_utf8_in_path_or_query_is_400(client, path_info, query):
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path="/", headers={"Authorization": "Bearer x"}).get_environ()
    environ.update(PATH_INFO=path_info, QUERY_STRING=query)
    status = {}
    body = b"".join(client.application(environ, lambda line, headers: status.setdefault("line", line)))
    assert status["line"].startswith("400 "), body
    assert json.loads(body)["error"]["code"] == "invalid_unicode"


def test_invalid_utf8_in_a_header_value_is_400(client):
    # WSGI gives header bytes as latin-1 characters: these are the bytes ED A0 80.
    envelope(client.get("/api/v1/health", headers={"X-Thing": "\xed\xa0\x80"}), 400, "invalid_unicode")


def test_valid_utf8_in_the_path_reaches_the_route_as_text(client):
    # "é" arrives as the bytes C3 A9 (latin-1 characters in WSGI) and must reach the route as "é", not mojibake.
    from chalicelib.runtime.wsgi import _utf8

    assert _utf8("\xc3\xa9") == "é"
    assert _utf8("%C3%A9", percent_encoded=True) == "é"
    assert _utf8("%ED%A0%80", percent_encoded=True) is None


def test_a_lone_surrogate_in_a_json_body_is_400():
    from chalicelib.api.requests import json_object

    for body in (b'{"name": "\\ud800"}', b'{"items": [{"product_id": "\\udfff"}]}', b'{"\\ud800": 1}'):
        with pytest.raises(InvalidInput) as raised:
            json_object(SimpleNamespace(raw_body=body))
        assert raised.value.code == "invalid_unicode"


def test_a_lone_surrogate_in_path_query_or_headers_is_refused_for_every_route():
    """On Lambda the event is JSON, which can carry "\\ud800" in any field: the routing layer checks them."""
    from chalicelib.api.request_text import check_request_text

    ok = {"uri_params": {"id": "abc"}, "query_params": {"q": "é"}, "headers": {"x-thing": "ok"}}
    check_request_text(SimpleNamespace(**ok))
    for field in ok:
        bad = {**ok, field: {"k": "\ud800"}}
        with pytest.raises(InvalidInput) as raised:
            check_request_text(SimpleNamespace(**bad))
        assert raised.value.code == "invalid_unicode"


# --- headers too large → 431 with the envelope


def test_headers_over_the_limit_answer_431_with_the_envelope(client):
    from chalicelib.runtime.wsgi import MAX_HEADER_BYTES

    response = client.post("/api/v1/orders", headers={"Idempotency-Key": "k" * (MAX_HEADER_BYTES + 1)}, data="{}")
    envelope(response, 431, "request_header_fields_too_large")


def test_gunicorns_own_refusals_are_enveloped_not_html():
    from chalicelib.runtime import gunicorn_conf, gunicorn_errors
    from chalicelib.runtime.wsgi import MAX_HEADER_BYTES

    raw = gunicorn_errors.error_bytes(431, "Request Header Fields Too Large")
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 431 ") and b"Content-Type: application/json" in head
    assert json.loads(body)["error"]["code"] == "request_header_fields_too_large"
    assert int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]) == len(body)
    from gunicorn import util

    assert util.write_error is gunicorn_errors.write_error  # installed by loading the settings
    # gunicorn's per-field limit is above the adapter's, so the adapter (with its envelope) decides first.
    assert gunicorn_conf.limit_request_field_size > MAX_HEADER_BYTES


def test_idempotency_key_over_255_characters_is_400():
    from chalicelib.domain.orders import check_idempotency_key

    assert check_idempotency_key("k" * 255) == "k" * 255
    for bad in ("k" * 256, " ", "\ud800"):
        with pytest.raises(InvalidInput):
            check_idempotency_key(bad)


# --- DynamoDB key limits


def test_names_that_outgrow_a_sort_key_when_case_folded_are_refused():
    assert len(GROWS_WHEN_FOLDED) == rules.MAX_NAME
    assert len(rules.name_key(GROWS_WHEN_FOLDED).encode()) > 1024
    with pytest.raises(ValueError, match="1024 bytes"):
        rules.clean_name(GROWS_WHEN_FOLDED)
    with pytest.raises(ValueError, match="1024 bytes"):
        rules.parse_path(f"Top/{GROWS_WHEN_FOLDED}")
    with pytest.raises(ValueError, match="Unicode"):
        rules.clean_name("a\ud800")
    assert rules.clean_name("\u0390" * 170) == "\u0390" * 170  # 1,020 bytes folded: fits


def test_bulk_rows_report_a_name_too_long_for_a_key_as_a_row_error():
    from chalicelib.domain.bulk_rows import CSV, iter_checked, read_rows

    csv = f"name,stock,price,category\n{GROWS_WHEN_FOLDED},1,1.00,Top\nok,1,1.00,Top/{GROWS_WHEN_FOLDED}\n"
    errors = {number: checked for number, checked in iter_checked(read_rows(CSV, csv.encode()))}
    assert "1024 bytes" in errors[1]["name"][0]
    assert "1024 bytes" in errors[2]["category"][0]


def test_path_ids_too_long_to_be_stored_are_404_before_any_read():
    from chalicelib.api.routing import check_path_ids
    from chalicelib.domain.keys import MAX_ID_BYTES

    check_path_ids({"product_id": "a" * MAX_ID_BYTES})
    for too_long in ("a" * (MAX_ID_BYTES + 1), "é" * (MAX_ID_BYTES // 2 + 1)):
        with pytest.raises(NotFound):
            check_path_ids({"product_id": too_long})
