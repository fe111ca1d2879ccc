"""List cursors (SPEC §4): a cursor works only in the very list that gave it out.

Every list route reads its page through `list_page(request, caller, **filters)`. The cursor a client
sees is the store's position (the repository's own opaque cursor) followed by an HMAC-SHA256 tag over
that position and the list's scope: the route (resource path and path parameters), the filters (as the
route parsed them) and the caller's id. A cursor that is forged, altered, or from another route, other
filters or another caller fails the check and is a 400 `invalid_cursor` before the store is touched.

The key is `adapters/secrets.cursor_key`: CURSOR_SIGNING_KEY, or on AWS a secret CloudFormation generated
(read at run time, cached), or one derived from the stage and plain secrets (containers, local stacks).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from chalicelib.domain.errors import InvalidInput

SEPARATOR = "."
TAG_BYTES = 16  # 128 bits of HMAC-SHA256
MAX_CURSOR = 4096  # characters; a page position is far shorter


def page_params(request) -> tuple[int, str | None]:
    """`?limit=` (1–100, default 50) and the opaque `?cursor=`."""
    params = dict(request.query_params or {})
    raw = params.get("limit")
    limit = 50
    if raw is not None:
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise InvalidInput("limit must be an integer from 1 to 100", details={"limit": ["must be 1–100"]})
    return limit, params.get("cursor") or None


def invalid_cursor() -> InvalidInput:
    return InvalidInput("invalid cursor", details={"cursor": ["not a cursor this list gave out"]},
                        code="invalid_cursor")


def _default_key() -> bytes:
    from chalicelib.adapters.secrets import cursor_key
    from chalicelib.config import get_settings

    return cursor_key(get_settings())


def _tag(key: bytes, scope: dict, position: str) -> str:
    message = json.dumps({"scope": scope, "position": position}, sort_keys=True, separators=(",", ":"))
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()[:TAG_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(position: str | None, scope: dict, key: bytes | None = None) -> str | None:
    """The client's cursor for the store's `position` in the list `scope` (None: no more pages)."""
    if position is None:
        return None
    return position + SEPARATOR + _tag(key or _default_key(), scope, position)


def verify(cursor: str | None, scope: dict, key: bytes | None = None) -> str | None:
    """The store's position from a client's cursor, if this list gave it out; else 400 invalid_cursor."""
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR or SEPARATOR not in cursor:
        raise invalid_cursor()
    position, tag = cursor.rsplit(SEPARATOR, 1)
    if not position or not hmac.compare_digest(tag.encode(), _tag(key or _default_key(), scope, position).encode()):
        raise invalid_cursor()
    return position


class ListPage:
    """One page of a list route: `limit`, the verified store `position`, and `next_cursor(...)` to sign."""

    def __init__(self, request, caller, filters: dict[str, Any]):
        self.limit, cursor = page_params(request)
        self.scope = {
            "route": request.path,  # the resource path, e.g. /api/v1/categories/{category_id}/price-history
            "params": dict(request.uri_params or {}),
            "filters": filters,
            "caller": caller.id if caller is not None else None,
        }
        self.position = verify(cursor, self.scope)

    def next_cursor(self, position: str | None) -> str | None:
        return sign(position, self.scope)


def list_page(request, caller, **filters) -> ListPage:
    return ListPage(request, caller, filters)
