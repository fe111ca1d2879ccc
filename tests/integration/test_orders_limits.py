"""Stock hoarding (SPEC §7) against the real emulator through the real adapters: the pending limits
are conditions of the placement transaction itself, and the hold expiry is one conditioned
transaction per order.

The module runs on a stage of its own (its own tables), so the expiry job only ever sees the
orders placed here, and the limits (3 orders, 20 units, a 20 s hold) apply to nothing else.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.api.caller import Caller
from chalicelib.auth.dev_issuer import subject_for
from chalicelib.auth.tokens import Identity
from chalicelib.bootstrap import Services, services, use_services
from chalicelib.domain.errors import DomainError
from chalicelib.domain.orders import (
    CANCELED,
    COMPLETED,
    PENDING,
    InsufficientStock,
    InvalidTransition,
    PendingLimitReached,
)
from chalicelib.services import orders
from tests.support.orders import Seeder, next_phone, unique
from tests.support.stack import STAFF_EMAIL

HOLD = 20


@pytest.fixture(scope="module")
def stage(emulator):
    from chalicelib.adapters.dynamodb.tables import bind_models
    from chalicelib.runtime.bootstrap import bootstrap

    original = services().settings
    settings = dataclasses.replace(
        original, stage=f"lim{uuid.uuid4().hex[:6]}", max_pending_orders=3, max_pending_units=20,
        order_hold_seconds=HOLD,
    )
    bootstrap(settings)
    bind_models(settings)
    previous = use_services(Services(settings))
    yield settings
    use_services(previous)
    bind_models(original)


@pytest.fixture
def seed(stage):
    return Seeder.for_settings(stage)


def caller_for(email: str) -> Caller:
    return Caller(Identity(sub=subject_for(email), email=email, name=None, email_verified=True))


@pytest.fixture
def buyer(seed):
    email = f"{unique('hoarder')}@ekiosk.test"
    seed.customer(email, next_phone())
    return caller_for(email)


@pytest.fixture
def staff_caller(seed):
    seed.customer(STAFF_EMAIL, next_phone(), role="admin")
    return caller_for(STAFF_EMAIL)


def counters(seed, customer_id: str) -> tuple[int, int]:
    item = seed.db.get_item(TableName=seed.table("customers"), Key={"id": {"S": customer_id}},
                            ConsistentRead=True)["Item"]
    return int(item.get("pending_orders", {"N": 0})["N"]), int(item.get("pending_units", {"N": 0})["N"])


def test_the_limits_are_conditions_of_the_transaction_itself(seed, buyer):
    """Even when the read before it saw room (a stale read), the transaction refuses: nothing is reserved
    and no notification record is written."""
    product, scarce = seed.product(stock=100), seed.product(stock=1)
    for _ in range(3):
        orders.place_order(services(), buyer, [(product, 2)])
    repo = services().orders
    real = repo.load_for_placement

    def stale(customer_id, product_ids, order_id):
        seen = real(customer_id, product_ids, order_id)
        seen.pending_orders, seen.pending_units = 0, 0
        if scarce in product_ids:  # and a competitor takes the last unit before the transaction
            seed.db.update_item(
                TableName=seed.table("products"), Key={"id": {"S": scarce}},
                UpdateExpression="SET reserved = reserved + :q, available = available - :q",
                ExpressionAttributeValues={":q": {"N": "1"}},
            )
        return seen

    repo.load_for_placement = stale
    try:
        with pytest.raises(PendingLimitReached) as caught:
            orders.place_order(services(), buyer, [(product, 1)])
        assert caught.value.details == {"pending_orders": 3, "pending_units": 6, "max_pending_orders": 3,
                                        "max_pending_units": 20}
        with pytest.raises(PendingLimitReached):  # a stock shortage at the same time: the limit is named
            orders.place_order(services(), buyer, [(scarce, 1)])
    finally:
        del repo.load_for_placement
    assert seed.product_state(product) == {"stock": 100, "reserved": 6, "available": 94}
    assert counters(seed, buyer.id) == (3, 6)
    mine, _ = orders.list_orders(services(), buyer, None, 50, None)
    assert len(mine) == 3
    assert all(len(seed.notifications_of(o.id)) == 2 for o in mine)


def test_units_are_limited_across_pending_orders(seed, buyer):
    product = seed.product(stock=100)
    orders.place_order(services(), buyer, [(product, 15)])
    with pytest.raises(PendingLimitReached) as caught:
        orders.place_order(services(), buyer, [(product, 6)])  # the 21st unit
    assert caught.value.details["pending_units"] == 15
    orders.place_order(services(), buyer, [(product, 5)])  # exactly 20
    assert counters(seed, buyer.id) == (2, 20)
    assert seed.product_state(product)["reserved"] == 20


def test_ten_concurrent_placements_of_one_customer_accept_exactly_three(seed, buyer):
    product = seed.product(stock=100)
    gate = threading.Barrier(10)

    def place(_):
        gate.wait()
        try:
            orders.place_order(services(), buyer, [(product, 1)])
            return "placed"
        except DomainError as error:
            return error.code

    with ThreadPoolExecutor(10) as pool:
        outcomes = Counter(pool.map(place, range(10)))
    assert outcomes == {"placed": 3, "pending_limit": 7}
    assert counters(seed, buyer.id) == (3, 3)
    assert seed.product_state(product) == {"stock": 100, "reserved": 3, "available": 97}


def test_leaving_pending_frees_the_share_and_the_counters_end_at_zero(seed, buyer, staff_caller):
    product = seed.product(stock=100)
    placed = [orders.place_order(services(), buyer, [(product, 4)])[0] for _ in range(3)]
    with pytest.raises(PendingLimitReached):
        orders.place_order(services(), buyer, [(product, 1)])
    orders.change_status(services(), staff_caller, placed[0], CANCELED)
    assert counters(seed, buyer.id) == (2, 8)
    fourth, _ = orders.place_order(services(), buyer, [(product, 1)])  # the freed slot, at once
    orders.change_status(services(), staff_caller, placed[1], COMPLETED)
    assert counters(seed, buyer.id) == (2, 5)
    with pytest.raises(InvalidTransition):  # refused transitions free nothing
        orders.change_status(services(), staff_caller, placed[1], CANCELED)
    assert counters(seed, buyer.id) == (2, 5)
    assert orders.expire_order(services(), services().orders.get(placed[2].id))
    orders.change_status(services(), staff_caller, fourth, CANCELED)
    assert counters(seed, buyer.id) == (0, 0)
    assert seed.product_state(product) == {"stock": 96, "reserved": 0, "available": 96}


def test_an_idempotent_replay_at_the_limit_is_the_original(seed, buyer):
    product = seed.product(stock=100)
    first, _ = orders.place_order(services(), buyer, [(product, 1)], "same-key")
    orders.place_order(services(), buyer, [(product, 1)])
    orders.place_order(services(), buyer, [(product, 1)])
    again, replayed = orders.place_order(services(), buyer, [(product, 1)], "same-key")
    assert replayed and again == first
    assert counters(seed, buyer.id) == (3, 3)


def test_the_expiry_cancels_old_holds_as_the_system(seed, buyer):
    product = seed.product(stock=10)
    old, _ = orders.place_order(services(), buyer, [(product, 3)])
    now = datetime.now(UTC)
    assert orders.expire_holds(services(), now=now) == 0  # younger than the hold
    assert orders.expire_holds(services(), now=now + timedelta(seconds=HOLD + 1)) >= 1
    done = services().orders.get(old.id)
    assert done.status == CANCELED
    assert [(h.status, h.by) for h in done.history] == [(PENDING, buyer.id), (CANCELED, "system")]
    assert seed.product_state(product) == {"stock": 10, "reserved": 0, "available": 10}
    assert counters(seed, buyer.id) == (0, 0)
    sms = [n for n in seed.notifications_of(old.id) if n["event"] == "order_cancelled"]
    assert [(n["channel"], n["message"]) for n in sms] == [
        ("SMS", f"Sorry, {buyer.customer.phone_number}. Your order #{old.number} has been cancelled.")]
    assert orders.expire_holds(services(), now=now + timedelta(seconds=HOLD + 1)) == 0  # nothing twice


def test_expiry_racing_an_approve_has_exactly_one_winner(seed, staff_caller):
    """Per round: the expiry and a staff approve of the same PENDING order at the same moment."""
    product = seed.product(stock=100)
    rounds = 8
    wins = Counter()
    for _ in range(rounds):
        email = f"{unique('racer')}@ekiosk.test"
        seed.customer(email, next_phone())
        order, _ = orders.place_order(services(), caller_for(email), [(product, 2)])
        gate = threading.Barrier(2)

        def expire(order=order, gate=gate):
            gate.wait()
            return "expiry" if orders.expire_order(services(), order) else None

        def approve(order=order, gate=gate):
            gate.wait()
            try:
                orders.change_status(services(), staff_caller, order, COMPLETED)
                return "staff"
            except InvalidTransition:
                return None

        with ThreadPoolExecutor(2) as pool:
            results = [f.result() for f in [pool.submit(expire), pool.submit(approve)]]
        winners = [r for r in results if r]
        assert len(winners) == 1, results
        wins[winners[0]] += 1
        stored = services().orders.get(order.id)
        assert len(stored.history) == 2
        assert stored.status == (CANCELED if winners[0] == "expiry" else COMPLETED)
        assert counters(seed, caller_for(email).id) == (0, 0)
        events = [n["event"] for n in seed.notifications_of(order.id)]
        assert events.count("order_cancelled") + events.count("order_approved") == 1
    sold = wins["staff"] * 2
    assert seed.product_state(product) == {"stock": 100 - sold, "reserved": 0, "available": 100 - sold}


def test_counters_stay_exact_under_mixed_concurrency(seed, staff_caller):
    """Places, cancels, approves and expiries of a few customers at once: each customer's counters
    equal what their PENDING orders hold, and never pass the limits."""
    product = seed.product(stock=1000)
    buyers = []
    for _ in range(3):
        email = f"{unique('mixed')}@ekiosk.test"
        seed.customer(email, next_phone())
        buyers.append(caller_for(email))
    placed: list = []
    lock = threading.Lock()

    def work(index: int):
        import random

        rng = random.Random(index)
        for _ in range(12):
            try:
                if rng.random() < 0.6:
                    order, _ = orders.place_order(services(), rng.choice(buyers), [(product, rng.randint(1, 9))])
                    with lock:
                        placed.append(order.id)
                else:
                    with lock:
                        candidates = list(placed)
                    if candidates:
                        order = services().orders.get(rng.choice(candidates))
                        roll = rng.random()
                        if roll < 0.3:
                            orders.expire_order(services(), order)
                        else:
                            orders.change_status(services(), staff_caller, order, COMPLETED if roll < 0.6 else CANCELED)
            except (PendingLimitReached, InvalidTransition, InsufficientStock):
                pass

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(work, range(6)))
    assert placed
    for buyer in buyers:
        mine, _ = orders.list_orders(services(), buyer, PENDING, 100, None)
        pending = [services().orders.get(o.id) for o in mine]
        pending = [o for o in pending if o.status == PENDING]
        held = (len(pending), sum(o.units for o in pending))
        assert counters(seed, buyer.id) == held
        assert held[0] <= 3 and held[1] <= 20
