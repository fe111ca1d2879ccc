"""The customers port (DynamoCustomerRepository / InMemoryCustomerRepository): one contract, two implementations.

(A customer's pending counters are written by the orders port's transactions: tests/contracts/test_orders_contract.py.)
"""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.adapters.dynamodb.customer_repository import LoginState
from chalicelib.adapters.dynamodb.customers import LOGIN_STATE_PREFIX
from chalicelib.bootstrap import services
from chalicelib.domain.customers import ADMIN, ROLE_FROM_STAFF
from chalicelib.domain.errors import Conflict, NotFound
from tests.contracts.conftest import customer, same_error, uid

LATER = "2026-01-02T00:00:00.000000Z"


@pytest.fixture
def repo(impl, settings):
    from chalicelib.adapters.dynamodb.customer_repository import DynamoCustomerRepository
    from tests.fakes.customers import InMemoryCustomerRepository

    return InMemoryCustomerRepository(settings) if impl == "fake" else DynamoCustomerRepository(settings)


def test_sign_in_creates_once(repo):
    first = customer()
    assert repo.create(first) is True
    assert repo.get(first.id) == first
    assert repo.create(dataclasses.replace(first, name="Other")) is False  # a concurrent first request
    assert repo.get(first.id) == first
    assert repo.get(uid("cu")) is None


def test_update_sets_and_removes_fields_and_roles(repo):
    record = customer()
    repo.create(record)
    updated = repo.update(record.id, LATER, name="New name", phone_number=None, role=ADMIN, role_source=ROLE_FROM_STAFF)
    expected = dataclasses.replace(record, name="New name", phone_number=None, role=ADMIN,
                                   role_source=ROLE_FROM_STAFF, updated_at=LATER)
    assert updated == expected and repo.get(record.id) == expected
    assert not updated.profile_complete and updated.is_staff


def test_updating_an_unknown_customer_is_customer_not_found(repo):
    missing = uid("cu")
    with pytest.raises(NotFound) as raised:
        repo.update(missing, LATER, name="x")
    same_error(raised, NotFound, "customer_not_found", {"id": missing})
    assert repo.get(missing) is None


def test_list_is_in_sign_up_order_page_by_page(repo):
    # older than every other customer of the session, so they are the first three of the list
    mine = [customer(created_at=f"1990-01-01T00:00:00.00000{i}Z") for i in (2, 1, 3)]
    for record in mine:
        repo.create(record)
    first, cursor = repo.list(2, None)
    assert [c.id for c in first] == [mine[1].id, mine[0].id] and cursor
    second, _ = repo.list(1, cursor)
    assert [c.id for c in second] == [mine[2].id]


def test_login_states_are_single_use(repo):
    state = LoginState(uid("k"), "nonce", "verifier", "https://x/cb", 2_000_000_000, "console", "b")
    repo.save_login_state(state)
    repo.save_login_state(state)  # a repeat of the same save (after a 500 that took effect) is no error
    assert repo.get(LOGIN_STATE_PREFIX + state.key) is None  # a login state is never a customer
    assert repo.take_login_state(state.key) == state
    assert repo.take_login_state(state.key) is None
    assert repo.take_login_state(uid("k")) is None


def test_another_state_under_a_taken_key_is_a_conflict(repo):
    key = uid("k")
    repo.save_login_state(LoginState(key, "nonce-1", "v", "https://x/cb", 2_000_000_000))
    with pytest.raises(Conflict) as raised:
        repo.save_login_state(LoginState(key, "nonce-2", "v", "https://x/cb", 2_000_000_000))
    same_error(raised, Conflict, "login_state_exists")
    assert repo.take_login_state(key).nonce == "nonce-1"


# ---- through the sign-in and role use cases


@pytest.fixture
def use_cases(impl, repo, settings):
    if impl == "dynamodb":  # the emulator's services(): ADMIN_EMAILS is staff@ekiosk.test there too
        yield repo
        return
    from chalicelib.bootstrap import Services, use_services

    previous = use_services(Services(settings, customers=repo))
    try:
        yield repo
    finally:
        use_services(previous)


def test_sign_in_creates_then_keeps_the_email_in_sync_and_roles_apply(use_cases):
    from chalicelib.auth.tokens import Identity
    from chalicelib.domain.customers import CUSTOMER, ROLE_FROM_CONFIG
    from chalicelib.services import customers as service

    sub = uid("sub")
    first = service.sign_in(services(), Identity(sub=sub, email=f"{sub}@ekiosk.test", name="Ann", email_verified=True))
    assert (first.role, first.email, first.phone_number) == (CUSTOMER, f"{sub}@ekiosk.test", None)
    assert service.sign_in(services(), Identity(sub=sub, email=f"{sub}@ekiosk.test", name="Ann",
                                                email_verified=True)) == first
    moved = service.sign_in(services(), Identity(sub=sub, email="staff@ekiosk.test", name="Ann", email_verified=True))
    assert (moved.email, moved.role, moved.role_source) == ("staff@ekiosk.test", ADMIN, ROLE_FROM_CONFIG)
    assert service.get_customer(services(), sub) == moved

    other = service.sign_in(services(), Identity(sub=uid("sub"), email=f"{uid('e')}@ekiosk.test", name=None,
                                                 email_verified=True))
    promoted = service.set_role(services(), other.id, ADMIN)
    assert (promoted.role, promoted.role_source) == (ADMIN, ROLE_FROM_STAFF)
    assert service.set_role(services(), other.id, ADMIN) == promoted
    profiled = service.update_profile(services(), promoted, {"phone_number": "+254711223344"})
    assert profiled.profile_complete and use_cases.get(other.id) == profiled
    with pytest.raises(NotFound) as raised:
        service.set_role(services(), uid("sub"), ADMIN)
    same_error(raised, NotFound, "customer_not_found")
