"""Notification records: PynamoDB behind a small interface; every state change is a conditional write.

The conditions are what make delivery exactly-once in practice: only a PENDING record whose lease is
free can start an attempt, and only a PENDING record can become SENT or FAILED, so a redelivered
SQS message (or a second worker) finds the record finished and sends nothing.

Every request goes through chalicelib/adapters/dynamodb/retry.py. On AWS a plain UpdateItem on a record
that an order transaction holds fails with TransactionConflictException: retried there, like throttling
and 5xx. Because a 500 may come after the write took effect, a repeat can fail its own condition (the
lease is taken, the status is no longer PENDING): each single-record write then re-reads the record and
reports success when what it finds is its own write (the lease stamp, the receipt, the error it set).
Transactions reuse one ClientRequestToken across retries.
"""

from __future__ import annotations

import functools

from pynamodb.exceptions import DoesNotExist, PutError, QueryError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb import retry
from chalicelib.adapters.dynamodb.notifications import (
    NOTIFICATION_KIND,
    NotificationRecord,
    pending_record,
    to_domain,
)
from chalicelib.adapters.dynamodb.pages import invalid_cursor, page
from chalicelib.domain.notifications import (
    BUSY,
    FAILED,
    FINISHED,
    MISSING,
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


def _conditional_failure(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def _lease_free(now: str):
    """Notification.may_start (the lease rule) as a DynamoDB condition."""
    R = NotificationRecord
    return (R.status == PENDING) & (R.lease_until.does_not_exist() | (R.lease_until < now))


def _started(record: NotificationRecord, now: str, lease_until: str) -> Notification:
    notification = to_domain(record)
    notification.attempts += 1
    notification.lease_until = lease_until
    notification.updated_at = now
    return notification


class DynamoNotificationRepository:
    """Single-record operations, plus batch forms for a whole SQS batch (one BatchGetItem and one
    TransactWriteItems instead of one request per message; any conflict falls back to the single forms)."""

    def __init__(self, settings=None):
        pass  # models are bound to the stage by bootstrap.services()

    def warm_up(self) -> None:
        """Creates the DynamoDB client on this thread before a batch fans out to worker threads."""
        NotificationRecord._get_connection().connection.client  # noqa: B018

    @staticmethod
    def _commit(what: str, build) -> None:
        """One transaction of `build(transaction)`'s items, retried by retry.py under one token."""
        token = retry.new_token()

        def commit():
            connection = NotificationRecord._get_connection().connection
            with TransactWrite(connection=connection, client_request_token=token) as transaction:
                build(transaction)

        retry.call(commit, what)

    def begin_attempts(self, ids: list[str], now: str, lease_until: str) -> dict[str, tuple[str, Notification | None]]:
        """`begin_attempt` for distinct ids: a consistent BatchGetItem, then one transaction taking every free lease."""
        if len(ids) == 1:
            return {ids[0]: self.begin_attempt(ids[0], now, lease_until)}
        R = NotificationRecord
        records = retry.model_batch_get(R, ids)  # whole records, as begin_attempt returns (same read units)
        found = {record.id: record for record in records}
        result: dict[str, tuple[str, Notification | None]] = {}
        candidates = []
        for nid in ids:
            record = found.get(nid)
            notification = to_domain(record) if record is not None else None
            if notification is None:
                result[nid] = (MISSING, None)
            elif not notification.may_start(now):
                result[nid] = (BUSY if notification.status == PENDING else FINISHED), notification
            else:
                candidates.append(record)
        if not candidates:
            return result

        def leases(transaction):
            for record in candidates:
                seen = int(record.attempts or 0)
                transaction.update(
                    R(id=record.id),
                    actions=[R.attempts.set(seen + 1), R.lease_until.set(lease_until), R.updated_at.set(now)],
                    condition=_lease_free(now) & (R.attempts == seen),
                )

        try:
            self._commit("notification leases", leases)
        except TransactWriteError as error:
            if error.cause_response_code not in ("TransactionCanceledException", "TransactionConflictException"):
                raise
            for record in candidates:  # someone else touched one of them: decide one by one
                result[record.id] = self.begin_attempt(record.id, now, lease_until)
            return result
        for record in candidates:
            result[record.id] = (STARTED, _started(record, now, lease_until))
        return result

    def mark_sent_many(self, receipts: dict[str, Receipt], now: str) -> set[str]:
        """`mark_sent` for several records in one transaction; returns the ids recorded SENT."""
        if len(receipts) == 1:
            [(nid, receipt)] = receipts.items()
            return {nid} if self.mark_sent(nid, receipt, now) else set()
        R = NotificationRecord

        def sent(transaction):
            for nid, receipt in receipts.items():
                transaction.update(R(id=nid), actions=self._sent_actions(receipt, now), condition=R.status == PENDING)

        try:
            self._commit("notifications sent", sent)
        except TransactWriteError as error:
            if error.cause_response_code not in ("TransactionCanceledException", "TransactionConflictException"):
                raise
            return {nid for nid, receipt in receipts.items() if self.mark_sent(nid, receipt, now)}
        return set(receipts)

    @staticmethod
    def _sent_actions(receipt: Receipt, now: str) -> list:
        R = NotificationRecord
        return [
            R.status.set(SENT), R.pending.remove(), R.lease_until.remove(), R.error.remove(),
            R.provider.set(receipt.provider), R.provider_message_id.set(receipt.message_id),
            R.sent_at.set(now), R.updated_at.set(now),
        ]

    def get(self, notification_id: str) -> Notification | None:
        try:
            return to_domain(retry.call(
                functools.partial(NotificationRecord.get, notification_id, consistent_read=True), "GetItem"))
        except DoesNotExist:
            return None

    def add(self, drafts: list[NotificationDraft], now: str) -> list[str]:
        """Stores PENDING records (outside an order transaction: tests, tools); returns the ids created."""
        created = []
        for draft in drafts:
            try:
                record = pending_record(draft, now)
                retry.call(functools.partial(record.save, condition=NotificationRecord.id.does_not_exist()), "PutItem")
                created.append(draft.id)
            except PutError as error:
                if not _conditional_failure(error):
                    raise
        return created

    def _write(self, notification_id: str, actions: list, condition, took_effect=None) -> bool:
        """A conditional update that returns nothing (cheaper than `_update`); False if the condition failed.

        `took_effect(record)`: whether a record found after a failed condition shows this very write
        (a repeat of it after a 500 that had taken effect) — then the answer is True."""
        connection = NotificationRecord._get_connection()
        try:
            retry.call(functools.partial(
                connection.update_item, notification_id, actions=actions, condition=condition, return_values="NONE",
            ), "UpdateItem notification")
        except UpdateError as error:
            if _conditional_failure(error):
                if took_effect is not None:
                    current = self.get(notification_id)
                    return current is not None and bool(took_effect(current))
                return False
            raise
        return True

    def _update(self, notification_id: str, actions: list, condition) -> Notification | None:
        record = NotificationRecord(id=notification_id)
        try:
            retry.call(functools.partial(record.update, actions=actions, condition=condition),
                       "UpdateItem notification")
        except UpdateError as error:
            if _conditional_failure(error):
                return None
            raise
        return to_domain(record)

    def begin_attempt(self, notification_id: str, now: str, lease_until: str) -> tuple[str, Notification | None]:
        """Counts an attempt and takes the lease, if the record is PENDING and no attempt is in flight."""
        R = NotificationRecord
        started = self._update(
            notification_id,
            [R.attempts.add(1), R.lease_until.set(lease_until), R.updated_at.set(now)],
            _lease_free(now),
        )
        if started is not None:
            return STARTED, started
        return attempt_not_started(self.get(notification_id), lease_until)

    def mark_sent(self, notification_id: str, receipt: Receipt, now: str) -> bool:
        R = NotificationRecord
        return self._write(notification_id, self._sent_actions(receipt, now), R.status == PENDING,
                           sent_by(receipt, now))

    def mark_failed(self, notification_id: str, error: str, now: str) -> bool:
        R = NotificationRecord
        return self._write(
            notification_id,
            [R.status.set(FAILED), R.pending.remove(), R.lease_until.remove(), R.error.set(error),
             R.updated_at.set(now)],
            R.status == PENDING,
            failed_by(error, now),
        )

    def release(self, notification_id: str, error: str, now: str) -> bool:
        """After a transient failure: frees the lease and keeps the error; the record stays PENDING."""
        R = NotificationRecord
        return self._write(
            notification_id, [R.lease_until.remove(), R.error.set(error), R.updated_at.set(now)], R.status == PENDING
        )

    def reset_failed(self, notification_id: str, now: str) -> bool:
        """FAILED -> PENDING, for a redriven message (attempts and the last error are kept)."""
        R = NotificationRecord
        return self._write(
            notification_id, [R.status.set(PENDING), R.pending.set(PENDING), R.updated_at.set(now)],
            R.status == FAILED,
            pending_since(now),
        )

    def touch(self, notification_id: str, seen_updated_at: str, now: str) -> bool:
        """Marks a PENDING record as just re-enqueued, unless it changed since the sweeper read it."""
        R = NotificationRecord
        return self._write(
            notification_id, [R.updated_at.set(now)], (R.status == PENDING) & (R.updated_at == seen_updated_at),
            pending_since(now),
        )

    def stale_pending(self, cutoff: str, limit: int = 500) -> list[Notification]:
        """PENDING records created and last touched before `cutoff` (oldest first)."""
        R = NotificationRecord

        def query():
            results = R.pending_index.query(
                PENDING, R.created_at < cutoff, filter_condition=R.updated_at < cutoff, limit=limit
            )
            return [to_domain(record) for record in results]

        return retry.call(query, "Query pending notifications")

    def list(self, order_id: str | None, limit: int, cursor: str | None) -> tuple[list[Notification], str | None]:
        """Newest first; all records, or one order's."""
        R = NotificationRecord
        if order_id is None:
            run = functools.partial(R.by_time.query, NOTIFICATION_KIND, scan_index_forward=False)
        else:
            run = functools.partial(R.by_order.query, order_id, scan_index_forward=False)
        try:
            records, next_cursor = page(run, limit, cursor)
        except QueryError as error:
            if cursor and getattr(error, "cause_response_code", None) == "ValidationException":
                raise invalid_cursor() from None
            raise
        return [to_domain(record) for record in records], next_cursor
