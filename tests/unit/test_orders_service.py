"""Order use cases on in-memory fakes (no network): the flow, its errors and the notifications."""

from __future__ import annotations

import pytest

from chalicelib.api.caller import Caller
from chalicelib.auth.tokens import Identity
from chalicelib.bootstrap import Services, services, use_services
from chalicelib.config import load_settings
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import NotFound
from chalicelib.domain.orders import (
    CANCELED,
    COMPLETED,
    IdempotencyMismatch,
    InsufficientStock,
    InvalidTransition,
    ProfileIncomplete,
    UnknownProducts,
)
from chalicelib.services import orders
from tests.fakes.customers import InMemoryCustomerRepository
from tests.fakes.orders import InMemoryOrderRepository
from tests.fakes.queue import InMemoryNotificationQueue

STAFF = "boss@shop.test"


class BrokenQueue:
    def send(self, ids):
        raise RuntimeError("SQS is down")


@pytest.fixture
def world():
    settings = load_settings({"ADMIN_EMAILS": STAFF, "ADMIN_NOTIFICATION_EMAILS": "desk@shop.test"})
    customers = InMemoryCustomerRepository()
    repo = InMemoryOrderRepository(customers=customers)
    queue = InMemoryNotificationQueue()
    previous = use_services(Services(settings, customers=customers, orders=repo, queue=queue))
    yield repo, customers, queue
    use_services(previous)


def caller(customers, email, phone="+254711223344", role="customer"):
    sub = "sub-" + email
    if phone is not None:
        customers.create(Customer(sub, email, None, phone, role, "t", "t"))
    return Caller(Identity(sub=sub, email=email, name=None, email_verified=True))


def stock(repo, pid, amount, price=1000, discount=None):
    repo.table.add(pid, f"Product {pid}", price, discount, amount)


def test_place_snapshots_prices_reserves_and_enqueues_both_notifications(world):
    repo, customers, queue = world
    buyer = caller(customers, "ann@x.test")
    stock(repo, "p1", 5, price=2000, discount=1500)
    order, replayed = orders.place_order(services(), buyer, [("p1", 2)])
    assert not replayed and order.number == 1
    assert order.items[0].price_cents == 1500 and order.total_cents == 3000
    assert repo.products["p1"].reserved == 2
    assert sorted(queue.sent) == sorted(repo.notifications) == [f"{order.id}:order_placed:EMAIL",
                                                                f"{order.id}:order_placed:SMS"]
    email = repo.notifications[f"{order.id}:order_placed:EMAIL"]
    assert email.recipient == "desk@shop.test"
    assert email.message == "A new order (#1) placed for ann@x.test requires your attention."
    assert repo.notifications[f"{order.id}:order_placed:SMS"].message == (
        "Hello +254711223344 your order #1 has been placed successfully.")


def test_a_failed_enqueue_still_places_the_order(world):
    repo, customers, _ = world
    buyer = caller(customers, "bob@x.test")
    stock(repo, "p1", 1)
    from chalicelib.bootstrap import services

    services()._adapters["queue"] = BrokenQueue()
    order, _ = orders.place_order(services(), buyer, [("p1", 1)])
    assert repo.orders[order.id].status == "PENDING"
    assert len(repo.notifications) == 2  # recorded PENDING: the sweeper will send them


def test_new_subject_is_created_then_refused_for_missing_phone(world):
    repo, customers, _ = world
    stranger = caller(customers, "new@x.test", phone=None)
    stock(repo, "p1", 1)
    with pytest.raises(ProfileIncomplete) as caught:
        orders.place_order(services(), stranger, [("p1", 1)])
    assert caught.value.details == {"missing_fields": ["phone_number"]}
    assert customers.get(stranger.id).email == "new@x.test"
    assert repo.products["p1"].reserved == 0 and not repo.orders


def test_unknown_products_and_shortages(world):
    repo, customers, _ = world
    buyer = caller(customers, "cy@x.test")
    stock(repo, "p1", 2)
    stock(repo, "p2", 9)
    with pytest.raises(UnknownProducts) as unknown:
        orders.place_order(services(), buyer, [("p1", 1), ("ghost", 1)])
    assert unknown.value.details == {"items.1.product_id": ["no such product"]}
    with pytest.raises(InsufficientStock) as short:
        orders.place_order(services(), buyer, [("p1", 3), ("p2", 9)])
    assert short.value.details == [{"product_id": "p1", "requested": 3, "available": 2}]
    assert not repo.orders and repo.products["p1"].reserved == 0


def test_idempotent_replay_and_mismatch(world):
    repo, customers, queue = world
    buyer = caller(customers, "dee@x.test")
    stock(repo, "p1", 10)
    first, _ = orders.place_order(services(), buyer, [("p1", 2)], "abc")
    again, replayed = orders.place_order(services(), buyer, [("p1", 2)], "abc")
    assert replayed and again is not None and again.id == first.id
    assert repo.products["p1"].reserved == 2 and len(queue.sent) == 2  # nothing new enqueued
    with pytest.raises(IdempotencyMismatch) as caught:
        orders.place_order(services(), buyer, [("p1", 3)], "abc")
    assert (caught.value.status, caught.value.code) == (409, "idempotency_mismatch")


def test_transitions_and_their_notifications(world):
    repo, customers, queue = world
    buyer = caller(customers, "eve@x.test")
    boss = caller(customers, STAFF, role="admin")
    stock(repo, "p1", 3)
    order, _ = orders.place_order(services(), buyer, [("p1", 3)])
    done = orders.change_status(services(), boss, order, "Completed")
    assert (repo.products["p1"].stock, repo.products["p1"].reserved) == (0, 0)
    assert done.history[-1].by == boss.id and queue.sent[-1] == f"{order.id}:order_approved:SMS"
    assert repo.notifications[queue.sent[-1]].message == "Good news, +254711223344! Your order #1 has been approved."
    with pytest.raises(InvalidTransition):
        orders.change_status(services(), boss, done, CANCELED)
    with pytest.raises(InvalidTransition):  # stale copy: the repository re-checks
        orders.change_status(services(), boss, order, CANCELED)

    stock(repo, "p2", 4)
    second, _ = orders.place_order(services(), buyer, [("p2", 4)])
    cancelled = orders.change_status(services(), boss, second, "cancelled")
    assert cancelled.status == CANCELED and repo.products["p2"].reserved == 0
    assert repo.notifications[f"{second.id}:order_cancelled:SMS"].message == (
        "Sorry, +254711223344. Your order #2 has been cancelled.")


def test_visibility_and_listing(world):
    repo, customers, _ = world
    ann, bob = caller(customers, "ann@x.test"), caller(customers, "bob@x.test")
    boss = caller(customers, STAFF, role="admin")
    stock(repo, "p1", 10)
    mine, _ = orders.place_order(services(), ann, [("p1", 1)])
    orders.place_order(services(), bob, [("p1", 1)])
    assert orders.get_order(services(), ann, mine.id).id == mine.id
    assert orders.get_order(services(), boss, mine.id).id == mine.id
    with pytest.raises(NotFound):
        orders.get_order(services(), bob, mine.id)
    with pytest.raises(NotFound):
        orders.get_order(services(), ann, "nope")
    assert [o.id for o in orders.list_orders(services(), ann, None, 50, None)[0]] == [mine.id]
    assert len(orders.list_orders(services(), boss, None, 50, None)[0]) == 2
    assert orders.list_orders(services(), boss, "completed", 50, None)[0] == []
    orders.change_status(services(), boss, mine, COMPLETED)
    assert [o.id for o in orders.list_orders(services(), boss, "COMPLETED", 50, None)[0]] == [mine.id]
