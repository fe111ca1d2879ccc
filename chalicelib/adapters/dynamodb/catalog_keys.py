"""Ids of the catalog's helper items in the categories table: name claims, name sets, price snapshots."""

from __future__ import annotations

from chalicelib.adapters.dynamodb.catalog import (
    ROOT_PARENT,
)
from chalicelib.domain.catalog import (
    PriceSnapshot,
)


def claim_id(parent_id: str | None, key: str) -> str:
    return f"name:{parent_id or ROOT_PARENT}:{key}"


def product_claim_id(category_id: str, key: str) -> str:
    return f"product:{category_id}:{key}"


def named_id(key: str) -> str:
    return f"named:{key}"


def snapshot_id(snapshot: PriceSnapshot) -> str:
    return f"snapshot:{snapshot.category_id}:{snapshot.slot}"
