"""Product names are claimed in the base table (SPEC §4: uniqueness rules and bulk-upload upserts never
depend on a list). Bulk upload finds existing products through consistent reads of the claims, so an
upload repeated at once — while AWS's indexes may still lag — creates no duplicate."""

from __future__ import annotations

import threading

import pytest

from chalicelib.adapters.dynamodb.catalog import CategoryRecord, ProductRecord
from chalicelib.bootstrap import services
from chalicelib.domain.errors import Conflict
from chalicelib.services import bulk_import
from chalicelib.services import catalog as service
from tests.support.catalog import csv_text, report_body, unique


@pytest.fixture
def no_product_index(emulator, monkeypatch):
    """Every product index query fails: what the upsert path reads must come from the base table."""
    def refuse(*args, **kwargs):
        raise AssertionError("a product index was queried")

    for index in (ProductRecord.by_category, ProductRecord.by_path, CategoryRecord.by_name):
        monkeypatch.setattr(index, "query", refuse)


def products_in(category_id: str) -> list:
    return list(ProductRecord.scan(ProductRecord.category_id == category_id, consistent_read=True))


def test_an_upload_repeated_at_once_updates_and_never_queries_a_product_index(no_product_index):
    top = unique("again")
    rows = [(f"Item {i}", i, "10.00", f"{top}/Sub{i % 2}") for i in range(30)]
    first = bulk_import.upload(services(), csv_text(rows).encode(), "text/csv")
    second = bulk_import.upload(services(), csv_text([(n.upper(), s + 1, p, c) for n, s, p, c in rows]).encode(),
                                "text/csv")
    assert (first.created, first.updated, first.errors) == (30, 0, {})
    assert (second.created, second.updated, second.errors) == (0, 30, {})
    sub0 = services().catalog.child_named(services().catalog.child_named(None, top.casefold()).id, "sub0")
    stored = products_in(sub0.id)
    assert len(stored) == 15 and all(p.name.startswith("ITEM") and p.stock % 2 == 1 for p in stored)


def test_bare_category_names_resolve_without_the_name_index(no_product_index):
    top = unique("bare")
    leaf = f"Leaf-{top}"
    first = bulk_import.upload(services(), csv_text([("A", 1, "1.00", f"{top}/{leaf}")]).encode(), "text/csv")
    again = bulk_import.upload(services(), csv_text([("a", 2, "1.00", leaf), ("B", 1, "2.00", leaf.upper())]).encode(),
                               "text/csv")
    assert (first.created, again.created, again.updated, again.errors) == (1, 1, 1, {})
    parent = services().catalog.child_named(None, top.casefold())
    category = services().catalog.child_named(parent.id, leaf.casefold())
    assert sorted(p.name for p in products_in(category.id)) == ["B", "a"]
    renamed = service.update_category(services(), category.id, f"Renamed-{top}", False, None)
    assert services().catalog.categories_named(leaf.casefold()) == []
    assert [c.id for c in services().catalog.categories_named(renamed.name_key)] == [category.id]


def test_concurrent_uploads_of_one_file_create_each_product_once(emulator):
    top = unique("race")
    body = csv_text([(f"P{i}", 1, "5.00", top) for i in range(20)]).encode()
    bulk_import.upload(services(), csv_text([("seed", 1, "1.00", top)]).encode(), "text/csv")  # the category exists
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(bulk_import.upload(services(), body, "text/csv")))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(not r.errors for r in reports), [report_body(r) for r in reports]
    assert sum(r.created for r in reports) == 20 and sum(r.created + r.updated for r in reports) == 60
    category = services().catalog.child_named(None, top.casefold())
    assert len(products_in(category.id)) == 21
    assert service.get_category(services(), category.id).product_counts[0] == 21  # aggregates counted each once


def test_product_names_are_unique_per_category_through_create_rename_move_and_delete(emulator):
    a = service.create_category(services(), unique("names-a"), None)
    b = service.create_category(services(), unique("names-b"), None)
    pen = service.create_product(services(), "Pen", 100, None, 1, a.id)
    with pytest.raises(Conflict) as caught:
        service.create_product(services(), "  PEN ", 100, None, 1, a.id)
    assert caught.value.code == "duplicate_name"
    ink = service.create_product(services(), "Ink", 100, None, 1, a.id)
    with pytest.raises(Conflict):
        service.update_product(services(), ink.id, {"name": "pen"})
    service.update_product(services(), pen.id, {"name": "Quill"})  # frees "pen"
    service.update_product(services(), ink.id, {"name": "Pen"})  # and takes it; "ink" is free again
    service.create_product(services(), "ink", 100, None, 1, a.id)
    service.create_product(services(), "Pen", 100, None, 1, b.id)  # another category: another name space
    with pytest.raises(Conflict):
        service.update_product(services(), pen.id, {"category_id": b.id, "name": "pen"})
    service.update_product(services(), pen.id, {"category_id": b.id})  # "quill" moves to b
    service.create_product(services(), "Quill", 100, None, 1, a.id)
    service.delete_product(services(), ink.id)  # frees "pen" in a
    service.create_product(services(), "PEN", 100, None, 1, a.id)
    names = sorted(p.name for p in products_in(a.id))
    assert names == ["PEN", "Quill", "ink"]


def test_products_stored_before_claims_are_backfilled_once(emulator):
    category = service.create_category(services(), unique("legacy"), None)
    old = ProductRecord(id=unique("legacy").replace("-", ""), name="Old Lamp", name_key="old lamp",
                        category_id=category.id, path_key=f"/{category.id}/x", price_cents=100, stock=1,
                        available=1, created_at="2020-01-01T00:00:00.000000Z",
                        updated_at="2020-01-01T00:00:00.000000Z")
    old.save()  # as the previous version stored it: no name claim
    repo = services().catalog
    assert repo.claimed_products({category.id: {"old lamp"}}) == []
    counts = repo.backfill_product_claims()
    assert counts["claimed"] >= 1
    assert [p.id for p in repo.claimed_products({category.id: {"old lamp"}})] == [old.id]
    assert repo.backfill_product_claims()["claimed"] == 0  # idempotent
    assert repo.backfill_name_sets() >= 1
    report = bulk_import.upload(services(), csv_text([("old lamp", 5, "1.00", category.name)]).encode(), "text/csv")
    assert (report.created, report.updated) == (0, 1)
    assert CategoryRecord.get(category.id) is not None
