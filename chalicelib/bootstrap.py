"""The one place that wires adapters to the core (the composition root).

`services()` gives the process-wide container, `Services` (implementing ports.Services): settings, the
delivery knobs and one adapter per port (chalicelib/ports.py), each built on first use by the factory below,
which imports its adapter module only when called (so a cold start pays only for what the request needs:
`import app` loads no PynamoDB or botocore). The entrypoints (api/ routes and event handlers, the runtime
worker and jobs) pass `services()` to the use cases, which never look it up themselves. Unit tests pass fakes
to `Services(settings, orders=..., ...)` and install the container with `use_services`.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from chalicelib.config import Settings, get_settings
from chalicelib.domain.notifications import DeliveryTuning
from chalicelib.ports import (
    CatalogStore,
    CustomerStore,
    EmailSender,
    NotificationQueue,
    NotificationStore,
    OrderStore,
    SmsSender,
)

T = TypeVar("T")


# ---- the real adapters: each factory imports its module when called ------------------------------


def build_customers(settings: Settings) -> CustomerStore:
    from chalicelib.adapters.dynamodb.customer_repository import DynamoCustomerRepository

    return DynamoCustomerRepository(settings)


def build_catalog(settings: Settings) -> CatalogStore:
    from chalicelib.adapters.dynamodb.catalog_repository import DynamoCatalogRepository

    return DynamoCatalogRepository(settings)


def build_orders(settings: Settings) -> OrderStore:
    from chalicelib.adapters.dynamodb.order_repository import DynamoOrderRepository

    return DynamoOrderRepository(settings)


def build_notifications(settings: Settings) -> NotificationStore:
    from chalicelib.adapters.dynamodb.notification_repository import DynamoNotificationRepository

    return DynamoNotificationRepository(settings)


def build_queue(settings: Settings) -> NotificationQueue:
    from chalicelib.adapters.queue import SqsNotificationQueue

    return SqsNotificationQueue(settings)


def build_email(settings: Settings) -> EmailSender:
    from chalicelib.adapters.email import SesEmailSender

    return SesEmailSender(settings)


def build_sms(settings: Settings) -> SmsSender:
    from chalicelib.adapters.sms import build_sms_sender

    return build_sms_sender(settings)


def delivery_tuning() -> DeliveryTuning:
    """The delivery knobs from the environment (tests shorten them) and the queue's own maxReceiveCount."""
    from chalicelib.resources import NOTIFICATIONS_QUEUE

    return dataclasses.replace(DeliveryTuning.from_env(os.environ),
                               max_receives=NOTIFICATIONS_QUEUE.max_receive_count)


class Services:
    """Settings plus one lazily built adapter per port; a fake passed as a keyword wins over the real one.

    `Services(settings, orders=InMemoryOrderRepository(), queue=InMemoryNotificationQueue())`: the keywords
    are the attribute names below (`delivery=DeliveryTuning(...)` fixes the delivery knobs)."""

    PORTS = ("customers", "catalog", "orders", "notifications", "queue", "email", "sms")

    def __init__(self, settings: Settings, *, delivery: DeliveryTuning | None = None, **adapters: object):
        self._delivery = delivery
        unknown = set(adapters) - set(self.PORTS)
        if unknown:
            raise TypeError(f"Services() got unknown adapters: {', '.join(sorted(unknown))}")
        self.settings = settings
        self._adapters: dict[str, object] = dict(adapters)
        self._lock = threading.Lock()

    def _get(self, name: str, build: Callable[[Settings], T]) -> T:
        if name not in self._adapters:
            with self._lock:
                if name not in self._adapters:
                    self._adapters[name] = build(self.settings)
        return self._adapters[name]  # type: ignore[return-value]  # a fake given for this port, or build()'s

    @property
    def delivery(self) -> DeliveryTuning:
        """Read from the environment at each call unless given: a batch reads it once."""
        return self._delivery or delivery_tuning()

    @property
    def customers(self) -> CustomerStore:
        return self._get("customers", build_customers)

    @property
    def catalog(self) -> CatalogStore:
        return self._get("catalog", build_catalog)

    @property
    def orders(self) -> OrderStore:
        return self._get("orders", build_orders)

    @property
    def notifications(self) -> NotificationStore:
        return self._get("notifications", build_notifications)

    @property
    def queue(self) -> NotificationQueue:
        return self._get("queue", build_queue)

    @property
    def email(self) -> EmailSender:
        return self._get("email", build_email)

    @property
    def sms(self) -> SmsSender:
        return self._get("sms", build_sms)


_current: Services | None = None
_current_lock = threading.Lock()


def services() -> Services:
    global _current
    if _current is None:
        with _current_lock:
            if _current is None:
                from chalicelib.adapters.dynamodb.tables import bind_models

                settings = get_settings()
                bind_models(settings)
                _current = Services(settings)
    return _current


def use_services(replacement: Services | None) -> Services | None:
    """Installs another container (tests); returns the previous one."""
    global _current
    previous, _current = _current, replacement
    return previous
