"""Orders storage: reservations, approvals and cancellations as single DynamoDB transactions.

Requests per use case (the bench counts them):
* place: ONE BatchGetItem (the customer, every product and, with an Idempotency-Key, the order the
  key maps to), ONE TransactWriteItems (order put + each product's reservation + the order's
  PENDING notification records); the caller then sends ONE SendMessageBatch. Order numbers come
  from a counter in blocks of NUMBER_BLOCK (one UpdateItem per block per process), so the
  amortized cost is 3 + 1/NUMBER_BLOCK requests. Numbers are unique and increasing per process,
  not gap-free: a process that stops forgets the rest of its block.
* approve / cancel: ONE GetItem of the order, ONE TransactWriteItems (order status conditioned on
  PENDING + each product + the event's notification records), then ONE SendMessageBatch.

Product counters are kept in step by the update expressions themselves (`available` is stored,
because condition expressions cannot subtract):
* reserve:  reserved += q, available -= q   if available >= q
* approve:  stock -= q,   reserved -= q     if stock >= q and reserved >= q   (available unchanged)
* cancel:   reserved -= q, available += q   if reserved >= q
Write conflicts (TransactionConflict, throttling) are retried here with jittered backoff; they
never reach the client.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from functools import partial

from chalicelib.adapters.aws import client
from chalicelib.adapters.dynamodb.catalog import ProductRecord
from chalicelib.adapters.dynamodb.customers import CustomerRecord
from chalicelib.adapters.dynamodb.notifications import NotificationRecord
from chalicelib.adapters.dynamodb.orders import (
    HistoryEntryMap,
    OrderCounterRecord,
    OrderItemMap,
    OrderRecord,
)
from chalicelib.adapters.dynamodb.pages import page
from chalicelib.config import Settings
from chalicelib.domain.customers import Customer
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
    OrderLine,
    Shortage,
    TryAgain,
    UnknownProducts,
    current_price_cents,
)

logger = logging.getLogger("ekiosk.orders")

NUMBER_BLOCK = 20
NUMBER_COUNTER_ID = "counter#order-number"  # order ids never contain '#'
MAX_ATTEMPTS = 8
MAX_KEY_BYTES = 1024  # DynamoDB's limit for a hash key is 2048 bytes; our ids are far shorter
TRANSIENT_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded",
     "InternalServerError"}
)
TRANSIENT_ERRORS = frozenset(
    {"TransactionConflictException", "ThrottlingException", "ProvisionedThroughputExceededException",
     "RequestLimitExceeded", "InternalServerError", "TransactionInProgressException", "ServiceUnavailable"}
)


# ---- what the service layer gets ----------------------------------------------------------------


@dataclass(frozen=True)
class ProductView:
    id: str
    name: str
    price_cents: int
    available: int

    @classmethod
    def of(cls, record: ProductRecord) -> ProductView:
        return cls(
            id=record.id,
            name=record.name,
            price_cents=current_price_cents(record.price_cents, record.discount_price_cents),
            available=int(record.available),
        )


@dataclass
class Placement:
    """Everything placing an order needs to know, from one batched read."""

    customer: Customer | None
    products: dict[str, ProductView]
    existing: Order | None  # the order an Idempotency-Key maps to, if it exists


class OrderExists(Exception):
    """The conditional put of a new order found one with its id (an idempotent replay)."""


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


def _n(value: int) -> dict:
    return {"N": str(int(value))}


def _s(value: str) -> dict:
    return {"S": value}


# ---- order numbers ------------------------------------------------------------------------------


class NumberBlocks:
    """Hands out numbers from blocks reserved with one atomic counter update each (thread-safe)."""

    def __init__(self, reserve_block: Callable[[int], int], size: int = NUMBER_BLOCK):
        self._reserve_block = reserve_block  # adds `size` to the counter, returns the new value
        self._size = size
        self._next = 1
        self._end = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            if self._next > self._end:
                self._end = self._reserve_block(self._size)
                self._next = self._end - self._size + 1
            number = self._next
            self._next += 1
            return number


# ---- the repository -----------------------------------------------------------------------------


class DynamoOrderRepository:
    def __init__(self, settings: Settings, db=None):
        self._settings = settings
        self._client = db  # a low-level DynamoDB client; by default the shared one (tests pass a stub)
        self._numbers = NumberBlocks(self._reserve_number_block)
        self._sleep = time.sleep

    @property
    def _db(self):
        return self._client or client("dynamodb", self._settings)

    def _table(self, name: str) -> str:
        return self._settings.table_name(name)

    # -- reads

    def load_for_placement(self, customer_id: str, product_ids: list[str], order_id: str | None) -> Placement:
        """ONE BatchGetItem across the customers, products and (with a key) orders tables."""
        requests: dict[str, dict] = {
            self._table("customers"): {"Keys": [{"id": _s(customer_id)}], "ConsistentRead": True},
            self._table("products"): {"Keys": [{"id": _s(pid)} for pid in product_ids], "ConsistentRead": True},
        }
        if order_id is not None:
            requests[self._table("orders")] = {"Keys": [{"id": _s(order_id)}], "ConsistentRead": True}
        found: dict[str, list[dict]] = {}
        attempt = 0
        while requests:
            response = self._db.batch_get_item(RequestItems=requests)
            for table, items in response.get("Responses", {}).items():
                found.setdefault(table, []).extend(items)
            requests = response.get("UnprocessedKeys") or {}
            if requests:  # throttled: only the keys left over, after a pause
                attempt += 1
                if attempt >= MAX_ATTEMPTS:
                    raise TryAgain("the store is busy; please try again")
                self._backoff(attempt)
        customers = found.get(self._table("customers"), [])
        orders = found.get(self._table("orders"), [])
        products = [ProductView.of(ProductRecord.from_raw_data(i)) for i in found.get(self._table("products"), [])]
        return Placement(
            customer=customer_from_record(CustomerRecord.from_raw_data(customers[0])) if customers else None,
            products={view.id: view for view in products},
            existing=order_from_record(OrderRecord.from_raw_data(orders[0])) if orders else None,
        )

    def get(self, order_id: str) -> Order | None:
        if not _storable_key(order_id):  # DynamoDB would refuse the key: there is no such order
            return None
        response = self._db.get_item(TableName=self._table("orders"), Key={"id": _s(order_id)}, ConsistentRead=True)
        item = response.get("Item")
        if not item or item.get("kind", {}).get("S") != "ORDER":
            return None
        return order_from_record(OrderRecord.from_raw_data(item))

    def list(self, *, customer_id: str | None, status: str | None, limit: int, cursor: str | None):
        """Newest first: a customer's own orders, or (customer_id None) everyone's."""
        if customer_id is not None:
            condition = OrderRecord.status == status if status else None
            run = partial(OrderRecord.by_customer.query, customer_id, scan_index_forward=False,
                          filter_condition=condition)
        elif status:
            run = partial(OrderRecord.by_status.query, status, scan_index_forward=False)
        else:
            run = partial(OrderRecord.by_time.query, "ORDER", scan_index_forward=False)
        # `cursor` is a position this very list gave out: the API checks its signature (api/pagination.py).
        records, next_cursor = page(run, limit, cursor)
        return [order_from_record(r) for r in records], next_cursor

    # -- numbers

    def next_number(self) -> int:
        return self._numbers.next()

    def _reserve_number_block(self, size: int) -> int:
        response = self._db.update_item(
            TableName=self._table("orders"),
            Key={"id": _s(NUMBER_COUNTER_ID)},
            UpdateExpression="ADD #v :n",
            ExpressionAttributeNames={"#v": OrderCounterRecord.value.attr_name},
            ExpressionAttributeValues={":n": _n(size)},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"][OrderCounterRecord.value.attr_name]["N"])

    # -- writes

    def create(self, order: Order, drafts: list[NotificationDraft]) -> None:
        """Puts the order, reserves every item and records its notifications, all or nothing.

        Raises OrderExists (the id is taken: a replay), InsufficientStock (only the items really
        short) or UnknownProducts (deleted since the read)."""
        now = order.created_at
        products = self._table("products")
        items: list[dict] = [{"Put": {
            "TableName": self._table("orders"),
            "Item": order_to_record(order).serialize(),
            "ConditionExpression": "attribute_not_exists(id)",
        }}]
        for product_id, quantity in order.reservations():
            items.append({"Update": {
                "TableName": products,
                "Key": {"id": _s(product_id)},
                "UpdateExpression": "SET reserved = reserved + :q, available = available - :q",
                "ConditionExpression": "attribute_exists(id) AND available >= :q",
                "ExpressionAttributeValues": {":q": _n(quantity)},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }})
        items.extend(self._notification_puts(drafts, now))

        reasons = self._transact(items)
        if reasons is None:
            return
        if _failed(reasons[0]):
            raise OrderExists(order.id)
        shortages, missing = [], []
        for (product_id, quantity), reason in zip(order.reservations(), reasons[1:], strict=False):
            if not _failed(reason):
                continue
            if "Item" not in reason:
                missing.append(product_id)
            else:
                current = ProductRecord.from_raw_data(reason["Item"])
                shortages.append(Shortage(product_id, quantity, max(int(current.available), 0)))
        if missing:
            raise UnknownProducts(missing, {line.product_id: i for i, line in enumerate(order.items)})
        if shortages:
            raise InsufficientStock(shortages)
        raise Conflict("the order could not be written", details=_codes(reasons))

    def transition(self, order: Order, target: str, entry: HistoryEntry, drafts: list[NotificationDraft]) -> Order:
        """PENDING → COMPLETED (deduct stock, release the reservation) or → CANCELED (release), with the
        event's notification records, in one transaction conditioned on the order still being PENDING."""
        skipped: set[str] = set()  # products deleted since the order: nothing left to release
        while True:
            items: list[dict] = [{"Update": {
                "TableName": self._table("orders"),
                "Key": {"id": _s(order.id)},
                "UpdateExpression": "SET #st = :target, updated_at = :at, history = list_append(history, :entry)",
                "ConditionExpression": "attribute_exists(id) AND #st = :pending",
                "ExpressionAttributeNames": {"#st": "status"},
                "ExpressionAttributeValues": {
                    ":target": _s(target),
                    ":pending": _s(PENDING),
                    ":at": _s(entry.at),
                    ":entry": {"L": [{"M": {"status": _s(entry.status), "at": _s(entry.at), "by": _s(entry.by)}}]},
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }}]
            lines = [(pid, qty) for pid, qty in order.reservations() if pid not in skipped]
            for product_id, quantity in lines:
                items.append({"Update": self._product_transition(product_id, quantity, target)})
            items.extend(self._notification_puts(drafts, entry.at))

            reasons = self._transact(items)
            if reasons is None:
                return order.with_status(target, entry.at, entry.by)
            if _failed(reasons[0]):
                current = reasons[0].get("Item")
                if not current:
                    raise NotFound("no such order")
                raise InvalidTransition(current.get("status", {}).get("S", "?"), target)
            shortages, gone = [], []
            for (product_id, quantity), reason in zip(lines, reasons[1:], strict=False):
                if not _failed(reason):
                    continue
                if "Item" not in reason:
                    gone.append(product_id)
                    shortages.append(Shortage(product_id, quantity, 0))
                    continue
                current = ProductRecord.from_raw_data(reason["Item"])
                if target == COMPLETED:
                    shortages.append(Shortage(product_id, quantity, max(int(current.stock), 0)))
                else:
                    raise Conflict(
                        "the product's reservation is smaller than this order's quantity",
                        details={"product_id": product_id, "reserved": int(current.reserved), "quantity": quantity},
                        code="reservation_mismatch",
                    )
            if target == CANCELED and gone:
                logger.warning("order %s: products %s no longer exist; nothing to release", order.id, gone)
                skipped.update(gone)
                continue
            if shortages:
                raise InsufficientStock(shortages)
            raise Conflict("the order could not be updated", details=_codes(reasons))

    def _product_transition(self, product_id: str, quantity: int, target: str) -> dict:
        if target == COMPLETED:
            update = "SET stock = stock - :q, reserved = reserved - :q"
            condition = "attribute_exists(id) AND stock >= :q AND reserved >= :q"
        else:
            update = "SET reserved = reserved - :q, available = available + :q"
            condition = "attribute_exists(id) AND reserved >= :q"
        return {
            "TableName": self._table("products"),
            "Key": {"id": _s(product_id)},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {":q": _n(quantity)},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _notification_puts(self, drafts: list[NotificationDraft], now: str) -> list[dict]:
        return [{"Put": {
            "TableName": self._table("notifications"),
            "Item": notification_record(draft, now).serialize(),
            "ConditionExpression": "attribute_not_exists(id)",
        }} for draft in drafts]

    # -- the transaction, with retries of transient failures

    def _transact(self, items: list[dict]) -> list[dict] | None:
        """None when committed; the cancellation reasons when a condition failed."""
        from botocore.exceptions import ClientError

        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                self._db.transact_write_items(TransactItems=items)
                return None
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code == "TransactionCanceledException":
                    reasons = error.response.get("CancellationReasons") or []
                    if any(_failed(r) for r in reasons):
                        return reasons
                    if not any(r.get("Code") in TRANSIENT_REASONS for r in reasons):
                        raise
                elif code not in TRANSIENT_ERRORS:
                    raise
                logger.info("transaction attempt %d hit %s; retrying", attempt, code)
            if attempt < MAX_ATTEMPTS:
                self._backoff(attempt)
        raise TryAgain("the store is busy; please try again")

    def _backoff(self, attempt: int) -> None:
        # Full jitter, 10 ms doubling to at most 400 ms.
        self._sleep(random.uniform(0, min(0.4, 0.01 * 2 ** attempt)))


def _storable_key(value: str) -> bool:
    try:
        return 0 < len(value.encode("utf-8")) <= MAX_KEY_BYTES
    except UnicodeEncodeError:  # lone surrogates
        return False


def _failed(reason: dict) -> bool:
    return reason.get("Code") == "ConditionalCheckFailed"


def _codes(reasons: list[dict]) -> list[str]:
    return [r.get("Code", "None") for r in reasons]


# ---- an in-memory twin for unit tests -----------------------------------------------------------


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

    def __init__(self, settings: Settings | None = None, customers=None):
        self.customers = customers  # a customer repository; defaults to services().customers
        self.products: dict[str, MemoryProduct] = {}
        self.orders: dict[str, Order] = {}
        self.notifications: dict[str, NotificationDraft] = {}
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
        return Placement(self._customers().get(customer_id), products, existing)

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

    def create(self, order: Order, drafts: list[NotificationDraft]) -> None:
        with self._lock:
            if order.id in self.orders:
                raise OrderExists(order.id)
            missing = [pid for pid, _ in order.reservations() if pid not in self.products]
            if missing:
                raise UnknownProducts(missing)
            short = [
                Shortage(pid, qty, self.products[pid].available)
                for pid, qty in order.reservations()
                if self.products[pid].available < qty
            ]
            if short:
                raise InsufficientStock(short)
            for pid, qty in order.reservations():
                self.products[pid].reserved += qty
            self.orders[order.id] = order
            self.notifications.update({d.id: d for d in drafts})

    def transition(self, order: Order, target: str, entry: HistoryEntry, drafts: list[NotificationDraft]) -> Order:
        with self._lock:
            current = self.orders.get(order.id)
            if current is None:
                raise NotFound("no such order")
            if current.status != PENDING:
                raise InvalidTransition(current.status, target)
            lines = [(pid, qty) for pid, qty in current.reservations() if pid in self.products]
            if target == COMPLETED:
                short = [Shortage(pid, qty, self.products[pid].stock) for pid, qty in current.reservations()
                         if pid not in self.products or self.products[pid].stock < qty]
                if short:
                    raise InsufficientStock(short)
                for pid, qty in lines:
                    self.products[pid].stock -= qty
                    self.products[pid].reserved -= qty
            else:
                for pid, qty in lines:
                    self.products[pid].reserved -= qty
            updated = current.with_status(target, entry.at, entry.by)
            self.orders[order.id] = updated
            self.notifications.update({d.id: d for d in drafts})
            return updated

