"""The notifications table: one record per (order, event, channel)."""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.adapters.dynamodb.base import table


class NotificationsByOrder(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-order"
        projection = AllProjection()

    order_id = UnicodeAttribute(hash_key=True)
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
    order_id = UnicodeAttribute()
    event = UnicodeAttribute()
    channel = UnicodeAttribute()  # SMS | EMAIL
    recipient = UnicodeAttribute()
    message = UnicodeAttribute()
    status = UnicodeAttribute(default="PENDING")  # PENDING | SENT | FAILED
    pending = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    provider = UnicodeAttribute(null=True)
    provider_message_id = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    sent_at = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute()

    by_order = NotificationsByOrder()
    pending_index = PendingNotifications()
