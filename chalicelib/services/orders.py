"""Order use cases (SPEC §7): place, read, list, approve and cancel, and the hold expiry job.

`caller` is anything with `.id` (the customer id), `.identity` (the verified token identity, used
to create the customer record just in time) and `.is_staff` — the API's Caller.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from chalicelib.domain.clock import utc_now
from chalicelib.domain.errors import NotFound
from chalicelib.domain.notifications import ORDER_PLACED, NotificationDraft, drafts_for
from chalicelib.domain.orders import (
    CANCELED,
    SYSTEM,
    HistoryEntry,
    IdempotencyMismatch,
    InsufficientStock,
    InvalidTransition,
    Order,
    OrderExists,
    OrderLine,
    PendingLimitReached,
    PendingLimits,
    ProfileIncomplete,
    Shortage,
    UnknownProducts,
    event_for_transition,
    hold_cutoff,
    hold_expired,
    new_order,
    order_id_for,
    parse_status,
    request_hash,
)
from chalicelib.ports import Services
from chalicelib.services import customers

logger = logging.getLogger("ekiosk.orders")


def place_order(svc: Services, caller, items: list[tuple[str, int]],
                idempotency_key: str | None = None) -> tuple[Order, bool]:
    """Reserves every item and records the order and its notifications atomically.

    Returns (order, replayed): replayed is True when the Idempotency-Key (scoped to the caller) had
    already placed this same request, in which case nothing new is reserved."""
    repo = svc.orders
    order_id = order_id_for(caller.id, idempotency_key)
    fingerprint = request_hash(items)
    product_ids = [pid for pid, _ in items]

    seen = repo.load_for_placement(caller.id, product_ids, order_id if idempotency_key else None)
    if seen.existing is not None:
        return _replay(seen.existing, caller.id, fingerprint), True

    customer = seen.customer
    if customer is None:  # first request of this subject: create its record, as sign-in would
        customer = customers.sign_in(svc, caller.identity)
    if not customer.profile_complete:
        raise ProfileIncomplete(
            "add a phone number to your profile before ordering",
            details={"missing_fields": customer.missing_fields},
        )

    settings = svc.settings
    limits = PendingLimits(settings.max_pending_orders, settings.max_pending_units)
    units = sum(qty for _, qty in items)
    if not limits.admits(seen.pending_orders, seen.pending_units, units):
        # Already at a limit at a consistent read: no need to try the transaction (which checks again).
        # BatchGetItem is not one snapshot: the order a concurrent same-key request placed may have been
        # counted but not yet seen, so a keyed request looks once more for its original.
        if idempotency_key and (existing := repo.get(order_id)) is not None:
            return _replay(existing, caller.id, fingerprint), True
        raise PendingLimitReached(seen.pending_orders, seen.pending_units, limits)

    index_of = {pid: i for i, pid in enumerate(product_ids)}
    missing = [pid for pid in product_ids if pid not in seen.products]
    if missing:
        raise UnknownProducts(missing, index_of)
    short = [Shortage(pid, qty, max(seen.products[pid].available, 0))
             for pid, qty in items if seen.products[pid].available < qty]
    if short:  # already short at a consistent read: no need to try the transaction
        raise InsufficientStock(short)

    lines = [OrderLine(pid, seen.products[pid].name, qty, seen.products[pid].price_cents) for pid, qty in items]
    email = getattr(caller.identity, "email", None) or customer.email
    order = new_order(
        order_id=order_id, number=repo.next_number(), customer_id=caller.id, lines=lines, now=utc_now(),
        customer_email=email, customer_phone=customer.phone_number, request_hash=fingerprint,
    )
    drafts = drafts_for(
        ORDER_PLACED, order_id=order.id, number=order.number, customer_email=email,
        customer_phone=customer.phone_number, staff_emails=svc.settings.admin_notification_emails,
    )

    try:
        repo.create(order, drafts, limits)
    except PendingLimitReached:  # a concurrent order of this customer took the room
        if idempotency_key and (existing := repo.get(order.id)) is not None:
            return _replay(existing, caller.id, fingerprint), True
        raise
    except OrderExists:  # a concurrent request with the same key won, or our own retried commit
        existing = repo.get(order.id)
        if existing is None:
            raise
        return _replay(existing, caller.id, fingerprint), True
    enqueue(svc, drafts)
    return order, False


def _replay(existing: Order, customer_id: str, fingerprint: str) -> Order:
    if existing.customer_id != customer_id or existing.request_hash != fingerprint:
        raise IdempotencyMismatch()
    return existing


def get_order(svc: Services, caller, order_id: str) -> Order:
    """The order, for its owner or staff; 404 for anyone else (its existence is not revealed)."""
    order = svc.orders.get(order_id)
    if order is None or (order.customer_id != caller.id and not caller.is_staff):
        raise NotFound("no such order")
    return order


def list_orders(svc: Services, caller, status: str | None, limit: int,
                cursor: str | None) -> tuple[list[Order], str | None]:
    """Newest first: staff see every order, customers their own."""
    wanted = parse_status(status) if status is not None else None
    customer_id = None if caller.is_staff else caller.id
    return svc.orders.list(customer_id=customer_id, status=wanted, limit=limit, cursor=cursor)


def change_status(svc: Services, caller, order: Order, status: object) -> Order:
    """Staff approve (COMPLETED) or cancel (CANCELED) a PENDING order, atomically with its stock."""
    target = parse_status(status)
    event = event_for_transition(order.status, target)  # early 409; the transaction re-checks
    now = utc_now()
    drafts = drafts_for(
        event, order_id=order.id, number=order.number, customer_email=order.customer_email or "",
        customer_phone=order.customer_phone, staff_emails=(),
    )
    updated = svc.orders.transition(order, target, HistoryEntry(target, now, caller.id), drafts)
    enqueue(svc, drafts)
    return updated


# ---- hold expiry (SPEC §7) ---------------------------------------------------------------------

EXPIRY_PAGE = 100
# Within one run, under the scheduled Lambda's 10 s timeout (and short enough not to hold up the local
# worker's polling); what is left waits for the next run.
EXPIRY_BUDGET_SECONDS = 8


def expire_holds(svc: Services, now: datetime | None = None,
                 budget_seconds: float = EXPIRY_BUDGET_SECONDS) -> int:
    """Cancels, as the system, every PENDING order older than ORDER_HOLD_SECONDS: the same transaction
    as a staff cancel (reservation released, the customer's pending counters freed, the cancellation
    SMS recorded and enqueued), conditioned on the order still being PENDING, so a staff PATCH racing it
    has exactly one winner. Finds them with the by-status index (oldest first), never a scan.
    Returns how many orders it cancelled."""
    now = now or datetime.now(UTC)
    hold = svc.settings.order_hold_seconds
    cutoff = hold_cutoff(now, hold)
    deadline = time.monotonic() + budget_seconds
    cancelled = 0
    after = None
    while time.monotonic() < deadline:
        found, after = svc.orders.expired(cutoff, EXPIRY_PAGE, after)
        for order in found:
            if time.monotonic() >= deadline:
                break
            if hold_expired(order, now, hold) and expire_order(svc, order):
                cancelled += 1
        if after is None:
            break
    if cancelled:
        logger.info("hold expiry: cancelled %d order(s) created before %s", cancelled, cutoff)
    return cancelled


def expire_order(svc: Services, order: Order) -> bool:
    """Cancels one order as the system; False when it is no longer PENDING (or failed: logged, and
    the next run tries again)."""
    try:
        drafts = drafts_for(
            event_for_transition(order.status, CANCELED), order_id=order.id, number=order.number,
            customer_email=order.customer_email or "", customer_phone=order.customer_phone, staff_emails=(),
        )
        svc.orders.transition(order, CANCELED, HistoryEntry(CANCELED, utc_now(), SYSTEM), drafts)
    except (InvalidTransition, NotFound):  # staff (or another run) moved it on first: nothing to do
        return False
    except Exception:  # noqa: BLE001 - one bad order must not stop the others; the next run retries it
        logger.exception("hold expiry: could not cancel order %s", order.id)
        return False
    enqueue(svc, drafts)
    return True


def enqueue(svc: Services, drafts: list[NotificationDraft]) -> None:
    """One SendMessageBatch. The records are already stored as PENDING, so a failure here loses
    nothing: the notifications sweeper re-enqueues PENDING records."""
    if not drafts:
        return
    try:
        svc.queue.send([draft.id for draft in drafts])
    except Exception:  # noqa: BLE001 - the answer must not depend on the queue
        logger.exception("could not enqueue notifications %s; the sweeper will", [d.id for d in drafts])
