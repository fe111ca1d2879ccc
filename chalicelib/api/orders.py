"""Order routes (SPEC §4, §7). Thin: parse, call chalicelib.services.orders, shape the answer."""

from __future__ import annotations

from chalice import Blueprint, Rate

from chalicelib.api.pagination import list_page
from chalicelib.api.requests import json_object, query
from chalicelib.api.responses import Reply
from chalicelib.api.routing import endpoint
from chalicelib.domain.orders import check_idempotency_key

bp = Blueprint(__name__)

# Models by name: pydantic is imported on use, not at cold start. The response model is also the serializer.
REQUEST = "chalicelib.api.request_models:"
RESPONSE = "chalicelib.api.response_models.orders:"


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
    bp, "/orders", ["POST"], summary="Place an order", body=REQUEST + "PlaceOrderIn", response=RESPONSE + "Order",
    status=201,
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
    # Views import the service (PynamoDB, botocore) and the request models (pydantic) on use: cold start.
    from chalicelib.api import request_models
    from chalicelib.bootstrap import services
    from chalicelib.services import orders

    request = bp.current_request
    key = check_idempotency_key((request.headers or {}).get("idempotency-key"))
    body = request_models.parse_place_order(json_object(request))
    order, replayed = orders.place_order(services(), caller, [(i.product_id, i.quantity) for i in body.items], key)
    headers = {"Location": f"/api/v1/orders/{order.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Reply(order, status=201, headers=headers)


@endpoint(
    bp, "/orders", ["GET"], summary="List orders, newest first", response=RESPONSE + "OrderPage",
    query=[STATUS_QUERY, "limit", "cursor"], description="Customers see their own orders; staff see every order.",
)
def list_orders(caller):
    from chalicelib.bootstrap import services
    from chalicelib.services import orders

    request = bp.current_request
    status = query(request).get("status")
    # Staff and customers read different lists (every order / their own): a role change starts over.
    page = list_page(request, caller, status=status, every_order=caller.is_staff)
    found, position = orders.list_orders(services(), caller, status, page.limit, page.position)
    return {"items": found, "next_cursor": page.next_cursor(position)}


@endpoint(
    bp, "/orders/{order_id}", ["GET"], summary="One order", response=RESPONSE + "Order",
    description="For its owner or staff; anyone else gets 404.",
)
def get_order(caller, order_id):
    from chalicelib.bootstrap import services
    from chalicelib.services import orders

    return orders.get_order(services(), caller, order_id)


@endpoint(
    bp, "/orders/{order_id}", ["PATCH"], staff=True, summary="Approve or cancel an order",
    body=REQUEST + "StatusChangeIn", response=RESPONSE + "Order",
    description="`{status}` only. COMPLETED deducts stock and releases the reservation; CANCELED releases it. "
                "Only a PENDING order changes, once.",
    responses={
        409: "`invalid_transition` (the order is not PENDING: already decided, or cancelled by the system when "
             "its hold expired) or `insufficient_stock`.",
        503: "`try_again`: write contention outlasted every internal retry (practically never).",
    },
)
def change_order_status(caller, order_id):
    from chalicelib.api.request_models import StatusChangeIn
    from chalicelib.api.requests import validate
    from chalicelib.bootstrap import services
    from chalicelib.services import orders

    order = orders.get_order(services(), caller, order_id)  # an unknown id is a 404 whatever the body
    body = validate(StatusChangeIn, json_object(bp.current_request))
    return orders.change_status(services(), caller, order, body.status)


# --- hold expiry: every minute on AWS; the local worker runs the same job every 10 s (services/jobs.py)


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="expire_order_holds")
def expire_order_holds(event):
    from chalicelib.bootstrap import services
    from chalicelib.services import orders

    return {"cancelled": orders.expire_holds(services())}
