"""Periodic jobs: run by `@app.schedule` functions on AWS and by the local worker on the same period."""

from __future__ import annotations

import importlib
from collections.abc import Callable

# (period in seconds, "module:function"); each job takes no arguments and is safe to run concurrently.
PERIODIC_JOBS: list[tuple[int, str]] = [
    (60, "chalicelib.services.notifications:sweep_pending"),
    (3600, "chalicelib.services.price_history:snapshot_all"),
]


def resolve(reference: str) -> Callable[[], object]:
    module, function = reference.split(":")
    return getattr(importlib.import_module(module), function)
