"""Categories, products, the average price and the price history over HTTP on the real local stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.catalog import unique
from tests.support.stack import ROOT, eventually, settle_indexes

CUSTOMER = "catalog-shopper@ekiosk.test"


@pytest.fixture
def customer(stack):
    return stack.session(CUSTOMER)


def post_category(staff, stack, name, parent_id=None):
    response = staff.post(f"{stack.api}/categories", json={"name": name, "parent_id": parent_id}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def post_product(staff, stack, category_id, **fields):
    body = {"name": unique("Lamp"), "price": "15.00", "stock": 3, "category_id": category_id, **fields}
    response = staff.post(f"{stack.api}/products", json=body, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def test_five_level_chain_average_price(stack, staff, customer):
    """SPEC §5: 100/200/300/400/1000 from the top → 250.00 (4 products, 3 subcategories); from level 1 → 475.00."""
    chain, parent = [], None
    for level, price in enumerate([100, 200, 300, 400, 1000]):
        parent = post_category(staff, stack, unique("Level") if level == 0 else f"Level {level}",
                               parent["id"] if parent else None)
        chain.append(parent)
        post_product(staff, stack, parent["id"], price=price)
    top = customer.get(f"{stack.api}/categories/{chain[0]['id']}/calculate_average_price", timeout=30)
    assert top.status_code == 200
    assert top.json() == {"category_id": chain[0]["id"], "category": chain[0]["name"], "average_price": "250.00",
                          "products_count": 4, "subcategory_count": 3}
    second = customer.get(f"{stack.api}/categories/{chain[1]['id']}/average-price", timeout=30).json()
    assert (second["average_price"], second["products_count"], second["subcategory_count"]) == ("475.00", 4, 3)
    deepest = customer.get(f"{stack.api}/categories/{chain[4]['id']}/average-price", timeout=30).json()
    assert (deepest["average_price"], deepest["products_count"], deepest["subcategory_count"]) == ("1000.00", 1, 0)
    empty = post_category(staff, stack, unique("Empty"))
    nothing = customer.get(f"{stack.api}/categories/{empty['id']}/average-price", timeout=30).json()
    assert (nothing["average_price"], nothing["products_count"]) == (None, 0)
    missing = customer.get(f"{stack.api}/categories/no-such-category/average-price", timeout=30)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_category_crud_and_rules(stack, staff, customer):
    top = post_category(staff, stack, unique("Electronics"))
    assert (top["parent_id"], top["depth"]) == (None, 0)
    laptops = post_category(staff, stack, "Laptops", top["id"])
    assert (laptops["parent_id"], laptops["depth"]) == (top["id"], 1)
    assert customer.get(f"{stack.api}/categories/{laptops['id']}", timeout=30).json() == laptops
    children = eventually(  # the list reads an index, which may lag the write (SPEC §4)
        lambda: customer.get(f"{stack.api}/categories", params={"parent_id": top["id"]}, timeout=30).json(),
        lambda page: page["items"] != [])
    assert children == {"items": [laptops], "next_cursor": None}
    duplicate = staff.post(f"{stack.api}/categories", json={"name": "LAPTOPS", "parent_id": top["id"]}, timeout=30)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "duplicate_name"
    renamed = staff.patch(f"{stack.api}/categories/{laptops['id']}", json={"name": "Notebooks"}, timeout=30)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Notebooks"
    other = post_category(staff, stack, unique("Other"))
    moved = staff.patch(f"{stack.api}/categories/{laptops['id']}", json={"parent_id": other["id"]}, timeout=30)
    assert moved.status_code == 409 and moved.json()["error"]["code"] == "reparent_not_supported"
    not_empty = staff.delete(f"{stack.api}/categories/{top['id']}", timeout=30)
    assert not_empty.status_code == 409 and not_empty.json()["error"]["code"] == "category_not_empty"
    product = post_product(staff, stack, laptops["id"])
    assert staff.delete(f"{stack.api}/categories/{laptops['id']}", timeout=30).status_code == 409
    assert staff.delete(f"{stack.api}/products/{product['id']}", timeout=30).status_code == 204
    assert staff.delete(f"{stack.api}/categories/{laptops['id']}", timeout=30).status_code == 204
    assert staff.delete(f"{stack.api}/categories/{top['id']}", timeout=30).status_code == 204
    assert customer.get(f"{stack.api}/categories/{top['id']}", timeout=30).status_code == 404
    bad = staff.post(f"{stack.api}/categories", json={"name": ""}, timeout=30)
    assert bad.status_code == 400 and "name" in bad.json()["error"]["details"]
    orphan = staff.post(f"{stack.api}/categories", json={"name": "x", "parent_id": "nope"}, timeout=30)
    assert orphan.status_code == 400 and "parent_id" in orphan.json()["error"]["details"]


def test_customers_read_and_staff_write(stack, staff, customer):
    category = post_category(staff, stack, unique("Shop"))
    product = post_product(staff, stack, category["id"])
    assert customer.get(f"{stack.api}/products", timeout=30).status_code == 200
    assert customer.get(f"{stack.api}/products/{product['id']}", timeout=30).status_code == 200
    assert customer.get(f"{stack.api}/categories", timeout=30).status_code == 200
    forbidden = [
        customer.post(f"{stack.api}/categories", json={"name": unique("x")}, timeout=30),
        customer.patch(f"{stack.api}/categories/{category['id']}", json={"name": "y"}, timeout=30),
        customer.delete(f"{stack.api}/categories/{category['id']}", timeout=30),
        customer.post(f"{stack.api}/products", json={"name": "x", "price": 1, "stock": 1,
                                                      "category_id": category["id"]}, timeout=30),
        customer.put(f"{stack.api}/products/{product['id']}", json={"name": "x"}, timeout=30),
        customer.patch(f"{stack.api}/products/{product['id']}", json={"stock": 100}, timeout=30),
        customer.delete(f"{stack.api}/products/{product['id']}", timeout=30),
        customer.post(f"{stack.api}/products/bulk-upload", data=b"name,stock,price,category\nA,1,1,B\n",
                      headers={"Content-Type": "text/csv"}, timeout=30),
    ]
    assert [r.status_code for r in forbidden] == [403] * len(forbidden)
    assert all(r.json()["error"]["code"] == "forbidden" for r in forbidden)
    anonymous = stack.session().get(f"{stack.api}/products", timeout=30)
    assert anonymous.status_code == 401


def test_product_lifecycle(stack, staff, customer):
    category = post_category(staff, stack, unique("Kitchen"))
    product = post_product(staff, stack, category["id"], name="Kettle", price=1500, discount_price="1200.50", stock=4)
    assert {k: product[k] for k in ("name", "price", "discount_price", "current_price", "stock", "reserved",
                                    "available", "category_id")} == {
        "name": "Kettle", "price": "1500.00", "discount_price": "1200.50", "current_price": "1200.50", "stock": 4,
        "reserved": 0, "available": 4, "category_id": category["id"]}
    assert product["created_at"].endswith("Z") and product["updated_at"].endswith("Z")
    url = f"{stack.api}/products/{product['id']}"
    only_discount = staff.patch(url, json={"discount_price": 999}, timeout=30)
    assert only_discount.status_code == 200
    assert (only_discount.json()["discount_price"], only_discount.json()["current_price"]) == ("999.00", "999.00")
    too_high = staff.patch(url, json={"discount_price": "1500.00"}, timeout=30)
    assert too_high.status_code == 400 and "discount_price" in too_high.json()["error"]["details"]
    below_discount = staff.patch(url, json={"price": 999}, timeout=30)
    assert below_discount.status_code == 400 and "price" in below_discount.json()["error"]["details"]
    cleared = staff.patch(url, json={"discount_price": None}, timeout=30).json()
    assert (cleared["discount_price"], cleared["current_price"]) == (None, "1500.00")
    other = post_category(staff, stack, unique("Other"))
    replaced = staff.put(url, json={"name": "Kettle 2", "price": "20", "stock": 7, "category_id": other["id"]},
                         timeout=30)
    assert replaced.status_code == 200
    assert (replaced.json()["price"], replaced.json()["available"], replaced.json()["category_id"]) == (
        "20.00", 7, other["id"])
    assert customer.get(url, timeout=30).json() == replaced.json()
    assert customer.get(f"{stack.api}/categories/{category['id']}/average-price", timeout=30).json()[
        "products_count"] == 0
    assert customer.get(f"{stack.api}/categories/{other['id']}/average-price", timeout=30).json()[
        "average_price"] == "20.00"
    assert staff.delete(url, timeout=30).status_code == 204
    for method in ("get", "put", "patch", "delete"):
        gone = getattr(staff, method)(url, json={"name": "x"}, timeout=30)
        assert gone.status_code == 404, method


@pytest.mark.parametrize("fields, field", [
    ({"price": 0}, "price"), ({"price": "-5"}, "price"), ({"price": "ten"}, "price"), ({"price": "1.999"}, "price"),
    ({"discount_price": -1}, "discount_price"), ({"discount_price": 15}, "discount_price"),
    ({"stock": -1}, "stock"), ({"stock": 2.5}, "stock"), ({"stock": True}, "stock"), ({"name": ""}, "name"),
    ({"name": "n" * 201}, "name"), ({"category_id": "no-such-category"}, "category_id"),
    ({"customer": "me"}, "customer"),
])
def test_product_validation(stack, staff, fields, field):
    category = post_category(staff, stack, unique("Valid"))
    body = {"name": "Lamp", "price": "15.00", "stock": 3, "category_id": category["id"], **fields}
    response = staff.post(f"{stack.api}/products", json=body, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["details"]


def test_not_a_json_object_is_400(stack, staff):
    for data in (b"[1, 2]", b"not json", b""):
        response = staff.post(f"{stack.api}/products", data=data, headers={"Content-Type": "application/json"},
                              timeout=30)
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_stock_cannot_go_below_what_orders_reserve(stack, staff):
    from tests.support.orders import Seeder, customer_session

    category = post_category(staff, stack, unique("Reserved"))
    product = post_product(staff, stack, category["id"], stock=5)
    buyer = customer_session(stack, Seeder.for_endpoint(stack.aws_endpoint))
    order = buyer.post(f"{stack.api}/orders", json={"items": [{"product_id": product["id"], "quantity": 3}]},
                       timeout=30)
    assert order.status_code == 201, order.text
    url = f"{stack.api}/products/{product['id']}"
    assert (staff.get(url, timeout=30).json()["reserved"], staff.get(url, timeout=30).json()["available"]) == (3, 2)
    refused = staff.patch(url, json={"stock": 2}, timeout=30)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "stock_below_reserved"
    exact = staff.patch(url, json={"stock": 3}, timeout=30).json()
    assert (exact["stock"], exact["reserved"], exact["available"]) == (3, 3, 0)
    more = staff.patch(url, json={"stock": 10}, timeout=30).json()
    assert (more["stock"], more["reserved"], more["available"]) == (10, 3, 7)
    assert staff.delete(url, timeout=30).status_code == 204  # past orders keep their item snapshots
    kept = buyer.get(f"{stack.api}/orders/{order.json()['id']}", timeout=30).json()
    assert kept["items"][0]["product_id"] == product["id"] and kept["items"][0]["name"] == product["name"]


def test_listing_products_by_category_descendants_and_pages(stack, staff, customer):
    top = post_category(staff, stack, unique("Tree"))
    child = post_category(staff, stack, "Child", top["id"])
    grandchild = post_category(staff, stack, "Grandchild", child["id"])
    own = [post_product(staff, stack, top["id"], name=f"top {i}")["id"] for i in range(3)]
    below = [post_product(staff, stack, c["id"])["id"] for c in (child, grandchild)]
    direct = eventually(  # lists read indexes, which may lag the writes (SPEC §4)
        lambda: customer.get(f"{stack.api}/products", params={"category_id": top["id"]}, timeout=30).json(),
        lambda page: len(page["items"]) == len(own))
    assert sorted(p["id"] for p in direct["items"]) == sorted(own) and direct["next_cursor"] is None

    def all_pages() -> list[str]:
        everything, cursor = [], None
        while True:
            params = {"category_id": top["id"], "include_descendants": "true", "limit": 2}
            page = customer.get(f"{stack.api}/products", timeout=30,
                                params={**params, **({"cursor": cursor} if cursor else {})}).json()
            assert len(page["items"]) <= 2
            everything += [p["id"] for p in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return everything

    everything = eventually(all_pages, lambda found: len(found) == len(own + below))
    assert sorted(everything) == sorted(own + below)
    unknown = customer.get(f"{stack.api}/products", params={"category_id": "no-such-category"}, timeout=30)
    assert unknown.status_code == 404
    bad_limit = customer.get(f"{stack.api}/products", params={"limit": 0}, timeout=30)
    assert bad_limit.status_code == 400
    bad_cursor = customer.get(f"{stack.api}/products", params={"cursor": "garbage"}, timeout=30)
    assert bad_cursor.status_code == 400


def test_price_history_from_the_periodic_job(stack, staff, customer):
    category = post_category(staff, stack, unique("History"))
    post_product(staff, stack, category["id"], price=10)
    url = f"{stack.api}/categories/{category['id']}/price-history"
    before = customer.get(url, timeout=30)
    assert before.status_code == 200 and before.json()["items"] == []
    env = {**stack.env, "AWS_ENDPOINT_URL": stack.aws_endpoint}
    settle_indexes()  # the job lists categories through an index, which may lag the write (SPEC §4)
    # What the stack's worker runs every hour (it ran once at start-up, before this category existed).
    job = "from chalicelib.bootstrap import services; from chalicelib.services.jobs import SNAPSHOT_PRICES; " \
          "SNAPSHOT_PRICES.run(services())"
    subprocess.run([sys.executable, "-c", job], cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
    history = eventually(lambda: customer.get(url, timeout=30).json(), lambda page: page["items"])  # may lag
    assert history["category_id"] == category["id"] and history["next_cursor"] is None
    (snapshot,) = history["items"]
    assert (snapshot["average_price"], snapshot["products_count"], snapshot["subcategory_count"]) == ("10.00", 1, 0)
    assert customer.get(f"{stack.api}/categories/nope/price-history", timeout=30).status_code == 404
