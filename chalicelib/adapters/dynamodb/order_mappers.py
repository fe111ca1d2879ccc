"""Order, product, customer and notification items <-> domain objects, and the raw attribute values of boto3."""

from __future__ import annotations

from dataclasses import fields as dataclass_fields

from chalicelib.adapters.dynamodb.catalog import ProductRecord
from chalicelib.adapters.dynamodb.customers import CustomerRecord
from chalicelib.adapters.dynamodb.notifications import NotificationRecord
from chalicelib.adapters.dynamodb.orders import (
    HistoryEntryMap,
    OrderItemMap,
    OrderRecord,
)
from chalicelib.domain.customers import Customer
from chalicelib.domain.notifications import NotificationDraft
from chalicelib.domain.orders import (
    HistoryEntry,
    Order,
    OrderLine,
    ProductView,
    current_price_cents,
)

# ---- what the service layer gets ----------------------------------------------------------------


def product_view(record: ProductRecord) -> ProductView:
    return ProductView(
        id=record.id,
        name=record.name,
        price_cents=current_price_cents(record.price_cents, record.discount_price_cents),
        available=int(record.available),
    )


# ---- record <-> domain --------------------------------------------------------------------------


def order_from_record(record: OrderRecord) -> Order:
    return Order(
        id=record.id,
        number=int(record.number),
        customer_id=record.customer_id,
        status=record.status,
        items=[
            OrderLine(product_id=i.product_id, name=i.name, quantity=int(i.quantity), price_cents=int(i.price_cents))
            for i in record.items
        ],
        created_at=record.created_at,
        updated_at=record.updated_at,
        history=[HistoryEntry(status=h.status, at=h.at, by=h.by) for h in record.history],
        customer_email=record.customer_email,
        customer_phone=record.customer_phone,
        request_hash=record.request_hash,
    )


def order_to_record(order: Order) -> OrderRecord:
    return OrderRecord(
        id=order.id,
        number=order.number,
        customer_id=order.customer_id,
        customer_email=order.customer_email,
        customer_phone=order.customer_phone,
        status=order.status,
        items=[
            OrderItemMap(product_id=i.product_id, name=i.name, quantity=i.quantity, price_cents=i.price_cents)
            for i in order.items
        ],
        total_cents=order.total_cents,
        history=[HistoryEntryMap(status=h.status, at=h.at, by=h.by) for h in order.history],
        request_hash=order.request_hash,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def customer_from_record(record: CustomerRecord) -> Customer:
    """Every field the domain's Customer has (the identity area owns both shapes)."""
    return Customer(**{f.name: getattr(record, f.name, None) for f in dataclass_fields(Customer)})


def notification_record(draft: NotificationDraft, now: str) -> NotificationRecord:
    return NotificationRecord(
        id=draft.id, order_id=draft.order_id, event=draft.event, channel=draft.channel,
        recipient=draft.recipient, message=draft.message, status="PENDING", pending="PENDING",
        attempts=0, created_at=now, updated_at=now,
    )


def pending_counters(item: dict | None) -> tuple[int, int]:
    """(pending_orders, pending_units) of a raw customer item; absent counts as 0."""
    item = item or {}
    return (int(item.get("pending_orders", {}).get("N", 0)), int(item.get("pending_units", {}).get("N", 0)))


def as_n(value: int) -> dict:
    return {"N": str(int(value))}


def as_s(value: str) -> dict:
    return {"S": value}
