"""Periodic jobs: run by `@app.schedule` functions on AWS and by the local worker on the same period.

Each job is a use case taking only the services (`job.run(svc)`), which its runner passes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.ports import Services
from chalicelib.services import notifications, orders, price_history


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Services], object]
    period: int  # seconds between runs on AWS (an EventBridge rate)
    # The local worker's period when it differs: EventBridge cannot run more often than once a minute, while a
    # local stack cancels an expired hold within 30 s of its expiry (SPEC §7).
    local_period: int | None = None


SWEEP_PENDING = Job("sweep_pending", notifications.sweep_pending, 60)
SNAPSHOT_PRICES = Job("snapshot_prices", price_history.snapshot_all, 3600)
EXPIRE_HOLDS = Job("expire_holds", orders.expire_holds, 60, local_period=10)

# Each job is safe to run concurrently with itself and the others.
PERIODIC_JOBS: tuple[Job, ...] = (SWEEP_PENDING, SNAPSHOT_PRICES, EXPIRE_HOLDS)
