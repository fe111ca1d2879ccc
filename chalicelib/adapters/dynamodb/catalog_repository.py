"""Catalog storage: categories, products, their aggregates and the price history.

`DynamoCatalogRepository` keeps every write and its aggregate change in ONE TransactWriteItems, so the
per-category sums and counts (see chalicelib/domain/catalog.py) are never out of step with the
products. `tests/fakes/catalog.py` has the same behaviour for unit tests and property tests.

Every product update is conditional on what the caller read (price, discount and category unchanged)
so that the aggregate delta computed from it is exact; refusals come back as `WriteRefused` with one
`WriteFailure` per refusing item (reason, and the stored product when known).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from functools import partial

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.adapters.dynamodb import retry
from chalicelib.adapters.dynamodb.catalog import (
    PRODUCT_KIND,
    ROOT_PARENT,
    CategoriesNamedRecord,
    CategoryNameClaim,
    CategoryRecord,
    PriceSnapshotRecord,
    ProductNameClaim,
    ProductRecord,
)
from chalicelib.adapters.dynamodb.catalog_expressions import (
    aggregate_actions,
    claim_of,
    unchanged_price_condition,
    update_name_set,
    update_product_args,
)
from chalicelib.adapters.dynamodb.catalog_keys import claim_id, named_id, product_claim_id, snapshot_id
from chalicelib.adapters.dynamodb.catalog_mappers import (
    category_from_record,
    category_to_record,
    lookup_products,
    product_from_record,
    product_to_record,
    snapshot_from_record,
)
from chalicelib.adapters.dynamodb.catalog_transaction import CatalogTransaction
from chalicelib.adapters.dynamodb.pages import page
from chalicelib.domain import catalog as rules
from chalicelib.domain.catalog import (
    BUSY,
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
    moves_name,
    plausible_id,
    refusal,
)

# What an upload needs to match and plan a row: fewer attributes, a cheaper read (notably on the emulator).
LOOKUP_ATTRIBUTES = ["id", "name", "price_cents", "discount_price_cents", "stock", "reserved", "created_at"]


class DynamoCatalogRepository:
    def __init__(self, settings=None):
        pass  # models are bound to the stage by bootstrap.services()

    # --- categories

    def get_category(self, category_id: str) -> Category | None:
        if not plausible_id(category_id):
            return None
        try:
            record = retry.call(partial(CategoryRecord.get, category_id, consistent_read=True), "GetItem")
            return category_from_record(record)
        except DoesNotExist:
            return None

    def get_categories(self, category_ids: Iterable[str]) -> dict[str, Category]:
        ids = sorted({i for i in category_ids if plausible_id(i)})
        if not ids:
            return {}
        return {r.id: category_from_record(r) for r in retry.model_batch_get(CategoryRecord, ids)}

    def child_named(self, parent_id: str | None, key: str) -> Category | None:
        try:
            claim = retry.call(
                partial(CategoryNameClaim.get, claim_id(parent_id, key), consistent_read=True), "GetItem")
        except DoesNotExist:
            return None
        return self.get_category(claim.category_id)

    def children_named(self, pairs: list[tuple[str | None, str]]) -> dict[tuple[str | None, str], Category]:
        """Many (parent id, name key) lookups at once: a BatchGetItem of claims, then one of categories."""
        wanted = {claim_id(parent_id, key): (parent_id, key) for parent_id, key in pairs}
        claims = {c.id: c.category_id for c in retry.model_batch_get(CategoryNameClaim, wanted)}
        categories = self.get_categories(claims.values()) if claims else {}
        return {wanted[cid]: categories[category_id] for cid, category_id in claims.items()
                if category_id in categories}

    def categories_named(self, key: str) -> list[Category]:
        """Every category with this name key, anywhere: one consistent GetItem of the name's set (never the
        `by-name` index, which may lag on AWS), then the categories."""
        try:
            named = retry.call(partial(CategoriesNamedRecord.get, named_id(key), consistent_read=True), "GetItem")
        except DoesNotExist:
            return []
        found = self.get_categories(named.category_ids or ())
        return [found[i] for i in sorted(found) if found[i].name_key == key]

    def list_categories(self, parent_id: str | None, limit: int, cursor: str | None):
        """Children of `parent_id` by name ("" = top level); None = every category."""
        if parent_id is None:
            records, next_cursor = page(CategoryRecord.by_parent.scan, limit, cursor)
        else:
            run = partial(CategoryRecord.by_parent.query, parent_id or ROOT_PARENT)
            records, next_cursor = page(run, limit, cursor)
        return [category_from_record(r) for r in records], next_cursor

    def all_categories(self) -> Iterator[Category]:
        for record in CategoryRecord.by_parent.scan():
            yield category_from_record(record)

    def create_category(self, category: Category) -> None:
        transaction = CatalogTransaction()
        transaction.put(category_to_record(category), "category", CategoryRecord.id.does_not_exist())
        claim = CategoryNameClaim(id=claim_id(category.parent_id, category.name_key), category_id=category.id)
        transaction.put(claim, "claim", CategoryNameClaim.id.does_not_exist())
        update_name_set(transaction, category.name_key, category.id, add=True)
        for ancestor_id, delta in AggregateDelta().add_subcategory(category).items():
            transaction.update(
                CategoryRecord(id=ancestor_id), ancestor_id, aggregate_actions(delta), CategoryRecord.id.exists()
            )
        refused = transaction.commit()
        if refused:
            raise _category_failures(refused, CHANGED)

    def rename_category(self, category: Category, name: str, now: str) -> Category:
        renamed = copy.deepcopy(category)
        renamed.name, renamed.updated_at = name, now
        actions = [CategoryRecord.name.set(name), CategoryRecord.name_key.set(renamed.name_key),
                   CategoryRecord.updated_at.set(now)]
        condition = CategoryRecord.id.exists() & (CategoryRecord.name_key == category.name_key)
        if renamed.name_key == category.name_key:
            try:
                update = partial(CategoryRecord(id=category.id).update, actions=actions, condition=condition)
                retry.call(update, "UpdateItem category")  # sets absolute values: safe to repeat
            except UpdateError as error:
                if error.cause_response_code == "ConditionalCheckFailedException":
                    raise WriteRefused([WriteFailure(MISSING, category_id=category.id)]) from None
                raise
            return renamed
        transaction = CatalogTransaction()
        transaction.update(CategoryRecord(id=category.id), "category", actions, condition)
        transaction.delete(CategoryNameClaim(id=claim_id(category.parent_id, category.name_key)), "old-claim")
        claim = CategoryNameClaim(id=claim_id(category.parent_id, renamed.name_key), category_id=category.id)
        transaction.put(claim, "claim", CategoryNameClaim.id.does_not_exist())
        update_name_set(transaction, category.name_key, category.id, add=False)
        update_name_set(transaction, renamed.name_key, category.id, add=True)
        refused = transaction.commit()
        if refused:
            raise _category_failures(refused, CHANGED)
        return renamed

    def delete_category(self, category: Category) -> None:
        transaction = CatalogTransaction()
        empty = (CategoryRecord.product_counts[0] == 0) & (CategoryRecord.subcategory_counts[1] == 0)
        transaction.delete(CategoryRecord(id=category.id), "category", CategoryRecord.id.exists() & empty)
        transaction.delete(CategoryNameClaim(id=claim_id(category.parent_id, category.name_key)), "old-claim")
        update_name_set(transaction, category.name_key, category.id, add=False)
        for ancestor_id, delta in AggregateDelta().add_subcategory(category, -1).items():
            transaction.update(
                CategoryRecord(id=ancestor_id), ancestor_id, aggregate_actions(delta), CategoryRecord.id.exists()
            )
        refused = transaction.commit()
        if refused:
            raise _category_failures(refused, NOT_EMPTY)

    # --- products

    def get_product(self, product_id: str) -> Product | None:
        if not plausible_id(product_id):
            return None
        try:
            record = retry.call(partial(ProductRecord.get, product_id, consistent_read=True), "GetItem")
            return product_from_record(record)
        except DoesNotExist:
            return None

    def list_products(self, category: Category | None, descendants: bool, limit: int, cursor: str | None):
        if category is None:
            run = partial(ProductRecord.by_path.query, PRODUCT_KIND)
        elif descendants:
            run = partial(
                ProductRecord.by_path.query, PRODUCT_KIND, ProductRecord.path_key.startswith(category.path)
            )
        else:
            run = partial(ProductRecord.by_category.query, category.id)
        records, next_cursor = page(run, limit, cursor)
        return [product_from_record(r) for r in records], next_cursor

    def products_named(self, category_id: str, keys: set[str], stored: int) -> list[Product]:
        """The products of one category whose name key is in `keys` (`stored`: how many it holds).

        Read through the name claims (consistent BatchGetItems of claims, then of products), never an
        index: an index may not show a product written a moment ago. Only the attributes an upsert needs
        are read (`updated_at` is left empty)."""
        return self.claimed_products({category_id: keys})

    def products_below(self, top: Category, wanted: dict[str, set[str]]) -> list[Product]:
        """The products of `top`'s subtree in the categories and with the name keys of `wanted`."""
        return self.claimed_products(wanted)

    def claimed_products(self, wanted: dict[str, set[str]]) -> list[Product]:
        """{category id: name keys} -> the products holding those names (a product created before name
        claims existed is found once `backfill_product_claims` has run)."""
        ids = [product_claim_id(category_id, key) for category_id, keys in wanted.items() for key in keys]
        if not ids:
            return []
        claims = retry.model_batch_get(ProductNameClaim, ids)
        records = retry.model_batch_get(ProductRecord, {c.product_id for c in claims},
                                        attributes_to_get=[*LOOKUP_ATTRIBUTES, "category_id"])
        return lookup_products(records, wanted)

    def backfill_name_sets(self) -> int:
        """Adds every category to its name's set (for categories stored before the sets; idempotent)."""
        records = retry.call(lambda: list(CategoryRecord.scan(
            CategoryRecord.path.exists(), consistent_read=True, attributes_to_get=["id", "name_key", "path"])), "Scan")
        count = 0
        for record in records:
            if ":" in record.id:
                continue
            action = CategoriesNamedRecord.category_ids.add({record.id})
            retry.call(partial(CategoriesNamedRecord(id=named_id(record.name_key)).update, actions=[action]),
                       "UpdateItem name set")
            count += 1
        return count

    def backfill_product_claims(self) -> dict[str, int]:
        """Name claims for products stored before claims existed (idempotent; run once after deploying).

        Reads the products table itself (not an index); of products sharing a name in one category (only
        possible before claims), the oldest gets the claim, as bulk upload used to pick it."""
        counts = {"products": 0, "claimed": 0, "duplicates": 0}
        records = retry.call(lambda: list(ProductRecord.scan(
            consistent_read=True, attributes_to_get=["id", "name", "category_id", "created_at"])), "Scan")
        products = sorted(records, key=lambda r: (r.created_at, r.id))
        counts["products"] = len(products)
        for chunk in retry.chunks(products, 100):
            wanted = {product_claim_id(r.category_id, rules.name_key(r.name)): r for r in reversed(chunk)}
            held = {c.id: c.product_id for c in retry.model_batch_get(ProductNameClaim, wanted)}
            for claim_id_, record in sorted(wanted.items(), key=lambda item: (item[1].created_at, item[1].id)):
                if claim_id_ in held:
                    counts["duplicates"] += held[claim_id_] != record.id
                    continue
                claim = ProductNameClaim(id=claim_id_, product_id=record.id)
                try:
                    retry.call(partial(claim.save, condition=ProductNameClaim.id.does_not_exist()), "PutItem claim")
                    counts["claimed"] += 1
                except PutError as error:
                    if error.cause_response_code != "ConditionalCheckFailedException":
                        raise
                    counts["duplicates"] += 1
            counts["duplicates"] += len(chunk) - len(wanted)  # same name twice within the chunk
        return counts

    def write(self, writes: list[ProductWrite], delta: AggregateDelta) -> list[Product | None]:
        """Applies `writes` and `delta` atomically; returns each write's product (None for deletes)."""
        if len(writes) == 1 and isinstance(writes[0], UpdateProduct) and not delta and not moves_name(writes[0]):
            return [self._update_alone(writes[0])]
        owned = self._owned_claims(writes)
        transaction = CatalogTransaction()
        for index, write in enumerate(writes):
            if isinstance(write, CreateProduct):
                # A new random 128-bit id: no condition needed (and none to evaluate 100 times a batch);
                # its name claim is the uniqueness check.
                transaction.put(product_to_record(write.product, write.category_path), index)
                transaction.put(claim_of(write.product), ("claim", index), ProductNameClaim.id.does_not_exist())
            elif isinstance(write, DeleteProduct):
                transaction.delete(ProductRecord(id=write.product.id), index, unchanged_price_condition(write.product))
                self._release_claim(transaction, write.product, index, owned)
            else:
                actions, condition = update_product_args(write)
                if moves_name(write):
                    condition &= ProductRecord.name_key == write.before.name_key  # the claim read is still its own
                    transaction.put(claim_of(write.after), ("claim", index), ProductNameClaim.id.does_not_exist())
                    self._release_claim(transaction, write.before, index, owned)
                transaction.update(ProductRecord(id=write.before.id), index, actions, condition)
        for category_id, level_delta in delta.items():
            transaction.update(
                CategoryRecord(id=category_id), category_id, aggregate_actions(level_delta), CategoryRecord.id.exists()
            )
        refused = transaction.commit()
        if refused:
            raise WriteRefused([self._failure(writes, tag, reason) for tag, reason in refused])
        return [_result(write) for write in writes]

    @staticmethod
    def _owned_claims(writes: list[ProductWrite]) -> set[str]:
        """The name claims that deletes and renames/moves give up, among those held by their product
        (one consistent BatchGetItem; a product from before claims may hold none)."""
        leaving = {}
        for write in writes:
            if isinstance(write, DeleteProduct):
                leaving[product_claim_id(write.product.category_id, write.product.name_key)] = write.product.id
            elif moves_name(write):
                leaving[product_claim_id(write.before.category_id, write.before.name_key)] = write.before.id
        if not leaving:
            return set()
        return {c.id for c in retry.model_batch_get(ProductNameClaim, leaving) if leaving[c.id] == c.product_id}

    @staticmethod
    def _release_claim(transaction: CatalogTransaction, product: Product, index: int, owned: set[str]) -> None:
        claim_key = product_claim_id(product.category_id, product.name_key)
        if claim_key in owned:
            transaction.delete(ProductNameClaim(id=claim_key), ("old-claim", index),
                               ProductNameClaim.product_id == product.id)

    def _update_alone(self, write: UpdateProduct) -> Product:
        """One update that changes no aggregate: a plain UpdateItem, answering the stored result."""
        actions, condition = update_product_args(write)
        record = ProductRecord(id=write.before.id)
        try:
            # Sets absolute values (available = the new stock - reserved): safe to repeat. A repeat after
            # an effective 500 may fail the unchanged-price condition: the service reads again and retries.
            retry.call(partial(record.update, actions=actions, condition=condition), "UpdateItem product")
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise WriteRefused([refusal(write, 0, self.get_product(write.before.id))]) from None
            raise
        return product_from_record(record)

    @staticmethod
    def _failure(writes: list[ProductWrite], tag, reason) -> WriteFailure:
        if isinstance(tag, tuple):  # a name claim
            kind, index = tag
            if kind == "claim" and reason.code == "ConditionalCheckFailed":
                return WriteFailure(NAME_TAKEN, index=index)
            return WriteFailure(BUSY, index=index)  # the old claim changed hands meanwhile: read again
        if tag is None or reason.code in retry.RETRYABLE_REASONS:
            return WriteFailure(BUSY, index=tag if isinstance(tag, int) else None)
        if isinstance(tag, int):
            stored = product_from_record(ProductRecord.from_raw_data(reason.raw_item)) if reason.raw_item else None
            return refusal(writes[tag], tag, stored)
        return WriteFailure(CATEGORY_MISSING, category_id=tag)

    # --- price history

    def save_snapshots(self, snapshots: list[PriceSnapshot]) -> None:
        retry.model_batch_put(PriceSnapshotRecord, [
            PriceSnapshotRecord(
                id=snapshot_id(snapshot),
                snapshot_of=snapshot.category_id,
                taken_at=snapshot.taken_at,
                price_sum_cents=snapshot.price_sum_cents,
                products_count=snapshot.products_count,
                subcategory_count=snapshot.subcategory_count,
            )
            for snapshot in snapshots
        ])

    def list_snapshots(self, category_id: str, limit: int, cursor: str | None):
        """Newest first."""
        run = partial(PriceSnapshotRecord.by_snapshot.query, category_id, scan_index_forward=False)
        records, next_cursor = page(run, limit, cursor)
        return [snapshot_from_record(r) for r in records], next_cursor


def _category_failures(refused: list, when_present: str) -> WriteRefused:
    """Refusals of a category write; `when_present`: the reason if the category itself refused but exists."""
    failures = []
    for tag, reason in refused:
        if tag is None or reason.code in retry.RETRYABLE_REASONS or tag in ("old-claim", "named"):
            failures.append(WriteFailure(BUSY))
        elif tag == "claim":
            failures.append(WriteFailure(NAME_TAKEN))
        elif tag == "category":
            failures.append(WriteFailure(when_present if reason.raw_item else MISSING))
        else:
            failures.append(WriteFailure(CATEGORY_MISSING, category_id=tag))
    return WriteRefused(failures)




def _result(write: ProductWrite) -> Product | None:
    if isinstance(write, CreateProduct):
        return write.product
    if isinstance(write, UpdateProduct):
        return write.after
    return None
