"""The orders port in memory: DynamoOrderRepository's contract on dicts, under one lock."""

from __future__ import annotations

from chalicelib.config import Settings, load_settings
from chalicelib.domain import stock
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.notifications import NotificationDraft
from chalicelib.domain.orders import (
    CANCELED,
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
)
from tests.fakes.products import InMemoryProducts


class InMemoryOrderRepository:
    """Same contract as DynamoOrderRepository, on dicts, under one lock (atomic like a transaction).

    `customers`: the customers fake the transaction's customer condition reads; `notification_records`: where
    the PENDING notification records go, as DynamoDB's transactions put them into the notifications table (a
    notifications fake, or None: only `notifications`); `products`: the products table, shared with an
    InMemoryCatalogRepository when both are given the same one."""

    def __init__(self, settings: Settings | None = None, *, customers, notification_records=None,
                 products: InMemoryProducts | None = None):
        self.settings = settings
        self.customers = customers
        self.notification_records = notification_records
        self.table = products or InMemoryProducts()
        self.products = self.table.products
        self.orders: dict[str, Order] = {}
        self.notifications: dict[str, NotificationDraft] = {}  # every draft recorded, by id
        self.pending: dict[str, tuple[int, int]] = {}  # customer id -> (pending_orders, pending_units)
        self.counter = 0
        self._lock = self.table.lock

    def load_for_placement(self, customer_id: str, product_ids: list[str], order_id: str | None) -> Placement:
        with self._lock:
            products = {
                pid: ProductView(p.id, p.name, p.current_price_cents, p.available)
                for pid in product_ids
                if (p := self.products.get(pid))
            }
            existing = self.orders.get(order_id) if order_id else None
            pending_orders, pending_units = self.pending.get(customer_id, (0, 0))
        return Placement(self.customers.get(customer_id), products, existing, pending_orders, pending_units)

    def pending_of(self, customer_id: str) -> tuple[int, int]:
        """(pending_orders, pending_units) of a customer, (0, 0) if there is none (an inspection for tests)."""
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
            if self.customers.get(order.customer_id) is None:  # the transaction's customer condition
                raise NotFound("no such customer", code="customer_not_found")
            pending_orders, pending_units = self.pending.get(order.customer_id, (0, 0))
            limits.check(pending_orders, pending_units, order.units)
            missing = [pid for pid, _ in order.reservations() if pid not in self.products]
            if missing:
                raise UnknownProducts(missing, {line.product_id: i for i, line in enumerate(order.items)})
            reserved, short = {}, []
            for pid, qty in order.reservations():
                counters = stock.reserve(reserved.get(pid) or self.table.counters(pid), qty)
                if counters is None:
                    short.append(Shortage(pid, qty, max(self.products[pid].available, 0)))
                else:
                    reserved[pid] = counters
            if short:
                raise InsufficientStock(short)
            for pid, counters in reserved.items():
                self.table.set_counters(pid, counters)
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
            self._move_stock(current, target)
            pending_orders, pending_units = self.pending.get(current.customer_id, (0, 0))
            if pending_orders >= 1 and pending_units >= current.units:  # else placed before the counters
                self.pending[current.customer_id] = (pending_orders - 1, pending_units - current.units)
            updated = current.with_status(target, entry.at, entry.by)
            self.orders[order.id] = updated
            self._record(drafts, entry.at)
            return updated

    def _move_stock(self, order: Order, target: str) -> None:
        """Approval deducts every line (a deleted product has no stock left: 409 insufficient_stock, as
        DynamoDB's condition fails); cancellation releases every line whose product still exists."""
        moved: dict[str, stock.Counters] = {}
        if target == COMPLETED:
            short = []
            for pid, qty in order.reservations():
                counters = moved.get(pid) or (self.table.counters(pid) if pid in self.products else None)
                deducted = stock.deduct(counters, qty) if counters else None
                if deducted is None:
                    short.append(Shortage(pid, qty, max(counters.stock, 0) if counters else 0))
                else:
                    moved[pid] = deducted
            if short:
                raise InsufficientStock(short)
        elif target == CANCELED:
            for pid, qty in order.reservations():
                if pid not in self.products:
                    continue  # deleted since the order: nothing left to release
                counters = moved.get(pid) or self.table.counters(pid)
                released = stock.release(counters, qty)
                if released is None:
                    raise Conflict("the product's reservation is smaller than this order's quantity",
                                   details={"product_id": pid, "reserved": counters.reserved, "quantity": qty},
                                   code="reservation_mismatch")
                moved[pid] = released
        for pid, counters in moved.items():
            self.table.set_counters(pid, counters)

    def _record(self, drafts: list[NotificationDraft], now: str) -> None:
        self.notifications.update({d.id: d for d in drafts})
        if self.notification_records is not None:
            self.notification_records.add(drafts, now)
