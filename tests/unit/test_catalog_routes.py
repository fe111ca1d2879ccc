"""The catalog routes over the WSGI adapter, with in-memory repositories: codes, envelopes, roles, shapes."""

import json

import pytest
from werkzeug.test import Client

from chalicelib.auth import dev_issuer
from chalicelib.bootstrap import services
from tests.support.catalog import csv_text, memory_catalog, multipart
from tests.support.identity import local_application

STAFF = "staff@ekiosk.test"
CUSTOMER = "shopper@example.com"


@pytest.fixture(scope="module")
def app_client(tmp_path_factory):
    with local_application(tmp_path_factory.mktemp("data")) as application:
        yield Client(application)


@pytest.fixture
def api(app_client):
    from chalicelib.config import get_settings

    tokens = {email: dev_issuer.mint(get_settings(), email) for email in (STAFF, CUSTOMER)}

    class Api:
        def __init__(self, repo):
            self.repo = repo

        def call(self, method, path, who=STAFF, body=None, raw=None, content_type=None, query=None):
            headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
            kwargs = {"headers": headers, "query_string": query}
            if body is not None:
                kwargs["data"], kwargs["content_type"] = json.dumps(body), "application/json"
            if raw is not None:
                kwargs["data"], kwargs["content_type"] = raw, content_type
            return app_client.open("/api/v1" + path, method=method, **kwargs)

    with memory_catalog() as repo:
        yield Api(repo)


def make_category(api, name, parent_id=None):
    response = api.call("POST", "/categories", body={"name": name, "parent_id": parent_id})
    assert response.status_code == 201, response.json
    return response.json


def make_product(api, category_id, **fields):
    body = {"name": "Lamp", "price": "15.00", "stock": 3, "category_id": category_id, **fields}
    response = api.call("POST", "/products", body=body)
    assert response.status_code == 201, response.json
    return response.json


def test_category_lifecycle(api):
    top = make_category(api, "Electronics")
    assert set(top) >= {"id", "name", "parent_id", "depth"}
    assert (top["name"], top["parent_id"], top["depth"]) == ("Electronics", None, 0)
    child = make_category(api, "Laptops", top["id"])
    assert (child["parent_id"], child["depth"], child["ancestors"]) == (top["id"], 1, [top["id"]])
    assert api.call("GET", f"/categories/{child['id']}", who=CUSTOMER).json == child
    listed = api.call("GET", "/categories", who=CUSTOMER, query={"parent_id": top["id"]}).json
    assert listed == {"items": [child], "next_cursor": None}
    renamed = api.call("PATCH", f"/categories/{child['id']}", body={"name": "Notebooks"})
    assert renamed.status_code == 200 and renamed.json["name"] == "Notebooks"
    assert api.call("DELETE", f"/categories/{top['id']}").status_code == 409
    assert api.call("DELETE", f"/categories/{child['id']}").status_code == 204
    assert api.call("GET", f"/categories/{child['id']}").status_code == 404


def test_category_errors(api):
    top = make_category(api, "Home")
    other = make_category(api, "Garden")
    cases = [
        ("POST", "/categories", {"name": ""}, 400, "validation_error"),
        ("POST", "/categories", {"name": "x" * 201}, 400, "validation_error"),
        ("POST", "/categories", {"name": "A/B"}, 400, "validation_error"),
        ("POST", "/categories", {"name": "ok", "extra": 1}, 400, "validation_error"),
        ("POST", "/categories", {"name": "ok", "parent_id": "missing"}, 400, "validation_error"),
        ("POST", "/categories", {"name": "HOME"}, 409, "duplicate_name"),
        ("PATCH", f"/categories/{top['id']}", {"parent_id": other["id"]}, 409, "reparent_not_supported"),
        ("PATCH", f"/categories/{top['id']}", {"name": "garden"}, 409, "duplicate_name"),
        ("PATCH", f"/categories/{top['id']}", {"name": None}, 400, "validation_error"),
        ("PATCH", "/categories/missing", {"name": "x"}, 404, "not_found"),
    ]
    for method, path, body, status, code in cases:
        response = api.call(method, path, body=body)
        assert (response.status_code, response.json["error"]["code"]) == (status, code), (method, path, body)
    assert api.call("POST", "/categories", raw=b"[1]", content_type="application/json").status_code == 400
    assert api.call("POST", "/categories", raw=b"{", content_type="application/json").status_code == 400


def test_unknown_ids_are_404_for_every_method(api):
    for method, path in [("GET", "/categories/nope"), ("PATCH", "/categories/nope"), ("DELETE", "/categories/nope"),
                         ("GET", "/categories/nope/calculate_average_price"), ("GET", "/categories/nope/average-price"),
                         ("GET", "/categories/nope/price-history"), ("GET", "/products/nope"),
                         ("PUT", "/products/nope"), ("PATCH", "/products/nope"), ("DELETE", "/products/nope"),
                         ("GET", "/products/name:ROOT:x"), ("GET", "/products/" + "x" * 300)]:
        response = api.call(method, path, body={"name": "x"} if method in ("PUT", "PATCH") else None)
        assert response.status_code == 404, (method, path, response.json)
        assert response.json["error"]["code"] == "not_found"
    assert api.call("GET", "/products", query={"category_id": "nope"}).status_code == 404
    assert api.call("GET", "/categories", query={"parent_id": "nope"}).status_code == 404


def test_customers_read_staff_write(api):
    category = make_category(api, "C")
    product = make_product(api, category["id"])
    for method, path, body in [("POST", "/categories", {"name": "x"}),
                               ("PATCH", f"/categories/{category['id']}", {"name": "y"}),
                               ("DELETE", f"/categories/{category['id']}", None),
                               ("POST", "/products", {"name": "x", "price": 1, "stock": 1,
                                                      "category_id": category["id"]}),
                               ("PUT", f"/products/{product['id']}", {"name": "x"}),
                               ("PATCH", f"/products/{product['id']}", {"name": "x"}),
                               ("DELETE", f"/products/{product['id']}", None)]:
        response = api.call(method, path, who=CUSTOMER, body=body)
        assert response.status_code == 403, (method, path)
        assert response.json["error"]["code"] == "forbidden"
    body, content_type = multipart(b"name,stock,price,category\nA,1,1,C\n")
    assert api.call("POST", "/products/bulk-upload", who=CUSTOMER, raw=body, content_type=content_type
                    ).status_code == 403
    for path in ("/products", f"/products/{product['id']}", "/categories", f"/categories/{category['id']}",
                 f"/categories/{category['id']}/calculate_average_price", f"/categories/{category['id']}/average-price",
                 f"/categories/{category['id']}/price-history"):
        assert api.call("GET", path, who=CUSTOMER).status_code == 200, path
    assert api.call("GET", "/products", who=None).status_code == 401


def test_product_lifecycle_and_shape(api):
    category = make_category(api, "C")
    created = make_product(api, category["id"], price=1500, discount_price="1200.5")
    assert set(created) == {"id", "name", "price", "discount_price", "current_price", "stock", "reserved",
                            "available", "category_id", "created_at", "updated_at"}
    assert (created["price"], created["discount_price"], created["current_price"]) == ("1500.00", "1200.50",
                                                                                      "1200.50")
    assert (created["stock"], created["reserved"], created["available"]) == (3, 0, 3)
    path = f"/products/{created['id']}"
    patched = api.call("PATCH", path, body={"discount_price": "1000"}).json
    assert patched["current_price"] == "1000.00" and patched["price"] == "1500.00"
    cleared = api.call("PATCH", path, body={"discount_price": None}).json
    assert cleared["discount_price"] is None and cleared["current_price"] == "1500.00"
    replaced = api.call("PUT", path, body={"name": "New", "price": 10, "stock": 9, "category_id": category["id"]})
    assert replaced.status_code == 200
    assert (replaced.json["name"], replaced.json["price"], replaced.json["available"]) == ("New", "10.00", 9)
    assert api.call("GET", path, who=CUSTOMER).json == replaced.json
    listed = api.call("GET", "/products", who=CUSTOMER, query={"category_id": category["id"]}).json
    assert listed == {"items": [replaced.json], "next_cursor": None}
    assert api.call("DELETE", path).status_code == 204
    assert api.call("GET", path).status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"price": 0}, "price"), ({"price": -1}, "price"), ({"price": "abc"}, "price"), ({"price": True}, "price"),
    ({"price": "1.234"}, "price"), ({"discount_price": -1}, "discount_price"),
    ({"discount_price": 15}, "discount_price"), ({"stock": -1}, "stock"), ({"stock": 1.5}, "stock"),
    ({"stock": "3"}, "stock"), ({"stock": True}, "stock"), ({"name": ""}, "name"), ({"name": "x" * 201}, "name"),
    ({"category_id": "missing"}, "category_id"), ({"reserved": 3}, "reserved"), ({"name": None}, "name"),
])
def test_product_validation(api, body, field):
    category = make_category(api, "C")
    full = {"name": "Lamp", "price": "15.00", "stock": 3, "category_id": category["id"], **body}
    response = api.call("POST", "/products", body=full)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "validation_error"
    assert field in response.json["error"]["details"]


def test_patch_rules_against_stored_values(api):
    category = make_category(api, "C")
    product = make_product(api, category["id"], price=100, discount_price=80)
    path = f"/products/{product['id']}"
    for body, field in [({"price": 80}, "price"), ({"discount_price": 100}, "discount_price"),
                        ({"price": None}, "price"), ({"stock": None}, "stock"), ({"id": "x"}, "id")]:
        response = api.call("PATCH", path, body=body)
        assert response.status_code == 400 and field in response.json["error"]["details"], body
    missing = api.call("PUT", path, body={"name": "x", "price": 1})
    assert missing.status_code == 400
    assert set(missing.json["error"]["details"]) == {"stock", "category_id"}
    assert api.call("PATCH", path, body={}).status_code == 200
    api.repo.products[product["id"]].reserved = 2
    conflict = api.call("PATCH", path, body={"stock": 1})
    assert conflict.status_code == 409 and conflict.json["error"]["code"] == "stock_below_reserved"


def test_average_price_routes(api):
    parent = None
    for level, price in enumerate([100, 200, 300, 400, 1000]):
        parent = make_category(api, f"L{level}", parent["id"] if parent else None)
        make_product(api, parent["id"], name=f"P{level}", price=price)
        if level == 0:
            top = parent
        if level == 1:
            second = parent
    body = api.call("GET", f"/categories/{top['id']}/calculate_average_price", who=CUSTOMER).json
    assert body == {"category_id": top["id"], "category": "L0", "average_price": "250.00", "products_count": 4,
                    "subcategory_count": 3}
    alias = api.call("GET", f"/categories/{second['id']}/average-price", who=CUSTOMER).json
    assert (alias["average_price"], alias["products_count"], alias["subcategory_count"]) == ("475.00", 4, 3)
    empty = make_category(api, "Empty")
    assert api.call("GET", f"/categories/{empty['id']}/average-price").json["average_price"] is None


def test_price_history_route(api):
    from chalicelib.services import price_history

    category = make_category(api, "C")
    make_product(api, category["id"], price=10)
    price_history.snapshot_all(services(), now="2026-01-01T10:00:00.000000Z")
    price_history.snapshot_all(services(), now="2026-01-01T10:30:00.000000Z")  # same hour: replaces
    make_product(api, category["id"], name="B", price=30)
    price_history.snapshot_all(services(), now="2026-01-01T11:00:00.000000Z")
    body = api.call("GET", f"/categories/{category['id']}/price-history", who=CUSTOMER).json
    assert body["category_id"] == category["id"] and body["next_cursor"] is None
    assert [(s["taken_at"][:16], s["average_price"], s["products_count"]) for s in body["items"]] == [
        ("2026-01-01T11:00", "20.00", 2), ("2026-01-01T10:30", "10.00", 1)]
    first = api.call("GET", f"/categories/{category['id']}/price-history", query={"limit": 1}).json
    assert len(first["items"]) == 1 and first["next_cursor"]


def test_bulk_upload_routes(api):
    text = csv_text([("Lamp", 3, "15.00", "Home/Lighting"), ("Desk", 1, 120, "Home")]).encode()
    body, content_type = multipart(text)
    created = api.call("POST", "/products/bulk-upload", raw=body, content_type=content_type)
    assert created.status_code == 201
    assert created.json == {"products_created": 2, "products_updated": 0, "errors": []}
    again = api.call("POST", "/products/bulk_upload", raw=text, content_type="text/csv")
    assert (again.status_code, again.json["products_updated"]) == (201, 2)
    dry = api.call("POST", "/products/bulk-upload", raw=text, content_type="text/csv", query={"dry_run": "true"})
    assert (dry.status_code, dry.json["dry_run"]) == (200, True)
    partial = api.call("POST", "/products/bulk-upload", raw=json.dumps([{"name": "A", "stock": 1, "price": 1,
                                                                           "category": "J"}, {"name": "B"}]),
                       content_type="application/json")
    assert partial.status_code == 207
    assert partial.json["errors"] == [{"row": 2, "errors": {"stock": ["is required"], "price": ["is required"],
                                                            "category": ["is required"]}}]
    none = api.call("POST", "/products/bulk-upload", raw=b"name,stock,price,category\nA,x,1,C\n",
                    content_type="text/csv")
    assert none.status_code == 400 and none.json["error"]["code"] == "no_rows_applied"
    assert none.json["errors"][0]["row"] == 1
    for raw, kind, status, code in [(b"", "text/csv", 400, "empty_file"),
                                    (b"name,price\nA,1\n", "text/csv", 400, "missing_columns"),
                                    (b"\xff\xfe", "text/csv", 400, "invalid_encoding"),
                                    (b"{}", "application/json", 400, "invalid_json"),
                                    (b"x", "application/xml", 400, "unsupported_file_type"),
                                    (b"x" * (10 * 1024 * 1024 + 1), "text/csv", 413, "file_too_large")]:
        response = api.call("POST", "/products/bulk-upload", raw=raw, content_type=kind)
        assert (response.status_code, response.json["error"]["code"]) == (status, code), code
    bad_flag = api.call("POST", "/products/bulk-upload", raw=text, content_type="text/csv", query={"dry_run": "maybe"})
    assert bad_flag.status_code == 400


def test_the_hourly_price_snapshot_is_scheduled_on_aws_and_in_the_worker(api):
    from app import app
    from chalicelib.api import catalog as blueprint
    from chalicelib.services import price_history
    from chalicelib.services.jobs import PERIODIC_JOBS

    scheduled = {source.name: source for source in app.event_sources if type(source).__name__ == "ScheduledEventConfig"}
    rate = scheduled["snapshot_category_prices"].schedule_expression
    assert (rate.value, rate.unit) == (1, "HOURS")
    assert any(job.run is price_history.snapshot_all and job.period == 3600 for job in PERIODIC_JOBS)
    make_category(api, "Snapped")
    event = {"version": "0", "id": "e", "detail-type": "Scheduled Event", "source": "aws.events", "account": "1",
             "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}}
    blueprint.snapshot_category_prices(event, None)  # as the Lambda runtime calls it
    assert len(api.repo.snapshots) == 1


def test_product_names_are_unique_within_a_category(api):
    category = make_category(api, "Unique names")
    lamp = make_product(api, category["id"], name="Desk lamp")
    again = api.call("POST", "/products", body={"name": "DESK  lamp", "price": "1.00", "stock": 1,
                                                "category_id": category["id"]})
    assert again.status_code == 409 and again.json["error"]["code"] == "duplicate_name"
    other = make_product(api, category["id"], name="Floor lamp")
    renamed = api.call("PATCH", f"/products/{other['id']}", body={"name": "desk lamp"})
    assert renamed.status_code == 409 and renamed.json["error"]["code"] == "duplicate_name"
    assert api.call("PATCH", f"/products/{lamp['id']}", body={"name": "Desk Lamp"}).status_code == 200  # case only
    elsewhere = make_category(api, "Elsewhere")
    make_product(api, elsewhere["id"], name="Desk lamp")
