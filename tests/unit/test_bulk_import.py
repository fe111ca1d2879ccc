"""Bulk upload use case on the in-memory repository: upserts, categories, reports, batching, concurrency."""

import json
import math

import pytest

from chalicelib.bootstrap import services
from chalicelib.domain.catalog import (
    CHANGED,
    MISSING,
    STOCK_BELOW_RESERVED,
    AveragePrice,
    CreateProduct,
    WriteFailure,
    WriteRefused,
)
from chalicelib.domain.errors import InvalidInput, PayloadTooLarge
from chalicelib.services import bulk_import
from chalicelib.services import catalog as service
from tests.support.catalog import brute_force, csv_text, memory_catalog, multipart, report_body


@pytest.fixture
def repo():
    with memory_catalog() as fake:
        yield fake


def upload(text, content_type="text/csv", dry_run=False):
    data = text.encode() if isinstance(text, str) else text
    return bulk_import.upload(services(), data, content_type, dry_run=dry_run)


def category_at(repo, *path):
    parent = None
    for name in path:
        parent = repo.child_named(parent.id if parent else None, name.lower())
        assert parent is not None, path
    return parent


def test_creates_products_and_missing_categories(repo):
    report = upload(csv_text([("Lamp", 3, "15.00", "Home/Lighting"), ("Desk", 1, 120, "Home/Furniture"),
                              ("Mouse", 10, "9.99", "Electronics")]))
    assert (report.status, report.created, report.updated, report.errors) == (201, 3, 0, {})
    assert report_body(report) == {"products_created": 3, "products_updated": 0, "errors": []}
    lighting = category_at(repo, "Home", "Lighting")
    assert lighting.depth == 1
    home = category_at(repo, "Home")
    assert service.average_price(services(), home.id) == AveragePrice(home.id, "Home", "67.50", 2, 2)
    for category in repo.categories.values():
        assert service.average_price(services(), category.id) == brute_force(repo, category.id)


def test_uploading_the_same_file_twice_updates_instead_of_duplicating(repo):
    text = csv_text([("Lamp", 3, "15.00", "Home/Lighting"), ("Desk", 1, 120, "Home")])
    first = upload(text)
    second = upload(text)
    assert (first.created, first.updated) == (2, 0)
    assert (second.status, second.created, second.updated) == (201, 0, 2)
    assert len(repo.products) == 2
    changed = upload(csv_text([("lamp", 5, "20.00", "home/LIGHTING")]))
    assert (changed.created, changed.updated) == (0, 1)
    lamp = next(p for p in repo.products.values() if p.name_key == "lamp")
    assert (lamp.name, lamp.stock, lamp.price_cents) == ("lamp", 5, 2000)
    home = category_at(repo, "Home")
    assert service.average_price(services(), home.id) == brute_force(repo, home.id)
    assert service.average_price(services(), home.id).average_price == "70.00"


def test_a_bare_name_finds_a_top_level_or_the_only_category_of_that_name(repo):
    top = service.create_category(services(), "Phones", None)
    electronics = service.create_category(services(), "Electronics", None)
    laptops = service.create_category(services(), "Laptops", electronics.id)
    report = upload(csv_text([("A", 1, 1, "phones"), ("B", 1, 1, "Laptops"), ("C", 1, 1, "Brand new")]))
    assert report.status == 201
    by_name = {p.name: p.category_id for p in repo.products.values()}
    assert by_name["A"] == top.id and by_name["B"] == laptops.id
    assert repo.categories[by_name["C"]].parent_id is None
    service.create_category(services(), "Laptops", top.id)
    ambiguous = upload(csv_text([("D", 1, 1, "Laptops"), ("E", 1, 1, "Electronics/Laptops")]))
    assert ambiguous.status == 207
    assert ambiguous.errors == {1: {"category": ["2 categories are named 'Laptops': give the path, e.g. "
                                                  "Parent/Laptops"]}}


def test_row_errors_give_207_and_are_numbered_from_one(repo):
    report = upload(csv_text([("Good", 1, 10, "C"), ("", 1, 10, "C"), ("Bad", -1, 10, "C"), ("Also good", 2, 5, "C")]))
    assert (report.status, report.created) == (207, 2)
    body = report_body(report)
    assert body["errors"] == [{"row": 2, "errors": {"name": ["is required"]}},
                              {"row": 3, "errors": {"stock": ["must be 0 or more"]}}]


def test_no_row_applied_is_400_with_the_report_and_the_envelope(repo):
    report = upload(csv_text([("A", "x", 10, "C"), ("B", 1, 0, "C")]))
    assert report.status == 400
    body = report_body(report)
    assert body["error"]["code"] == "no_rows_applied"
    assert body["products_created"] == 0 and body["products_updated"] == 0
    assert [e["row"] for e in body["errors"]] == [1, 2]
    assert body["error"]["details"]["errors"] == body["errors"]
    assert repo.products == {} and repo.categories == {}  # nothing written, not even the category


def test_duplicate_rows_in_one_file(repo):
    report = upload(csv_text([("Lamp", 1, 10, "Home"), ("LAMP", 2, 11, "home"), ("Lamp", 3, 12, "Other")]))
    assert (report.status, report.created) == (207, 2)
    assert report.errors == {2: {"name": ["repeats row 1 (same name in the same category)"]}}


def test_dry_run_reports_without_writing(repo):
    service.create_category(services(), "Home", None)
    upload(csv_text([("Lamp", 1, 10, "Home")]))
    before = (dict(repo.products), dict(repo.categories))
    report = upload(csv_text([("Lamp", 5, 10, "Home"), ("New", 1, 1, "Home/Sub/Deeper"), ("Bad", 1, -1, "X")]),
                    dry_run=True)
    assert (report.status, report.created, report.updated) == (207, 1, 1)
    assert report_body(report)["dry_run"] is True
    assert (dict(repo.products), dict(repo.categories)) == before
    assert {p.stock for p in repo.products.values()} == {1}
    clean = upload(csv_text([("Lamp", 5, 10, "Home")]), dry_run=True)
    assert clean.status == 200


def test_discounts_column_absent_keeps_present_empty_clears(repo):
    upload(csv_text([("Lamp", 1, 100, "Home", 50)], header="name,stock,price,category,discount_price"))
    lamp = next(iter(repo.products.values()))
    assert lamp.discount_price_cents == 5000
    upload(csv_text([("Lamp", 2, 100, "Home")]))
    assert repo.products[lamp.id].discount_price_cents == 5000
    refused = upload(csv_text([("Lamp", 2, 40, "Home")]))  # below the discount it keeps
    assert refused.status == 400
    assert refused.errors == {1: {"price": ["must be greater than the discount price (50.00)"]}}
    upload(csv_text([("Lamp", 2, 40, "Home", "")], header="name,stock,price,category,discount_price"))
    assert repo.products[lamp.id].discount_price_cents is None


def test_stock_below_reserved_is_a_row_error(repo):
    upload(csv_text([("Lamp", 10, 100, "Home"), ("Mat", 1, 1, "Home")]))
    lamp = next(p for p in repo.products.values() if p.name == "Lamp")
    repo.products[lamp.id].reserved, repo.products[lamp.id].available = 4, 6
    report = upload(csv_text([("Lamp", 3, 100, "Home"), ("Mat", 2, 1, "Home")]))
    assert (report.status, report.updated) == (207, 1)
    assert report.errors == {1: {"stock": ["must be at least 4 (reserved by pending orders)"]}}
    assert repo.products[lamp.id].stock == 10


def test_json_and_multipart(repo):
    rows = [{"name": "A", "stock": 1, "price": "1.50", "category": "J"}, {"name": "B", "stock": 2, "price": 3,
                                                                          "category": "J", "discount_price": 1}]
    assert upload(json.dumps(rows), "application/json").created == 2
    body, content_type = multipart(csv_text([("C", 1, 1, "M")]).encode())
    assert upload(body, content_type).created == 1


def test_structural_errors_write_nothing(repo):
    with pytest.raises(InvalidInput):
        upload("name,price\nA,1\n")
    with pytest.raises(PayloadTooLarge):
        upload("name,stock,price,category\n" + "A,1,1,NewCat\n" * 50_001)
    assert repo.products == {} and repo.categories == {}


def test_writes_are_batched(repo):
    rows = [(f"item {i}", i % 7, f"{1 + i % 90}.25", f"Bulk/Sub{i % 3}") for i in range(1000)]
    repo.requests = 0
    counted = []
    original = repo.write
    def items(writes, delta):  # a new product is two items: the product and its name claim
        return sum(2 if isinstance(w, CreateProduct) else 1 for w in writes) + len(delta.items())

    repo.write = lambda writes, delta: counted.append(items(writes, delta)) or original(writes, delta)
    report = upload(csv_text(rows))
    assert report.created == 1000
    assert len(counted) <= math.ceil(1000 / 25)
    assert max(counted) == 100  # products, their claims + the category aggregates they change: one full transaction
    bulk = category_at(repo, "Bulk")
    assert service.average_price(services(), bulk.id) == brute_force(repo, bulk.id)
    counted.clear()
    repo.requests = 0
    again = upload(csv_text(rows))
    assert (again.created, again.updated, counted) == (0, 1000, [])  # nothing changed: nothing written
    # reads: two batched lookups per path level (Bulk, Bulk/SubN), then one query of Bulk's subtree
    assert repo.requests == 2 * 2 + 1


def test_lookups_read_only_categories_that_hold_products(repo):
    service.create_category(services(), "Empty", None)
    upload(csv_text([("A", 1, 1, "Full"), ("B", 1, 1, "Full/One"), ("C", 1, 1, "Full/Two")]))
    calls = []
    for name in ("products_named", "products_below"):
        original = getattr(repo, name)
        setattr(repo, name, lambda *args, _name=name, _original=original: calls.append(_name) or _original(*args))
    report = upload(csv_text([("X", 1, 1, "Empty"), ("Y", 1, 1, "Empty/New")]))
    assert (report.created, calls) == (2, [])  # the aggregates say Empty holds nothing: no query
    report = upload(csv_text([("A", 2, 1, "Full"), ("Z", 1, 1, "Full/One")]))
    assert (report.created, report.updated, calls) == (1, 1, ["products_named", "products_named"])


class Interfering:
    """Refuses a repository write once, as DynamoDB would when another writer got there first."""

    def __init__(self, repo, failure_for):
        self.repo, self.failure_for, self.original, self.done = repo, failure_for, repo.write, False
        repo.write = self

    def __call__(self, writes, delta):
        if not self.done:
            self.done = True
            failure = self.failure_for(writes)
            if failure:
                raise WriteRefused([failure])
        return self.original(writes, delta)


def test_a_product_changed_meanwhile_is_planned_again(repo):
    upload(csv_text([("Lamp", 1, 100, "Home"), ("Mat", 1, 5, "Home")]))
    lamp = next(p for p in repo.products.values() if p.name == "Lamp")

    def concurrent_price_change(writes):
        repo.products[lamp.id].price_cents = 300_00
        home = repo.categories[lamp.category_id]
        home.price_sums[0] += 200_00
        index = next(i for i, w in enumerate(writes) if getattr(w, "before", None) and w.before.id == lamp.id)
        return WriteFailure(CHANGED, index=index, current=repo.get_product(lamp.id))

    Interfering(repo, concurrent_price_change)
    report = upload(csv_text([("Lamp", 2, 150, "Home"), ("Mat", 2, 5, "Home")]))
    assert (report.status, report.updated) == (201, 2)
    assert repo.products[lamp.id].price_cents == 150_00
    home = repo.categories[lamp.category_id]
    assert service.average_price(services(), home.id) == brute_force(repo, home.id)


def test_a_product_deleted_meanwhile_is_created_again(repo):
    upload(csv_text([("Lamp", 1, 100, "Home")]))
    lamp = next(iter(repo.products.values()))

    def concurrent_delete(writes):
        service.delete_product(services(), lamp.id)
        return WriteFailure(MISSING, index=0)

    Interfering(repo, concurrent_delete)
    report = upload(csv_text([("Lamp", 2, 150, "Home")]))
    assert (report.status, report.created, report.updated) == (201, 1, 0)
    (again,) = repo.products.values()
    assert again.id != lamp.id and again.stock == 2


def test_a_reservation_made_meanwhile_fails_only_that_row(repo):
    upload(csv_text([("Lamp", 10, 100, "Home"), ("Mat", 1, 5, "Home")]))
    lamp = next(p for p in repo.products.values() if p.name == "Lamp")

    def concurrent_order(writes):
        repo.products[lamp.id].reserved = 8
        index = next(i for i, w in enumerate(writes) if getattr(w, "before", None) and w.before.id == lamp.id)
        return WriteFailure(STOCK_BELOW_RESERVED, index=index, current=repo.get_product(lamp.id))

    Interfering(repo, concurrent_order)
    report = upload(csv_text([("Lamp", 5, 100, "Home"), ("Mat", 3, 5, "Home")]))
    assert (report.status, report.updated) == (207, 1)
    assert report.errors == {1: {"stock": ["must be at least 8 (reserved by pending orders)"]}}


def test_a_batch_stays_within_100_transaction_items_when_a_refused_update_becomes_a_create(repo):
    """100 stock-only updates (no aggregate changes: 100 items). One product is deleted before the batch is
    written; its row is re-planned as a create, which counts in its category: 101 items unless split."""
    rows = [(f"Item {i:03}", 1, "5.00", "Shelf") for i in range(100)]
    assert upload(csv_text(rows)).created == 100
    shelf = category_at(repo, "Shelf")
    first = min((p for p in repo.products.values()), key=lambda p: p.name)
    original_write, calls = repo.write, []

    def write(writes, delta):
        calls.append(len(writes) + len(delta.items()))
        if len(calls) == 1:  # a staff member deletes a product between the read and the write
            service.delete_product(services(), first.id)
        return original_write(writes, delta)

    repo.write = write
    report = upload(csv_text([(name, 2, price, path) for name, _, price, path in rows]))
    assert (report.status, report.created, report.updated, report.errors) == (201, 1, 99, {})
    assert calls[0] == 100 and all(count <= 100 for count in calls)
    assert sorted(p.stock for p in repo.products.values()) == [2] * 100
    assert service.average_price(services(), shelf.id).products_count == 100
