"""The catalog port (DynamoCatalogRepository / InMemoryCatalogRepository), driven through the catalog and bulk
import use cases (where its refusals become domain errors), plus the repository's own refusals of stale writes."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.bootstrap import services
from chalicelib.domain.catalog import (
    MISSING,
    STOCK_BELOW_RESERVED,
    AggregateDelta,
    AveragePrice,
    UpdateProduct,
    WriteRefused,
)
from chalicelib.domain.errors import Conflict, InvalidInput, NotFound
from chalicelib.services import bulk_import
from chalicelib.services import catalog as service
from tests.contracts.conftest import same_error, uid
from tests.support.catalog import csv_text


class Catalog:
    def __init__(self, repo, reserve):
        self.repo = repo
        self.reserve = reserve  # (product id, units): what placing an order does to a product


@pytest.fixture
def catalog(impl):
    if impl == "fake":
        from tests.support.catalog import memory_catalog

        def reserve(product_id: str, units: int) -> None:
            p = fake.products[product_id]
            fake.products[product_id] = dataclasses.replace(p, reserved=p.reserved + units,
                                                            available=p.available - units)

        with memory_catalog() as fake:
            yield Catalog(fake, reserve)
    else:
        from tests.support.orders import Seeder

        seeder = Seeder.for_settings(services().settings)

        def reserve(product_id: str, units: int) -> None:
            seeder.db.update_item(
                TableName=seeder.table("products"), Key={"id": {"S": product_id}},
                UpdateExpression="SET reserved = reserved + :q, available = available - :q",
                ExpressionAttributeValues={":q": {"N": str(units)}},
            )

        yield Catalog(services().catalog, reserve)


def test_categories_nest_and_names_are_unique_among_siblings(catalog):
    top = service.create_category(services(), uid("Top"), None)
    child = service.create_category(services(), "Laptops", top.id)
    assert service.get_category(services(), child.id) == child and child.parent_id == top.id
    with pytest.raises(Conflict) as raised:
        service.create_category(services(), " LAPTOPS ", top.id)
    same_error(raised, Conflict, "duplicate_name",
               {"name": ["' LAPTOPS ' is taken under this parent (names are case-insensitive)"]})
    other = service.create_category(services(), "Other", top.id)
    service.create_category(services(), "Laptops", other.id)  # the same name under another parent
    with pytest.raises(Conflict) as raised:
        service.update_category(services(), other.id, "laptops", False, None)
    same_error(raised, Conflict, "duplicate_name")
    renamed = service.update_category(services(), other.id, "Phones", False, None)
    assert renamed.name == "Phones" and service.get_category(services(), other.id).name == "Phones"
    service.create_category(services(), "Other", top.id)  # the old name is free again
    names, cursor = [], None
    while True:
        page, cursor = service.list_categories(services(), top.id, 2, cursor)
        names += [c.name for c in page]
        if not cursor:
            break
    assert sorted(names) == ["Laptops", "Other", "Phones"]


def test_unknown_parents_and_categories(catalog):
    with pytest.raises(InvalidInput) as raised:
        service.create_category(services(), uid("c"), uid("nope"))
    same_error(raised, InvalidInput, "validation_error", {"parent_id": ["no such category"]})
    with pytest.raises(InvalidInput) as raised:
        service.create_product(services(), uid("p"), 100, None, 1, uid("nope"))
    same_error(raised, InvalidInput, "validation_error", {"category_id": ["no such category"]})
    for call in (lambda: service.get_category(services(), uid("nope")),
                 lambda: service.delete_category(services(), uid("nope")),
                 lambda: service.update_category(services(), uid("nope"), "x", False, None),
                 lambda: service.get_product(services(), uid("nope")),
                 lambda: service.delete_product(services(), uid("nope")),
                 lambda: service.update_product(services(), uid("nope"), {"stock": 1})):
        with pytest.raises(NotFound) as raised:
            call()
        same_error(raised, NotFound, "not_found")


def test_product_names_are_claimed_per_category(catalog):
    top = service.create_category(services(), uid("Top"), None)
    a, b = service.create_category(services(), "A", top.id), service.create_category(services(), "B", top.id)
    lamp = service.create_product(services(), "Lamp", 1500, None, 3, a.id)
    assert service.get_product(services(), lamp.id) == lamp
    with pytest.raises(Conflict) as raised:
        service.create_product(services(), "LAMP", 900, None, 1, a.id)
    same_error(raised, Conflict, "duplicate_name",
               {"name": ["'LAMP' is taken in this category (names are case-insensitive)"]})
    other = service.create_product(services(), "lamp", 900, None, 1, b.id)  # another category: its own claim
    with pytest.raises(Conflict) as raised:
        service.update_product(services(), other.id, {"category_id": a.id})  # moving into a category that has the name
    same_error(raised, Conflict, "duplicate_name")
    service.update_product(services(), lamp.id, {"name": "Desk lamp"})  # renaming frees the old claim
    moved = service.update_product(services(), other.id, {"category_id": a.id})
    assert moved.category_id == a.id
    service.delete_product(services(), moved.id)
    assert service.create_product(services(), "Lamp", 100, None, 1, a.id).name == "Lamp"  # deleting frees it too


def test_aggregates_follow_every_write(catalog):
    top = service.create_category(services(), uid("Top"), None)
    sub = service.create_category(services(), "Sub", top.id)
    p1 = service.create_product(services(), uid("p"), 1000, None, 1, top.id)
    p2 = service.create_product(services(), uid("p"), 3000, 2000, 1, sub.id)
    assert service.average_price(services(), top.id) == AveragePrice(top.id, top.name, "20.00", 2, 1)
    service.update_product(services(), p1.id, {"price_cents": 4000})
    assert service.average_price(services(), top.id).average_price == "35.00"  # list prices, not discounts
    service.update_product(services(), p1.id, {"category_id": sub.id})
    assert service.average_price(services(), sub.id).products_count == 2
    assert service.average_price(services(), sub.id).average_price == "35.00"
    service.delete_product(services(), p2.id)
    assert service.average_price(services(), top.id).average_price == "40.00"
    assert service.average_price(services(), top.id).products_count == 1


def test_deleting_a_category_needs_it_empty(catalog):
    top = service.create_category(services(), uid("Top"), None)
    sub = service.create_category(services(), "Sub", top.id)
    product = service.create_product(services(), uid("p"), 100, None, 1, sub.id)
    with pytest.raises(Conflict) as raised:
        service.delete_category(services(), top.id)
    same_error(raised, Conflict, "category_not_empty", {"products": 0, "subcategories": 1})
    with pytest.raises(Conflict) as raised:
        service.delete_category(services(), sub.id)
    same_error(raised, Conflict, "category_not_empty", {"products": 1, "subcategories": 0})
    service.delete_product(services(), product.id)
    service.delete_category(services(), sub.id)
    service.delete_category(services(), top.id)
    with pytest.raises(NotFound):
        service.get_category(services(), top.id)
    with pytest.raises(NotFound):
        service.delete_category(services(), top.id)


def test_stock_cannot_go_below_what_orders_reserve(catalog):
    top = service.create_category(services(), uid("Top"), None)
    product = service.create_product(services(), uid("p"), 100, None, 5, top.id)
    catalog.reserve(product.id, 3)
    with pytest.raises(Conflict) as raised:
        service.update_product(services(), product.id, {"stock": 2})
    same_error(raised, Conflict, "stock_below_reserved",
               {"stock": ["must be at least 3 (reserved by pending orders)"], "reserved": 3})
    updated = service.update_product(services(), product.id, {"stock": 4})
    assert (updated.stock, updated.reserved, updated.available) == (4, 3, 1)
    assert service.get_product(services(), product.id) == updated


def test_a_stale_write_is_refused_by_the_store(catalog):
    top = service.create_category(services(), uid("Top"), None)
    product = service.create_product(services(), uid("p"), 100, None, 5, top.id)
    stale = service.get_product(services(), product.id)
    catalog.reserve(product.id, 4)
    after = dataclasses.replace(stale, stock=3, available=3)
    with pytest.raises(WriteRefused) as raised:
        catalog.repo.write([UpdateProduct(stale, after, ("stock",), "")], AggregateDelta())
    assert {f.reason for f in raised.value.failures} == {STOCK_BELOW_RESERVED}
    assert service.get_product(services(), product.id).stock == 5
    service.delete_product(services(), product.id)
    with pytest.raises(WriteRefused) as raised:
        catalog.repo.write([UpdateProduct(stale, after, ("stock",), "")], AggregateDelta())
    assert {f.reason for f in raised.value.failures} == {MISSING}


def test_bulk_upload_creates_then_updates(catalog):
    top = uid("Bulk")
    rows = [("Lamp", 3, "15.00", f"{top}/Lighting"), ("Desk", 1, 120, f"{top}/Furniture"), ("Bad", -1, 1, top)]
    first = bulk_import.upload(services(), csv_text(rows).encode(), "text/csv")
    assert (first.created, first.updated, list(first.errors)) == (2, 0, [3])
    assert first.status == 207
    again = bulk_import.upload(services(), csv_text([("lamp", 5, "20.00", f"{top.lower()}/LIGHTING")]).encode(),
                               "text/csv")
    assert (again.created, again.updated, again.errors) == (0, 1, {})
    [root] = [c for c in service.list_categories(services(), None, 1000, None)[0] if c.name == top] or [None]
    if root is None:  # more top-level categories than one page: find it by name
        [root] = services().catalog.categories_named(top.casefold())
    summary = service.average_price(services(), root.id)
    assert (summary.products_count, summary.average_price, summary.subcategory_count) == (2, "70.00", 2)
    dry = bulk_import.upload(services(), csv_text([("New", 1, 1, f"{top}/Lighting")]).encode(), "text/csv",
                             dry_run=True)
    assert (dry.created, dry.status) == (1, 200)
    assert service.average_price(services(), root.id).products_count == 2
