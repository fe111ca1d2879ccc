"""Orders under concurrency, over HTTP against the running stack (gunicorn workers and threads).

Nothing is ever sold beyond its stock and no order changes state twice (SPEC §7).
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.orders import Seeder, customer_session, session_for
from tests.support.stack import STAFF_EMAIL


@pytest.fixture(scope="module")
def seed(stack):
    return Seeder.for_endpoint(stack.aws_endpoint)


def customers(stack, seed, count):
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: customer_session(stack, seed), range(count)))


def all_at_once(calls):
    """Runs every call in its own thread, released together; returns their results in order."""
    gate = threading.Barrier(len(calls))

    def run(call):
        gate.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def codes(answers):
    return Counter((a.status_code, a.json().get("error", {}).get("code")) for a in answers)


def test_forty_customers_race_for_ten_units(stack, seed):
    product = seed.product(stock=10)
    buyers = customers(stack, seed, 40)
    answers = all_at_once([
        lambda s=s: s.post(stack.api + "/orders", json={"items": [{"product_id": product, "quantity": 1}]},
                           timeout=60)
        for s in buyers
    ])
    assert codes(answers) == {(201, None): 10, (409, "insufficient_stock"): 30}
    for refused in (a for a in answers if a.status_code == 409):
        assert refused.json()["error"]["details"] == [{"product_id": product, "requested": 1, "available": 0}]
    assert seed.product_state(product) == {"stock": 10, "reserved": 10, "available": 0}
    placed = [a.json() for a in answers if a.status_code == 201]
    assert len({o["id"] for o in placed}) == 10 and len({o["number"] for o in placed}) == 10
    assert len({o["customer_id"] for o in placed}) == 10


def test_ten_approvals_and_ten_duplicates(stack, seed, staff):
    product = seed.product(stock=10)
    buyers = customers(stack, seed, 10)
    orders = [
        s.post(stack.api + "/orders", json={"items": [{"product_id": product, "quantity": 1}]}, timeout=60).json()
        for s in buyers
    ]
    assert seed.product_state(product) == {"stock": 10, "reserved": 10, "available": 0}
    staff_sessions = [session_for(stack, STAFF_EMAIL) for _ in range(20)]
    answers = all_at_once([
        lambda s=s, o=o: s.patch(f"{stack.api}/orders/{o['id']}", json={"status": "COMPLETED"}, timeout=60)
        for s, o in zip(staff_sessions, orders * 2, strict=True)
    ])
    assert codes(answers) == {(200, None): 10, (409, "invalid_transition"): 10}
    assert seed.product_state(product) == {"stock": 0, "reserved": 0, "available": 0}
    for order in orders:
        stored = staff.get(f"{stack.api}/orders/{order['id']}", timeout=30).json()
        assert [h["status"] for h in stored["history"]] == ["PENDING", "COMPLETED"]
        approved = [n for n in seed.notifications_of(order["id"]) if n["event"] == "order_approved"]
        assert len(approved) == 1


@pytest.mark.parametrize("round_", range(4))
def test_approve_and_cancel_race_exactly_one_wins(stack, seed, staff, round_):
    product = seed.product(stock=5)
    buyer = customer_session(stack, seed)
    order = buyer.post(stack.api + "/orders", json={"items": [{"product_id": product, "quantity": 2}]},
                       timeout=60).json()
    url = f"{stack.api}/orders/{order['id']}"
    first, second = session_for(stack, STAFF_EMAIL), session_for(stack, STAFF_EMAIL)
    answers = all_at_once([
        lambda: first.patch(url, json={"status": "COMPLETED"}, timeout=60),
        lambda: second.patch(url, json={"status": "CANCELED"}, timeout=60),
    ])
    assert sorted(a.status_code for a in answers) == [200, 409]
    winner = next(a.json() for a in answers if a.status_code == 200)
    loser = next(a.json() for a in answers if a.status_code == 409)
    assert loser["error"]["code"] == "invalid_transition"
    assert loser["error"]["details"]["from"] == winner["status"]
    stored = staff.get(url, timeout=30).json()
    assert stored == winner and len(stored["history"]) == 2
    expected_stock = 3 if winner["status"] == "COMPLETED" else 5
    assert seed.product_state(product) == {"stock": expected_stock, "reserved": 0, "available": expected_stock}
    events = Counter(n["event"] for n in seed.notifications_of(order["id"]))
    assert events["order_approved"] + events["order_cancelled"] == 1
