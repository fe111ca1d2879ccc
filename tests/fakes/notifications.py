"""The notifications port in memory: the same conditional state changes over a dict."""

from __future__ import annotations

import dataclasses
import threading

from chalicelib.adapters.dynamodb.pages import decode_cursor, encode_cursor, invalid_cursor
from chalicelib.domain.notifications import (
    FAILED,
    PENDING,
    SENT,
    STARTED,
    Notification,
    NotificationDraft,
    Receipt,
    attempt_not_started,
    failed_by,
    pending_since,
    sent_by,
)


class InMemoryNotificationRepository:
    """The same rules over a dict, for unit tests (thread-safe, as the batch fans out to threads)."""

    def __init__(self, settings=None):
        self.records: dict[str, Notification] = {}
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        pass

    def _copy(self, notification: Notification | None) -> Notification | None:
        return dataclasses.replace(notification) if notification else None

    def get(self, notification_id: str) -> Notification | None:
        with self._lock:
            return self._copy(self.records.get(notification_id))

    def add(self, drafts: list[NotificationDraft], now: str) -> list[str]:
        created = []
        with self._lock:
            for draft in drafts:
                if draft.id not in self.records:
                    self.records[draft.id] = Notification.from_draft(draft, now)
                    created.append(draft.id)
        return created

    def _change(self, notification_id: str, allowed, took_effect=None, **changes) -> Notification | None:
        with self._lock:
            record = self.records.get(notification_id)
            if record is None:
                return None
            if not allowed(record):
                return self._copy(record) if took_effect is not None and took_effect(record) else None
            for name, value in changes.items():
                setattr(record, name, value(record) if callable(value) else value)
            return self._copy(record)

    def begin_attempt(self, notification_id: str, now: str, lease_until: str) -> tuple[str, Notification | None]:
        started = self._change(
            notification_id,
            lambda r: r.may_start(now),
            attempts=lambda r: r.attempts + 1, lease_until=lease_until, updated_at=now,
        )
        if started is not None:
            return STARTED, started
        return attempt_not_started(self.get(notification_id), lease_until)

    def begin_attempts(self, ids: list[str], now: str, lease_until: str) -> dict[str, tuple[str, Notification | None]]:
        return {nid: self.begin_attempt(nid, now, lease_until) for nid in ids}

    def mark_sent_many(self, receipts: dict[str, Receipt], now: str) -> set[str]:
        return {nid for nid, receipt in receipts.items() if self.mark_sent(nid, receipt, now)}

    def mark_sent(self, notification_id: str, receipt: Receipt, now: str) -> bool:
        return self._change(
            notification_id, lambda r: r.status == PENDING, sent_by(receipt, now), status=SENT, lease_until=None,
            error=None,
            provider=receipt.provider, provider_message_id=receipt.message_id, sent_at=now, updated_at=now,
        ) is not None

    def mark_failed(self, notification_id: str, error: str, now: str) -> bool:
        return self._change(
            notification_id, lambda r: r.status == PENDING, failed_by(error, now), status=FAILED, lease_until=None,
            error=error,
            updated_at=now,
        ) is not None

    def release(self, notification_id: str, error: str, now: str) -> bool:
        return self._change(
            notification_id, lambda r: r.status == PENDING, lease_until=None, error=error, updated_at=now
        ) is not None

    def reset_failed(self, notification_id: str, now: str) -> bool:
        return self._change(notification_id, lambda r: r.status == FAILED, pending_since(now), status=PENDING,
                            updated_at=now) is not None

    def touch(self, notification_id: str, seen_updated_at: str, now: str) -> bool:
        return self._change(
            notification_id, lambda r: r.status == PENDING and r.updated_at == seen_updated_at, pending_since(now),
            updated_at=now,
        ) is not None

    def stale_pending(self, cutoff: str, limit: int = 500) -> list[Notification]:
        with self._lock:
            found = [r for r in self.records.values()
                     if r.status == PENDING and r.created_at < cutoff and r.updated_at < cutoff]
            return [self._copy(r) for r in sorted(found, key=lambda r: r.created_at)[:limit]]

    def list(self, order_id: str | None, limit: int, cursor: str | None) -> tuple[list[Notification], str | None]:
        key = decode_cursor(cursor)
        with self._lock:
            found = [r for r in self.records.values() if order_id is None or r.order_id == order_id]
        found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        if key:
            try:
                after = (key["created_at"]["S"], key["id"]["S"])
            except (KeyError, TypeError):
                raise invalid_cursor() from None
            found = [r for r in found if (r.created_at, r.id) < after]
        items = [self._copy(r) for r in found[:limit]]
        next_cursor = None
        if len(found) > limit:
            last = items[-1]
            next_cursor = encode_cursor({"created_at": {"S": last.created_at}, "id": {"S": last.id}})
        return items, next_cursor
