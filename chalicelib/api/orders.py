"""Order routes (SPEC §4, §7). Thin: parse, call chalicelib.services.orders, shape the answer."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from chalicelib.api.pagination import list_page
from chalicelib.api.requests import json_object, query, validate
from chalicelib.api.responses import json_response
from chalicelib.api.routing import endpoint
from chalicelib.api.schemas.common import Page
from chalicelib.api.schemas.orders import Order
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.orders import MAX_ITEMS, MAX_QUANTITY, check_idempotency_key
from chalicelib.services import orders

bp = Blueprint(__name__)

# A body naming the customer is refused: an order is always the caller's own.
CUSTOMER_FIELDS = ("customer", "customer_id")


class OrderItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: StrictStr = Field(min_length=1, max_length=200)
    quantity: StrictInt = Field(ge=1, le=MAX_QUANTITY)

    @field_validator("product_id")
    @classmethod
    def valid_text(cls, value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text") from None
        return value


class PlaceOrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_ITEMS)

    @field_validator("items")
    @classmethod
    def each_product_once(cls, items: list[OrderItemIn]) -> list[OrderItemIn]:
        seen: set[str] = set()
        twice: set[str] = set()
        for item in items:
            (twice if item.product_id in seen else seen).add(item.product_id)
        if twice:
            raise ValueError(f"each product may appear only once; repeated: {', '.join(sorted(twice))}")
        return items


class StatusChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Any JSON value: the domain decides (non-strings and unknown statuses → 400).
    status: Any = Field(
        description="COMPLETED (approve) or CANCELED (cancel); case-insensitive, CANCELLED accepted.",
        examples=["COMPLETED"],
    )


def parse_place_order(body: dict) -> PlaceOrderIn:
    named = [name for name in CUSTOMER_FIELDS if name in body]
    if named:
        raise InvalidInput(
            "orders are always placed for the caller; the body must not name a customer",
            details={name: ["not allowed: the customer is always the caller"] for name in named},
            code="validation_error",
        )
    return validate(PlaceOrderIn, body)


IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "description": "At most 255 characters, scoped to the caller: the same key with the same items returns the "
                   "original order (201, header Idempotent-Replayed: true) without reserving again; with other "
                   "items → 409 idempotency_mismatch.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
STATUS_QUERY = {
    "name": "status",
    "description": "PENDING, COMPLETED or CANCELED (case-insensitive; CANCELLED accepted).",
    "schema": {"type": "string"},
}

@endpoint(
    bp, "/orders", ["POST"], summary="Place an order", body=PlaceOrderIn, response=Order, status=201,
    headers=[IDEMPOTENCY_HEADER],
    description="Reserves every item's quantity and records the order in one atomic step (all items or none). "
                "Prices, names and the total are the server's; the customer is always the caller.",
    response_headers={"Location": "The order's URL.", "Idempotent-Replayed": "`true` on an idempotent replay."},
    responses={
        403: "`profile_incomplete`: add a phone number (PATCH /me) first.",
        409: "`insufficient_stock` (details: [{product_id, requested, available}]), `pending_limit` (details: "
             "{pending_orders, pending_units, max_pending_orders, max_pending_units}: the caller's PENDING orders, "
             "with this one, would pass MAX_PENDING_ORDERS or MAX_PENDING_UNITS) or `idempotency_mismatch`.",
        503: "`try_again`: write contention outlasted every internal retry (practically never).",
    },
)
def place_order(caller):
    request = bp.current_request
    key = check_idempotency_key((request.headers or {}).get("idempotency-key"))
    body = parse_place_order(json_object(request))
    order, replayed = orders.place_order(caller, [(i.product_id, i.quantity) for i in body.items], key)
    headers = {"Location": f"/api/v1/orders/{order.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(order.to_dict(), status=201, headers=headers)


@endpoint(
    bp, "/orders", ["GET"], summary="List orders, newest first", response=Page[Order],
    query=[STATUS_QUERY, "limit", "cursor"], description="Customers see their own orders; staff see every order.",
)
def list_orders(caller):
    request = bp.current_request
    status = query(request).get("status")
    # Staff and customers read different lists (every order / their own): a role change starts over.
    page = list_page(request, caller, status=status, every_order=caller.is_staff)
    found, position = orders.list_orders(caller, status, page.limit, page.position)
    return json_response({"items": [o.to_dict() for o in found], "next_cursor": page.next_cursor(position)})


@endpoint(
    bp, "/orders/{order_id}", ["GET"], summary="One order", response=Order,
    description="For its owner or staff; anyone else gets 404.",
)
def get_order(caller, order_id):
    return json_response(orders.get_order(caller, order_id).to_dict())


@endpoint(
    bp, "/orders/{order_id}", ["PATCH"], staff=True, summary="Approve or cancel an order", body=StatusChangeIn,
    response=Order,
    description="`{status}` only. COMPLETED deducts stock and releases the reservation; CANCELED releases it. "
                "Only a PENDING order changes, once.",
    responses={
        409: "`invalid_transition` (the order is not PENDING: already decided, or cancelled by the system when "
             "its hold expired) or `insufficient_stock`.",
        503: "`try_again`: write contention outlasted every internal retry (practically never).",
    },
)
def change_order_status(caller, order_id):
    order = orders.get_order(caller, order_id)  # an unknown id is a 404 whatever the body
    body = validate(StatusChangeIn, json_object(bp.current_request))
    return json_response(orders.change_status(caller, order, body.status).to_dict())


# --- hold expiry: every minute on AWS; the local worker runs the same job every 10 s (services/jobs.py)


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="expire_order_holds")
def expire_order_holds(event):
    return {"cancelled": orders.expire_holds()}
