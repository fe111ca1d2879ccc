"""Text in a request must be valid Unicode (SPEC §4): path, query, headers and JSON bodies.

Kept apart from requests.py so that routing can use it without importing pydantic at cold start.
"""

from __future__ import annotations

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.keys import is_valid_text


def invalid_text(where: str) -> InvalidInput:
    return InvalidInput(
        f"text in the request's {where} is not valid Unicode", details={where: ["must be valid Unicode text"]},
        code="invalid_unicode",
    )


def check_json_text(value) -> None:
    """Every key and string of a parsed JSON document is valid Unicode (JSON can escape a lone surrogate)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not is_valid_text(item):
                raise invalid_text("body")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def check_request_text(request) -> None:
    """Path parameters, query parameters and headers (names and values) are valid Unicode (SPEC §4)."""
    for where, mapping in (("path", request.uri_params), ("query", request.query_params),
                           ("headers", request.headers)):
        mapping = mapping or {}
        for name in mapping:
            values = mapping.getlist(name) if hasattr(mapping, "getlist") else [mapping[name]]
            for text in (name, *values):
                if isinstance(text, str) and not is_valid_text(text):
                    raise invalid_text(where)
