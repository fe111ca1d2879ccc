"""Every write path of the use cases meets, in turn, a conflict, throttling and a 500 that came after the write
took effect (SPEC §10), on the real emulator with the faults injected into the clients: each call still succeeds
once, with nothing applied twice. (Faults outlasting every retry → 503 try_again: tests/integration/
test_store_faults.py; each transient code and cancellation reason through the one helper: tests/unit/
test_dynamodb_retry.py.)"""

from __future__ import annotations

import pytest

from chalicelib.adapters.aws import client
from chalicelib.adapters.dynamodb import retry
from chalicelib.bootstrap import services
from chalicelib.domain.customers import Identity
from chalicelib.domain.orders import CANCELED, COMPLETED
from chalicelib.services import catalog, customers, orders
from tests.integration.test_orders import caller_for
from tests.support.catalog import unique
from tests.support.faults import StoreFaults, error
from tests.support.orders import Seeder, next_phone
from tests.support.stack import STAFF_EMAIL

TAKE = "UpdateItem"  # how the customers store takes a login state (marks it taken)
CONFLICTS = {
    "TransactWriteItems": error("TransactionCanceledException", reasons=["TransactionConflict"]),
    "UpdateItem": error("TransactionConflictException"),
    "PutItem": error("TransactionConflictException"),
}


@pytest.fixture
def seed(emulator):
    return Seeder.for_settings(services().settings)


@pytest.fixture
def faults(emulator, monkeypatch):
    monkeypatch.setattr(retry, "sleep", lambda seconds: None)
    from chalicelib.adapters.dynamodb.tables import all_models

    clients = [model._get_connection().connection.client for model in all_models()]
    injected = StoreFaults(*clients, client("dynamodb", services().settings))  # the orders store's raw client
    yield injected
    injected.close()
    assert not any(injected.faults.values()), f"faults never met: {dict(injected.faults)}"


def hostile(faults: StoreFaults, operation: str) -> None:
    """The next `operation`s: refused by a conflict, then throttled, then answered 500 after taking effect."""
    faults.fail(operation, CONFLICTS[operation], error("ThrottlingException", 400))
    faults.after_effect(operation)


def buyer(seed):
    email = f"{unique('faulted')}@ekiosk.test"
    seed.customer(email, next_phone())
    return caller_for(email)


def test_placing_an_order(seed, faults):
    product = seed.product(stock=5)
    hostile(faults, "TransactWriteItems")
    order, replayed = orders.place_order(services(), buyer(seed), [(product, 2)])
    assert not replayed and seed.product_state(product) == {"stock": 5, "reserved": 2, "available": 3}
    assert len(seed.notifications_of(order.id)) == 2


@pytest.mark.parametrize("status, state", [
    (COMPLETED, {"stock": 3, "reserved": 0, "available": 3}),
    (CANCELED, {"stock": 5, "reserved": 0, "available": 5}),
])
def test_approving_and_cancelling(seed, faults, status, state):
    product = seed.product(stock=5)
    order, _ = orders.place_order(services(), buyer(seed), [(product, 2)])
    hostile(faults, "TransactWriteItems")
    changed = orders.change_status(services(), caller_for(STAFF_EMAIL), order, status)
    assert changed.status == status and [h.status for h in changed.history][-1] == status
    assert seed.product_state(product) == state
    assert len(services().orders.get(order.id).history) == 2  # one transition, not two


def test_creating_renaming_and_deleting_a_category_and_a_product(faults):
    hostile(faults, "TransactWriteItems")
    top = catalog.create_category(services(), unique("faulted"), None)
    hostile(faults, "TransactWriteItems")
    product = catalog.create_product(services(), "Lamp", 2500, None, 3, top.id)
    assert catalog.get_category(services(), top.id).product_counts[0] == 1  # counted once
    hostile(faults, "TransactWriteItems")
    renamed = catalog.update_product(services(), product.id, {"name": "Desk lamp", "price_cents": 3000})
    assert (renamed.name, catalog.get_category(services(), top.id).price_sums[0]) == ("Desk lamp", 3000)
    hostile(faults, "UpdateItem")
    assert catalog.update_product(services(), product.id, {"stock": 9}).stock == 9  # no name change: one UpdateItem
    hostile(faults, "TransactWriteItems")
    catalog.delete_product(services(), product.id)
    assert catalog.get_category(services(), top.id).product_counts[0] == 0
    hostile(faults, "TransactWriteItems")
    catalog.delete_category(services(), top.id)


def test_signing_in_editing_the_profile_and_the_role(faults):
    email = f"{unique('signin')}@ekiosk.test"
    identity = Identity(sub=unique("sub"), email=email, name="Ann", email_verified=True)
    hostile(faults, "PutItem")
    created = customers.sign_in(services(), identity)
    hostile(faults, "UpdateItem")
    updated = customers.update_profile(services(), created, {"phone_number": "0712345678", "name": "Ann B"})
    assert (updated.phone_number, updated.name) == ("+254712345678", "Ann B")
    hostile(faults, "UpdateItem")
    assert customers.set_role(services(), created.id, "admin").role == "admin"
    assert services().customers.get(created.id).role == "admin"


def test_a_login_state_is_stored_and_taken_once(faults):
    import time

    from chalicelib.domain.customers import LoginState

    state = LoginState(unique("state"), "nonce", "verifier", "http://127.0.0.1/cb", int(time.time()) + 600)
    hostile(faults, "PutItem")
    services().customers.save_login_state(state)
    faults.after_effect(TAKE)  # the take's write took effect, its answer was a 500: still ours
    assert services().customers.take_login_state(state.key) == state
    assert services().customers.take_login_state(state.key) is None  # single use


def test_the_expiry_cancels_a_hold_once(seed, faults):
    from datetime import UTC, datetime, timedelta

    product = seed.product(stock=5)
    order, _ = orders.place_order(services(), buyer(seed), [(product, 2)])
    hostile(faults, "TransactWriteItems")
    later = datetime.now(UTC) + timedelta(seconds=services().settings.order_hold_seconds + 1)
    assert orders.expire_holds(services(), now=later) >= 1
    expired = services().orders.get(order.id)
    assert [(h.status, h.by) for h in expired.history][1:] == [(CANCELED, "system")]
    assert seed.product_state(product) == {"stock": 5, "reserved": 0, "available": 5}
