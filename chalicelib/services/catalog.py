"""Catalog use cases: categories, products, the average price.

Inputs arrive cleaned field by field (chalicelib/api/catalog.py); the rules that need stored state
(the category exists, discount < price against the stored other, stock >= reserved, sibling names
unique, delete only empty categories) are checked here and by the repository's conditions.
"""

from __future__ import annotations

from chalicelib.domain import catalog as rules
from chalicelib.domain.attempts import Attempts
from chalicelib.domain.catalog import (
    BUSY,
    CATEGORY_MISSING,
    CHANGED,
    MISSING,
    NAME_TAKEN,
    NOT_EMPTY,
    STOCK_BELOW_RESERVED,
    AggregateDelta,
    Category,
    CreateProduct,
    DeleteProduct,
    Product,
    UpdateProduct,
    WriteRefused,
)
from chalicelib.domain.clock import utc_now
from chalicelib.domain.errors import Conflict, InvalidInput, NotFound, TryAgain
from chalicelib.ports import Services

# Reads-then-conditional-writes are tried again (with domain/attempts.py's backoff) when a concurrent write
# got there first; transient store failures are retried inside the repository (a TryAgain when they last).
ATTEMPTS = 6


def _attempts(what: str) -> Attempts:
    return Attempts(what, ATTEMPTS)


def _gave_up() -> TryAgain:
    return TryAgain("the item kept changing while it was being written; please try again")


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput("invalid input", details={field: [message]}, code="validation_error")


# --- categories


def get_category(svc: Services, category_id: str) -> Category:
    category = svc.catalog.get_category(category_id)
    if category is None:
        raise NotFound("category not found", code="not_found")
    return category


def list_categories(svc: Services, parent_id: str | None, limit: int, cursor: str | None):
    """`parent_id`: None = every category, "root" (or "null") = the top level, else that category's children."""
    if parent_id is not None and parent_id.lower() not in ("root", "null"):
        get_category(svc, parent_id)
    elif parent_id is not None:
        parent_id = ""
    return svc.catalog.list_categories(parent_id, limit, cursor)


def create_category(svc: Services, name: str, parent_id: str | None) -> Category:
    repo = svc.catalog
    parent = None
    if parent_id is not None:
        parent = repo.get_category(parent_id)
        if parent is None:
            raise _invalid("parent_id", "no such category")
    try:
        category = rules.new_category(name, parent, utc_now())
    except ValueError as error:
        raise _invalid("parent_id", str(error)) from None
    for _ in _attempts("catalog write"):
        try:
            repo.create_category(category)
            return category
        except WriteRefused as refused:
            reasons = {f.reason for f in refused.failures}
            if NAME_TAKEN in reasons:
                raise _name_taken(name) from None
            if CATEGORY_MISSING in reasons:
                raise _invalid("parent_id", "no such category") from None
    raise _gave_up()


def _name_taken(name: str) -> Conflict:
    return Conflict(
        "a category with this name already exists here",
        details={"name": [f"'{name}' is taken under this parent (names are case-insensitive)"]},
        code="duplicate_name",
    )


def update_category(svc: Services, category_id: str, name: str | None, parent_given: bool,
                    parent_id: str | None) -> Category:
    repo = svc.catalog
    for _ in _attempts("catalog write"):
        category = get_category(svc, category_id)
        if parent_given and parent_id != category.parent_id:
            raise Conflict(
                "moving a category to another parent is not supported; create the category under the new parent",
                details={"parent_id": ["cannot be changed"]},
                code="reparent_not_supported",
            )
        if name is None or name == category.name:
            return category
        try:
            return repo.rename_category(category, name, utc_now())
        except WriteRefused as refused:
            reasons = {f.reason for f in refused.failures}
            if NAME_TAKEN in reasons:
                raise _name_taken(name) from None
            if MISSING in reasons:
                raise NotFound("category not found", code="not_found") from None
    raise _gave_up()


def delete_category(svc: Services, category_id: str) -> None:
    repo = svc.catalog
    for _ in _attempts("catalog write"):
        category = get_category(svc, category_id)
        try:
            repo.delete_category(category)
            return
        except WriteRefused as refused:
            reasons = {f.reason for f in refused.failures}
            if MISSING in reasons:
                raise NotFound("category not found", code="not_found") from None
            if NOT_EMPTY in reasons:
                current = repo.get_category(category_id) or category
                raise Conflict(
                    "the category still has products or subcategories",
                    details={"products": current.direct_products, "subcategories": current.direct_children},
                    code="category_not_empty",
                ) from None
    raise _gave_up()


def average_price(svc: Services, category_id: str) -> rules.AveragePrice:
    """SPEC §5: one read of the category's own aggregates, whatever the size of the catalog."""
    return get_category(svc, category_id).average()


# --- products


def get_product(svc: Services, product_id: str) -> Product:
    product = svc.catalog.get_product(product_id)
    if product is None:
        raise NotFound("product not found", code="not_found")
    return product


def list_products(svc: Services, category_id: str | None, descendants: bool, limit: int, cursor: str | None):
    category = get_category(svc, category_id) if category_id is not None else None
    return svc.catalog.list_products(category, descendants, limit, cursor)


def _existing_category(svc: Services, category_id: str) -> Category:
    category = svc.catalog.get_category(category_id)
    if category is None:
        raise _invalid("category_id", "no such category")
    return category


def create_product(
    svc: Services, name: str, price_cents: int, discount_price_cents: int | None, stock: int, category_id: str
) -> Product:
    try:
        rules.check_discount_below_price(price_cents, discount_price_cents, "discount_price")
    except ValueError as error:
        raise _invalid("discount_price", str(error)) from None
    category = _existing_category(svc, category_id)
    product = rules.new_product(name, price_cents, discount_price_cents, stock, category.id, utc_now())
    delta = AggregateDelta().add_product(category, price_cents)
    for _ in _attempts("catalog write"):
        try:
            return svc.catalog.write([CreateProduct(product, category.path)], delta)[0]
        except WriteRefused as refused:
            if any(f.reason == CATEGORY_MISSING for f in refused.failures):
                raise _invalid("category_id", "no such category") from None
            if any(f.reason == NAME_TAKEN for f in refused.failures):
                raise _product_name_taken(name) from None
    raise _gave_up()


def update_product(svc: Services, product_id: str, changes: dict) -> Product:
    """Sets `changes` (EDITABLE field -> cleaned value); PUT passes all of them, PATCH those given."""
    repo = svc.catalog
    for _ in _attempts("catalog write"):
        before = get_product(svc, product_id)
        after = rules.edited(before, changes, utc_now())
        moved = after.category_id != before.category_id
        # An unchanged category needs no write (and no read of the category).
        fields = tuple(f for f in rules.EDITABLE if f in changes and (f != "category_id" or moved))
        changed_field = "price" if "price_cents" in changes and "discount_price_cents" not in changes else (
            "discount_price")
        try:
            rules.check_discount_below_price(after.price_cents, after.discount_price_cents, changed_field)
        except ValueError as error:
            raise _invalid(changed_field, str(error)) from None
        if "stock" in changes and after.stock < before.reserved:
            raise _stock_below_reserved(after.stock, before.reserved)
        categories = {}
        if moved or after.price_cents != before.price_cents:
            categories = repo.get_categories({before.category_id, after.category_id})
            if moved and after.category_id not in categories:
                raise _invalid("category_id", "no such category")
        path = categories[after.category_id].path if moved else ""
        write = UpdateProduct(before, after, fields, path)
        delta = rules.write_delta([write], categories) if categories else AggregateDelta()
        try:
            return repo.write([write], delta)[0]
        except WriteRefused as refused:
            reasons = {f.reason for f in refused.failures}
            if MISSING in reasons:
                raise NotFound("product not found", code="not_found") from None
            if NAME_TAKEN in reasons:
                raise _product_name_taken(after.name) from None
            if STOCK_BELOW_RESERVED in reasons:
                current = next(f.current for f in refused.failures if f.reason == STOCK_BELOW_RESERVED)
                raise _stock_below_reserved(after.stock, current.reserved) from None
            if CATEGORY_MISSING in reasons and moved and repo.get_category(after.category_id) is None:
                raise _invalid("category_id", "no such category") from None
            if not reasons <= {CHANGED, BUSY, CATEGORY_MISSING}:
                raise
    raise _gave_up()


def _product_name_taken(name: str) -> Conflict:
    return Conflict(
        "a product with this name already exists in this category",
        details={"name": [f"'{name}' is taken in this category (names are case-insensitive)"]},
        code="duplicate_name",
    )


def _stock_below_reserved(stock: int, reserved: int) -> Conflict:
    return Conflict(
        f"stock cannot go below the {reserved} unit(s) reserved by pending orders",
        details={"stock": [f"must be at least {reserved} (reserved by pending orders)"], "reserved": reserved},
        code="stock_below_reserved",
    )


def delete_product(svc: Services, product_id: str) -> None:
    repo = svc.catalog
    for _ in _attempts("catalog write"):
        product = get_product(svc, product_id)
        category = repo.get_category(product.category_id)
        # A category with products cannot be deleted; a product written around the catalog's rules
        # (test seeds) may name a missing one, and then there is no aggregate to change.
        delta = rules.write_delta([DeleteProduct(product)], {category.id: category} if category else {})
        try:
            repo.write([DeleteProduct(product)], delta)
            return
        except WriteRefused as refused:
            if any(f.reason == MISSING for f in refused.failures):
                raise NotFound("product not found", code="not_found") from None
    raise _gave_up()
