"""The customers repository against the real emulator: conditional writes, the list index, login states."""

import threading
import time
import uuid

import pytest

from chalicelib.adapters.dynamodb.customer_repository import DynamoCustomerRepository, LoginState
from chalicelib.adapters.dynamodb.customers import CustomerRecord
from chalicelib.auth.tokens import Identity
from chalicelib.bootstrap import services
from chalicelib.domain.customers import ADMIN, Customer
from chalicelib.domain.errors import NotFound
from chalicelib.services import customers

pytestmark = pytest.mark.usefixtures("emulator")


def unique(prefix="sub"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_customer(customer_id=None, email=None):
    customer_id = customer_id or unique()
    now = "2026-01-01T00:00:00.000000Z"
    return Customer(id=customer_id, email=email or f"{customer_id}@example.test", name="N", phone_number=None,
                    role="customer", created_at=now, updated_at=now)


@pytest.fixture
def repo():
    return DynamoCustomerRepository()


def test_create_is_conditional(repo):
    customer = new_customer()
    assert repo.create(customer) is True
    assert repo.create(new_customer(customer.id, email="other@example.test")) is False
    assert repo.get(customer.id) == customer


def test_concurrent_first_requests_create_one_record():
    sub = unique()
    identity = Identity(sub=sub, email=f"{sub}@example.test", name="Racer", email_verified=True)
    results, errors, barrier = [], [], threading.Barrier(6)

    def first_request():
        barrier.wait()
        try:
            results.append(customers.sign_in(services(), identity))
        except Exception as error:  # asserted below
            errors.append(error)

    threads = [threading.Thread(target=first_request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({(r.id, r.created_at) for r in results}) == 1


def test_update_sets_and_removes_fields_and_refuses_unknown_ids(repo):
    customer = new_customer()
    repo.create(customer)
    updated = repo.update(customer.id, "2026-02-01T00:00:00.000000Z", phone_number="+254712345678", name=None)
    assert (updated.phone_number, updated.name, updated.updated_at) == (
        "+254712345678", None, "2026-02-01T00:00:00.000000Z")
    assert repo.get(customer.id) == updated
    with pytest.raises(NotFound):
        repo.update(unique("missing"), "2026-02-01T00:00:00.000000Z", role=ADMIN)
    assert repo.get(unique("missing")) is None


def test_the_list_follows_sign_up_order_across_pages(repo):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    made = []
    for number in range(5):
        customer = new_customer()
        customer.created_at = f"{stamp}.{number:06d}Z-{uuid.uuid4().hex[:4]}"
        repo.create(customer)
        made.append(customer.id)
    seen, cursor = [], None
    while True:
        items, cursor = repo.list(2, cursor)
        assert len(items) <= 2
        seen.extend(item.id for item in items)
        if cursor is None:
            break
    positions = [seen.index(customer_id) for customer_id in made]
    assert positions == sorted(positions)


def test_login_states_are_not_customers_and_are_single_use(repo):
    key = uuid.uuid4().hex
    repo.save_login_state(LoginState(key, "nonce", "verifier", "https://x/cb", int(time.time()) + 600))
    assert repo.get("login-state#" + key) is None
    assert all(not item.id.startswith("login-state#") for item in repo.list(100, None)[0])

    taken = [None] * 4
    barrier = threading.Barrier(4)

    def take(index):
        barrier.wait()
        taken[index] = repo.take_login_state(key)

    threads = [threading.Thread(target=take, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [state for state in taken if state is not None]
    assert len(winners) == 1
    assert (winners[0].nonce, winners[0].code_verifier, winners[0].redirect_uri) == ("nonce", "verifier", "https://x/cb")
    assert repo.take_login_state(key) is None


def test_the_table_has_the_list_index():
    from chalicelib.resources import table_definition

    definition = table_definition("customers", "t")
    assert [index["IndexName"] for index in definition["GlobalSecondaryIndexes"]] == ["by-kind"]
    assert CustomerRecord.by_kind.Meta.index_name == "by-kind"
