"""Orders storage: reservations, approvals and cancellations as single DynamoDB transactions.

Requests per use case (the bench counts them):
* place: ONE BatchGetItem (the customer, every product and, with an Idempotency-Key, the order the
  key maps to), ONE TransactWriteItems (order put + each product's reservation + the order's
  PENDING notification records + the customer's pending counters); the caller then sends ONE
  SendMessageBatch. Order numbers come from a counter in blocks of NUMBER_BLOCK (one UpdateItem
  per block per process), so the amortized cost is 3 + 1/NUMBER_BLOCK requests. Numbers are
  unique and increasing per process, not gap-free: a process that stops forgets the rest of its block.
* approve / cancel / hold expiry: ONE GetItem of the order (expiry: one Query of the by-status index
  per page instead), ONE TransactWriteItems (order status conditioned on PENDING + each product +
  the event's notification records + the customer's pending counters), then ONE SendMessageBatch.

Product counters are kept in step by the update expressions themselves (`available` is stored,
because condition expressions cannot subtract; the same moves in Python: chalicelib/domain/stock.py):
* reserve:  reserved += q, available -= q   if available >= q
* approve:  stock -= q,   reserved -= q     if stock >= q and reserved >= q   (available unchanged)
* cancel:   reserved -= q, available += q   if reserved >= q
The customer's `pending_orders` / `pending_units` (SPEC §7 limits) move in the same transactions:
* place:    ADD 1, ADD units   if (absent or pending_orders <= max_orders - 1)
                               and (absent or pending_units <= max_units - units)   (room computed in code)
* leave PENDING: ADD -1, ADD -units   if pending_orders >= 1 and pending_units >= units
  (an order placed before the counters existed was never counted: then the counters are left alone)
Write conflicts (TransactionConflict, throttling, 5xx) are retried with jittered backoff by
chalicelib/adapters/dynamodb/retry.py (one ClientRequestToken per transaction); they never reach the
client (503 `try_again` if they outlast every retry).
"""

from __future__ import annotations

import logging
from functools import partial

from chalicelib.adapters.aws import client
from chalicelib.adapters.dynamodb import retry
from chalicelib.adapters.dynamodb.catalog import ProductRecord
from chalicelib.adapters.dynamodb.customers import CustomerRecord
from chalicelib.adapters.dynamodb.order_mappers import (
    as_n,
    as_s,
    customer_from_record,
    notification_record,
    order_from_record,
    order_to_record,
    pending_counters,
    product_view,
)
from chalicelib.adapters.dynamodb.order_numbers import NUMBER_COUNTER_ID, NumberBlocks
from chalicelib.adapters.dynamodb.orders import (
    OrderCounterRecord,
    OrderRecord,
)
from chalicelib.adapters.dynamodb.pages import page
from chalicelib.config import Settings
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
    PendingLimitReached,
    PendingLimits,
    Placement,
    Shortage,
    UnknownProducts,
)

logger = logging.getLogger("ekiosk.orders")

MAX_KEY_BYTES = 1024  # DynamoDB's limit for a hash key is 2048 bytes; our ids are far shorter


class DynamoOrderRepository:
    def __init__(self, settings: Settings, db=None):
        self._settings = settings
        self._client = db  # a low-level DynamoDB client; by default the shared one (tests pass a stub)
        self._numbers = NumberBlocks(self._reserve_number_block)

    @property
    def _db(self):
        return self._client or client("dynamodb", self._settings)

    def _table(self, name: str) -> str:
        return self._settings.table_name(name)

    # -- reads

    def load_for_placement(self, customer_id: str, product_ids: list[str], order_id: str | None) -> Placement:
        """ONE BatchGetItem across the customers, products and (with a key) orders tables."""
        requests: dict[str, dict] = {
            self._table("customers"): {"Keys": [{"id": as_s(customer_id)}], "ConsistentRead": True},
            self._table("products"): {"Keys": [{"id": as_s(pid)} for pid in product_ids], "ConsistentRead": True},
        }
        if order_id is not None:
            requests[self._table("orders")] = {"Keys": [{"id": as_s(order_id)}], "ConsistentRead": True}
        # Unprocessed keys (throttling) are asked again, after a pause; TryAgain if they never come.
        found = retry.batch_get(lambda items: self._db.batch_get_item(RequestItems=items), requests)
        customers = found.get(self._table("customers"), [])
        orders = found.get(self._table("orders"), [])
        products = [product_view(ProductRecord.from_raw_data(i)) for i in found.get(self._table("products"), [])]
        pending_orders, pending_units = pending_counters(customers[0] if customers else None)
        return Placement(
            customer=customer_from_record(CustomerRecord.from_raw_data(customers[0])) if customers else None,
            products={view.id: view for view in products},
            existing=order_from_record(OrderRecord.from_raw_data(orders[0])) if orders else None,
            pending_orders=pending_orders,
            pending_units=pending_units,
        )

    def _counters(self, customer_id: str) -> tuple[int, int] | None:
        response = self._db.get_item(
            TableName=self._table("customers"), Key={"id": as_s(customer_id)}, ConsistentRead=True,
            ProjectionExpression="id, pending_orders, pending_units",
        )
        return pending_counters(response["Item"]) if response.get("Item") else None

    def expired(self, cutoff: str, limit: int = 100, after: dict | None = None) -> tuple[list[Order], dict | None]:
        """PENDING orders created before `cutoff`, oldest first: one Query of the by-status index (never a
        scan). The index may lag: an order it still lists as PENDING may have moved on, which the
        transition's own condition finds out. Returns (orders, the key to continue after, or None)."""
        request = {
            "TableName": self._table("orders"),
            "IndexName": OrderRecord.by_status.Meta.index_name,
            "KeyConditionExpression": "#st = :pending AND created_at < :cutoff",
            "ExpressionAttributeNames": {"#st": "status"},
            "ExpressionAttributeValues": {":pending": as_s(PENDING), ":cutoff": as_s(cutoff)},
            "ScanIndexForward": True,
            "Limit": int(limit),
        }
        if after:
            request["ExclusiveStartKey"] = after
        response = self._db.query(**request)
        found = [order_from_record(OrderRecord.from_raw_data(item)) for item in response.get("Items", [])]
        return found, response.get("LastEvaluatedKey")

    def get(self, order_id: str) -> Order | None:
        if not _storable_key(order_id):  # DynamoDB would refuse the key: there is no such order
            return None
        response = retry.call(partial(
            self._db.get_item, TableName=self._table("orders"), Key={"id": as_s(order_id)}, ConsistentRead=True))
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
        # ADD is not idempotent: a repeat after an effective 500 skips a block (numbers are unique, not gap-free).
        response = retry.call(partial(
            self._db.update_item,
            TableName=self._table("orders"),
            Key={"id": as_s(NUMBER_COUNTER_ID)},
            UpdateExpression="ADD #v :n",
            ExpressionAttributeNames={"#v": OrderCounterRecord.value.attr_name},
            ExpressionAttributeValues={":n": as_n(size)},
            ReturnValues="UPDATED_NEW",
        ), "order number block")
        return int(response["Attributes"][OrderCounterRecord.value.attr_name]["N"])

    # -- writes

    def create(self, order: Order, drafts: list[NotificationDraft], limits: PendingLimits | None = None) -> None:
        """Puts the order, reserves every item, records its notifications and counts the order against
        the customer's pending limits, all or nothing.

        Raises OrderExists (the id is taken: a replay), PendingLimitReached (the customer's PENDING
        orders, with this one, would pass a limit), InsufficientStock (only the items really short)
        or UnknownProducts (deleted since the read)."""
        limits = limits or PendingLimits(self._settings.max_pending_orders, self._settings.max_pending_units)
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
                "Key": {"id": as_s(product_id)},
                "UpdateExpression": "SET reserved = reserved + :q, available = available - :q",
                "ConditionExpression": "attribute_exists(id) AND available >= :q",
                "ExpressionAttributeValues": {":q": as_n(quantity)},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }})
        items.extend(self._notification_puts(drafts, now))
        items.append({"Update": {
            "TableName": self._table("customers"),
            "Key": {"id": as_s(order.customer_id)},
            "UpdateExpression": "ADD pending_orders :one, pending_units :units",
            "ConditionExpression": "attribute_exists(id)"
                                   " AND (attribute_not_exists(pending_orders) OR pending_orders <= :orders_room)"
                                   " AND (attribute_not_exists(pending_units) OR pending_units <= :units_room)",
            "ExpressionAttributeValues": {
                ":one": as_n(1), ":units": as_n(order.units),
                ":orders_room": as_n(limits.orders_room()), ":units_room": as_n(limits.units_room(order.units)),
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }})

        reasons = self._transact(items)
        if reasons is None:
            return
        if _failed(reasons[0]):
            raise OrderExists(order.id)
        customer_reason = reasons[len(items) - 1] if len(reasons) >= len(items) else {}
        if _failed(customer_reason):
            # The counters as the condition saw them; a store that does not return them is read again.
            counters = pending_counters(customer_reason["Item"]) if "Item" in customer_reason else None
            counters = counters or self._counters(order.customer_id)
            if counters is None:
                raise NotFound("no such customer", code="customer_not_found")
            raise PendingLimitReached(*counters, limits)
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
        event's notification records and the release of the customer's pending counters, in one
        transaction conditioned on the order still being PENDING."""
        skipped: set[str] = set()  # products deleted since the order: nothing left to release
        release_counters = True  # False once they turned out not to hold this order (placed before them)
        while True:
            items: list[dict] = [{"Update": {
                "TableName": self._table("orders"),
                "Key": {"id": as_s(order.id)},
                "UpdateExpression": "SET #st = :target, updated_at = :at, history = list_append(history, :entry)",
                "ConditionExpression": "attribute_exists(id) AND #st = :pending",
                "ExpressionAttributeNames": {"#st": "status"},
                "ExpressionAttributeValues": {
                    ":target": as_s(target),
                    ":pending": as_s(PENDING),
                    ":at": as_s(entry.at),
                    ":entry": {"L": [{"M": {
                        "status": as_s(entry.status), "at": as_s(entry.at), "by": as_s(entry.by)}}]},
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }}]
            lines = [(pid, qty) for pid, qty in order.reservations() if pid not in skipped]
            for product_id, quantity in lines:
                items.append({"Update": self._product_transition(product_id, quantity, target)})
            items.extend(self._notification_puts(drafts, entry.at))
            if release_counters:
                items.append({"Update": {
                    "TableName": self._table("customers"),
                    "Key": {"id": as_s(order.customer_id)},
                    "UpdateExpression": "ADD pending_orders :minus_one, pending_units :minus_units",
                    "ConditionExpression": "pending_orders >= :one AND pending_units >= :units",
                    "ExpressionAttributeValues": {
                        ":one": as_n(1), ":units": as_n(order.units),
                        ":minus_one": as_n(-1), ":minus_units": as_n(-order.units),
                    },
                }})

            reasons = self._transact(items)
            if reasons is None:
                return order.with_status(target, entry.at, entry.by)
            if _failed(reasons[0]):
                current = reasons[0].get("Item")
                if not current:
                    raise NotFound("no such order")
                raise InvalidTransition(current.get("status", {}).get("S", "?"), target)
            if release_counters and len(reasons) >= len(items) and _failed(reasons[len(items) - 1]):
                logger.warning("order %s: customer %s's pending counters do not hold it (placed before they "
                               "existed?); leaving them alone", order.id, order.customer_id)
                release_counters = False
                if not any(_failed(r) for r in reasons[1 : len(items) - 1]):
                    continue
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
            "Key": {"id": as_s(product_id)},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {":q": as_n(quantity)},
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
        """None when committed; the cancellation reasons when a condition failed. Transient failures are
        retried by retry.call with ONE ClientRequestToken (a repeat after an effective 500 is a no-op)."""
        from botocore.exceptions import ClientError

        token = retry.new_token()
        try:
            retry.call(partial(self._db.transact_write_items, TransactItems=items, ClientRequestToken=token),
                       "order transaction")
            return None
        except ClientError as error:
            if error.response.get("Error", {}).get("Code", "") == "TransactionCanceledException":
                reasons = error.response.get("CancellationReasons") or []
                if any(_failed(r) for r in reasons):
                    return reasons
            raise


def _storable_key(value: str) -> bool:
    try:
        return 0 < len(value.encode("utf-8")) <= MAX_KEY_BYTES
    except UnicodeEncodeError:  # lone surrogates
        return False


def _failed(reason: dict) -> bool:
    return reason.get("Code") == "ConditionalCheckFailed"


def _codes(reasons: list[dict]) -> list[str]:
    return [r.get("Code", "None") for r in reasons]
