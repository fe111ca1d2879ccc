"""gunicorn's own error answers (a request it refuses before the app sees it) in the error envelope.

gunicorn writes an HTML page for requests it cannot parse or that exceed its limits (431 for header
fields over `limit_request_field_size` or more than `limit_request_fields`, 400 for malformed requests).
SPEC §4 wants the JSON envelope on every 4xx and 5xx, so `install()` (called by gunicorn_conf.py, in the
master, before workers fork) replaces `gunicorn.util.write_error`, which every worker uses for them.
"""

from __future__ import annotations

import json

CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}
MESSAGES = {
    431: "The request headers are too large.",
    414: "The URL is too long.",
    500: "An internal error occurred.",
}


def error_bytes(status: int, reason: str) -> bytes:
    code = CODES.get(status, "bad_request" if status < 500 else "internal_error")
    message = MESSAGES.get(status) or (f"{reason}." if reason else "The request could not be read.")
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1", "replace")
    return head + body


def write_error(sock, status_int, reason, mesg):  # gunicorn.util.write_error's signature
    from gunicorn import util

    util.write_nonblock(sock, error_bytes(int(status_int), str(reason)))


def install() -> None:
    from gunicorn import util

    util.write_error = write_error
