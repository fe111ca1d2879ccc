"""Catalog records <-> domain objects."""

from __future__ import annotations

from chalicelib.adapters.dynamodb.catalog import (
    PRODUCT_KIND,
    ROOT_PARENT,
    CategoryRecord,
    PriceSnapshotRecord,
    ProductRecord,
)
from chalicelib.domain.catalog import (
    Category,
    PriceSnapshot,
    Product,
)


def category_from_record(record: CategoryRecord) -> Category:
    return Category(
        id=record.id,
        name=record.name,
        parent_id=record.parent_id,
        ancestors=tuple(record.ancestors or ()),
        created_at=record.created_at,
        updated_at=record.updated_at,
        price_sums=[int(v) for v in record.price_sums],
        product_counts=[int(v) for v in record.product_counts],
        subcategory_counts=[int(v) for v in record.subcategory_counts],
    )


def category_to_record(category: Category) -> CategoryRecord:
    return CategoryRecord(
        id=category.id,
        name=category.name,
        name_key=category.name_key,
        parent_id=category.parent_id,
        parent_key=category.parent_id or ROOT_PARENT,
        ancestors=list(category.ancestors),
        path=category.path,
        depth=category.depth,
        price_sums=list(category.price_sums),
        product_counts=list(category.product_counts),
        subcategory_counts=list(category.subcategory_counts),
        created_at=category.created_at,
        updated_at=category.updated_at,
    )


def product_from_record(record: ProductRecord) -> Product:
    discount = record.discount_price_cents
    return Product(
        id=record.id,
        name=record.name,
        category_id=record.category_id,
        price_cents=int(record.price_cents),
        discount_price_cents=None if discount is None else int(discount),
        stock=int(record.stock),
        reserved=int(record.reserved),
        available=int(record.available),
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def product_to_record(product: Product, category_path: str) -> ProductRecord:
    return ProductRecord(
        id=product.id,
        kind=PRODUCT_KIND,
        name=product.name,
        name_key=product.name_key,
        category_id=product.category_id,
        path_key=category_path + product.id,
        price_cents=product.price_cents,
        discount_price_cents=product.discount_price_cents,
        stock=product.stock,
        reserved=product.reserved,
        available=product.available,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


def snapshot_from_record(record: PriceSnapshotRecord) -> PriceSnapshot:
    return PriceSnapshot(
        category_id=record.snapshot_of,
        taken_at=record.taken_at,
        price_sum_cents=int(record.price_sum_cents),
        products_count=int(record.products_count),
        subcategory_count=int(record.subcategory_count),
    )


def lookup_products(records, wanted: dict[str, set[str]], category_id: str | None = None) -> list[Product]:
    products = []
    for record in records:
        if category_id is not None:
            record.category_id = category_id
        record.updated_at = ""
        record.available = int(record.stock) - int(record.reserved)
        product = product_from_record(record)
        if product.name_key in wanted.get(product.category_id, ()):
            products.append(product)
    return products
