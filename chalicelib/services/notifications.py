"""Notification delivery (SPEC §8): the use case behind the Lambda SQS handler, the local and container workers.

Life of a notification: the order service writes a PENDING record in the order's transaction and
enqueues `{"notification_id": …}` after the commit. The queue's consumer (adapters/sqs_batch.py) reads a
batch of messages and asks `deliver_batch` about one `Delivery` (notification id, receive count) each:

1. it starts an attempt at every record it may send, before any provider call: a conditional update
   (status = PENDING, no attempt in flight) counts the attempt (`attempts + 1`) and takes a lease for
   the longest a provider call can take (for a whole batch: one BatchGetItem and one transaction);
2. calls the providers (SES, Africa's Talking; each call with a timeout) concurrently, one thread per
   message (NOTIFY_CONCURRENCY, default 10);
3. records each outcome with a conditional update: SENT (provider_message_id, sent_at) as soon as the
   provider accepted it, FAILED for a permanent failure (or a transient one on the last receive before
   the dead-letter queue), else PENDING again with the error kept and the lease freed.

Each delivery gets an `Outcome`, a decision the consumer carries out: SETTLED (sent, or final already:
acknowledge it), RETRY after `delay` seconds (the backoff, 5, 10, 20, 40, 60 s…, or when the lease of an
attempt in flight elsewhere ends), GAVE_UP (the last receive failed: the record is FAILED and the message
goes to the dead-letter queue, where a redrive finds it) or POISON (unreadable, or no such record: it
goes to the dead-letter queue at once and never makes the batch's good messages be sent again).

A redelivered message finds its record SENT/FAILED (nothing is sent) or leased (tried again when the
lease ends).

Residual window (documented, not closed): if the process dies after a provider accepted a message and
before its SENT update (one DynamoDB write, milliseconds), the lease expires and the message is sent
again. Neither provider takes an idempotency key, so the choice is a rare duplicate over a lost
notification; `attempts` greater than 1 on a SENT record shows where it may have happened.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.domain.clock import iso
from chalicelib.domain.notifications import (
    EMAIL,
    SMS,
    DeliveryError,
    DeliveryTuning,
    Notification,
    PermanentDeliveryError,
    Receipt,
    TransientDeliveryError,
    backoff_delay,
    notification_id_of,
)
from chalicelib.ports import EmailSender, NotificationQueue, NotificationStore, Services, SmsSender

logger = logging.getLogger("ekiosk.notifications")

SWEEP_LIMIT = 500
MAX_DELAY_SECONDS = 60  # SPEC §8: never more than 60 s between attempts
COALESCE_SECONDS = 0.01  # after a provider call completes, wait this long for others to record them together

# The decisions of an Outcome
SETTLED = "settled"  # nothing more to do with this message
RETRY = "retry"  # try again after `delay` seconds (None: when the message comes back by itself)
GAVE_UP = "gave_up"  # the last try failed: the record is FAILED, the message belongs on the dead-letter queue
POISON = "poison"  # no notification to deliver: the message belongs on the dead-letter queue now


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Delivery:
    """One request to deliver: the notification a message names (None: its body names none) and how many
    times the message has been received (its SQS ApproximateReceiveCount)."""

    notification_id: str | None
    receives: int = 1


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery, and so what to do with its message."""

    decision: str
    note: str
    delay: int | None = None

    @property
    def done(self) -> bool:
        return self.decision == SETTLED

    @property
    def poison(self) -> bool:
        return self.decision == POISON


def _settled(note: str) -> Outcome:
    return Outcome(SETTLED, note)


def _retry(delay: int | None, note: str) -> Outcome:
    return Outcome(RETRY, note, delay)


@dataclass
class _Message:
    """One delivery on its way through a batch."""

    notification_id: str | None
    receives: int
    outcome: Outcome | None = None
    notification: Notification | None = None
    receipt: Receipt | None = None
    error: DeliveryError | None = None


def _lease_left(notification: Notification | None, knobs: DeliveryTuning) -> int:
    """Seconds until another attempt's lease ends (the retry delay of a message that found it busy)."""
    left = float(knobs.lease)
    if notification is not None and notification.lease_until:
        until = datetime.strptime(notification.lease_until, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        left = (until - _now()).total_seconds()
    return int(min(MAX_DELAY_SECONDS, max(1, math.ceil(left))))


def _start(messages: list[_Message], repo: NotificationStore, knobs: DeliveryTuning) -> list[_Message]:
    """Takes the lease of every deliverable record (one batch call); settles the others; returns those to send."""
    pending = [m for m in messages if m.outcome is None]
    ids = list(dict.fromkeys(m.notification_id for m in pending))
    if not ids:
        return []
    now = _now()
    try:
        states = repo.begin_attempts(ids, iso(now), iso(now + timedelta(seconds=knobs.lease)))
    except Exception:  # the store is unreachable: the queue tries again later
        logger.exception("could not start %s notifications", len(ids))
        for m in pending:
            m.outcome = _retry(backoff_delay(m.receives, knobs.backoff_base, knobs.backoff_max), "store unavailable")
        return []
    to_send, taken = [], set()
    for m in pending:
        state, notification = states[m.notification_id]
        if state == "missing":
            m.outcome = Outcome(POISON, "unknown notification id")
        elif state == "finished":
            m.outcome = _settled(f"already {notification.status}")
        elif state == "busy" or m.notification_id in taken:  # in flight elsewhere, or twice in this batch
            m.outcome = _retry(_lease_left(notification, knobs), "attempt in flight elsewhere")
        else:
            taken.add(m.notification_id)
            m.notification = notification
            to_send.append(m)
    return to_send


def _call_provider(message: _Message, svc: Services) -> None:
    notification = message.notification
    try:
        message.receipt = _sender(svc, notification).send(notification.recipient, notification.message)
    except DeliveryError as error:
        message.error = error
    except Exception as error:  # a bug or an unexpected library error: worth another try
        message.error = TransientDeliveryError(f"{type(error).__name__}: {error}")


def _record_sent(sent: list[_Message], repo: NotificationStore) -> None:
    """The provider accepted them: recording that matters most (one batch call, retried twice)."""
    receipts = {m.notification_id: m.receipt for m in sent}
    settled = False
    for attempt in range(3):
        try:
            recorded = repo.mark_sent_many(receipts, iso(_now()))
            for nid in set(receipts) - recorded:  # no longer PENDING: finished elsewhere after our lease expired
                logger.warning("notification %s changed during its attempt (lease expired?)", nid)
            settled = True
            break
        except Exception:
            if attempt == 2:
                logger.exception("could not record %s sent notifications", len(receipts))
            else:
                time.sleep(0.2 * (attempt + 1))
    for m in sent:
        if settled:
            m.outcome = _settled("sent")
            logger.info("notification %s sent via %s (%s)", m.notification_id, m.receipt.provider,
                        m.receipt.message_id)
        else:  # the residual window: sent, not recorded; it may be sent again once the lease expires
            m.outcome = _retry(None, "sent but not recorded")


def _sender(svc: Services, notification: Notification) -> EmailSender | SmsSender:
    if notification.channel == SMS:
        return svc.sms
    if notification.channel == EMAIL:
        return svc.email
    raise PermanentDeliveryError(f"unknown channel {notification.channel!r}")


def _record_failure(repo: NotificationStore, notification: Notification, error: DeliveryError, receives: int,
                    knobs: DeliveryTuning) -> Outcome:
    now = iso(_now())
    if not error.transient:
        repo.mark_failed(notification.id, str(error), now)
        logger.warning("notification %s failed permanently: %s", notification.id, error)
        return _settled("failed permanently")
    if receives >= knobs.max_receives:  # the queue dead-letters the message on its next receive
        repo.mark_failed(notification.id, f"gave up after {notification.attempts} attempts: {error}", now)
        logger.error("notification %s failed after %s attempts: %s", notification.id, notification.attempts, error)
        return Outcome(GAVE_UP, "dead-lettered")
    repo.release(notification.id, str(error), now)
    delay = backoff_delay(receives, knobs.backoff_base, knobs.backoff_max)
    logger.warning("notification %s: %s; next try in %s s", notification.id, error, delay)
    return _retry(delay, "transient failure")


def _settle_failure(message: _Message, repo: NotificationStore, knobs: DeliveryTuning) -> None:
    try:
        message.outcome = _record_failure(repo, message.notification, message.error, message.receives, knobs)
    except Exception:
        logger.exception("could not record the failure of notification %s", message.notification_id)
        message.outcome = _retry(backoff_delay(message.receives, knobs.backoff_base, knobs.backoff_max), "error")


_pools = threading.local()


def _executor(size: int) -> ThreadPoolExecutor:
    """The provider-call threads of the calling thread (so batches handled side by side never share them)."""
    pool = getattr(_pools, "pool", None)
    if pool is None or pool._max_workers != size:
        if pool is not None:
            pool.shutdown(wait=False)
        pool = _pools.pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="notify")
    return pool


def _each(function, items: list, knobs: DeliveryTuning) -> None:
    """Runs `function(item)` for every item, on up to `concurrency` threads."""
    if knobs.concurrency <= 1 or len(items) <= 1:
        for item in items:
            function(item)
        return
    for future in [_executor(knobs.concurrency).submit(function, item) for item in items]:
        future.result()


def _send_all(to_send: list[_Message], svc: Services, repo: NotificationStore, knobs: DeliveryTuning) -> None:
    """Calls the providers concurrently and records each success as soon as it is known (successes that
    complete together share one write), so a slow or hanging call never delays the others' SENT record."""
    def settle(finished: list[_Message]) -> None:
        sent = [m for m in finished if m.receipt is not None]
        if sent:
            _record_sent(sent, repo)
        _each(lambda m: _settle_failure(m, repo, knobs), [m for m in finished if m.receipt is None], knobs)

    if knobs.concurrency <= 1 or len(to_send) <= 1:
        for message in to_send:
            _call_provider(message, svc)
            settle([message])
        return
    pool = _executor(knobs.concurrency)
    futures = {pool.submit(_call_provider, message, svc): message for message in to_send}
    waiting = set(futures)
    while waiting:
        done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
        if waiting:  # gather the calls finishing at about the same time into the same write
            more, waiting = wait(waiting, timeout=COALESCE_SECONDS)
            done |= more
        for future in done:
            future.result()  # _call_provider catches everything; this only re-raises a bug
        settle([futures[future] for future in done])


def deliver_batch(svc: Services, deliveries: list[Delivery]) -> list[Outcome]:
    """Delivers a batch; returns one Outcome per delivery (same order).

    Per batch: one call to start every attempt (BatchGetItem + one transaction on DynamoDB), the provider
    calls concurrently (NOTIFY_CONCURRENCY threads), successes recorded as they complete (batched when they
    complete together), failures one by one.
    """
    knobs = svc.delivery
    repo = svc.notifications
    messages = []
    for delivery in deliveries:
        message = _Message(delivery.notification_id, max(1, delivery.receives))
        if message.notification_id is None:
            message.outcome = Outcome(POISON, "unreadable message body")
        messages.append(message)
    if any(m.outcome is None for m in messages):
        repo.warm_up()
    _send_all(_start(messages, repo, knobs), svc, repo, knobs)
    return [m.outcome for m in messages]


def deliver(svc: Services, notification_id: str, receives: int = 1) -> Outcome:
    """One attempt at one notification (`receives`: its message's receive count)."""
    return deliver_batch(svc, [Delivery(notification_id, receives)])[0]


def _touched(repo: NotificationStore, notification: Notification) -> bool:
    """One record of a sweep; a store failure skips it (the next sweep finds it again), never the run."""
    try:
        return repo.touch(notification.id, notification.updated_at, iso(_now()))
    except Exception:
        logger.warning("sweep: could not touch notification %s; next run", notification.id, exc_info=True)
        return False


def sweep_pending(svc: Services, limit: int = SWEEP_LIMIT) -> int:
    """Re-enqueues PENDING records nobody touched for `sweep_age` seconds (their message was never sent,
    or got lost); returns how many. Safe to run concurrently with delivery: duplicates send nothing twice."""
    repo = svc.notifications
    cutoff = iso(_now() - timedelta(seconds=svc.delivery.sweep_age))
    ids = [n.id for n in repo.stale_pending(cutoff, limit) if _touched(repo, n)]
    if ids:
        svc.queue.send(ids)
        logger.warning("sweeper re-enqueued %s notifications: %s", len(ids), ", ".join(ids[:10]))
    return len(ids)


def list_notifications(svc: Services, order_id: str | None, limit: int,
                       cursor: str | None) -> tuple[list[Notification], str | None]:
    return svc.notifications.list(order_id, limit, cursor)


def redrive_dead_letters(svc: Services, *, limit: int = 100_000, wait_seconds: int = 1,
                         empty_replies: int = 3, deadline_seconds: float = 300.0) -> dict[str, int]:
    """Moves dead-lettered notification messages back to the queue, their FAILED records back to PENDING.

    Messages whose body or record is unknown (poison) stay on the dead-letter queue for a human (hidden
    for the rest of this run). SQS may answer a receive with nothing while messages remain (it samples a
    subset of its servers), so the run long-polls and stops only after `empty_replies` empty replies in
    a row *and* the queue reporting no message left but the ones it keeps (messages hidden by someone
    else, e.g. an earlier run's poison, are waited for through three times as many empty replies) — or
    after `deadline_seconds`.
    """
    repo, queue = svc.notifications, svc.queue
    counts = {"moved": 0, "reset": 0, "kept": 0}
    deadline = time.monotonic() + deadline_seconds
    empty = 0
    while counts["moved"] + counts["kept"] < limit and time.monotonic() < deadline:
        messages = queue.receive_dead_letters(hide_seconds=300, wait_seconds=wait_seconds)
        if not messages:
            empty += 1
            if empty >= empty_replies and _dead_letters_drained(queue, counts["kept"], empty >= 3 * empty_replies):
                break
            continue
        empty = 0
        movable = []
        for message in messages:
            notification_id = notification_id_of(message.get("Body") or "")
            notification = repo.get(notification_id) if notification_id else None
            if notification is None:
                counts["kept"] += 1
                continue
            if repo.reset_failed(notification_id, iso(_now())):
                counts["reset"] += 1
            movable.append(message)
        queue.move_back(movable)
        counts["moved"] += len(movable)
    return counts


def _dead_letters_drained(queue: NotificationQueue, kept: int, ignore_in_flight: bool) -> bool:
    """Nothing left on the dead-letter queue but the poison messages this run keeps hidden."""
    depth = queue.depth(dead_letter=True)
    return depth["visible"] == 0 and (ignore_in_flight or depth["in_flight"] <= kept)
