"""Periodic jobs: run by `@app.schedule` functions on AWS and by the local worker on the same period.

Each job is a use case taking only the services (`job(svc)`), which its runner passes."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from chalicelib.ports import Services

EXPIRE_HOLDS_JOB = "chalicelib.services.orders:expire_holds"

# (period in seconds, "module:function"); each job is safe to run concurrently.
PERIODIC_JOBS: list[tuple[int, str]] = [
    (60, "chalicelib.services.notifications:sweep_pending"),
    (3600, "chalicelib.services.price_history:snapshot_all"),
    (60, EXPIRE_HOLDS_JOB),
]

# Periods the local worker (and the container's) uses instead: a local stack cancels an expired hold
# within 30 s of its expiry (SPEC §7); EventBridge schedules cannot run more often than once a minute.
LOCAL_PERIODS: dict[str, int] = {EXPIRE_HOLDS_JOB: 10}


def resolve(reference: str) -> Callable[[Services], object]:
    module, function = reference.split(":")
    return getattr(importlib.import_module(module), function)
