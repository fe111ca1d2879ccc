"""Catalog use cases against the in-memory repository: the rules that need stored state."""

import pytest

from chalicelib.bootstrap import services
from chalicelib.domain.catalog import CHANGED, AveragePrice, WriteFailure, WriteRefused
from chalicelib.domain.errors import Conflict, InvalidInput, NotFound
from chalicelib.services import catalog as service
from tests.support.catalog import brute_force, memory_catalog


@pytest.fixture
def repo():
    with memory_catalog() as fake:
        yield fake


def chain(prices=(100, 200, 300, 400, 1000)):
    cats, parent = [], None
    for level, price in enumerate(prices):
        parent = service.create_category(services(), f"Level {level}", parent.id if parent else None)
        cats.append(parent)
        service.create_product(services(), f"Product {level}", price * 100, None, 3, parent.id)
    return cats


def test_five_level_chain(repo):
    cats = chain()
    top = service.average_price(services(), cats[0].id)
    assert top == AveragePrice(cats[0].id, "Level 0", "250.00", 4, 3)
    assert service.average_price(services(), cats[1].id).average_price == "475.00"
    assert service.average_price(services(), cats[1].id).products_count == 4
    for c in cats:
        assert service.average_price(services(), c.id) == brute_force(repo, c.id)


def test_the_average_read_is_one_request_whatever_the_size(repo):
    cats = chain()
    for i in range(50):
        service.create_product(services(), f"extra {i}", 100 + i, None, 1, cats[2].id)
    repo.requests = 0
    service.average_price(services(), cats[0].id)
    assert repo.requests == 1


def test_unknown_category_is_404(repo):
    for call in (lambda: service.average_price(services(), "nope"), lambda: service.get_category(services(), "nope"),
                 lambda: service.delete_category(services(), "nope"),
                 lambda: service.update_category(services(), "nope", "x", False, None),
                 lambda: service.list_products(services(), "nope", False, 10, None),
                 lambda: service.list_categories(services(), "nope", 10, None)):
        with pytest.raises(NotFound):
            call()


def test_sibling_names_are_unique_case_insensitively(repo):
    top = service.create_category(services(), "Electronics", None)
    service.create_category(services(), "Laptops", top.id)
    with pytest.raises(Conflict) as error:
        service.create_category(services(), " LAPTOPS ", top.id)
    assert error.value.code == "duplicate_name"
    service.create_category(services(), "Laptops", None)  # another parent: fine
    with pytest.raises(Conflict):
        service.create_category(services(), "ELECTRONICS", None)


def test_unknown_parent_is_400(repo):
    with pytest.raises(InvalidInput) as error:
        service.create_category(services(), "x", "missing")
    assert error.value.details == {"parent_id": ["no such category"]}


def test_rename_and_refuse_reparenting(repo):
    a = service.create_category(services(), "A", None)
    b = service.create_category(services(), "B", None)
    child = service.create_category(services(), "Child", a.id)
    renamed = service.update_category(services(), child.id, "Kid", False, None)
    assert renamed.name == "Kid" and renamed.parent_id == a.id
    assert service.update_category(services(), child.id, "KID", True, a.id).name == "KID"  # same parent given: fine
    with pytest.raises(Conflict) as error:
        service.update_category(services(), child.id, None, True, b.id)
    assert error.value.code == "reparent_not_supported"
    with pytest.raises(Conflict):
        service.update_category(services(), child.id, None, True, None)
    service.create_category(services(), "Other", a.id)
    with pytest.raises(Conflict) as error:
        service.update_category(services(), child.id, "other", False, None)
    assert error.value.code == "duplicate_name"


def test_delete_only_empty_categories(repo):
    top = service.create_category(services(), "Top", None)
    sub = service.create_category(services(), "Sub", top.id)
    with pytest.raises(Conflict) as error:
        service.delete_category(services(), top.id)
    assert error.value.code == "category_not_empty"
    assert error.value.details == {"products": 0, "subcategories": 1}
    product = service.create_product(services(), "P", 100, None, 1, sub.id)
    with pytest.raises(Conflict) as error:
        service.delete_category(services(), sub.id)
    assert error.value.details == {"products": 1, "subcategories": 0}
    service.delete_product(services(), product.id)
    service.delete_category(services(), sub.id)
    assert service.average_price(services(), top.id).subcategory_count == 0
    service.delete_category(services(), top.id)
    with pytest.raises(NotFound):
        service.get_category(services(), top.id)


def test_list_categories_all_top_level_and_children(repo):
    a = service.create_category(services(), "b-top", None)
    service.create_category(services(), "a-top", None)
    child = service.create_category(services(), "child", a.id)
    everything, _ = service.list_categories(services(), None, 50, None)
    assert {c.id for c in everything} >= {a.id, child.id}
    top, _ = service.list_categories(services(), "root", 50, None)
    assert [c.name for c in top] == ["a-top", "b-top"]
    assert service.list_categories(services(), "null", 50, None)[0] == top
    children, _ = service.list_categories(services(), a.id, 50, None)
    assert [c.id for c in children] == [child.id]


# --- products


def test_create_product_validates_category_and_discount(repo):
    c = service.create_category(services(), "C", None)
    with pytest.raises(InvalidInput) as error:
        service.create_product(services(), "P", 1000, None, 1, "missing")
    assert error.value.details == {"category_id": ["no such category"]}
    with pytest.raises(InvalidInput) as error:
        service.create_product(services(), "P", 1000, 1000, 1, c.id)
    assert "discount_price" in error.value.details
    p = service.create_product(services(), "P", 1000, 0, 4, c.id)
    assert p.current_price_cents == 0 and p.available == 4


def test_patch_only_the_discount_is_checked_against_the_stored_price(repo):
    c = service.create_category(services(), "C", None)
    p = service.create_product(services(), "P", 1000, None, 1, c.id)
    assert service.update_product(services(), p.id, {"discount_price_cents": 800}).current_price_cents == 800
    with pytest.raises(InvalidInput) as error:
        service.update_product(services(), p.id, {"discount_price_cents": 1000})
    assert error.value.details == {"discount_price": ["must be less than the price (10.00)"]}
    with pytest.raises(InvalidInput) as error:
        service.update_product(services(), p.id, {"price_cents": 800})
    assert error.value.details == {"price": ["must be greater than the discount price (8.00)"]}
    cleared = service.update_product(services(), p.id, {"discount_price_cents": None})
    assert cleared.discount_price_cents is None and cleared.current_price_cents == 1000
    assert service.update_product(services(), p.id, {"price_cents": 500}).price_cents == 500


def test_price_changes_and_moves_keep_the_aggregates_right(repo):
    cats = chain()
    other = service.create_category(services(), "Elsewhere", None)
    products, _ = service.list_products(services(), cats[0].id, True, 50, None)
    for p in products:
        service.update_product(services(), p.id, {"price_cents": p.price_cents + 1})
    moved = products[0]
    service.update_product(services(), moved.id, {"category_id": other.id, "name": "moved"})
    for c in [*cats, other]:
        assert service.average_price(services(), c.id) == brute_force(repo, c.id)
    listed, _ = service.list_products(services(), other.id, False, 50, None)
    assert [p.id for p in listed] == [moved.id]
    with pytest.raises(InvalidInput):
        service.update_product(services(), moved.id, {"category_id": "missing"})


def test_stock_cannot_go_below_reserved(repo):
    c = service.create_category(services(), "C", None)
    p = service.create_product(services(), "P", 1000, None, 10, c.id)
    stored = repo.products[p.id]
    stored.reserved, stored.available = 6, 4
    assert service.update_product(services(), p.id, {"stock": 6}).available == 0
    with pytest.raises(Conflict) as error:
        service.update_product(services(), p.id, {"stock": 5})
    assert error.value.code == "stock_below_reserved"
    assert error.value.details["reserved"] == 6
    assert repo.products[p.id].stock == 6


def test_unknown_product_is_404(repo):
    for call in (lambda: service.get_product(services(), "nope"),
                 lambda: service.update_product(services(), "nope", {"name": "x"}),
                 lambda: service.delete_product(services(), "nope")):
        with pytest.raises(NotFound):
            call()


def test_list_products_direct_or_with_descendants(repo):
    cats = chain()
    direct, _ = service.list_products(services(), cats[1].id, False, 50, None)
    assert [p.name for p in direct] == ["Product 1"]
    below, _ = service.list_products(services(), cats[1].id, True, 50, None)
    assert sorted(p.name for p in below) == ["Product 1", "Product 2", "Product 3", "Product 4"]
    everything, _ = service.list_products(services(), None, False, 50, None)
    assert len(everything) == 5
    first, cursor = service.list_products(services(), None, False, 2, None)
    second, cursor2 = service.list_products(services(), None, False, 2, cursor)
    third, cursor3 = service.list_products(services(), None, False, 2, cursor2)
    assert len(first) == len(second) == 2 and len(third) == 1 and cursor3 is None
    assert len({p.id for p in first + second + third}) == 5


def test_a_concurrent_price_change_is_retried_not_miscounted(repo):
    """The first write is refused as CHANGED (another writer got there): the update re-reads and succeeds."""
    c = service.create_category(services(), "C", None)
    p = service.create_product(services(), "P", 1000, None, 1, c.id)
    original = repo.write
    calls = []

    def interfering(writes, delta):
        if not calls:
            calls.append(1)
            repo.products[p.id].price_cents = 3000  # someone else's write, with its aggregate change
            repo.categories[c.id].price_sums[0] += 2000
            raise WriteRefused([WriteFailure(CHANGED, index=0)])
        return original(writes, delta)

    repo.write = interfering
    assert service.update_product(services(), p.id, {"price_cents": 5000}).price_cents == 5000
    assert service.average_price(services(), c.id) == brute_force(repo, c.id)


def test_products_seeded_in_a_missing_category_can_still_be_edited_and_deleted(repo):
    """Other areas' tests write products straight into the table, naming no real category."""
    from chalicelib.domain import catalog as rules

    seeded = rules.new_product("Seeded", 1000, None, 5, "c-nowhere", "t")
    repo.products[seeded.id] = seeded
    repo.paths[seeded.id] = "/c-nowhere/"
    assert service.update_product(services(), seeded.id, {"price_cents": 2000}).price_cents == 2000
    home = service.create_category(services(), "Home", None)
    moved = service.update_product(services(), seeded.id, {"category_id": home.id})
    assert moved.category_id == home.id
    assert service.average_price(services(), home.id).average_price == "20.00"
    other = rules.new_product("Other", 1000, None, 5, "c-nowhere", "t")
    repo.products[other.id], repo.paths[other.id] = other, "/c-nowhere/"
    service.delete_product(services(), other.id)
    assert other.id not in repo.products
