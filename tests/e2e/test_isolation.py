"""Every request on its own (SPEC §4): mixed concurrent traffic against the real server (gunicorn threads).

Many clients send *different* requests at once — profile edits with unique names, orders with distinct
items from many buyers, approve-versus-cancel races, customers and staff interleaved on staff routes,
product reads on many ids — and every answer is checked against its own request: its body, its
caller's identity and its path.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from tests.support.orders import Seeder, customer_session, session_for
from tests.support.stack import STAFF_EMAIL

CLIENTS = 40
CUSTOMERS = 24
PRODUCTS = 48
RACED_ORDERS = 12


@dataclass
class Call:
    """One request and the check its own answer must pass."""

    kind: str
    send: Callable[[], requests.Response]
    check: Callable[[requests.Response], None]


@dataclass
class User:
    email: str
    session: requests.Session
    id: str


def signed_in(stack, session: requests.Session, email: str) -> User:
    me = session.get(stack.api + "/me", timeout=30).json()
    assert me["email"] == email
    return User(email, session, me["id"])


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def test_every_answer_matches_its_own_request_under_mixed_concurrent_traffic(stack):
    rng = random.Random(13)
    seed = Seeder.for_endpoint(stack.aws_endpoint)
    api = stack.api
    staff = signed_in(stack, session_for(stack, STAFF_EMAIL), STAFF_EMAIL)
    second_email = f"staff2-{uuid.uuid4().hex[:8]}@ekiosk.test"
    second = signed_in(stack, session_for(stack, second_email), second_email)
    promoted = staff.session.patch(f"{api}/admin/customers/{second.id}", json={"role": "admin"}, timeout=30)
    assert promoted.status_code == 200
    staff_members = [staff, second]

    buyers = []
    for _ in range(CUSTOMERS):
        email = f"iso-{uuid.uuid4().hex[:10]}@ekiosk.test"
        buyers.append(signed_in(stack, customer_session(stack, seed, email=email), email))
    prices = {seed.product(stock=100, price_cents=100 * (i + 1), name=f"Iso {i} {uuid.uuid4().hex[:6]}"): 100 * (i + 1)
              for i in range(PRODUCTS)}
    product_ids = list(prices)
    names = {pid: staff.session.get(f"{api}/products/{pid}", timeout=30).json()["name"] for pid in product_ids}

    raced = []
    for i in range(RACED_ORDERS):
        buyer = buyers[i % CUSTOMERS]
        placed = buyer.session.post(f"{api}/orders", json={"items": [{"product_id": product_ids[i], "quantity": 1}]},
                                    timeout=30)
        assert placed.status_code == 201, placed.text
        raced.append(placed.json()["id"])

    calls: list[Call] = []
    decisions: dict[str, list[tuple[str, str, requests.Response]]] = defaultdict(list)
    decisions_lock = threading.Lock()

    def profile_edit(user: User) -> Call:
        name = f"Name {uuid.uuid4().hex}"

        def check(answer):
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert (body["id"], body["email"], body["name"]) == (user.id, user.email, name)

        return Call("PATCH /me", lambda: user.session.patch(f"{api}/me", json={"name": name}, timeout=60), check)

    def whoami(user: User, role: str) -> Call:
        def check(answer):
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert (body["id"], body["email"], body["role"]) == (user.id, user.email, role)

        return Call("GET /me", lambda: user.session.get(f"{api}/me", timeout=60), check)

    def place(user: User, items: list[tuple[str, int]]) -> Call:
        def check(answer):
            assert answer.status_code == 201, answer.text
            order = answer.json()
            assert order["customer_id"] == user.id
            assert [(i["product_id"], i["quantity"]) for i in order["items"]] == items
            assert [i["name"] for i in order["items"]] == [names[pid] for pid, _ in items]
            assert order["total_price"] == money(sum(prices[pid] * q for pid, q in items))
            assert order["history"][0]["by"] == user.id

        body = {"items": [{"product_id": pid, "quantity": q} for pid, q in items]}
        return Call("POST /orders", lambda: user.session.post(f"{api}/orders", json=body, timeout=60), check)

    def decide(member: User, order_id: str, status: str) -> Call:
        def send():
            answer = member.session.patch(f"{api}/orders/{order_id}", json={"status": status}, timeout=60)
            with decisions_lock:
                decisions[order_id].append((member.id, status, answer))
            return answer

        def check(answer):
            assert answer.status_code in (200, 409), answer.text
            body = answer.json()
            if answer.status_code == 200:
                assert body["id"] == order_id and body["status"] == status
                assert body["history"][-1] == {**body["history"][-1], "status": status, "by": member.id}
            else:
                assert body["error"]["code"] == "invalid_transition"

        return Call("PATCH /orders/{id}", send, check)

    def staff_route(user: User, allowed: bool) -> Call:
        def check(answer):
            if allowed:
                assert answer.status_code == 200, answer.text
                assert "items" in answer.json()
            else:
                assert answer.status_code == 403, answer.text
                assert answer.json()["error"]["code"] == "forbidden"

        return Call("GET /admin/customers", lambda: user.session.get(f"{api}/admin/customers?limit=5", timeout=60),
                    check)

    def read_product(user: User, product_id: str) -> Call:
        def check(answer):
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert (body["id"], body["name"], body["price"]) == (product_id, names[product_id],
                                                                money(prices[product_id]))

        return Call("GET /products/{id}", lambda: user.session.get(f"{api}/products/{product_id}", timeout=60), check)

    for user in buyers * 3:
        calls.append(profile_edit(user))
    for user in buyers + staff_members * 4:
        calls.append(whoami(user, "admin" if user in staff_members else "customer"))
    free_products = product_ids[RACED_ORDERS:]
    for user in buyers + buyers[:12]:
        picked = rng.sample(free_products, rng.randint(1, 3))
        calls.append(place(user, [(pid, rng.randint(1, 3)) for pid in picked]))
    for order_id in raced:
        for member, status in [(staff, "COMPLETED"), (second, "CANCELED"), (staff, "CANCELED"), (second, "COMPLETED")]:
            calls.append(decide(member, order_id, status))
    for _ in range(48):
        user = rng.choice(buyers + staff_members)
        calls.append(staff_route(user, allowed=user in staff_members))
    for _ in range(96):
        calls.append(read_product(rng.choice(buyers + staff_members), rng.choice(product_ids)))
    rng.shuffle(calls)
    assert len(calls) >= 300

    start = threading.Barrier(CLIENTS)

    def run(batch: list[Call]) -> list[tuple[Call, requests.Response]]:
        start.wait(30)  # every client starts sending at the same moment
        return [(call, call.send()) for call in batch]

    batches = [calls[i::CLIENTS] for i in range(CLIENTS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        answered = [pair for result in pool.map(run, batches) for pair in result]

    mismatches = []
    for call, answer in answered:
        try:
            call.check(answer)
        except AssertionError as error:
            mismatches.append(f"{call.kind}: {error}")
    assert not mismatches, f"{len(mismatches)} of {len(answered)} answers did not match their request:\n" + "\n".join(
        mismatches[:20])

    for order_id, attempts in decisions.items():
        winners = [(member, status) for member, status, answer in attempts if answer.status_code == 200]
        assert len(winners) == 1, (order_id, [(s, a.status_code) for _, s, a in attempts])
        stored = staff.session.get(f"{api}/orders/{order_id}", timeout=30).json()
        member, status = winners[0]
        assert stored["status"] == status and stored["history"][-1]["by"] == member
        assert len(stored["history"]) == 2
