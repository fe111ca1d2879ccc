"""Structured JSON logs: one JSON object per line, a correlation id on each, nothing secret in full."""

from __future__ import annotations

import io
import json
import logging

import pytest

from chalicelib import observability
from chalicelib.observability import correlation, json_formatter, redact

PHONE = "+254711223344"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.fixture
def lines():
    """Records of a fresh logger, formatted as in production; call it to get the parsed lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    logger = logging.getLogger("ekiosk.test.logging")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_every_line_is_json_with_a_correlation_id(lines):
    logger, read = lines
    logger.info("outside any request")
    with correlation("req-1"):
        logger.warning("inside %s", "a request", extra={"order_id": "o1"})
        with correlation() as fresh:
            logger.info("nested")
        logger.info("back")
    out = read()
    assert [line["correlation_id"] for line in out] == ["-", "req-1", fresh, "req-1"]
    assert out[1]["message"] == "inside a request" and out[1]["order_id"] == "o1"
    assert out[1]["level"] == "WARNING" and out[1]["logger"] == "ekiosk.test.logging"
    assert out[1]["service"] == "ekiosk" and out[1]["timestamp"].endswith("+00:00")
    assert len(fresh) == 32


def test_exceptions_stay_on_one_json_line(lines):
    logger, read = lines
    try:
        raise ValueError(f"bad phone {PHONE}")
    except ValueError:
        logger.exception("failed")
    (line,) = read()
    assert line["exception_name"] == "ValueError"
    assert PHONE not in json.dumps(line)


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {JWT}",
        f"token={JWT}",
        "authorization: bearer opaque-token-value",
        '{"id_token": "abc.def.ghi"}',
        '{"client_secret": "s3cr3t-value"}',
        "AT apiKey=atsk_0123456789abcdef",
    ],
)
def test_tokens_and_secrets_never_appear(text):
    cleaned = redact(text)
    for secret in (JWT, "opaque-token-value", "abc.def.ghi", "s3cr3t-value", "atsk_0123456789abcdef"):
        assert secret not in cleaned
    assert "[redacted" in cleaned


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("+254711223344", "+254*******44"),
        ("+254 711 223 344", "+254*******44"),
        ("+254-711-223-344", "+254*******44"),
        ("0711223344", "071*****44"),
        ("254711223344", "254*******44"),
        ("+14155550123", "+141******23"),
    ],
)
def test_phone_numbers_are_masked(raw, masked):
    assert redact(f"Hello {raw} your order #123 has been placed.") == f"Hello {masked} your order #123 has been placed."


@pytest.mark.parametrize(
    "text",
    [
        '{"timestamp":"2026-01-31T09:30:00.123+00:00","duration_ms":12.5,"status":201}',
        "order #1234 total 1500.00 for 3 items",
        "product 0d5c1d9e0b7c4f5e9a1b2c3d4e5f6a7b",
        "error code invalid_transition",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


def test_http_requests_get_a_request_id_and_one_access_line(caplog):
    from chalice.test import Client

    from app import app

    caplog.set_level(logging.INFO, logger="ekiosk.access")
    logging.getLogger("ekiosk.access").addHandler(caplog.handler)  # "ekiosk" (app.log) does not propagate
    try:
        with Client(app) as client:
            given = client.http.get("/api/v1/health", headers={"X-Request-Id": "trace-abc.1"})
            fresh = client.http.get("/api/v1/health")
            hostile = client.http.get("/api/v1/health", headers={"X-Request-Id": 'bad"id\nwith newline'})
    finally:
        logging.getLogger("ekiosk.access").removeHandler(caplog.handler)
    assert given.headers["X-Request-Id"] == "trace-abc.1"
    assert fresh.headers["X-Request-Id"] and fresh.headers["X-Request-Id"] != "trace-abc.1"
    assert "\n" not in hostile.headers["X-Request-Id"] and '"' not in hostile.headers["X-Request-Id"]
    access = [r for r in caplog.records if r.name == "ekiosk.access"]
    assert [r.correlation_id for r in access] == [
        "trace-abc.1", fresh.headers["X-Request-Id"], hostile.headers["X-Request-Id"]
    ]
    assert access[0].status == 200 and access[0].route == "/api/v1/health" and access[0].http_method == "GET"
    assert observability.correlation_id() == "-"  # nothing leaks out of a request


def test_configure_logging_adds_one_json_handler(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    try:
        observability.configure_logging()
        observability.configure_logging()
        ours = [h for h in root.handlers if getattr(h, "ekiosk", False)]
        assert len(ours) == 1
        assert isinstance(ours[0].formatter, logging.Formatter)
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hi %s", (PHONE,), None)
        assert json.loads(ours[0].formatter.format(record))["message"] == "hi +254*******44"
    finally:
        root.handlers[:] = before
        root.setLevel(level)
