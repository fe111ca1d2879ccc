"""Orders (SPEC §7): the state machine, status input, price snapshots and totals, idempotency.

Plain Python: no AWS. Money is integer cents inside; arithmetic that could ever produce fractions
of a cent goes through Decimal rounded half-up to two places.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from chalicelib.domain.clock import iso
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, TryAgain  # noqa: F401 (TryAgain: re-exported)
from chalicelib.domain.keys import is_valid_text
from chalicelib.domain.money import CENT
from chalicelib.domain.notifications import ORDER_APPROVED, ORDER_CANCELLED

PENDING = "PENDING"
COMPLETED = "COMPLETED"
CANCELED = "CANCELED"
STATUSES = (PENDING, COMPLETED, CANCELED)
_STATUS_ALIASES = {"CANCELLED": CANCELED}

# The only transitions there are, and the notification event each one produces.
TRANSITIONS = {(PENDING, COMPLETED): ORDER_APPROVED, (PENDING, CANCELED): ORDER_CANCELLED}

MAX_ITEMS = 50
MAX_QUANTITY = 1000
MAX_IDEMPOTENCY_KEY = 255


# ---- errors -------------------------------------------------------------------------------------


class ProfileIncomplete(Forbidden):
    code = "profile_incomplete"


class UnknownProducts(InvalidInput):
    code = "unknown_product"

    def __init__(self, product_ids: list[str], index_of: dict[str, int] | None = None):
        index_of = index_of or {}
        details = {
            (f"items.{index_of[pid]}.product_id" if pid in index_of else "product_id"): ["no such product"]
            for pid in product_ids
        }
        super().__init__("every product must exist: " + ", ".join(product_ids), details=details)
        self.product_ids = product_ids


@dataclass(frozen=True)
class Shortage:
    product_id: str
    requested: int
    available: int

    def to_dict(self) -> dict:
        return {"product_id": self.product_id, "requested": self.requested, "available": self.available}


class InsufficientStock(Conflict):
    code = "insufficient_stock"

    def __init__(self, shortages: list[Shortage]):
        super().__init__("not enough stock", details=[s.to_dict() for s in shortages])
        self.shortages = shortages


class InvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, current: str, target: str):
        super().__init__(
            f"an order cannot go from {current} to {target}", details={"from": current, "to": target}
        )
        self.current = current
        self.target = target


class IdempotencyMismatch(Conflict):
    code = "idempotency_mismatch"

    def __init__(self):
        super().__init__("this Idempotency-Key was already used with a different request body")


class OrderExists(Exception):
    """The store already holds an order with this id (an idempotent replay, or our own retried commit)."""


class PendingLimitReached(Conflict):
    """The customer's PENDING orders, with this one, would pass MAX_PENDING_ORDERS or MAX_PENDING_UNITS."""

    code = "pending_limit"

    def __init__(self, pending_orders: int, pending_units: int, limits: PendingLimits):
        super().__init__(
            f"at most {limits.max_orders} pending orders and {limits.max_units} pending units per customer; "
            "wait until staff approve or cancel one",
            details={
                "pending_orders": int(pending_orders),
                "pending_units": int(pending_units),
                "max_pending_orders": limits.max_orders,
                "max_pending_units": limits.max_units,
            },
        )
        self.pending_orders = int(pending_orders)
        self.pending_units = int(pending_units)


@dataclass(frozen=True)
class PendingLimits:
    """Per-customer caps on what PENDING orders hold (SPEC §7), the new order included.

    DynamoDB conditions cannot subtract, so the room is computed here: a new order of `units` fits
    while pending_orders <= orders_room() and pending_units <= units_room(units)."""

    max_orders: int
    max_units: int

    def orders_room(self) -> int:
        return self.max_orders - 1

    def units_room(self, units: int) -> int:
        return self.max_units - int(units)  # negative: no customer counter can ever be that low

    def admits(self, pending_orders: int, pending_units: int, units: int) -> bool:
        return int(pending_orders) <= self.orders_room() and int(pending_units) <= self.units_room(units)

    def check(self, pending_orders: int, pending_units: int, units: int) -> None:
        if not self.admits(pending_orders, pending_units, units):
            raise PendingLimitReached(pending_orders, pending_units, self)


# ---- status and the state machine ---------------------------------------------------------------


def parse_status(value: object, field_name: str = "status") -> str:
    """A status given by a client: case-insensitive, CANCELLED accepted as CANCELED; else 400."""
    if not isinstance(value, str):
        raise InvalidInput("status must be a string", details={field_name: ["must be a string"]},
                           code="validation_error")
    normalized = value.strip().upper()
    normalized = _STATUS_ALIASES.get(normalized, normalized)
    if normalized not in STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(STATUSES)}",
            details={field_name: [f"must be one of {', '.join(STATUSES)}"]},
            code="validation_error",
        )
    return normalized


def event_for_transition(current: str, target: str) -> str:
    """The notification event of an allowed transition; InvalidTransition (409) for any other."""
    event = TRANSITIONS.get((current, target))
    if event is None:
        raise InvalidTransition(current, target)
    return event


# ---- money --------------------------------------------------------------------------------------


def current_price_cents(price_cents: int, discount_price_cents: int | None) -> int:
    """What a product sells for now: its discount price when one is set (0 counts as set)."""
    return int(price_cents if discount_price_cents is None else discount_price_cents)


def to_decimal(cents: int) -> Decimal:
    return (Decimal(int(cents)) / 100).quantize(CENT)


def line_total(unit_price: Decimal, quantity: int) -> Decimal:
    return (Decimal(unit_price) * int(quantity)).quantize(CENT, rounding=ROUND_HALF_UP)


def order_total(line_totals: list[Decimal]) -> Decimal:
    return sum(line_totals, Decimal("0")).quantize(CENT, rounding=ROUND_HALF_UP)


def to_cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_UP))


# ---- the order ----------------------------------------------------------------------------------


@dataclass
class OrderLine:
    product_id: str
    name: str
    quantity: int
    price_cents: int  # the unit price at the time of the order

    @property
    def line_total(self) -> Decimal:
        return line_total(to_decimal(self.price_cents), self.quantity)


@dataclass
class HistoryEntry:
    status: str
    at: str
    by: str


@dataclass
class Order:
    id: str
    number: int
    customer_id: str
    status: str
    items: list[OrderLine]
    created_at: str
    updated_at: str
    history: list[HistoryEntry] = field(default_factory=list)
    customer_email: str | None = None
    customer_phone: str | None = None  # snapshot at placement: approval/cancel SMS go there
    request_hash: str | None = None

    @property
    def total(self) -> Decimal:
        return order_total([line.line_total for line in self.items])

    @property
    def total_cents(self) -> int:
        return to_cents(self.total)

    def reservations(self) -> list[tuple[str, int]]:
        return [(line.product_id, line.quantity) for line in self.items]

    @property
    def units(self) -> int:
        """What this order counts against MAX_PENDING_UNITS while it is PENDING."""
        return sum(int(line.quantity) for line in self.items)

    def with_status(self, status: str, at: str, by: str) -> Order:
        return Order(
            **{**self.__dict__, "status": status, "updated_at": at,
               "history": [*self.history, HistoryEntry(status, at, by)]}
        )


def new_order(
    *, order_id: str, number: int, customer_id: str, lines: list[OrderLine], now: str,
    customer_email: str | None, customer_phone: str | None, request_hash: str | None,
) -> Order:
    return Order(
        id=order_id, number=number, customer_id=customer_id, status=PENDING, items=lines,
        created_at=now, updated_at=now, history=[HistoryEntry(PENDING, now, customer_id)],
        customer_email=customer_email, customer_phone=customer_phone, request_hash=request_hash,
    )


# ---- hold expiry ------------------------------------------------------------------------------

SYSTEM = "system"  # `by` of the history entry when the system, not staff, cancels an order


def hold_cutoff(now: datetime, hold_seconds: int) -> str:
    """Orders created before this instant (ISO, as `created_at` is stored) have held too long."""
    return iso(now - timedelta(seconds=int(hold_seconds)))


def hold_expired(order: Order, now: datetime, hold_seconds: int) -> bool:
    return order.status == PENDING and order.created_at < hold_cutoff(now, hold_seconds)


# ---- idempotency --------------------------------------------------------------------------------


def check_idempotency_key(value: str | None) -> str | None:
    """The Idempotency-Key header: absent → None; 1–255 characters; anything else → 400."""
    if value is None:
        return None
    if not value.strip() or len(value) > MAX_IDEMPOTENCY_KEY or not is_valid_text(value):
        raise InvalidInput(
            f"Idempotency-Key must be 1–{MAX_IDEMPOTENCY_KEY} characters",
            details={"Idempotency-Key": [f"must be 1–{MAX_IDEMPOTENCY_KEY} characters"]},
            code="invalid_idempotency_key",
        )
    return value


def request_hash(items: list[tuple[str, int]]) -> str:
    """Fingerprint of a placement: the same products and quantities, in any order, match."""
    canonical = json.dumps(sorted([str(pid), int(qty)] for pid, qty in items), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_id_for(customer_id: str, idempotency_key: str | None) -> str:
    """A fresh id; with a key, the same id for the same (customer, key), so the conditional put of
    the order is itself the idempotency check (no separate key table)."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    digest = hashlib.sha256(f"{customer_id}\n{idempotency_key}".encode()).hexdigest()
    return digest[:32]


# ---- what placing an order reads (OrderStore.load_for_placement) -----------------------------------


@dataclass(frozen=True)
class ProductView:
    id: str
    name: str
    price_cents: int  # the current price: the discount price if there is one
    available: int


@dataclass
class Placement:
    """Everything placing an order needs to know, from one batched read."""

    customer: Customer | None
    products: dict[str, ProductView]
    existing: Order | None  # the order an Idempotency-Key maps to, if it exists
    pending_orders: int = 0  # what the customer's PENDING orders hold now (SPEC §7 limits)
    pending_units: int = 0
