"""Model-based test: seeded random place / replay / approve / cancel / restock sequences against the
real emulator, through the service layer, checked against a plain-Python model after every step.

Invariants, for every product: 0 <= reserved <= stock, available == stock - reserved, and reserved
== the sum of its quantities in PENDING orders (read back from storage, not from the model); for
every customer: the pending counters == what their PENDING orders hold, within the limits.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.api.caller import Caller
from chalicelib.auth.dev_issuer import subject_for
from chalicelib.auth.tokens import Identity
from chalicelib.bootstrap import services
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

SEEDS = (7, 2024, 31337)
STEPS = 60


def make_caller(email: str) -> Caller:
    return Caller(Identity(sub=subject_for(email), email=email, name=None, email_verified=True))


class World:
    """The real system (emulator) and the model side by side."""

    def __init__(self, rng: random.Random, products: int = 4, customers: int = 3):
        self.rng = rng
        self.seed = Seeder.for_settings(services().settings)
        self.staff = make_caller(STAFF_EMAIL)
        self.customers = []
        for _ in range(customers):
            email = f"{unique('model')}@ekiosk.test"
            self.seed.customer(email, next_phone())
            self.customers.append(make_caller(email))
        self.stock: dict[str, int] = {}  # in creation order: choices must not depend on the random ids
        for _ in range(products):
            stock = rng.randint(0, 12)
            self.stock[self.seed.product(stock=stock, price_cents=rng.randint(1, 99_999))] = stock
        self.reserved = dict.fromkeys(self.stock, 0)
        self.orders: dict[str, tuple[str, list[tuple[str, int]]]] = {}  # id -> (status, items)
        self.owner: dict[str, str] = {}  # order id -> customer id
        self.keys: list[tuple[Caller, str, list[tuple[str, int]]]] = []
        self.refused = 0  # places answered 409 insufficient_stock

    # -- actions, each asserting its own outcome against the model

    def random_items(self) -> list[tuple[str, int]]:
        chosen = self.rng.sample(list(self.stock), self.rng.randint(1, min(3, len(self.stock))))
        return [(pid, self.rng.randint(1, 4)) for pid in chosen]

    def place(self) -> None:
        caller, items = self.rng.choice(self.customers), self.random_items()
        key = unique("k") if self.rng.random() < 0.5 else None
        settings = services().settings
        held = [self.orders[o][1] for o, c in self.owner.items() if c == caller.id and self.orders[o][0] == PENDING]
        units = sum(q for order_items in held for _, q in order_items)
        if len(held) + 1 > settings.max_pending_orders or units + sum(q for _, q in items) > settings.max_pending_units:
            with pytest.raises(PendingLimitReached):
                orders.place_order(services(), caller, items, key)
            return
        short = [(pid, qty) for pid, qty in items if self.stock[pid] - self.reserved[pid] < qty]
        if short:
            with pytest.raises(InsufficientStock) as caught:
                orders.place_order(services(), caller, items, key)
            assert caught.value.details == [
                {"product_id": pid, "requested": qty, "available": self.stock[pid] - self.reserved[pid]}
                for pid, qty in short
            ]
            self.refused += 1
            return
        order, replayed = orders.place_order(services(), caller, items, key)
        assert not replayed and order.status == PENDING
        self.orders[order.id] = (PENDING, items)
        self.owner[order.id] = caller.id
        for pid, qty in items:
            self.reserved[pid] += qty
        if key:
            self.keys.append((caller, key, items))

    def replay(self) -> None:
        if not self.keys:
            return
        caller, key, items = self.rng.choice(self.keys)
        order, replayed = orders.place_order(services(), caller, list(reversed(items)), key)
        assert replayed and order.id in self.orders

    def transition(self, target: str) -> None:
        if not self.orders:
            return
        order_id = self.rng.choice(list(self.orders))
        status, items = self.orders[order_id]
        order = services().orders.get(order_id)
        if status != PENDING:
            with pytest.raises(InvalidTransition):
                orders.change_status(services(), self.staff, order, target)
            return
        orders.change_status(services(), self.staff, order, target)
        self.orders[order_id] = (target, items)
        for pid, qty in items:
            self.reserved[pid] -= qty
            if target == COMPLETED:
                self.stock[pid] -= qty

    def restock(self) -> None:
        pid, amount = self.rng.choice(list(self.stock)), self.rng.randint(1, 8)
        self.seed.restock(pid, amount)
        self.stock[pid] += amount

    def step(self) -> None:
        action = self.rng.choices(
            [self.place, self.replay, lambda: self.transition(COMPLETED), lambda: self.transition(CANCELED),
             self.restock],
            weights=[5, 1, 2, 2, 2],
        )[0]
        action()

    # -- checks

    def batch_get(self, table: str, ids: list[str]) -> dict[str, dict]:
        """Items by id, consistently read, in as few BatchGetItem calls as possible."""
        from chalicelib.adapters.dynamodb.orders import OrderRecord

        found: dict[str, dict] = {}
        for start in range(0, len(ids), 100):
            keys = [{"id": {"S": i}} for i in ids[start : start + 100]]
            request = {self.seed.table(table): {"Keys": keys, "ConsistentRead": True}}
            while request:
                answer = self.seed.db.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self.seed.table(table), []):
                    found[item["id"]["S"]] = OrderRecord.from_raw_data(item) if table == "orders" else item
                request = answer.get("UnprocessedKeys")
        return found

    def check(self, exact: bool = True) -> None:
        stored_orders = self.batch_get("orders", sorted(self.orders))
        assert len(stored_orders) == len(self.orders)
        pending: dict[str, int] = defaultdict(int)
        for stored in stored_orders.values():
            if stored.status == PENDING:
                for line in stored.items:
                    pending[line.product_id] += int(line.quantity)
        products = self.batch_get("products", sorted(self.stock))
        for pid in self.stock:
            state = {k: int(products[pid][k]["N"]) for k in ("stock", "reserved", "available")}
            assert 0 <= state["reserved"] <= state["stock"], (pid, state)
            assert state["available"] == state["stock"] - state["reserved"], (pid, state)
            assert state["reserved"] == pending[pid], (pid, state, pending[pid])
            if exact:
                assert state == {"stock": self.stock[pid], "reserved": self.reserved[pid],
                                 "available": self.stock[pid] - self.reserved[pid]}
        if exact:
            assert {i: o.status for i, o in stored_orders.items()} == {i: s for i, (s, _) in self.orders.items()}
        held: dict[str, list[int]] = {c.id: [0, 0] for c in self.customers}
        for stored in stored_orders.values():
            if stored.status == PENDING:
                held[stored.customer_id][0] += 1
                held[stored.customer_id][1] += sum(int(line.quantity) for line in stored.items)
        settings = services().settings
        for customer_id, item in self.batch_get("customers", sorted(held)).items():
            counters = [int(item.get(name, {"N": 0})["N"]) for name in ("pending_orders", "pending_units")]
            assert counters == held[customer_id], (customer_id, counters, held[customer_id])
            assert counters[0] <= settings.max_pending_orders and counters[1] <= settings.max_pending_units


@pytest.mark.parametrize("seed", SEEDS)
def test_random_sequences_keep_the_invariants(emulator, seed):
    world = World(random.Random(seed))
    world.check()
    for _ in range(STEPS):
        world.step()
        world.check()
    statuses = {status for status, _ in world.orders.values()}
    # The run did explore: orders in every status, refusals and idempotent keys.
    assert len(world.orders) >= 8 and statuses == {PENDING, COMPLETED, CANCELED}
    assert world.refused >= 1 and world.keys


def test_concurrent_random_operations_keep_the_invariants(emulator):
    """Six threads mixing every operation on three scarce products; then the books must balance."""
    rng = random.Random(99)
    world = World(rng, products=3, customers=4)
    initial = dict(world.stock)
    restocked: dict[str, int] = defaultdict(int)
    placed: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        local = random.Random(index)
        for _ in range(20):
            roll = local.random()
            try:
                if roll < 0.5:
                    items = [(pid, local.randint(1, 3)) for pid in local.sample(list(initial), 2)]
                    order, _ = orders.place_order(services(), local.choice(world.customers), items)
                    with lock:
                        placed.append(order.id)
                elif roll < 0.9:
                    with lock:
                        candidates = list(placed)
                    if candidates:
                        order = services().orders.get(local.choice(candidates))
                        orders.change_status(services(), world.staff, order, COMPLETED if roll < 0.7 else CANCELED)
                else:
                    pid, amount = local.choice(list(initial)), local.randint(1, 3)
                    world.seed.restock(pid, amount)
                    with lock:
                        restocked[pid] += amount
            except DomainError as error:
                assert error.code in ("insufficient_stock", "invalid_transition", "pending_limit"), error.code

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(worker, range(6)))

    world.orders = {order_id: (None, []) for order_id in placed}
    world.check(exact=False)
    sold: dict[str, int] = defaultdict(int)
    for order_id in placed:
        stored = services().orders.get(order_id)
        assert [h.status for h in stored.history] in ([PENDING], [PENDING, COMPLETED], [PENDING, CANCELED])
        if stored.status == COMPLETED:
            for line in stored.items:
                sold[line.product_id] += line.quantity
    for pid in initial:
        assert world.seed.product_state(pid)["stock"] == initial[pid] + restocked[pid] - sold[pid]
    assert len(placed) >= 5 and sold  # the threads did place and approve
