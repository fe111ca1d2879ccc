"""The notifications table: one record per (order, event, channel).

The orders service writes PENDING records in the same transaction as the order change, e.g.
`TransactWrite.save(pending_record(draft, now), condition=NotificationRecord.id.does_not_exist())`.
`pending="PENDING"` puts a record in the sparse `pending` index the sweeper reads; it is removed
when the record becomes SENT or FAILED.
"""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.adapters.dynamodb.base import table
from chalicelib.domain.notifications import PENDING, Notification, NotificationDraft

NOTIFICATION_KIND = "NOTIFICATION"


class NotificationsByOrder(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-order"
        projection = AllProjection()

    order_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class NotificationsByTime(GlobalSecondaryIndex):
    """Every record, newest first, for staff (`GET /notifications` without a filter)."""

    class Meta:
        index_name = "by-time"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class PendingNotifications(GlobalSecondaryIndex):
    """Sparse: only PENDING records carry `pending`, so the sweeper reads just those."""

    class Meta:
        index_name = "pending"
        projection = AllProjection()

    pending = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


@table("notifications")
class NotificationRecord(Model):
    class Meta:
        billing_mode = "PAY_PER_REQUEST"

    id = UnicodeAttribute(hash_key=True)  # "{order_id}:{event}:{channel}"
    kind = UnicodeAttribute(default=NOTIFICATION_KIND)
    order_id = UnicodeAttribute()
    event = UnicodeAttribute()
    channel = UnicodeAttribute()  # SMS | EMAIL
    recipient = UnicodeAttribute()
    message = UnicodeAttribute()
    status = UnicodeAttribute(default=PENDING)  # PENDING | SENT | FAILED
    pending = UnicodeAttribute(null=True)  # "PENDING" while PENDING, else absent (sparse index)
    attempts = NumberAttribute(default=0)  # provider calls started
    lease_until = UnicodeAttribute(null=True)  # an attempt is in flight until then
    provider = UnicodeAttribute(null=True)  # africastalking | ses | local-sink
    provider_message_id = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    sent_at = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute()

    by_order = NotificationsByOrder()
    by_time = NotificationsByTime()
    pending_index = PendingNotifications()


def pending_record(draft: NotificationDraft, now: str) -> NotificationRecord:
    """A new PENDING record for `draft` (what the order transaction writes)."""
    return NotificationRecord(
        id=draft.id,
        kind=NOTIFICATION_KIND,
        order_id=draft.order_id,
        event=draft.event,
        channel=draft.channel,
        recipient=draft.recipient,
        message=draft.message,
        status=PENDING,
        pending=PENDING,
        attempts=0,
        created_at=now,
        updated_at=now,
    )


def to_domain(record: NotificationRecord) -> Notification:
    return Notification(
        id=record.id,
        order_id=record.order_id,
        event=record.event,
        channel=record.channel,
        recipient=record.recipient,
        message=record.message,
        status=record.status,
        attempts=int(record.attempts or 0),
        provider=record.provider,
        provider_message_id=record.provider_message_id,
        error=record.error,
        created_at=record.created_at,
        updated_at=record.updated_at,
        sent_at=record.sent_at,
        lease_until=record.lease_until,
    )
