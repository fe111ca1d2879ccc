"""Cursor pagination over PynamoDB queries and scans: the cursor is the opaque last evaluated key."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable

from chalicelib.domain.errors import InvalidInput


def encode_cursor(last_evaluated_key: dict | None) -> str | None:
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def invalid_cursor() -> InvalidInput:
    return InvalidInput("invalid cursor", details={"cursor": ["not a cursor this API gave out"]})


def decode_cursor(cursor: str | None) -> dict | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, dict) or not all(isinstance(v, dict) for v in key.values()):
        raise invalid_cursor()
    return key


def page(run: Callable[..., Iterable], limit: int, cursor: str | None) -> tuple[list, str | None]:
    """Runs `run(limit=…, last_evaluated_key=…)` (a Model.query/scan partial) for one page.

    DynamoDB answers a LastEvaluatedKey whenever it stops at Limit, even when nothing follows, and a
    filter may leave a page short although more follows; so one item more than the page is asked for
    (PynamoDB reads on until it has it), and a cursor is given only when that item exists: the last
    page never ends in an empty one."""
    results = run(limit=limit + 1, last_evaluated_key=decode_cursor(cursor))
    items: list = []
    position = next_key = None
    for item in results:
        if len(items) == limit:
            next_key = position  # the position just after the page's last item
            break
        items.append(item)
        position = results.last_evaluated_key
    return items, encode_cursor(next_key)
