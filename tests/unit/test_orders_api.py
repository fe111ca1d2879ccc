"""Order request bodies (SPEC §4 Validation): what is refused with 400, and how it is reported."""

from __future__ import annotations

import pytest

from chalicelib.api.request_models import StatusChangeIn, parse_place_order
from chalicelib.api.requests import validate
from chalicelib.domain.errors import InvalidInput


def items(n, quantity=1):
    return [{"product_id": f"p{i}", "quantity": quantity} for i in range(n)]


@pytest.mark.parametrize("count", [1, 50])
def test_one_to_fifty_items(count):
    assert len(parse_place_order({"items": items(count)}).items) == count


@pytest.mark.parametrize("quantity", [1, 1000])
def test_quantity_bounds_accepted(quantity):
    assert parse_place_order({"items": items(1, quantity)}).items[0].quantity == quantity


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "items"),
        ({"items": []}, "items"),
        ({"items": items(51)}, "items"),
        ({"items": "p1"}, "items"),
        ({"items": [{"product_id": "p1"}]}, "items.0.quantity"),
        ({"items": [{"quantity": 1}]}, "items.0.product_id"),
        ({"items": [{"product_id": "", "quantity": 1}]}, "items.0.product_id"),
        ({"items": [{"product_id": 5, "quantity": 1}]}, "items.0.product_id"),
        ({"items": [{"product_id": "\ud800", "quantity": 1}]}, "items.0.product_id"),
        ({"items": [{"product_id": "p" * 201, "quantity": 1}]}, "items.0.product_id"),
        ({"items": items(1, 0)}, "items.0.quantity"),
        ({"items": items(1, 1001)}, "items.0.quantity"),
        ({"items": items(1, -1)}, "items.0.quantity"),
        ({"items": items(1, 1.5)}, "items.0.quantity"),
        ({"items": items(1, 2.0)}, "items.0.quantity"),
        ({"items": items(1, "2")}, "items.0.quantity"),
        ({"items": items(1, True)}, "items.0.quantity"),
        ({"items": items(1, None)}, "items.0.quantity"),
        ({"items": [{"product_id": "p1", "quantity": 1}, {"product_id": "p1", "quantity": 2}]}, "items"),
        ({"items": [{"product_id": "p1", "quantity": 1, "price": "1.00"}]}, "items.0.price"),
        ({"items": items(1), "total_price": "0.01"}, "total_price"),
        ({"items": items(1), "customer": "someone-else"}, "customer"),
        ({"items": items(1), "customer_id": "someone-else"}, "customer_id"),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(body, field):
    with pytest.raises(InvalidInput) as caught:
        parse_place_order(body)
    assert caught.value.status == 400
    assert field in caught.value.details, caught.value.details


def test_status_body_allows_only_status():
    assert validate(StatusChangeIn, {"status": "COMPLETED"}).status == "COMPLETED"
    assert validate(StatusChangeIn, {"status": 5}).status == 5  # the domain turns this into a 400
    for body in ({}, {"status": "COMPLETED", "note": "x"}, {"state": "COMPLETED"}):
        with pytest.raises(InvalidInput):
            validate(StatusChangeIn, body)
