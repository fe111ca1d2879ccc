"""Notification delivery (SPEC §8): one function for the Lambda SQS handler, the local and container workers.

Life of a notification: the order service writes a PENDING record in the order's transaction and
enqueues `{"notification_id": …}` after the commit. `process_sqs_records` then, for each message of a
batch (concurrently, one thread per message):

1. takes the record's lease with a conditional update (status = PENDING, no attempt in flight),
   counting the attempt (`attempts + 1`) before the provider is called;
2. calls the provider (SES or Africa's Talking, each with a timeout);
3. records the outcome with a conditional update: SENT (provider_message_id, sent_at), FAILED
   (permanent failure, or a transient one on the last receive before the dead-letter queue), or
   PENDING with the error and the lease freed (transient: retried).

A redelivered message finds the record SENT/FAILED (nothing sent) or leased (retried later). Failed
messages are not deleted; their visibility timeout is set to the backoff delay (5, 10, 20, 40, 60 s…)
so the next try comes from the queue itself; after the 9th receive SQS moves them to the dead-letter
queue. A poison message (unreadable body, unknown id) is put on the dead-letter queue at once and
acknowledged: it never makes its batch be re-sent.

Residual window (documented, not closed): if the process dies after the provider accepted a message and
before the SENT update (one DynamoDB write), the lease expires and the message is sent again. Neither
provider offers an idempotency key, so the choice is a rare duplicate over a lost notification.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.adapters.queue import notification_id_of
from chalicelib.domain.notifications import (
    EMAIL,
    SMS,
    DeliveryError,
    DeliveryTuning,
    Notification,
    PermanentDeliveryError,
    TransientDeliveryError,
    backoff_delay,
)
from chalicelib.resources import NOTIFICATIONS_QUEUE

logger = logging.getLogger("ekiosk.notifications")

MAX_RECEIVES = NOTIFICATIONS_QUEUE.max_receive_count  # SQS dead-letters a message received this many times
SWEEP_LIMIT = 500
PUBLIC_FIELDS = ("id", "order_id", "event", "channel", "recipient", "message", "status", "attempts",
                 "provider_message_id", "error", "created_at", "sent_at")


def _services():
    from chalicelib.bootstrap import services

    return services()


def tuning() -> DeliveryTuning:
    return DeliveryTuning.from_env(os.environ)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # the format of adapters/dynamodb/base.utc_now


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outcome:
    """What to do with one SQS message: delete it, or leave it for `delay` seconds (None: as it is)."""

    done: bool
    note: str
    delay: int | None = None
    poison: bool = False


def _done(note: str) -> Outcome:
    return Outcome(True, note)


def _retry(delay: int | None, note: str) -> Outcome:
    return Outcome(False, note, delay)


def receive_count(record: dict) -> int:
    try:
        return max(1, int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)))
    except (TypeError, ValueError):
        return 1


def deliver(notification_id: str, receives: int, *, svc=None, settings: DeliveryTuning | None = None) -> Outcome:
    """One attempt at one notification; `receives` is the message's ApproximateReceiveCount."""
    svc = svc or _services()
    knobs = settings or tuning()
    repo = svc.notifications
    started_at = _now()
    lease_until = started_at + timedelta(seconds=knobs.lease_seconds)
    state, notification = repo.begin_attempt(notification_id, _iso(started_at), _iso(lease_until))
    if state == "missing":
        return Outcome(False, "unknown notification id", poison=True)
    if state == "finished":
        return _done(f"already {notification.status}")
    if state == "busy":  # another attempt is in flight; come back when its lease ends
        left = (datetime.strptime(notification.lease_until, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
                - _now()).total_seconds()
        return _retry(int(min(knobs.backoff_max, max(1, math.ceil(left)))), "attempt in flight elsewhere")

    try:
        receipt = _sender(svc, notification).send(notification.recipient, notification.message)
    except Exception as error:  # every failure ends in the record
        failure = error if isinstance(error, DeliveryError) else TransientDeliveryError(
            f"{type(error).__name__}: {error}")
        return _record_failure(repo, notification, failure, receives, knobs)

    for attempt in range(3):  # the provider accepted it: recording that matters most
        try:
            if not repo.mark_sent(notification_id, receipt, _iso(_now())):
                logger.warning("notification %s changed during its attempt (lease expired?)", notification_id)
            break
        except Exception:
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))
    logger.info("notification %s sent via %s (%s)", notification_id, receipt.provider, receipt.message_id)
    return _done("sent")


def _sender(svc, notification: Notification):
    if notification.channel == SMS:
        return svc.sms
    if notification.channel == EMAIL:
        return svc.email
    raise PermanentDeliveryError(f"unknown channel {notification.channel!r}")


def _record_failure(repo, notification: Notification, error: DeliveryError, receives: int,
                    knobs: DeliveryTuning) -> Outcome:
    now = _iso(_now())
    if not error.transient:
        repo.mark_failed(notification.id, str(error), now)
        logger.warning("notification %s failed permanently: %s", notification.id, error)
        return _done("failed permanently")
    if receives >= MAX_RECEIVES:  # SQS moves the message to the dead-letter queue on its next receive
        repo.mark_failed(notification.id, f"gave up after {notification.attempts} attempts: {error}", now)
        logger.error("notification %s failed after %s attempts: %s", notification.id, notification.attempts, error)
        return _retry(0, "dead-lettered")
    repo.release(notification.id, str(error), now)
    delay = backoff_delay(receives, knobs.backoff_base, knobs.backoff_max)
    logger.warning("notification %s: %s; next try in %s s", notification.id, error, delay)
    return _retry(delay, "transient failure")


def handle_record(record: dict, *, svc=None, settings: DeliveryTuning | None = None) -> Outcome:
    notification_id = notification_id_of(record.get("body") or "")
    if notification_id is None:
        return Outcome(False, "unreadable message body", poison=True)
    knobs = settings or tuning()
    receives = receive_count(record)
    try:
        return deliver(notification_id, receives, svc=svc, settings=knobs)
    except Exception:  # the store is unreachable, or a bug: the queue tries again later
        logger.exception("notification %s could not be processed", notification_id)
        return _retry(backoff_delay(receives, knobs.backoff_base, knobs.backoff_max), "error")


_executors: dict[int, ThreadPoolExecutor] = {}
_executors_lock = threading.Lock()


def _executor(size: int) -> ThreadPoolExecutor:
    with _executors_lock:
        if size not in _executors:
            _executors[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="notify")
        return _executors[size]


def process_records(records: list[dict], *, svc=None, settings: DeliveryTuning | None = None) -> list[Outcome]:
    """Handles a batch concurrently; returns one Outcome per record (same order)."""
    svc = svc or _services()
    knobs = settings or tuning()
    if not records:
        return []
    svc.notifications.warm_up()
    if knobs.concurrency <= 1 or len(records) == 1:
        return [handle_record(record, svc=svc, settings=knobs) for record in records]
    pool = _executor(knobs.concurrency)
    futures = [pool.submit(handle_record, record, svc=svc, settings=knobs) for record in records]
    return [future.result() for future in futures]


def process_sqs_records(records: list[dict], *, svc=None, settings: DeliveryTuning | None = None) -> list[str]:
    """Handles a batch of SQS records (Lambda event shape); returns the messageIds that failed.

    Succeeded messages are for the caller to delete (Lambda does it for the ones not reported). For
    failed ones the backoff is already applied to their visibility timeout; poison ones are already
    on the dead-letter queue and count as succeeded.
    """
    svc = svc or _services()
    outcomes = process_records(records, svc=svc, settings=settings)
    poison = [record for record, outcome in zip(records, outcomes, strict=True) if outcome.poison]
    poison_parked = False
    if poison:
        try:
            svc.queue.dead_letter([record.get("body") or "" for record in poison])
            poison_parked = True
            for record, outcome in zip(records, outcomes, strict=True):
                if outcome.poison:
                    logger.error("poison message %s (%s) moved to the dead-letter queue: %.200r",
                                 record.get("messageId"), outcome.note, record.get("body"))
        except Exception:
            logger.exception("could not dead-letter %s poison messages; SQS will", len(poison))
    failed: list[str] = []
    delays: dict[str, int] = {}
    for record, outcome in zip(records, outcomes, strict=True):
        if outcome.done or (outcome.poison and poison_parked):
            continue
        if record.get("messageId") not in failed:
            failed.append(record.get("messageId"))
        if outcome.delay is not None and record.get("receiptHandle"):
            delays[record["receiptHandle"]] = outcome.delay
    if delays:
        try:
            svc.queue.change_visibility(delays)
        except Exception:  # the queue's own visibility timeout (60 s) applies instead
            logger.exception("could not set the retry delay of %s messages", len(delays))
    return failed


def sweep_pending(*, svc=None, settings: DeliveryTuning | None = None, limit: int = SWEEP_LIMIT) -> int:
    """Re-enqueues PENDING records nobody touched for `sweep_age` seconds (their message was never sent,
    or got lost); returns how many. Safe to run concurrently with delivery: duplicates send nothing twice."""
    svc = svc or _services()
    knobs = settings or tuning()
    repo = svc.notifications
    cutoff = _iso(_now() - timedelta(seconds=knobs.sweep_age))
    ids = [n.id for n in repo.stale_pending(cutoff, limit) if repo.touch(n.id, n.updated_at, _iso(_now()))]
    if ids:
        svc.queue.send(ids)
        logger.warning("sweeper re-enqueued %s notifications: %s", len(ids), ", ".join(ids[:10]))
    return len(ids)


def public_view(notification: Notification) -> dict:
    return {name: getattr(notification, name) for name in PUBLIC_FIELDS}


def list_notifications(order_id: str | None, limit: int, cursor: str | None, *, svc=None) -> dict:
    svc = svc or _services()
    items, next_cursor = svc.notifications.list(order_id, limit, cursor)
    return {"items": [public_view(n) for n in items], "next_cursor": next_cursor}


def redrive_dead_letters(*, svc=None, limit: int = 100_000) -> dict[str, int]:
    """Moves dead-lettered notification messages back to the queue, their FAILED records back to PENDING.

    Messages whose body or record is unknown (poison) stay on the dead-letter queue for a human.
    """
    svc = svc or _services()
    repo, queue = svc.notifications, svc.queue
    counts = {"moved": 0, "reset": 0, "kept": 0}
    while counts["moved"] + counts["kept"] < limit:
        messages = queue.receive_dead_letters(hide_seconds=300)  # kept ones stay hidden for this run
        if not messages:
            break
        movable = []
        for message in messages:
            notification_id = notification_id_of(message.get("Body") or "")
            notification = repo.get(notification_id) if notification_id else None
            if notification is None:
                counts["kept"] += 1
                continue
            if repo.reset_failed(notification_id, _iso(_now())):
                counts["reset"] += 1
            movable.append(message)
        queue.move_back(movable)
        counts["moved"] += len(movable)
    return counts
