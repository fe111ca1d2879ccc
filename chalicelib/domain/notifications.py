"""Notifications (SPEC §8): which ones an order event produces, their life cycle and retry rules.

One notification per (order, event, channel). A record is PENDING until a provider accepted it
(SENT) or it cannot be delivered (FAILED). Plain Python: no AWS, no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chalicelib.domain import messages

ORDER_PLACED = "order_placed"
ORDER_APPROVED = "order_approved"
ORDER_CANCELLED = "order_cancelled"
EVENTS = (ORDER_PLACED, ORDER_APPROVED, ORDER_CANCELLED)
SMS = "SMS"
EMAIL = "EMAIL"
CHANNELS = (SMS, EMAIL)

PENDING = "PENDING"
SENT = "SENT"
FAILED = "FAILED"
STATUSES = (PENDING, SENT, FAILED)

MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class NotificationDraft:
    order_id: str
    event: str
    channel: str
    recipient: str
    message: str

    @property
    def id(self) -> str:
        # Deterministic, so the same (order, event, channel) can only ever be recorded once.
        return notification_id(self.order_id, self.event, self.channel)


@dataclass
class Notification:
    """A stored notification record (the API shows every field but `provider` and `updated_at`)."""

    id: str
    order_id: str
    event: str
    channel: str
    recipient: str
    message: str
    status: str = PENDING
    attempts: int = 0
    provider: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    created_at: str = ""
    updated_at: str = ""
    sent_at: str | None = None
    lease_until: str | None = None

    @classmethod
    def from_draft(cls, draft: NotificationDraft, now: str) -> Notification:
        return cls(draft.id, draft.order_id, draft.event, draft.channel, draft.recipient, draft.message,
                   created_at=now, updated_at=now)

    def may_start(self, now: str) -> bool:
        """The lease rule: an attempt may start when the record is PENDING and no other attempt's lease runs
        at `now` (ISO-8601 UTC strings compare as times)."""
        return self.status == PENDING and (not self.lease_until or self.lease_until < now)


@dataclass(frozen=True)
class Receipt:
    """What a provider answered when it accepted a message."""

    provider: str  # "africastalking" | "ses" | "local-sink"
    message_id: str


class DeliveryError(Exception):
    """A provider did not accept a message. `transient` ones are retried, permanent ones are not."""

    transient = True

    def __init__(self, message: str):
        super().__init__(message[:MAX_ERROR_LENGTH])


class TransientDeliveryError(DeliveryError):
    """5xx, timeouts, throttling, connection errors: worth another try later."""

    transient = True


class PermanentDeliveryError(DeliveryError):
    """Will never succeed as is (blacklisted or invalid number, unverified sender...)."""

    transient = False


def notification_id(order_id: str, event: str, channel: str) -> str:
    return f"{order_id}:{event}:{channel}"


def drafts_for(
    event: str,
    *,
    order_id: str,
    number: int,
    customer_email: str,
    customer_phone: str | None,
    staff_emails: tuple[str, ...],
) -> list[NotificationDraft]:
    drafts = []
    if event == ORDER_PLACED and staff_emails:
        drafts.append(
            NotificationDraft(order_id, event, EMAIL, ",".join(staff_emails),
                              messages.new_order_for_staff(number, customer_email))
        )
    sms_text = {
        ORDER_PLACED: messages.order_placed,
        ORDER_APPROVED: messages.order_approved,
        ORDER_CANCELLED: messages.order_cancelled,
    }[event]
    if customer_phone:
        drafts.append(NotificationDraft(order_id, event, SMS, customer_phone, sms_text(customer_phone, number)))
    return drafts


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = float(raw)
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return value


@dataclass(frozen=True)
class DeliveryTuning:
    """Retry and timing knobs. The defaults are production's; tests shorten them through the environment."""

    backoff_base: float = 5  # first retry delay (s); doubles per receive
    backoff_max: float = 60  # never more than this between attempts (SPEC §8)
    lease_seconds: float = 30  # an attempt in flight blocks other deliveries of the record this long
    sweep_age: float = 120  # PENDING records untouched this long are re-enqueued by the sweeper
    sweep_interval: float = 60  # how often the local worker runs the sweeper
    provider_timeout: float = 5  # read timeout of each provider call (s); connecting gets at most 3 s
    concurrency: int = 10  # provider calls in flight per batch
    # Receives after which SQS moves a message to the dead-letter queue: the queue's maxReceiveCount
    # (resources.NOTIFICATIONS_QUEUE, passed in by bootstrap.delivery_tuning); the last try marks it FAILED.
    max_receives: int = 9

    ENV = {
        "backoff_base": "NOTIFY_BACKOFF_BASE_SECONDS",
        "backoff_max": "NOTIFY_BACKOFF_MAX_SECONDS",
        "lease_seconds": "NOTIFY_LEASE_SECONDS",
        "sweep_age": "NOTIFY_SWEEP_AGE_SECONDS",
        "sweep_interval": "NOTIFY_SWEEP_INTERVAL_SECONDS",
        "provider_timeout": "NOTIFY_PROVIDER_TIMEOUT_SECONDS",
        "concurrency": "NOTIFY_CONCURRENCY",
    }

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DeliveryTuning:
        defaults = cls()
        values = {name: _number(environ, var, getattr(defaults, name)) for name, var in cls.ENV.items()}
        values["concurrency"] = max(1, int(values["concurrency"]))
        return cls(**values)

    @property
    def connect_timeout(self) -> float:
        return min(3.0, self.provider_timeout)

    @property
    def lease(self) -> float:
        """How long an attempt holds its record: never shorter than the longest provider call (one HTTP
        attempt: connect + read timeout), so no second attempt starts while the first may still succeed."""
        return max(self.lease_seconds, self.connect_timeout + self.provider_timeout + 1)


def backoff_delay(receive_count: int, base: float = 5, cap: float = 60) -> int:
    """Seconds to wait before the next try after the `receive_count`-th one failed: 5, 10, 20, 40, 60, 60…

    Whole seconds (SQS visibility timeouts are integers), rounded up, never above `cap`.
    """
    exponent = min(max(receive_count, 1) - 1, 16)
    return int(min(math.ceil(base * 2**exponent), cap))


# ---- the queue message: what the producer (API, sweeper) and the consumer (delivery) agree on ---------


def message_body(notification_id: str) -> str:
    return json.dumps({"notification_id": notification_id})


def notification_id_of(body: str) -> str | None:
    """The record a message names; None for a message that is not ours (a poison message)."""
    try:
        value = json.loads(body).get("notification_id")
    except (ValueError, AttributeError, TypeError):
        return None
    return value if isinstance(value, str) and value else None


# NotificationStore.begin_attempt(s) outcomes
STARTED = "started"  # this caller now holds the lease and must call the provider
FINISHED = "finished"  # SENT or FAILED already: nothing to do
BUSY = "busy"  # another attempt holds the lease
MISSING = "missing"  # no such record


# What a record shows once a store's write took effect: a repeat of that write (after a 500 that had taken
# effect) fails its condition, and the store reports success when the record shows this (every store uses these).
def sent_by(receipt: Receipt, now: str) -> Callable[[Notification], bool]:
    return lambda n: n.status == SENT and n.provider_message_id == receipt.message_id and n.sent_at == now


def failed_by(error: str, now: str) -> Callable[[Notification], bool]:
    return lambda n: n.status == FAILED and n.error == error and n.updated_at == now


def pending_since(now: str) -> Callable[[Notification], bool]:
    """reset_failed's and touch's own write: PENDING, last changed at `now`."""
    return lambda n: n.status == PENDING and n.updated_at == now


def attempt_not_started(current: Notification | None, lease_until: str) -> tuple[str, Notification | None]:
    """Why an attempt's conditional update changed nothing, from the record read after it."""
    if current is None:
        return MISSING, None
    if current.status == PENDING and current.lease_until == lease_until:
        return STARTED, current  # our own lease: a repeat of the update after a 500 that took effect
    return (BUSY if current.status == PENDING else FINISHED), current
