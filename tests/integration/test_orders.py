"""Orders through the service layer against the real emulator: transactions, idempotency, listing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.api.caller import Caller
from chalicelib.api.response_models.orders import Order
from chalicelib.auth.tokens import Identity
from chalicelib.bootstrap import services
from chalicelib.domain.errors import InvalidInput, NotFound
from chalicelib.domain.orders import (
    CANCELED,
    COMPLETED,
    PENDING,
    IdempotencyMismatch,
    InsufficientStock,
    InvalidTransition,
    ProfileIncomplete,
    UnknownProducts,
)
from chalicelib.services import orders
from tests.support.orders import Seeder, next_phone, unique
from tests.support.responses import serialize
from tests.support.stack import STAFF_EMAIL


@pytest.fixture
def seed(emulator):
    return Seeder.for_settings(services().settings)


def caller_for(email: str) -> Caller:
    from chalicelib.auth.dev_issuer import subject_for

    return Caller(Identity(sub=subject_for(email), email=email, name=None, email_verified=True))


@pytest.fixture
def buyer(seed):
    email = f"{unique('buyer')}@ekiosk.test"
    seed.customer(email, next_phone())
    return caller_for(email)


@pytest.fixture
def staff_caller(seed):
    return caller_for(STAFF_EMAIL)


def test_place_reserves_snapshots_and_records_notifications(seed, buyer):
    a = seed.product(stock=5, price_cents=150_000, name="Laptop bag")
    b = seed.product(stock=9, price_cents=2_000, discount_price_cents=1_550, name="Mouse")
    order, replayed = orders.place_order(services(), buyer, [(a, 2), (b, 3)])
    assert not replayed
    body = serialize(Order, order)
    assert body["status"] == PENDING and body["customer_id"] == buyer.id
    assert body["items"] == [
        {"product_id": a, "name": "Laptop bag", "quantity": 2, "price_at_time_of_order": "1500.00",
         "line_total": "3000.00"},
        {"product_id": b, "name": "Mouse", "quantity": 3, "price_at_time_of_order": "15.50", "line_total": "46.50"},
    ]
    assert body["total_price"] == "3046.50"
    assert body["history"] == [{"status": PENDING, "at": order.created_at, "by": buyer.id}]
    assert seed.product_state(a) == {"stock": 5, "reserved": 2, "available": 3}
    assert seed.product_state(b) == {"stock": 9, "reserved": 3, "available": 6}
    stored = services().orders.get(order.id)
    assert serialize(Order, stored) == body
    records = {n["channel"]: n for n in seed.notifications_of(order.id)}
    assert set(records) == {"SMS", "EMAIL"}
    assert all(n["status"] == "PENDING" and n["pending"] == "PENDING" for n in records.values())
    assert records["SMS"]["message"] == (
        f"Hello {buyer.customer.phone_number} your order #{order.number} has been placed successfully."
    )
    assert records["EMAIL"]["recipient"] == STAFF_EMAIL
    assert f"(#{order.number})" in records["EMAIL"]["message"]


def test_insufficient_stock_names_only_short_items_and_writes_nothing(seed, buyer):
    plenty, scarce = seed.product(stock=10), seed.product(stock=2)
    with pytest.raises(InsufficientStock) as caught:
        orders.place_order(services(), buyer, [(plenty, 3), (scarce, 5)])
    assert caught.value.details == [{"product_id": scarce, "requested": 5, "available": 2}]
    assert seed.product_state(plenty) == {"stock": 10, "reserved": 0, "available": 10}
    assert seed.product_state(scarce) == {"stock": 2, "reserved": 0, "available": 2}
    mine, _ = orders.list_orders(services(), buyer, None, 50, None)
    assert mine == []


def test_transaction_reports_shortage_found_only_at_commit(seed, buyer):
    """The read said enough, a competitor took it before the transaction: still a clean 409."""
    product = seed.product(stock=3)
    repo = services().orders
    real_load = repo.load_for_placement

    def load_then_competitor_buys(*args, **kwargs):
        seen = real_load(*args, **kwargs)
        seed.db.update_item(
            TableName=seed.table("products"), Key={"id": {"S": product}},
            UpdateExpression="SET reserved = reserved + :q, available = available - :q",
            ExpressionAttributeValues={":q": {"N": "2"}},
        )
        return seen

    repo.load_for_placement = load_then_competitor_buys
    try:
        with pytest.raises(InsufficientStock) as caught:
            orders.place_order(services(), buyer, [(product, 2)])
    finally:
        del repo.load_for_placement
    assert caught.value.details == [{"product_id": product, "requested": 2, "available": 1}]
    assert seed.product_state(product) == {"stock": 3, "reserved": 2, "available": 1}


def test_unknown_product_is_400(seed, buyer):
    real = seed.product(stock=1)
    with pytest.raises(UnknownProducts) as caught:
        orders.place_order(services(), buyer, [(real, 1), ("no-such-product", 1)])
    assert caught.value.status == 400
    assert caught.value.details == {"items.1.product_id": ["no such product"]}
    assert seed.product_state(real)["reserved"] == 0


def test_customer_without_phone_gets_403_and_a_first_order_creates_the_record(seed):
    email = f"{unique('new')}@ekiosk.test"
    caller = caller_for(email)
    product = seed.product(stock=1)
    assert services().customers.get(caller.id) is None
    with pytest.raises(ProfileIncomplete) as caught:
        orders.place_order(services(), caller, [(product, 1)])
    assert caught.value.status == 403 and caught.value.code == "profile_incomplete"
    assert services().customers.get(caller.id).email == email
    assert seed.product_state(product)["reserved"] == 0


def test_idempotency_key_same_body_replays_different_body_conflicts(seed, buyer):
    a, b = seed.product(stock=10), seed.product(stock=10)
    first, replayed = orders.place_order(services(), buyer, [(a, 2), (b, 1)], "key-1")
    assert not replayed
    again, replayed = orders.place_order(services(), buyer, [(b, 1), (a, 2)], "key-1")  # same items, other order
    assert replayed and again == first
    assert seed.product_state(a)["reserved"] == 2
    with pytest.raises(IdempotencyMismatch):
        orders.place_order(services(), buyer, [(a, 3)], "key-1")
    assert seed.product_state(a)["reserved"] == 2
    other = caller_for(f"{unique('other')}@ekiosk.test")
    seed.customer(other.identity.email, next_phone(), customer_id=other.id)
    theirs, replayed = orders.place_order(services(), other, [(a, 2), (b, 1)], "key-1")  # keys are per customer
    assert not replayed and theirs.id != first.id
    assert seed.product_state(a)["reserved"] == 4


def test_replay_still_answers_after_the_stock_ran_out(seed, buyer):
    product = seed.product(stock=1)
    first, _ = orders.place_order(services(), buyer, [(product, 1)], "last-one")
    again, replayed = orders.place_order(services(), buyer, [(product, 1)], "last-one")
    assert replayed and again.id == first.id


def test_concurrent_requests_with_one_key_reserve_once(seed, buyer):
    product = seed.product(stock=100)
    start = threading.Barrier(8)

    def place(_):
        start.wait()
        return orders.place_order(services(), buyer, [(product, 3)], "race-key")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(place, range(8)))
    assert len({order.id for order, _ in results}) == 1
    assert sum(not replayed for _, replayed in results) == 1
    assert seed.product_state(product) == {"stock": 100, "reserved": 3, "available": 97}


def test_approve_deducts_stock_and_releases_the_reservation(seed, buyer, staff_caller):
    a, b = seed.product(stock=5), seed.product(stock=4)
    order, _ = orders.place_order(services(), buyer, [(a, 2), (b, 4)])
    done = orders.change_status(services(), staff_caller, services().orders.get(order.id), "completed")
    assert done.status == COMPLETED
    assert [h.status for h in done.history] == [PENDING, COMPLETED]
    assert done.history[-1].by == staff_caller.id
    assert seed.product_state(a) == {"stock": 3, "reserved": 0, "available": 3}
    assert seed.product_state(b) == {"stock": 0, "reserved": 0, "available": 0}
    assert services().orders.get(order.id) == done
    sms = [n for n in seed.notifications_of(order.id) if n["event"] == "order_approved"]
    assert [n["message"] for n in sms] == [
        f"Good news, {buyer.customer.phone_number}! Your order #{order.number} has been approved."
    ]
    for status in (COMPLETED, CANCELED, PENDING):
        with pytest.raises(InvalidTransition):
            orders.change_status(services(), staff_caller, done, status)
    with pytest.raises(InvalidTransition):  # a stale copy: the transaction's condition catches it
        orders.change_status(services(), staff_caller, order, CANCELED)
    assert seed.product_state(a) == {"stock": 3, "reserved": 0, "available": 3}


def test_cancel_releases_the_reservation(seed, buyer, staff_caller):
    product = seed.product(stock=5)
    order, _ = orders.place_order(services(), buyer, [(product, 5)])
    cancelled = orders.change_status(services(), staff_caller, order, "CANCELLED")
    assert cancelled.status == CANCELED
    assert seed.product_state(product) == {"stock": 5, "reserved": 0, "available": 5}
    events = sorted(n["event"] for n in seed.notifications_of(order.id))
    assert events == ["order_cancelled", "order_placed", "order_placed"]


def test_approve_when_stock_was_cut_below_the_reservation_is_409_and_changes_nothing(seed, buyer, staff_caller):
    product = seed.product(stock=5)
    order, _ = orders.place_order(services(), buyer, [(product, 4)])
    seed.db.update_item(  # staff corrected the stock count down to 3 meanwhile
        TableName=seed.table("products"), Key={"id": {"S": product}},
        UpdateExpression="SET stock = :s, available = :s - reserved", ExpressionAttributeValues={":s": {"N": "3"}},
    )
    with pytest.raises(InsufficientStock) as caught:
        orders.change_status(services(), staff_caller, order, COMPLETED)
    assert caught.value.details == [{"product_id": product, "requested": 4, "available": 3}]
    assert services().orders.get(order.id).status == PENDING
    assert seed.product_state(product) == {"stock": 3, "reserved": 4, "available": -1}
    orders.change_status(services(), staff_caller, order, CANCELED)
    assert seed.product_state(product) == {"stock": 3, "reserved": 0, "available": 3}


def test_cancel_still_works_when_a_product_was_deleted(seed, buyer, staff_caller):
    kept, deleted = seed.product(stock=5), seed.product(stock=5)
    order, _ = orders.place_order(services(), buyer, [(kept, 1), (deleted, 2)])
    seed.db.delete_item(TableName=seed.table("products"), Key={"id": {"S": deleted}})
    with pytest.raises(InsufficientStock):
        orders.change_status(services(), staff_caller, order, COMPLETED)
    cancelled = orders.change_status(services(), staff_caller, order, CANCELED)
    assert cancelled.status == CANCELED
    assert seed.product_state(kept) == {"stock": 5, "reserved": 0, "available": 5}
    assert cancelled.items[1].name.startswith("Product")  # the snapshot stays


def test_reading_and_listing(seed, buyer, staff_caller):
    product = seed.product(stock=50)
    placed = [orders.place_order(services(), buyer, [(product, 1)])[0] for _ in range(5)]
    orders.change_status(services(), staff_caller, placed[1], COMPLETED)
    stranger = caller_for(f"{unique('stranger')}@ekiosk.test")
    with pytest.raises(NotFound):
        orders.get_order(services(), stranger, placed[0].id)
    assert orders.get_order(services(), buyer, placed[0].id).id == placed[0].id
    assert orders.get_order(services(), staff_caller, placed[0].id).id == placed[0].id
    with pytest.raises(NotFound):
        orders.get_order(services(), buyer, "counter#order-number")

    seen, cursor = [], None
    while True:
        page, cursor = orders.list_orders(services(), buyer, None, 2, cursor)
        seen.extend(page)
        if cursor is None:
            break
    assert [o.id for o in seen] == [o.id for o in reversed(placed)]
    pending, _ = orders.list_orders(services(), buyer, "pending", 50, None)
    assert [o.id for o in pending] == [o.id for o in reversed(placed) if o.id != placed[1].id]
    everyone, _ = orders.list_orders(services(), staff_caller, None, 100, None)
    assert {o.id for o in placed} <= {o.id for o in everyone}
    assert [o.created_at for o in everyone] == sorted((o.created_at for o in everyone), reverse=True)
    completed, _ = orders.list_orders(services(), staff_caller, "COMPLETED", 100, None)
    assert placed[1].id in {o.id for o in completed} and all(o.status == COMPLETED for o in completed)
    with pytest.raises(InvalidInput):
        orders.list_orders(services(), buyer, "shipped", 50, None)
    with pytest.raises(InvalidInput):
        orders.list_orders(services(), buyer, None, 50, "bm90IGEgY3Vyc29y")
    with pytest.raises(NotFound):
        orders.get_order(services(), staff_caller, "x" * 5000)


def test_cursors_page_through_a_customers_orders(seed, buyer):
    """Which list a cursor belongs to is checked by its signature at the API (tests/unit/test_pagination.py)."""
    product = seed.product(stock=10)
    for _ in range(3):
        orders.place_order(services(), buyer, [(product, 1)])
    _, own = orders.list_orders(services(), buyer, None, 1, None)
    assert len(orders.list_orders(services(), buyer, None, 5, own)[0]) == 2
    assert len(orders.list_orders(services(), buyer, "PENDING", 5, own)[0]) == 2  # same index, filtered


def test_order_numbers_are_unique_across_processes(emulator):
    from chalicelib.adapters.dynamodb.order_repository import DynamoOrderRepository

    settings = services().settings
    repos = [DynamoOrderRepository(settings) for _ in range(3)]  # three "processes"

    def take(repo):
        return [repo.next_number() for _ in range(30)]

    with ThreadPoolExecutor(6) as pool:
        numbers = [n for chunk in pool.map(take, repos * 2) for n in chunk]
    assert len(numbers) == len(set(numbers)) == 180
    assert min(numbers) >= 1
