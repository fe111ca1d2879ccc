"""The orders port in memory: DynamoOrderRepository's contract on dicts, under one lock."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from chalicelib.config import Settings, load_settings
from chalicelib.domain.errors import NotFound
from chalicelib.domain.notifications import NotificationDraft
from chalicelib.domain.orders import (
    COMPLETED,
    PENDING,
    HistoryEntry,
    InsufficientStock,
    InvalidTransition,
    Order,
    OrderExists,
    PendingLimits,
    Placement,
    ProductView,
    Shortage,
    UnknownProducts,
    current_price_cents,
)


@dataclass
class MemoryProduct:
    id: str
    name: str
    price_cents: int
    discount_price_cents: int | None = None
    stock: int = 0
    reserved: int = 0

    @property
    def available(self) -> int:
        return self.stock - self.reserved


class InMemoryOrderRepository:
    """Same contract as DynamoOrderRepository, on dicts, under one lock (atomic like a transaction)."""

    def __init__(self, settings: Settings | None = None, customers=None, notification_records=None):
        self.settings = settings
        self.customers = customers  # a customer repository; defaults to services().customers
        # Where the PENDING notification records go, as DynamoDB's transactions put them into the notifications
        # table: a notification repository (e.g. InMemoryNotificationRepository), or None (only `notifications`).
        self.notification_records = notification_records
        self.products: dict[str, MemoryProduct] = {}
        self.orders: dict[str, Order] = {}
        self.notifications: dict[str, NotificationDraft] = {}  # every draft recorded, by id
        self.pending: dict[str, tuple[int, int]] = {}  # customer id -> (pending_orders, pending_units)
        self.counter = 0
        self._lock = threading.RLock()

    def _customers(self):
        if self.customers is None:
            from chalicelib.bootstrap import services

            return services().customers
        return self.customers

    def load_for_placement(self, customer_id: str, product_ids: list[str], order_id: str | None) -> Placement:
        with self._lock:
            products = {
                pid: ProductView(p.id, p.name, current_price_cents(p.price_cents, p.discount_price_cents), p.available)
                for pid in product_ids
                if (p := self.products.get(pid))
            }
            existing = self.orders.get(order_id) if order_id else None
            pending_orders, pending_units = self.pending.get(customer_id, (0, 0))
        return Placement(self._customers().get(customer_id), products, existing, pending_orders, pending_units)

    def pending_of(self, customer_id: str) -> tuple[int, int]:
        with self._lock:
            return self.pending.get(customer_id, (0, 0))

    def expired(self, cutoff: str, limit: int = 100, after: dict | None = None) -> tuple[list[Order], dict | None]:
        position = tuple(after["position"]) if after else ("", "")  # a key position, as DynamoDB's
        with self._lock:
            found = sorted((o for o in self.orders.values()
                            if o.status == PENDING and o.created_at < cutoff and (o.created_at, o.id) > position),
                           key=lambda o: (o.created_at, o.id))
        chunk = found[:limit]
        return chunk, ({"position": (chunk[-1].created_at, chunk[-1].id)} if len(found) > limit else None)

    def get(self, order_id: str) -> Order | None:
        return self.orders.get(order_id)

    def list(self, *, customer_id: str | None, status: str | None, limit: int, cursor: str | None):
        found = sorted(
            (o for o in self.orders.values()
             if (customer_id is None or o.customer_id == customer_id) and (status is None or o.status == status)),
            key=lambda o: o.created_at, reverse=True,
        )
        start = int(cursor or 0)
        chunk = found[start : start + limit]
        more = start + limit < len(found)
        return chunk, (str(start + limit) if more else None)

    def next_number(self) -> int:
        with self._lock:
            self.counter += 1
            return self.counter

    def create(self, order: Order, drafts: list[NotificationDraft], limits: PendingLimits | None = None) -> None:
        if limits is None:
            settings = self.settings or load_settings({})
            limits = PendingLimits(settings.max_pending_orders, settings.max_pending_units)
        with self._lock:
            if order.id in self.orders:
                raise OrderExists(order.id)
            if self._customers().get(order.customer_id) is None:  # the transaction's customer condition
                raise NotFound("no such customer", code="customer_not_found")
            pending_orders, pending_units = self.pending.get(order.customer_id, (0, 0))
            limits.check(pending_orders, pending_units, order.units)
            missing = [pid for pid, _ in order.reservations() if pid not in self.products]
            if missing:
                raise UnknownProducts(missing, {line.product_id: i for i, line in enumerate(order.items)})
            short = [
                Shortage(pid, qty, max(self.products[pid].available, 0))
                for pid, qty in order.reservations()
                if self.products[pid].available < qty
            ]
            if short:
                raise InsufficientStock(short)
            for pid, qty in order.reservations():
                self.products[pid].reserved += qty
            self.pending[order.customer_id] = (pending_orders + 1, pending_units + order.units)
            self.orders[order.id] = order
            self._record(drafts, order.created_at)

    def transition(self, order: Order, target: str, entry: HistoryEntry, drafts: list[NotificationDraft]) -> Order:
        with self._lock:
            current = self.orders.get(order.id)
            if current is None:
                raise NotFound("no such order")
            if current.status != PENDING:
                raise InvalidTransition(current.status, target)
            lines = [(pid, qty) for pid, qty in current.reservations() if pid in self.products]
            if target == COMPLETED:
                # a deleted product has no stock left: 409 insufficient_stock, as DynamoDB's condition fails
                short = [Shortage(pid, qty, max(self.products[pid].stock, 0) if pid in self.products else 0)
                         for pid, qty in current.reservations()
                         if pid not in self.products or self.products[pid].stock < qty]
                if short:
                    raise InsufficientStock(short)
                for pid, qty in lines:
                    self.products[pid].stock -= qty
                    self.products[pid].reserved -= qty
            else:
                for pid, qty in lines:
                    self.products[pid].reserved -= qty
            pending_orders, pending_units = self.pending.get(current.customer_id, (0, 0))
            if pending_orders >= 1 and pending_units >= current.units:  # else placed before the counters
                self.pending[current.customer_id] = (pending_orders - 1, pending_units - current.units)
            updated = current.with_status(target, entry.at, entry.by)
            self.orders[order.id] = updated
            self._record(drafts, entry.at)
            return updated

    def _record(self, drafts: list[NotificationDraft], now: str) -> None:
        self.notifications.update({d.id: d for d in drafts})
        if self.notification_records is not None:
            self.notification_records.add(drafts, now)
