"""The orders port (DynamoOrderRepository / InMemoryOrderRepository): one contract, two implementations."""

from __future__ import annotations

import pytest

from chalicelib.bootstrap import services
from chalicelib.domain.errors import NotFound
from chalicelib.domain.notifications import NotificationDraft
from chalicelib.domain.orders import (
    CANCELED,
    COMPLETED,
    PENDING,
    HistoryEntry,
    InsufficientStock,
    InvalidTransition,
    OrderExists,
    OrderLine,
    PendingLimitReached,
    PendingLimits,
    UnknownProducts,
    new_order,
)
from tests.contracts.conftest import NOW, customer, same_error, uid

LIMITS = PendingLimits(max_orders=2, max_units=10)


class FakeOrders:
    """The orders fake on the products table it shares with the catalog fake: a product is deleted through
    the catalog, as staff would."""

    def __init__(self, settings):
        from tests.fakes.catalog import InMemoryCatalogRepository
        from tests.fakes.customers import InMemoryCustomerRepository
        from tests.fakes.notifications import InMemoryNotificationRepository
        from tests.fakes.orders import InMemoryOrderRepository
        from tests.fakes.products import InMemoryProducts

        self.products = InMemoryProducts()
        self.catalog = InMemoryCatalogRepository(products=self.products)
        self.customers = InMemoryCustomerRepository()
        self.notifications = InMemoryNotificationRepository()
        self.repo = InMemoryOrderRepository(settings, customers=self.customers,
                                            notification_records=self.notifications, products=self.products)

    def product(self, stock: int, price_cents: int = 1000, reserved: int = 0) -> str:
        product_id = uid("p")
        self.products.add(product_id, f"Product {product_id}", price_cents, stock=stock, reserved=reserved)
        return product_id

    def set_stock(self, product_id: str, stock: int) -> None:
        from chalicelib.domain.stock import Counters

        self.products.set_counters(product_id, Counters(stock, self.products.counters(product_id).reserved))

    def delete_product(self, product_id: str) -> None:
        from chalicelib.domain.catalog import AggregateDelta, DeleteProduct

        self.catalog.write([DeleteProduct(self.catalog.get_product(product_id))], AggregateDelta())

    def product_state(self, product_id: str) -> dict[str, int]:
        p = self.catalog.get_product(product_id)
        return {"stock": p.stock, "reserved": p.reserved, "available": p.available}

    def pending_of(self, customer_id: str) -> tuple[int, int]:
        return self.repo.pending_of(customer_id)


class DynamoOrders:
    def __init__(self, settings):
        from chalicelib.adapters.dynamodb.customer_repository import DynamoCustomerRepository
        from chalicelib.adapters.dynamodb.notification_repository import DynamoNotificationRepository
        from chalicelib.adapters.dynamodb.order_repository import DynamoOrderRepository
        from tests.support.orders import Seeder

        self.customers = DynamoCustomerRepository(settings)
        self.notifications = DynamoNotificationRepository(settings)
        self.repo = DynamoOrderRepository(settings)
        self.seeder = Seeder.for_settings(settings)

    def product(self, stock: int, price_cents: int = 1000, reserved: int = 0) -> str:
        return self.seeder.product(stock, price_cents, reserved=reserved)

    def set_stock(self, product_id: str, stock: int) -> None:
        self.seeder.db.update_item(
            TableName=self.seeder.table("products"), Key={"id": {"S": product_id}},
            UpdateExpression="SET stock = :s, available = :s - reserved",
            ExpressionAttributeValues={":s": {"N": str(stock)}},
        )

    def delete_product(self, product_id: str) -> None:
        self.seeder.db.delete_item(TableName=self.seeder.table("products"), Key={"id": {"S": product_id}})

    def product_state(self, product_id: str) -> dict[str, int]:
        return self.seeder.product_state(product_id)

    def pending_of(self, customer_id: str) -> tuple[int, int]:
        return self.seeder.pending_of(customer_id)


@pytest.fixture
def store(impl, settings):
    store = FakeOrders(settings) if impl == "fake" else DynamoOrders(settings)
    store.buyers = []
    yield store
    # No PENDING order is left behind: the session's emulator is shared, and a hold expiry run by a later
    # test (tests/integration/test_orders_limits.py) must find only its own.
    for customer_id in store.buyers:
        for order in store.repo.list(customer_id=customer_id, status=PENDING, limit=100, cursor=None)[0]:
            store.repo.transition(order, CANCELED, entry(CANCELED), [])


def buyer(store) -> str:
    record = customer()
    assert store.customers.create(record)
    store.buyers.append(record.id)
    return record.id


def order_of(customer_id: str, *lines: tuple[str, int], created_at: str = NOW, order_id: str | None = None):
    return new_order(
        order_id=order_id or uid("o"), number=1, customer_id=customer_id,
        lines=[OrderLine(pid, f"Product {pid}", qty, 1000) for pid, qty in lines], now=created_at,
        customer_email=f"{customer_id}@ekiosk.test", customer_phone="+254700000001", request_hash="h",
    )


def drafts(order) -> list[NotificationDraft]:
    return [NotificationDraft(order.id, "order_placed", "SMS", "+254700000001", f"order {order.id}")]


def entry(target: str) -> HistoryEntry:
    return HistoryEntry(target, "2026-01-01T00:00:01.000000Z", "staff-1")


# ---- placing


def test_create_reserves_counts_and_reads_back(store):
    cid, pid = buyer(store), store.product(stock=5)
    order = order_of(cid, (pid, 2))
    store.repo.create(order, drafts(order), LIMITS)

    assert store.product_state(pid) == {"stock": 5, "reserved": 2, "available": 3}
    assert store.pending_of(cid) == (1, 2)
    assert store.repo.get(order.id) == order
    seen = store.repo.load_for_placement(cid, [pid, "p-nope"], order.id)
    assert seen.customer == store.customers.get(cid)
    assert list(seen.products) == [pid] and seen.products[pid].available == 3
    assert seen.existing == order and (seen.pending_orders, seen.pending_units) == (1, 2)
    assert store.repo.load_for_placement(cid, [pid], None).existing is None


def test_replayed_create_is_order_exists_and_reserves_nothing(store):
    cid, pid = buyer(store), store.product(stock=5)
    order = order_of(cid, (pid, 2))
    store.repo.create(order, drafts(order), LIMITS)
    with pytest.raises(OrderExists):
        store.repo.create(order, drafts(order), LIMITS)
    assert store.product_state(pid)["reserved"] == 2
    assert store.pending_of(cid) == (1, 2)


def test_insufficient_stock_names_only_the_short_items_and_writes_nothing(store):
    cid, plenty, scarce = buyer(store), store.product(stock=5), store.product(stock=1)
    order = order_of(cid, (plenty, 2), (scarce, 3))
    with pytest.raises(InsufficientStock) as raised:
        store.repo.create(order, drafts(order), LIMITS)
    same_error(raised, InsufficientStock, "insufficient_stock",
               [{"product_id": scarce, "requested": 3, "available": 1}])
    assert store.product_state(plenty)["reserved"] == 0
    assert store.repo.get(order.id) is None and store.pending_of(cid) == (0, 0)


def test_unknown_product_names_its_line(store):
    cid, pid = buyer(store), store.product(stock=5)
    gone = uid("p")
    order = order_of(cid, (pid, 1), (gone, 1))
    with pytest.raises(UnknownProducts) as raised:
        store.repo.create(order, drafts(order), LIMITS)
    same_error(raised, UnknownProducts, "unknown_product", {"items.1.product_id": ["no such product"]})
    assert store.product_state(pid)["reserved"] == 0


def test_unknown_customer_is_customer_not_found(store):
    pid = store.product(stock=5)
    order = order_of(uid("cu"), (pid, 1))
    with pytest.raises(NotFound) as raised:
        store.repo.create(order, drafts(order), LIMITS)
    same_error(raised, NotFound, "customer_not_found")
    assert store.product_state(pid)["reserved"] == 0


def test_pending_limits_count_orders_and_units(store):
    cid, pid = buyer(store), store.product(stock=50)
    first = order_of(cid, (pid, 8))
    store.repo.create(first, drafts(first), LIMITS)
    too_many_units = order_of(cid, (pid, 3))
    with pytest.raises(PendingLimitReached) as raised:
        store.repo.create(too_many_units, drafts(too_many_units), LIMITS)
    same_error(raised, PendingLimitReached, "pending_limit",
               {"pending_orders": 1, "pending_units": 8, "max_pending_orders": 2, "max_pending_units": 10})
    second = order_of(cid, (pid, 1))
    store.repo.create(second, drafts(second), LIMITS)
    third = order_of(cid, (pid, 1))
    with pytest.raises(PendingLimitReached) as raised:
        store.repo.create(third, drafts(third), LIMITS)
    assert raised.value.details["pending_orders"] == 2
    assert store.product_state(pid)["reserved"] == 9 and store.pending_of(cid) == (2, 9)


def test_placing_and_leaving_pending_record_the_notifications(store):
    from chalicelib.domain.notifications import Notification

    cid, pid = buyer(store), store.product(stock=5)
    order = order_of(cid, (pid, 1))
    placed = drafts(order)
    store.repo.create(order, placed, LIMITS)
    assert store.notifications.get(placed[0].id) == Notification.from_draft(placed[0], order.created_at)
    approved = [NotificationDraft(order.id, "order_approved", "SMS", "+254700000001", "approved")]
    store.repo.transition(order, COMPLETED, entry(COMPLETED), approved)
    assert store.notifications.get(approved[0].id) == Notification.from_draft(approved[0], entry(COMPLETED).at)


# ---- leaving PENDING


@pytest.mark.parametrize("target", [COMPLETED, CANCELED])
def test_transition_happens_exactly_once(store, target):
    cid, pid = buyer(store), store.product(stock=5)
    order = order_of(cid, (pid, 2))
    store.repo.create(order, drafts(order), LIMITS)

    updated = store.repo.transition(order, target, entry(target), [])
    assert updated.status == target and [h.status for h in updated.history] == [PENDING, target]
    assert store.repo.get(order.id) == updated
    expected = {"stock": 3, "reserved": 0, "available": 3} if target == COMPLETED else \
        {"stock": 5, "reserved": 0, "available": 5}
    assert store.product_state(pid) == expected
    assert store.pending_of(cid) == (0, 0)

    for again in (COMPLETED, CANCELED):
        with pytest.raises(InvalidTransition) as raised:
            store.repo.transition(order, again, entry(again), [])
        same_error(raised, InvalidTransition, "invalid_transition", {"from": target, "to": again})
    assert store.product_state(pid) == expected and store.pending_of(cid) == (0, 0)


def test_transition_of_an_unknown_order_is_not_found(store):
    cid, pid = buyer(store), store.product(stock=5)
    with pytest.raises(NotFound) as raised:
        store.repo.transition(order_of(cid, (pid, 1)), COMPLETED, entry(COMPLETED), [])
    same_error(raised, NotFound, "not_found")


def test_approving_when_a_product_was_deleted_is_insufficient_stock(store):
    """The drift issue 14 names: the fake raised KeyError, DynamoDB answers 409 insufficient_stock."""
    cid, kept, deleted = buyer(store), store.product(stock=5), store.product(stock=5)
    order = order_of(cid, (kept, 1), (deleted, 2))
    store.repo.create(order, drafts(order), LIMITS)
    store.delete_product(deleted)

    with pytest.raises(InsufficientStock) as raised:
        store.repo.transition(order, COMPLETED, entry(COMPLETED), [])
    same_error(raised, InsufficientStock, "insufficient_stock",
               [{"product_id": deleted, "requested": 2, "available": 0}])
    assert raised.value.status == 409
    assert store.repo.get(order.id).status == PENDING
    assert store.product_state(kept)["reserved"] == 1


def test_canceling_when_a_product_was_deleted_releases_the_rest(store):
    cid, kept, deleted = buyer(store), store.product(stock=5), store.product(stock=5)
    order = order_of(cid, (kept, 1), (deleted, 2))
    store.repo.create(order, drafts(order), LIMITS)
    store.delete_product(deleted)

    assert store.repo.transition(order, CANCELED, entry(CANCELED), []).status == CANCELED
    assert store.product_state(kept) == {"stock": 5, "reserved": 0, "available": 5}
    assert store.pending_of(cid) == (0, 0)


def test_approving_with_too_little_stock_left_is_insufficient_stock(store):
    cid, pid = buyer(store), store.product(stock=5)
    order = order_of(cid, (pid, 4))
    store.repo.create(order, drafts(order), LIMITS)
    store.set_stock(pid, 3)  # staff lowered the stock below what the order holds

    with pytest.raises(InsufficientStock) as raised:
        store.repo.transition(order, COMPLETED, entry(COMPLETED), [])
    same_error(raised, InsufficientStock, "insufficient_stock",
               [{"product_id": pid, "requested": 4, "available": 3}])
    assert store.repo.get(order.id).status == PENDING and store.pending_of(cid) == (1, 4)


def test_an_order_placed_before_the_counters_leaves_them_alone(store):
    cid, pid = buyer(store), store.product(stock=5)
    counted = order_of(cid, (pid, 1))
    store.repo.create(counted, drafts(counted), LIMITS)
    uncounted = order_of(cid, (pid, 3))
    store.repo.create(uncounted, drafts(uncounted), LIMITS)
    store.repo.transition(counted, CANCELED, entry(CANCELED), [])
    # (1, 3) now: the 3-unit order holds them; a second release of 1 unit would leave (0, 2)
    assert store.pending_of(cid) == (1, 3)
    store.repo.transition(uncounted, COMPLETED, entry(COMPLETED), [])
    assert store.pending_of(cid) == (0, 0)


# ---- reads


def test_expired_lists_pending_orders_created_before_the_cutoff_oldest_first(store):
    cid, pid = buyer(store), store.product(stock=20)
    base = "1999-12-31T23:59:59.0000{:02d}Z"  # older than every other order of the session
    old = [order_of(cid, (pid, 1), created_at=base.format(i)) for i in (3, 1, 2, 4)]
    for order in old:
        store.repo.create(order, drafts(order), PendingLimits(10, 100))
    store.repo.transition(old[3], COMPLETED, entry(COMPLETED), [])
    young = order_of(cid, (pid, 1), created_at="2000-01-01T00:00:00.000010Z")
    store.repo.create(young, drafts(young), PendingLimits(10, 100))

    found, after = [], None
    while True:
        chunk, after = store.repo.expired("2000-01-01T00:00:00.000000Z", limit=2, after=after)
        assert len(chunk) <= 2
        found += chunk
        if not after:
            break
    assert [o.id for o in found] == [old[1].id, old[2].id, old[0].id]


def test_list_is_newest_first_per_customer_and_status(store):
    cid, other, pid = buyer(store), buyer(store), store.product(stock=20)
    mine = [order_of(cid, (pid, 1), created_at=f"2026-02-01T00:00:0{i}.000000Z") for i in range(3)]
    for order in [*mine, order_of(other, (pid, 1))]:
        store.repo.create(order, drafts(order), PendingLimits(10, 100))
    store.repo.transition(mine[1], COMPLETED, entry(COMPLETED), [])

    def everything(status):
        found, cursor = [], None
        while True:
            chunk, cursor = store.repo.list(customer_id=cid, status=status, limit=2, cursor=cursor)
            found += chunk
            if not cursor:
                return [o.id for o in found]

    assert everything(None) == [mine[2].id, mine[1].id, mine[0].id]
    assert everything(PENDING) == [mine[2].id, mine[0].id]
    assert everything(COMPLETED) == [mine[1].id]


def test_numbers_are_unique_and_increasing(store):
    numbers = [store.repo.next_number() for _ in range(3)]
    assert numbers == sorted(set(numbers)) and len(numbers) == 3


# ---- through the use cases (idempotency lives there, on top of the port's conditional put)


@pytest.fixture
def use_cases(impl, store, settings):
    """The order use cases wired to this implementation (DynamoDB: the emulator's services())."""
    if impl == "dynamodb":
        yield store
        return
    from chalicelib.bootstrap import Services, use_services
    from tests.fakes.queue import InMemoryNotificationQueue

    previous = use_services(Services(settings, customers=store.customers, orders=store.repo,
                                     queue=InMemoryNotificationQueue()))
    try:
        yield store
    finally:
        use_services(previous)


def caller_of(store):
    from chalicelib.api.caller import Caller
    from chalicelib.auth.tokens import Identity

    record = customer()
    store.customers.create(record)
    store.buyers.append(record.id)
    return Caller(Identity(sub=record.id, email=record.email, name=None, email_verified=True))


def test_idempotent_replay_and_mismatch(use_cases):
    from chalicelib.domain.orders import IdempotencyMismatch
    from chalicelib.services import orders

    store = use_cases
    buyer_, pid = caller_of(store), store.product(stock=5)
    key = uid("key")
    placed, replayed = orders.place_order(services(), buyer_, [(pid, 2)], key)
    assert not replayed
    again, replayed = orders.place_order(services(), buyer_, [(pid, 2)], key)
    assert replayed and again == placed
    assert store.product_state(pid)["reserved"] == 2
    with pytest.raises(IdempotencyMismatch) as raised:
        orders.place_order(services(), buyer_, [(pid, 3)], key)
    same_error(raised, IdempotencyMismatch, "idempotency_mismatch")
    assert store.pending_of(buyer_.id) == (1, 2)


def test_approving_through_the_use_case_when_a_product_was_deleted_is_409(use_cases):
    from chalicelib.services import orders

    store = use_cases
    buyer_, pid = caller_of(store), store.product(stock=5)
    placed, _ = orders.place_order(services(), buyer_, [(pid, 1)])
    store.delete_product(pid)
    with pytest.raises(InsufficientStock) as raised:
        orders.change_status(services(), caller_of(store), placed, COMPLETED)
    assert (raised.value.status, raised.value.code) == (409, "insufficient_stock")
    assert orders.change_status(services(), caller_of(store), placed, CANCELED).status == CANCELED
