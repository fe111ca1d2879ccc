"""Response shapes have one definition each: the response models, which serialize every answer (SPEC §4–§8)
and which the OpenAPI document names for each route."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from chalice import Blueprint, Chalice

from chalicelib.api.openapi import REF_TEMPLATE, build_document, documented_routes
from chalicelib.api.responses import Reply, response_model
from chalicelib.domain import catalog as rules
from chalicelib.domain.catalog import Category, PriceSnapshot
from chalicelib.domain.customers import CUSTOMER, Customer
from chalicelib.domain.notifications import Notification
from chalicelib.domain.orders import COMPLETED, OrderLine, new_order
from tests.support.responses import serialize
from tests.support.stack import ROOT

API = Path(ROOT) / "chalicelib" / "api"


def models():
    from chalicelib.api.response_models import catalog, identity, notifications, orders

    return catalog, identity, notifications, orders


def test_an_order_is_exactly_the_spec_shape():
    _, _, _, orders = models()
    order = new_order(
        order_id="o1", number=7, customer_id="c1",
        lines=[OrderLine("p1", "Pen", 3, 1999), OrderLine("p2", "Book", 1, 150_000)],
        now="2024-01-01T00:00:00.000000Z", customer_email="a@b.c", customer_phone="+254711223344",
        request_hash="h",
    )
    body = serialize(orders.Order, order)
    assert json.dumps(body) == json.dumps({  # the order of the fields too
        "id": "o1",
        "number": 7,
        "customer_id": "c1",
        "status": "PENDING",
        "items": [
            {"product_id": "p1", "name": "Pen", "quantity": 3, "price_at_time_of_order": "19.99",
             "line_total": "59.97"},
            {"product_id": "p2", "name": "Book", "quantity": 1, "price_at_time_of_order": "1500.00",
             "line_total": "1500.00"},
        ],
        "total_price": "1559.97",
        "created_at": "2024-01-01T00:00:00.000000Z",
        "updated_at": "2024-01-01T00:00:00.000000Z",
        "history": [{"status": "PENDING", "at": "2024-01-01T00:00:00.000000Z", "by": "c1"}],
    })
    done = order.with_status(COMPLETED, "2024-01-02T00:00:00.000000Z", "staff")
    assert serialize(orders.Order, done)["history"][-1] == {
        "status": COMPLETED, "at": "2024-01-02T00:00:00.000000Z", "by": "staff"}
    page = serialize(orders.OrderPage, {"items": [order, done], "next_cursor": None})
    assert [o["status"] for o in page["items"]] == ["PENDING", COMPLETED] and page["next_cursor"] is None


def test_a_product_has_money_strings_and_its_current_price():
    catalog, *_ = models()
    product = rules.new_product("Lamp", 150000, None, 7, "c", "2024-01-01T00:00:00.000000Z")
    body = serialize(catalog.Product, product)
    assert list(body) == ["id", "name", "price", "discount_price", "current_price", "stock", "reserved", "available",
                          "category_id", "created_at", "updated_at"]
    assert (body["price"], body["discount_price"], body["current_price"]) == ("1500.00", None, "1500.00")
    assert body["stock"] == body["available"] == 7 and body["reserved"] == 0
    discounted = rules.edited(product, {"discount_price_cents": 0}, "2024-01-02T00:00:00.000000Z")
    assert serialize(catalog.Product, discounted)["current_price"] == "0.00"


def test_a_category_and_a_price_snapshot():
    catalog, *_ = models()
    top = Category(id="c0", name="Top", parent_id=None, ancestors=(), created_at="t0", updated_at="t1")
    child = Category(id="c1", name="Child", parent_id="c0", ancestors=("c0",), created_at="t0", updated_at="t1")
    assert serialize(catalog.Category, child) == {
        "id": "c1", "name": "Child", "parent_id": "c0", "depth": 1, "ancestors": ["c0"], "created_at": "t0",
        "updated_at": "t1"}
    top.price_sums, top.product_counts, top.subcategory_counts = [300, 100, 0, 0], [2, 1, 0, 0], [0, 1, 0, 0]
    snapshot = PriceSnapshot.of(top, "2026-01-02T03:04:05.000000Z")
    assert serialize(catalog.PriceSnapshot, snapshot) == {
        "taken_at": "2026-01-02T03:04:05.000000Z", "average_price": "1.33", "products_count": 3,
        "subcategory_count": 1}
    assert serialize(catalog.AveragePrice, top.average())["average_price"] == "1.33"


def test_a_profile_and_a_notification_record():
    _, identity, notifications, _ = models()
    ann = Customer(id="c1", email="ann@example.test", name="Ann", phone_number=None, role=CUSTOMER,
                   created_at="t", updated_at="t", role_source="token")
    assert serialize(identity.Profile, ann) == {
        "id": "c1", "email": "ann@example.test", "name": "Ann", "phone_number": None, "role": "customer",
        "profile_complete": False, "missing_fields": ["phone_number"]}
    record = Notification(id="o1:order_placed:SMS", order_id="o1", event="order_placed", channel="SMS",
                          recipient="+254711223344", message="hi", provider="africastalking",
                          created_at="2024-01-01T00:00:00.000000Z")
    assert list(serialize(notifications.Notification, record)) == [
        "id", "order_id", "event", "channel", "recipient", "message", "status", "attempts",
        "provider_message_id", "error", "created_at", "sent_at"]  # not provider or updated_at (SPEC §8)


def test_a_body_that_strays_from_its_model_is_refused_not_sent():
    from pydantic import ValidationError

    catalog, *_ = models()
    average = {"category_id": "c", "category": "C", "average_price": "1.5", "products_count": 1,
               "subcategory_count": 0}
    with pytest.raises(ValidationError):  # money is a two-place string
        serialize(catalog.AveragePrice, average)
    with pytest.raises(ValidationError):  # no field the document does not list
        serialize(catalog.AveragePrice, {**average, "average_price": "1.50", "extra": 1})


@pytest.fixture(scope="module")
def app():
    from app import app

    return app


def test_each_route_answers_through_the_model_its_document_names(app):
    """The document's schema of every response with a model is that model's, from the same lookup
    (`responses.response_model`) the route's answer goes through."""
    from pydantic import BaseModel
    from pydantic.json_schema import models_json_schema

    document = build_document(app)
    checked = 0
    for path, method, entry in documented_routes(app):
        doc = entry.view_function.api_doc
        for code, response in document["paths"][path][method.lower()]["responses"].items():
            model = response_model(doc, int(code))
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                continue
            keys, _ = models_json_schema([(model, "serialization")], ref_template=REF_TEMPLATE)
            [schema] = [content["schema"] for content in response["content"].values()]
            assert schema == keys[(model, "serialization")], f"{method} {path} {code}"
            checked += 1
    assert checked >= 30


def probe_app(view_result, **doc):
    """One public route answering `view_result`, documented with `doc`."""
    from chalicelib.api.routing import endpoint

    bp = Blueprint("probe")

    @endpoint(bp, "/probe", ["GET"], public=True, summary="Probe", **doc)
    def probe():
        return view_result

    application = Chalice("probe")
    application.register_blueprint(bp, url_prefix="/api/v1")
    return application


def call(application):
    from chalice.test import Client

    with Client(application) as client:
        return client.http.get("/api/v1/probe")


def test_a_view_answers_through_its_documented_model_and_status():
    catalog, *_ = models()
    category = Category(id="c1", name="C", parent_id=None, ancestors=(), created_at="t", updated_at="t")
    application = probe_app(Reply(category, headers={"Location": "/x"}), response=catalog.Category, status=201)
    response = call(application)
    assert response.status_code == 201 and response.headers["Location"] == "/x"
    assert json.loads(response.body) == serialize(catalog.Category, category)
    schema = build_document(application)["paths"]["/api/v1/probe"]["get"]["responses"]["201"]
    assert schema["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Category"}


def test_a_status_without_a_documented_model_is_an_internal_error():
    catalog, *_ = models()
    category = Category(id="c1", name="C", parent_id=None, ancestors=(), created_at="t", updated_at="t")
    response = call(probe_app(Reply(category, status=207), response=catalog.Category))
    assert response.status_code == 500
    assert json.loads(response.body)["error"]["code"] == "internal_error"


def test_no_route_module_builds_a_json_body_itself():
    """Bodies come from the response models: a route module may not call json_response (only errors,
    in responses.py and routing.py, and the docs routes' prebuilt document do)."""
    offenders = []
    for module in sorted(API.glob("*.py")):
        if module.name in ("responses.py", "routing.py"):
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in (
                "json_response", "view", "profile", "public_view",
            ):
                offenders.append(f"{module.name}:{node.lineno}")
    assert offenders == []
