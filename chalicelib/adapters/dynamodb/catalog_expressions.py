"""Update actions and conditions of catalog writes (PynamoDB expressions), and the items they add to a transaction."""

from __future__ import annotations

from pynamodb.expressions.operand import Value

from chalicelib.adapters.dynamodb.catalog import (
    CategoriesNamedRecord,
    CategoryRecord,
    ProductNameClaim,
    ProductRecord,
)
from chalicelib.adapters.dynamodb.catalog_keys import named_id, product_claim_id
from chalicelib.adapters.dynamodb.catalog_transaction import CatalogTransaction
from chalicelib.domain.catalog import (
    LevelDelta,
    Product,
    UpdateProduct,
)


def update_name_set(transaction: CatalogTransaction, key: str, category_id: str, add: bool) -> None:
    """Adds a category to (or removes it from) the set of categories with its name; idempotent."""
    R = CategoriesNamedRecord
    action = R.category_ids.add({category_id}) if add else R.category_ids.delete({category_id})
    transaction.update(R(id=named_id(key)), "named", [action])


def claim_of(product: Product) -> ProductNameClaim:
    return ProductNameClaim(id=product_claim_id(product.category_id, product.name_key), product_id=product.id)


def aggregate_actions(delta: LevelDelta) -> list:
    actions = []
    for name, level, amount in delta.changes():
        path = getattr(CategoryRecord, name)[level]
        actions.append(path.set(path + amount))
    return actions


def unchanged_price_condition(before: Product):
    condition = (ProductRecord.price_cents == before.price_cents) & (ProductRecord.category_id == before.category_id)
    if before.discount_price_cents is None:
        return condition & ProductRecord.discount_price_cents.does_not_exist()
    return condition & (ProductRecord.discount_price_cents == before.discount_price_cents)


def update_product_args(write: UpdateProduct) -> tuple[list, object]:
    after = write.after
    actions = [ProductRecord.updated_at.set(after.updated_at)]
    for field in write.fields:
        if field == "name":
            actions += [ProductRecord.name.set(after.name), ProductRecord.name_key.set(after.name_key)]
        elif field == "price_cents":
            actions.append(ProductRecord.price_cents.set(after.price_cents))
        elif field == "discount_price_cents":
            if after.discount_price_cents is None:
                actions.append(ProductRecord.discount_price_cents.remove())
            else:
                actions.append(ProductRecord.discount_price_cents.set(after.discount_price_cents))
        elif field == "category_id":
            actions += [
                ProductRecord.category_id.set(after.category_id),
                ProductRecord.path_key.set(write.category_path + after.id),
            ]
        elif field == "stock":
            # available = stock - reserved, in the same expression that sets stock.
            actions += [
                ProductRecord.stock.set(after.stock),
                ProductRecord.available.set(Value(after.stock) - ProductRecord.reserved),
            ]
        else:
            raise ValueError(f"not an editable field: {field}")
    # Every comparison fails on a missing item, so `attribute_exists(id)` is needed only without them
    # (fewer terms: conditions are parsed per item, which is what a 100-item batch costs on the emulator).
    terms = []
    if write.guards_price:
        terms.append(unchanged_price_condition(write.before))
    if "stock" in write.fields:
        terms.append(ProductRecord.reserved <= after.stock)
    condition = terms[0] if terms else ProductRecord.id.exists()
    for term in terms[1:]:
        condition &= term
    return actions, condition
