"""The catalog port in memory: DynamoCatalogRepository's behaviour (conditions, all-or-nothing writes) in dicts."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator

from chalicelib.adapters.dynamodb.catalog_keys import snapshot_id
from chalicelib.adapters.dynamodb.catalog_transaction import MAX_TRANSACTION_ITEMS
from chalicelib.adapters.dynamodb.pages import decode_cursor, encode_cursor
from chalicelib.domain.catalog import (
    CATEGORY_MISSING,
    CHANGED,
    MISSING,
    NAME_TAKEN,
    NOT_EMPTY,
    AggregateDelta,
    Category,
    CreateProduct,
    DeleteProduct,
    PriceSnapshot,
    Product,
    ProductWrite,
    UpdateProduct,
    WriteFailure,
    WriteRefused,
    apply_delta,
    moves_name,
    refusal,
)
from chalicelib.domain.stock import Counters, stock_covers_reserved
from tests.fakes.products import InMemoryProducts


class InMemoryCatalogRepository:
    """Same behaviour as DynamoCatalogRepository (conditions, all-or-nothing writes), in dicts.

    `products`: the products table, shared with an InMemoryOrderRepository when both are given the same one."""

    def __init__(self, settings=None, products: InMemoryProducts | None = None):
        self.table = products or InMemoryProducts()
        self.categories: dict[str, Category] = {}
        self.products = self.table.products
        self.paths = self.table.paths
        self.snapshots: dict[str, PriceSnapshot] = {}
        self.requests = 0
        self._lock = self.table.lock

    # categories

    def get_category(self, category_id: str) -> Category | None:
        self.requests += 1
        found = self.categories.get(category_id)
        return copy.deepcopy(found) if found else None

    def get_categories(self, category_ids: Iterable[str]) -> dict[str, Category]:
        self.requests += 1
        return {i: copy.deepcopy(self.categories[i]) for i in set(category_ids) if i in self.categories}

    def child_named(self, parent_id: str | None, key: str) -> Category | None:
        self.requests += 1
        for category in self.categories.values():
            if category.parent_id == parent_id and category.name_key == key:
                return copy.deepcopy(category)
        return None

    def children_named(self, pairs: list[tuple[str | None, str]]) -> dict[tuple[str | None, str], Category]:
        self.requests += 2
        wanted = set(pairs)
        return {(c.parent_id, c.name_key): copy.deepcopy(c) for c in self.categories.values()
                if (c.parent_id, c.name_key) in wanted}

    def categories_named(self, key: str) -> list[Category]:
        self.requests += 1
        return [copy.deepcopy(c) for c in self.categories.values() if c.name_key == key]

    def list_categories(self, parent_id: str | None, limit: int, cursor: str | None):
        self.requests += 1
        found = [c for c in self.categories.values() if parent_id is None or c.parent_id == (parent_id or None)]
        found.sort(key=lambda c: (c.parent_id or "", c.name_key, c.id))
        return _page([copy.deepcopy(c) for c in found], limit, cursor, key=lambda c: c.id)

    def all_categories(self) -> Iterator[Category]:
        yield from (copy.deepcopy(c) for c in list(self.categories.values()))

    def create_category(self, category: Category) -> None:
        with self._lock:
            self.requests += 1
            if any(c.parent_id == category.parent_id and c.name_key == category.name_key
                   for c in self.categories.values()):
                raise WriteRefused([WriteFailure(NAME_TAKEN)])
            delta = AggregateDelta().add_subcategory(category)
            missing = [i for i in delta.category_ids() if i not in self.categories]
            if missing:
                raise WriteRefused([WriteFailure(CATEGORY_MISSING, category_id=i) for i in missing])
            self.categories[category.id] = copy.deepcopy(category)
            for category_id, level_delta in delta.items():
                apply_delta(self.categories[category_id], level_delta)

    def rename_category(self, category: Category, name: str, now: str) -> Category:
        with self._lock:
            self.requests += 1
            stored = self.categories.get(category.id)
            if stored is None:
                raise WriteRefused([WriteFailure(MISSING)])
            renamed = copy.deepcopy(stored)
            renamed.name, renamed.updated_at = name, now
            if any(c.id != category.id and c.parent_id == category.parent_id and c.name_key == renamed.name_key
                   for c in self.categories.values()):
                raise WriteRefused([WriteFailure(NAME_TAKEN)])
            self.categories[category.id] = renamed
            return copy.deepcopy(renamed)

    def delete_category(self, category: Category) -> None:
        with self._lock:
            self.requests += 1
            stored = self.categories.get(category.id)
            if stored is None:
                raise WriteRefused([WriteFailure(MISSING)])
            if stored.direct_products or stored.direct_children:
                raise WriteRefused([WriteFailure(NOT_EMPTY)])
            del self.categories[category.id]
            for category_id, level_delta in AggregateDelta().add_subcategory(category, -1).items():
                apply_delta(self.categories[category_id], level_delta)

    # products

    def get_product(self, product_id: str) -> Product | None:
        self.requests += 1
        found = self.products.get(product_id)
        return copy.deepcopy(found) if found else None

    def list_products(self, category: Category | None, descendants: bool, limit: int, cursor: str | None):
        self.requests += 1
        if category is None:
            found = sorted(self.products.values(), key=lambda p: self.paths[p.id] + p.id)
        elif descendants:
            found = sorted(
                (p for p in self.products.values() if self.paths[p.id].startswith(category.path)),
                key=lambda p: self.paths[p.id] + p.id,
            )
        else:
            found = sorted(
                (p for p in self.products.values() if p.category_id == category.id), key=lambda p: (p.name_key, p.id)
            )
        return _page([copy.deepcopy(p) for p in found], limit, cursor, key=lambda p: p.id)

    def products_named(self, category_id: str, keys: set[str], stored: int) -> list[Product]:
        self.requests += 1
        return [copy.deepcopy(p) for p in self.products.values() if p.category_id == category_id and p.name_key in keys]

    def products_below(self, top: Category, wanted: dict[str, set[str]]) -> list[Product]:
        self.requests += 1
        return [copy.deepcopy(p) for p in self.products.values()
                if self.paths[p.id].startswith(top.path) and p.name_key in wanted.get(p.category_id, ())]

    def claimed_products(self, wanted: dict[str, set[str]]) -> list[Product]:
        self.requests += 2
        return [copy.deepcopy(p) for p in self.products.values() if p.name_key in wanted.get(p.category_id, ())]

    def backfill_product_claims(self) -> dict[str, int]:
        return {"products": len(self.products), "claimed": 0, "duplicates": 0}

    def backfill_name_sets(self) -> int:
        return 0

    def write(self, writes: list[ProductWrite], delta: AggregateDelta) -> list[Product | None]:
        items = len(writes) + len(delta.items())
        if items > MAX_TRANSACTION_ITEMS:  # DynamoDB refuses it, as CatalogTransaction.commit does
            raise ValueError(f"a transaction holds at most {MAX_TRANSACTION_ITEMS} items, not {items}")
        with self._lock:
            self.requests += 1
            failures = []
            for index, write in enumerate(writes):
                failure = self._check(index, write)
                if failure:
                    failures.append(failure)
            failures += [
                WriteFailure(CATEGORY_MISSING, category_id=i) for i in sorted(delta.category_ids())
                if i not in self.categories
            ]
            if failures:
                raise WriteRefused(failures)
            results = []
            for write in writes:
                results.append(self._apply(write))
            for category_id, level_delta in delta.items():
                apply_delta(self.categories[category_id], level_delta)
            return results

    def _name_holder(self, category_id: str, key: str, other_than: str) -> Product | None:
        return next((p for p in self.products.values()
                     if p.category_id == category_id and p.name_key == key and p.id != other_than), None)

    def _check(self, index: int, write: ProductWrite) -> WriteFailure | None:
        if isinstance(write, CreateProduct):
            if write.product.id in self.products:
                return WriteFailure(CHANGED, index=index)
            taken = self._name_holder(write.product.category_id, write.product.name_key, write.product.id)
            return WriteFailure(NAME_TAKEN, index=index) if taken else None
        if moves_name(write) and self._name_holder(write.after.category_id, write.after.name_key, write.before.id):
            return WriteFailure(NAME_TAKEN, index=index)
        before = write.product if isinstance(write, DeleteProduct) else write.before
        stored = self.products.get(before.id)
        if stored is None:
            return WriteFailure(MISSING, index=index)
        guarded = isinstance(write, DeleteProduct) or write.guards_price
        same = (stored.price_cents, stored.discount_price_cents, stored.category_id) == (
            before.price_cents, before.discount_price_cents, before.category_id)
        stock_ok = not (isinstance(write, UpdateProduct) and "stock" in write.fields
                        and not stock_covers_reserved(write.after.stock, stored.reserved))
        if (guarded and not same) or not stock_ok:
            return refusal(write, index, copy.deepcopy(stored))
        return None

    def _apply(self, write: ProductWrite) -> Product | None:
        if isinstance(write, CreateProduct):
            self.products[write.product.id] = copy.deepcopy(write.product)
            self.paths[write.product.id] = write.category_path
            return copy.deepcopy(write.product)
        if isinstance(write, DeleteProduct):
            del self.products[write.product.id]
            del self.paths[write.product.id]
            return None
        stored = self.products[write.before.id]
        for field in write.fields:
            setattr(stored, field, getattr(write.after, field))
        stored.updated_at = write.after.updated_at
        self.table.set_counters(stored.id, Counters(stored.stock, stored.reserved))
        if "category_id" in write.fields:
            self.paths[stored.id] = write.category_path
        return copy.deepcopy(stored)

    # price history

    def save_snapshots(self, snapshots: list[PriceSnapshot]) -> None:
        self.requests += 1
        for snapshot in snapshots:
            self.snapshots[snapshot_id(snapshot)] = copy.deepcopy(snapshot)

    def list_snapshots(self, category_id: str, limit: int, cursor: str | None):
        self.requests += 1
        found = sorted((s for s in self.snapshots.values() if s.category_id == category_id),
                       key=lambda s: s.taken_at, reverse=True)
        return _page(found, limit, cursor, key=snapshot_id)


def _page(items: list, limit: int, cursor: str | None, key) -> tuple[list, str | None]:
    """Pagination over an in-memory list with the same opaque cursors as the DynamoDB pages."""
    after = decode_cursor(cursor)
    start = 0
    if after:
        keys = [key(item) for item in items]
        last = after["id"]["S"]
        start = keys.index(last) + 1 if last in keys else len(items)
    chunk = items[start:start + limit]
    more = start + limit < len(items)
    return chunk, encode_cursor({"id": {"S": key(chunk[-1])}}) if more and chunk else None
