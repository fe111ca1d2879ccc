"""Stock hoarding over HTTP (SPEC §7): pending limits and hold expiry on a private stack.

One stack for the whole module with MAX_PENDING_ORDERS=3, MAX_PENDING_UNITS=20, ORDER_HOLD_SECONDS=20.
Every order placed here expires 20 s after its placement, so the limit tests each finish well inside
that; the expiry test (last) waits for the worker to cancel.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from tests.support.notifications import wait_until
from tests.support.orders import Seeder, customer_session, next_phone
from tests.support.stack import STAFF_EMAIL, eventually, launch, stop

HOLD = 20
LIMITS = {"max_pending_orders": 3, "max_pending_units": 20}


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    running = launch(tmp_path_factory.mktemp("limits-stack") / "data", MAX_PENDING_ORDERS="3",
                     MAX_PENDING_UNITS="20", ORDER_HOLD_SECONDS=str(HOLD))
    yield running
    stop(running)


@pytest.fixture(scope="module")
def seed(limited):
    return Seeder.for_endpoint(limited.aws_endpoint)


@pytest.fixture(scope="module")
def boss(limited):
    return limited.session(STAFF_EMAIL)


def new_buyer(stack, seed):
    phone = next_phone()
    return customer_session(stack, seed, phone=phone), phone


def place(stack, session, items, **headers):
    return session.post(stack.api + "/orders", json={"items": items}, headers=headers, timeout=60)


def one(product, quantity=1):
    return [{"product_id": product, "quantity": quantity}]


def pending_limit(answer, orders, units):
    assert answer.status_code == 409, (answer.status_code, answer.text)
    error = answer.json()["error"]
    assert error["code"] == "pending_limit" and error["message"], error
    assert error["details"] == {"pending_orders": orders, "pending_units": units, **LIMITS}


def orders_notified(seed, phone, email=None) -> set[str]:
    """The order ids of every notification record addressed to this customer or naming them."""
    items = seed.db.scan(TableName=seed.table("notifications"), ConsistentRead=True)["Items"]
    return {i["order_id"]["S"] for i in items
            if i["recipient"]["S"] == phone or (email and email in i["message"]["S"])}


def test_the_fourth_order_is_refused_and_nothing_is_reserved_or_sent(limited, seed):
    buyer, phone = new_buyer(limited, seed)
    email = buyer.get(limited.api + "/me", timeout=30).json()["email"]
    product = seed.product(stock=100)
    placed = [place(limited, buyer, one(product), **({"Idempotency-Key": "k-1"} if i == 0 else {}))
              for i in range(3)]
    assert [a.status_code for a in placed] == [201, 201, 201], [a.text for a in placed]
    ids = {a.json()["id"] for a in placed}
    pending_limit(place(limited, buyer, one(product)), 3, 3)
    pending_limit(place(limited, buyer, one(product), **{"Idempotency-Key": "k-2"}), 3, 3)
    assert seed.product_state(product) == {"stock": 100, "reserved": 3, "available": 97}
    assert orders_notified(seed, phone, email) == ids  # nothing for the refused ones
    listed = eventually(lambda: buyer.get(limited.api + "/orders", timeout=30).json()["items"],  # may lag (SPEC §4)
                        lambda items: {o["id"] for o in items} == ids)
    assert {o["id"] for o in listed} == ids

    replay = place(limited, buyer, one(product), **{"Idempotency-Key": "k-1"})  # not a new order
    assert replay.status_code == 201, replay.text
    assert replay.json() == placed[0].json() and replay.headers.get("Idempotent-Replayed") == "true"
    assert seed.product_state(product)["reserved"] == 3


def test_the_twenty_first_unit_is_refused(limited, seed):
    buyer, phone = new_buyer(limited, seed)
    product = seed.product(stock=100)
    first = place(limited, buyer, one(product, 15))
    assert first.status_code == 201, first.text
    pending_limit(place(limited, buyer, one(product, 6)), 1, 15)
    pending_limit(place(limited, buyer, one(seed.product(stock=100), 21)), 1, 15)  # alone above it
    assert seed.product_state(product)["reserved"] == 15
    assert orders_notified(seed, phone) == {first.json()["id"]}
    assert place(limited, buyer, one(product, 5)).status_code == 201  # exactly 20
    assert seed.product_state(product)["reserved"] == 20


def test_ten_parallel_orders_of_one_buyer_accept_exactly_three(limited, seed):
    buyer, _ = new_buyer(limited, seed)
    product = seed.product(stock=100)
    gate = threading.Barrier(10)

    def go(_):
        gate.wait()
        answer = place(limited, buyer, one(product))
        return answer.status_code, answer.json().get("error", {}).get("code")

    with ThreadPoolExecutor(10) as pool:
        outcomes = Counter(pool.map(go, range(10)))
    assert outcomes == {(201, None): 3, (409, "pending_limit"): 7}
    assert seed.product_state(product) == {"stock": 100, "reserved": 3, "available": 97}


def test_a_cancel_frees_a_slot_at_once(limited, seed, boss):
    buyer, _ = new_buyer(limited, seed)
    product = seed.product(stock=100)
    placed = [place(limited, buyer, one(product, 2)).json() for _ in range(3)]
    pending_limit(place(limited, buyer, one(product)), 3, 6)
    cancelled = boss.patch(f"{limited.api}/orders/{placed[0]['id']}", json={"status": "CANCELED"}, timeout=30)
    assert cancelled.status_code == 200, cancelled.text
    assert place(limited, buyer, one(product)).status_code == 201  # no wait, no index involved
    pending_limit(place(limited, buyer, one(product)), 3, 5)
    approved = boss.patch(f"{limited.api}/orders/{placed[1]['id']}", json={"status": "COMPLETED"}, timeout=30)
    assert approved.status_code == 200, approved.text
    assert place(limited, buyer, one(product)).status_code == 201


def _at(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def test_orders_left_alone_are_cancelled_by_the_system_and_staff_racing_it_get_one_transition(
        limited, seed, boss):
    """One order left alone; eight others approved by staff at moments around their expiry, from 6 s
    before to 32 s after: each order changes state exactly once, whoever wins."""
    product = seed.product(stock=100)
    alone_buyer, alone_phone = new_buyer(limited, seed)
    alone = place(limited, alone_buyer, one(product, 2)).json()
    offsets = [-6, -1, 1, 3, 5, 7, 9, 32]
    racers = []
    for _ in range(len(offsets) // 2):
        buyer, _ = new_buyer(limited, seed)
        racers.extend(place(limited, buyer, one(product, 1)).json() for _ in range(2))
    assert all("id" in o for o in [alone, *racers])
    assert seed.product_state(product)["reserved"] == 2 + len(racers)

    def approve_at(order, offset):
        delay = _at(order["created_at"]) + HOLD + offset - time.time()
        if delay > 0:
            time.sleep(delay)
        answer = boss.patch(f"{limited.api}/orders/{order['id']}", json={"status": "COMPLETED"}, timeout=60)
        return answer.status_code, answer.json()

    with ThreadPoolExecutor(len(racers)) as pool:
        answers = list(pool.map(approve_at, racers, offsets))

    # the order left alone: cancelled by the system within 30 s of its expiry, with its SMS sent
    def moved_on():
        order = boss.get(f"{limited.api}/orders/{alone['id']}", timeout=30).json()
        return order if order["status"] != "PENDING" else None

    done = wait_until(moved_on, timeout=5, interval=0.5, what="the expiry")
    assert done["status"] == "CANCELED"
    assert [(h["status"], h["by"]) for h in done["history"]] == [("PENDING", alone["customer_id"]),
                                                               ("CANCELED", "system")]
    waited = _at(done["history"][-1]["at"]) - _at(alone["created_at"])
    assert HOLD <= waited <= HOLD + 30, waited
    sms = wait_until(lambda: [n for n in seed.notifications_of(alone["id"])
                              if n["event"] == "order_cancelled" and n["status"] == "SENT"] or None,
                     timeout=20, interval=0.5, what="the cancellation SMS")
    assert sms[0]["channel"] == "SMS" and sms[0]["recipient"] == alone_phone
    assert sms[0]["message"] == f"Sorry, {alone_phone}. Your order #{alone['number']} has been cancelled."

    # the races: exactly one transition each
    winners = Counter()
    for order, (status, body) in zip(racers, answers, strict=True):
        stored = boss.get(f"{limited.api}/orders/{order['id']}", timeout=30).json()
        assert len(stored["history"]) == 2, stored["history"]
        if status == 200:
            assert body["status"] == stored["status"] == "COMPLETED"
            assert stored["history"][-1]["by"] != "system"
            winners["staff"] += 1
        else:
            assert (status, body["error"]["code"]) == (409, "invalid_transition"), body
            assert stored["status"] == "CANCELED" and stored["history"][-1]["by"] == "system"
            winners["system"] += 1
        events = [n["event"] for n in seed.notifications_of(order["id"])]
        assert events.count("order_approved") + events.count("order_cancelled") == 1, events
    assert winners["staff"] >= 1 and winners["system"] >= 1, winners  # -6 s: staff; +32 s: the system
    assert seed.product_state(product) == {"stock": 100 - winners["staff"], "reserved": 0,
                                           "available": 100 - winners["staff"]}
