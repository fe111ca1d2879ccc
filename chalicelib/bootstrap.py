"""The one place that wires adapters to the core.

`services()` gives the process-wide container: settings plus adapters, each built on first use (so a
cold start pays only for what the request needs). Unit tests install fakes with `use_services`.
"""

from __future__ import annotations

import importlib
import threading

from chalicelib.config import Settings, get_settings

# adapter name -> "module:factory"; each factory takes the Settings.
ADAPTERS = {
    "customers": "chalicelib.adapters.dynamodb.customer_repository:DynamoCustomerRepository",
    "catalog": "chalicelib.adapters.dynamodb.catalog_repository:DynamoCatalogRepository",
    "orders": "chalicelib.adapters.dynamodb.order_repository:DynamoOrderRepository",
    "notifications": "chalicelib.adapters.dynamodb.notification_repository:DynamoNotificationRepository",
    "queue": "chalicelib.adapters.queue:SqsNotificationQueue",
    "email": "chalicelib.adapters.email:SesEmailSender",
    "sms": "chalicelib.adapters.sms:build_sms_sender",
}


class Services:
    def __init__(self, settings: Settings, **adapters):
        self.settings = settings
        self._adapters = dict(adapters)
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in ADAPTERS:
            raise AttributeError(name)
        with self._lock:
            if name not in self._adapters:
                module_name, factory = ADAPTERS[name].split(":")
                self._adapters[name] = getattr(importlib.import_module(module_name), factory)(self.settings)
        return self._adapters[name]


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
