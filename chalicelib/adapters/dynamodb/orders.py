"""The orders table (orders, plus the counter that hands out short order numbers)."""

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.adapters.dynamodb.base import table

ORDER_KIND = "ORDER"


class OrderItemMap(MapAttribute):
    product_id = UnicodeAttribute()
    name = UnicodeAttribute()
    quantity = NumberAttribute()
    price_cents = NumberAttribute()


class HistoryEntryMap(MapAttribute):
    status = UnicodeAttribute()
    at = UnicodeAttribute()
    by = UnicodeAttribute()


class OrdersByCustomer(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-customer"
        projection = AllProjection()

    customer_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class OrdersByStatus(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class OrdersByTime(GlobalSecondaryIndex):
    """Every order, newest first, for staff."""

    class Meta:
        index_name = "by-time"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class OrderCounterRecord(Model):
    """Shares the orders table; its id never collides with an order id (which has no '#').

    `value` is the highest order number handed out so far: each API process reserves a block of
    numbers with one `ADD value :block` (see order_numbers.NUMBER_BLOCK), so numbers are unique
    but may have gaps. The item has no `kind`, so no order index ever lists it.
    """

    class Meta:
        pass

    id = UnicodeAttribute(hash_key=True)
    value = NumberAttribute(default=0)


@table("orders")
class OrderRecord(Model):
    class Meta:
        billing_mode = "PAY_PER_REQUEST"
        companions = (OrderCounterRecord,)

    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=ORDER_KIND)
    number = NumberAttribute()
    customer_id = UnicodeAttribute()
    customer_email = UnicodeAttribute(null=True)
    customer_phone = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    items = ListAttribute(of=OrderItemMap)
    total_cents = NumberAttribute()
    history = ListAttribute(of=HistoryEntryMap)
    request_hash = UnicodeAttribute(null=True)  # for Idempotency-Key replays
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()

    by_customer = OrdersByCustomer()
    by_status = OrdersByStatus()
    by_time = OrdersByTime()
