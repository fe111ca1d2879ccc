"""The DynamoDB catalog repository on the real emulator: transactions, conditions, aggregates, request counts."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import HealthCheck, given, settings

from chalicelib.api.response_models.catalog import PriceSnapshot
from chalicelib.bootstrap import services
from chalicelib.domain import catalog as rules
from chalicelib.domain.catalog import (
    CHANGED,
    MISSING,
    NAME_TAKEN,
    NOT_EMPTY,
    STOCK_BELOW_RESERVED,
    AggregateDelta,
    UpdateProduct,
    WriteRefused,
)
from chalicelib.domain.errors import Conflict
from chalicelib.services import bulk_import, price_history
from chalicelib.services import catalog as service
from tests.support.catalog import (
    WRITE_OPERATIONS,
    RequestCounter,
    apply_edits,
    brute_force_average,
    catalog_edits,
    csv_text,
    unique,
)
from tests.support.responses import serialize


@pytest.fixture
def repo(emulator):
    from chalicelib.bootstrap import services

    return services().catalog


def reserve(product_id: str, quantity: int) -> None:
    """What placing an order does to a product (the orders area's expression)."""
    from chalicelib.adapters.dynamodb.catalog import ProductRecord

    ProductRecord(id=product_id).update(
        actions=[ProductRecord.reserved.set(ProductRecord.reserved + quantity),
                 ProductRecord.available.set(ProductRecord.available - quantity)],
        condition=ProductRecord.available >= quantity,
    )


def chain(prefix, prices=(100, 200, 300, 400, 1000)):
    cats, parent = [], None
    for level, price in enumerate(prices):
        parent = service.create_category(services(), f"{prefix}-{level}" if level == 0 else f"L{level}",
                                         parent.id if parent else None)
        cats.append(parent)
        service.create_product(services(), f"P{level}", price * 100, None, 5, parent.id)
    return cats


def subtree(root_ids):
    """(categories, products) below the given roots, read back through the service."""
    categories, products = [], []
    for root_id in root_ids:
        pending = [service.get_category(services(), root_id)]
        while pending:
            category = pending.pop()
            categories.append(category)
            children, cursor = service.list_categories(services(), category.id, 100, None)
            while True:
                pending += children
                if not cursor:
                    break
                children, cursor = service.list_categories(services(), category.id, 100, cursor)
        cursor = None
        while True:
            page, cursor = service.list_products(services(), root_id, True, 100, cursor)
            products += page
            if not cursor:
                break
    return categories, products


def test_five_level_chain_and_a_one_request_average(repo):
    cats = chain(unique("chain"))
    with RequestCounter() as requests:
        top = service.average_price(services(), cats[0].id)
    assert requests.calls == ["GetItem"]
    assert (top.average_price, top.products_count, top.subcategory_count) == ("250.00", 4, 3)
    assert service.average_price(services(), cats[1].id).average_price == "475.00"
    categories, products = subtree([cats[0].id])
    for c in cats:
        assert service.average_price(services(), c.id) == brute_force_average(categories, products, c.id)


def test_a_product_write_is_one_transaction(repo):
    cats = chain(unique("tx"))
    with RequestCounter() as requests:
        product = service.create_product(services(), "New", 999, None, 1, cats[4].id)
    assert requests.calls == ["GetItem", "TransactWriteItems"]
    with RequestCounter() as requests:
        service.update_product(services(), product.id, {"stock": 7})
    assert requests.count(*WRITE_OPERATIONS) == 1 and "TransactWriteItems" not in requests.calls
    with RequestCounter() as requests:  # a rename moves the product's name claim in the same transaction
        service.update_product(services(), product.id, {"name": "Renamed", "stock": 8})
    assert requests.count(*WRITE_OPERATIONS) == 1 and "TransactWriteItems" in requests.calls
    with RequestCounter() as requests:  # a change of case only keeps the claim
        service.update_product(services(), product.id, {"name": "RENAMED"})
    assert requests.count(*WRITE_OPERATIONS) == 1 and "TransactWriteItems" not in requests.calls
    with RequestCounter() as requests:
        service.update_product(services(), product.id, {"price_cents": 1999})
    assert requests.count(*WRITE_OPERATIONS) == 1


def test_category_conditions(repo):
    top = service.create_category(services(), unique("Cond"), None)
    child = service.create_category(services(), "Child", top.id)
    duplicate = rules.new_category("CHILD", top, "t")
    with pytest.raises(WriteRefused) as refused:
        repo.create_category(duplicate)
    assert [f.reason for f in refused.value.failures] == [NAME_TAKEN]
    with pytest.raises(WriteRefused) as refused:
        repo.delete_category(top)
    assert NOT_EMPTY in {f.reason for f in refused.value.failures}
    renamed = service.update_category(services(), child.id, "Kid", False, None)
    assert repo.child_named(top.id, "kid").id == child.id
    assert repo.child_named(top.id, "child") is None
    service.create_category(services(), "Child", top.id)  # the old name is free again
    assert repo.get_category(child.id).name == renamed.name == "Kid"
    with pytest.raises(Conflict):
        service.update_category(services(), child.id, "CHILD", False, None)
    assert [c.id for c in repo.categories_named("kid") if c.parent_id == top.id] == [child.id]


def test_product_write_refusals_are_classified(repo):
    category = service.create_category(services(), unique("Refusals"), None)
    product = service.create_product(services(), "P", 1000, None, 10, category.id)
    stale = product
    service.update_product(services(), product.id, {"price_cents": 2000})
    after = rules.edited(stale, {"price_cents": 3000}, "t")
    delta = rules.write_delta([UpdateProduct(stale, after, ("price_cents",), "")], {category.id: category})
    with pytest.raises(WriteRefused) as refused:
        repo.write([UpdateProduct(stale, after, ("price_cents",), "")], delta)
    (failure,) = refused.value.failures
    assert failure.reason == CHANGED and failure.current.price_cents == 2000
    reserve(product.id, 6)
    fresh = repo.get_product(product.id)
    low = rules.edited(fresh, {"stock": 5}, "t")
    with pytest.raises(WriteRefused) as refused:
        repo.write([UpdateProduct(fresh, low, ("stock",), "")], AggregateDelta())
    assert refused.value.failures[0].reason == STOCK_BELOW_RESERVED
    assert refused.value.failures[0].current.reserved == 6
    service.delete_product(services(), product.id)
    with pytest.raises(WriteRefused) as refused:
        repo.write([UpdateProduct(fresh, rules.edited(fresh, {"name": "x"}, "t"), ("name",), "")], AggregateDelta())
    assert refused.value.failures[0].reason == MISSING


def test_stock_updates_keep_available_in_step_with_reservations(repo):
    category = service.create_category(services(), unique("Stock"), None)
    product = service.create_product(services(), "P", 1000, None, 10, category.id)
    reserve(product.id, 4)
    updated = service.update_product(services(), product.id, {"stock": 20})
    assert (updated.stock, updated.reserved, updated.available) == (20, 4, 16)
    reserve(product.id, 16)
    assert service.get_product(services(), product.id).available == 0
    with pytest.raises(Conflict) as error:
        service.update_product(services(), product.id, {"stock": 19})
    assert error.value.code == "stock_below_reserved"
    moved_and_restocked = service.update_product(services(), product.id, {"stock": 25, "price_cents": 500})
    assert (moved_and_restocked.stock, moved_and_restocked.available) == (25, 5)
    stored = service.get_product(services(), product.id)
    assert stored.available == stored.stock - stored.reserved == 5


def test_concurrent_creates_keep_the_aggregates_exact(repo):
    top = service.create_category(services(), unique("Busy"), None)
    leaf = service.create_category(services(), "Leaf", top.id)
    errors = []

    def create(n):
        try:
            for i in range(5):
                service.create_product(services(), f"p{n}-{i}", 100 + n, None, 1, leaf.id if i % 2 else top.id)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    average = service.average_price(services(), top.id)
    assert average.products_count == 30
    categories, products = subtree([top.id])
    assert average == brute_force_average(categories, products, top.id)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(edits=catalog_edits())
def test_aggregates_match_brute_force_on_the_emulator(repo, edits):
    prefix = unique("prop")
    category_ids, _ = apply_edits(edits, prefix)
    roots = [c for c in category_ids if service.get_category(services(), c).parent_id is None]
    categories, products = subtree(roots)
    assert {c.id for c in categories} == set(category_ids)
    for category_id in category_ids:
        assert service.average_price(services(), category_id) == brute_force_average(categories, products, category_id)


def test_listing_products_by_category_and_subtree_with_cursors(repo):
    cats = chain(unique("list"))
    for i in range(7):
        service.create_product(services(), f"extra {i}", 100, None, 1, cats[2].id)
    direct, cursor = service.list_products(services(), cats[2].id, False, 3, None)
    seen = [p.id for p in direct]
    while cursor:
        page, cursor = service.list_products(services(), cats[2].id, False, 3, cursor)
        seen += [p.id for p in page]
    assert len(seen) == len(set(seen)) == 8
    below, _ = service.list_products(services(), cats[1].id, True, 100, None)
    assert len(below) == 8 + 3  # levels 2, 3, 4 (the subtree is not limited to three levels)


def test_bulk_upload_writes_in_full_transactions(repo):
    root = unique("Bulk")
    rows = [(f"item {i}", i % 9, f"{1 + i % 50}.99", f"{root}/Sub{i % 4}/Leaf{i % 2}") for i in range(500)]
    with RequestCounter() as requests:
        report = bulk_import.upload(services(), csv_text(rows).encode(), "text/csv")
    assert (report.status, report.created) == (201, 500)
    category_writes = 1 + 4 + 8  # the root, 4 subcategories, 8 leaves: one transaction each
    assert requests.count(*WRITE_OPERATIONS) <= math.ceil(500 / 25) + category_writes
    assert requests.count("TransactWriteItems") - category_writes <= math.ceil(500 / 45)  # product + claim each
    top = repo.child_named(None, root.lower())
    categories, products = subtree([top.id])
    assert len(products) == 500
    for category in categories:
        assert service.average_price(services(), category.id) == brute_force_average(categories, products, category.id)
    changed = [(name, stock + 1, price, path) for name, stock, price, path in rows[:10]] + rows[10:]
    with RequestCounter() as requests:
        again = bulk_import.upload(services(), csv_text(changed).encode(), "text/csv")
    assert (again.status, again.created, again.updated) == (201, 0, 500)
    assert requests.count(*WRITE_OPERATIONS) == 1  # only the 10 changed rows, in one transaction


def test_a_refused_update_re_planned_as_a_create_keeps_the_transaction_within_100_items(repo, monkeypatch):
    """100 stock-only updates fill one transaction; a product deleted before it is written turns its row
    into a create that also updates its category: DynamoDB would refuse 101 items (it was a 500)."""
    root = unique("Full")
    rows = [(f"item {i:03}", 1, "5.00", root) for i in range(100)]
    assert bulk_import.upload(services(), csv_text(rows).encode(), "text/csv").created == 100
    top = repo.child_named(None, root.lower())
    victim = min(subtree([top.id])[1], key=lambda p: p.name)
    original_write, sizes = repo.write, []

    def write(writes, delta):
        sizes.append(len(writes) + len(delta.items()))
        if len(sizes) == 1:
            service.delete_product(services(), victim.id)  # deleted by staff between the read and the write
        return original_write(writes, delta)

    monkeypatch.setattr(repo, "write", write)
    report = bulk_import.upload(services(), csv_text([(n, 2, price, path) for n, _, price, path in rows]).encode(),
                                "text/csv")
    assert (report.status, report.created, report.updated, report.errors) == (201, 1, 99, {})
    assert sizes[0] == 100 and max(sizes) <= 100
    categories, products = subtree([top.id])
    assert sorted(p.stock for p in products) == [2] * 100
    assert service.average_price(services(), top.id).products_count == 100


def test_price_snapshots(repo):
    category = service.create_category(services(), unique("Snap"), None)
    service.create_product(services(), "P", 1000, None, 1, category.id)
    assert price_history.snapshot_all(services(), now="2030-01-01T01:00:00.000000Z") >= 1
    price_history.snapshot_all(services(), now="2030-01-01T01:59:00.000000Z")
    service.create_product(services(), "Q", 3000, None, 1, category.id)
    price_history.snapshot_all(services(), now="2030-01-01T02:00:00.000000Z")
    snapshots, cursor = price_history.history(services(), category.id, 10, None)
    assert cursor is None
    assert [(s.taken_at[:16], serialize(PriceSnapshot, s)["average_price"]) for s in snapshots] == [
        ("2030-01-01T02:00", "20.00"), ("2030-01-01T01:59", "10.00")]
