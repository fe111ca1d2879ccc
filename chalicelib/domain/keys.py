"""Text that may become part of a DynamoDB key: valid Unicode, and within DynamoDB's key sizes.

DynamoDB refuses (ValidationException) a partition key over 2,048 bytes or a sort key over 1,024 bytes
(UTF-8), on the table and on every index the item appears in. Every value a request can turn into a key
(ids, case-folded names, idempotency keys, filters) is checked against these limits before the store
sees it, so the answer is a 400 or a 404 instead of an error from DynamoDB.
"""

from __future__ import annotations

MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
# An id (path parameter or id filter) longer than this cannot name anything we store: ids are used in
# sort keys and index keys too, so the smaller of the two limits applies. Such an id → 404, unread.
MAX_ID_BYTES = MAX_SORT_KEY_BYTES


def utf8_size(value: str) -> int | None:
    """Bytes of `value` in UTF-8, or None when it is not valid Unicode (a lone surrogate)."""
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def is_valid_text(value: str) -> bool:
    return utf8_size(value) is not None


def fits_key(value: str, limit: int = MAX_SORT_KEY_BYTES) -> bool:
    """Non-empty valid Unicode of at most `limit` bytes: storable as a DynamoDB key."""
    size = utf8_size(value)
    return size is not None and 0 < size <= limit


def plausible_id(value: object) -> bool:
    """Could `value` be the id of something stored? (opaque ids: any valid text of 1..MAX_ID_BYTES bytes)"""
    return isinstance(value, str) and fits_key(value, MAX_ID_BYTES)
