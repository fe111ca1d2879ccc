"""The periodic category price analysis: an hourly snapshot of every category's average price.

`snapshot_all` runs from `@bp.schedule` on AWS and from the local worker (chalicelib/services/jobs.py).
A snapshot belongs to its hour, so running twice in one hour (two workers, a retry) replaces the
hour's snapshot instead of adding one. Each snapshot is read from the category's own aggregates, so
the job costs one paged scan of the categories plus one batch write per 25 categories.
"""

from __future__ import annotations

import logging

from chalicelib.domain.catalog import PriceSnapshot
from chalicelib.domain.clock import utc_now
from chalicelib.ports import Services

logger = logging.getLogger("ekiosk.price_history")


def snapshot_all(svc: Services, now: str | None = None) -> int:
    """Snapshots every category; returns how many."""
    repo = svc.catalog
    taken_at = now or utc_now()
    batch: list[PriceSnapshot] = []
    count = 0
    for category in repo.all_categories():
        batch.append(PriceSnapshot.of(category, taken_at))
        if len(batch) >= 500:
            repo.save_snapshots(batch)
            count += len(batch)
            batch = []
    if batch:
        repo.save_snapshots(batch)
        count += len(batch)
    logger.info("price snapshots taken", extra={"categories": count, "taken_at": taken_at})
    return count


def history(svc: Services, category_id: str, limit: int, cursor: str | None):
    """A category's snapshots, newest first; 404 for an unknown category."""
    from chalicelib.services.catalog import get_category

    get_category(svc, category_id)
    return svc.catalog.list_snapshots(category_id, limit, cursor)
