"""Customers: just-in-time sign-in, roles from our records and ADMIN_EMAILS, profile updates."""

import threading

import pytest

from chalicelib.auth.tokens import Identity
from chalicelib.bootstrap import Services, services, use_services
from chalicelib.config import load_settings
from chalicelib.domain.customers import (
    ADMIN,
    CUSTOMER,
    ROLE_FROM_CONFIG,
    ROLE_FROM_STAFF,
    Customer,
    clean_name,
    role_changes,
    sign_in_changes,
)
from chalicelib.domain.errors import Conflict, InvalidInput, NotFound
from chalicelib.services import customers
from tests.fakes.customers import InMemoryCustomerRepository

BOSS = "boss@example.test"


@pytest.fixture
def repo():
    repository = InMemoryCustomerRepository()
    previous = use_services(Services(load_settings({"ADMIN_EMAILS": f"{BOSS.upper()}, other@example.test"}),
                                     customers=repository))
    yield repository
    use_services(previous)


def identity(email="ann@example.test", sub="sub-ann", name="Ann", verified=True):
    return Identity(sub=sub, email=email, name=name, email_verified=verified)


def customer(**changes):
    fields = dict(id="c1", email="ann@example.test", name="Ann", phone_number=None, role=CUSTOMER,
                  created_at="2026-01-01T00:00:00.000000Z", updated_at="2026-01-01T00:00:00.000000Z")
    return Customer(**{**fields, **changes})


def test_first_sign_in_creates_the_customer_from_the_token(repo):
    created = customers.sign_in(services(), identity())
    assert (created.id, created.email, created.name, created.phone_number, created.role) == (
        "sub-ann", "ann@example.test", "Ann", None, "customer")
    assert (created.profile_complete, created.missing_fields) == (False, ["phone_number"])
    assert repo.get("sub-ann") == created
    assert customers.sign_in(services(), identity()) == created  # the second sign-in changes nothing


def test_email_follows_the_token_but_a_chosen_name_stays(repo):
    customers.sign_in(services(), identity())
    customers.update_profile(services(), repo.get("sub-ann"), {"name": "Annie"})
    again = customers.sign_in(services(), identity(email="ann.new@example.test", name="Ann From Google"))
    assert (again.email, again.name) == ("ann.new@example.test", "Annie")


def test_admin_emails_make_staff_from_the_first_sign_in_case_insensitively(repo):
    assert customers.sign_in(services(), identity(email=BOSS, sub="boss")).role == ADMIN
    assert repo.get("boss").role_source == ROLE_FROM_CONFIG


def test_admin_emails_need_a_verified_email(repo):
    assert customers.sign_in(services(), identity(email=BOSS, sub="boss", verified=False)).role == CUSTOMER


def test_a_role_claim_in_the_token_is_not_ours_to_read(repo):
    # Identity has no role at all: only sub, email, name and email_verified travel from the token.
    assert customers.sign_in(services(), identity(sub="claims-admin")).role == CUSTOMER


def test_leaving_admin_emails_removes_the_role_it_gave_but_not_one_staff_gave(repo):
    customers.sign_in(services(), identity(email=BOSS, sub="boss"))
    assert customers.sign_in(services(), identity(email="boss@elsewhere.test", sub="boss")).role == CUSTOMER

    customers.sign_in(services(), identity(email=BOSS, sub="boss2"))
    customers.set_role(services(), "boss2", ADMIN)  # staff confirm it: now it is theirs
    assert customers.sign_in(services(), identity(email="boss2@elsewhere.test", sub="boss2")).role == ADMIN


def test_staff_promote_and_demote(repo):
    customers.sign_in(services(), identity())
    promoted = customers.set_role(services(), "sub-ann", ADMIN)
    assert (promoted.role, promoted.role_source) == (ADMIN, ROLE_FROM_STAFF)
    assert customers.sign_in(services(), identity()).role == ADMIN  # the next request sees it
    assert customers.set_role(services(), "sub-ann", CUSTOMER).role == CUSTOMER
    assert customers.sign_in(services(), identity()).role == CUSTOMER


def test_staff_cannot_demote_someone_admin_emails_make_staff(repo):
    customers.sign_in(services(), identity(email=BOSS, sub="boss"))
    with pytest.raises(Conflict) as caught:
        customers.set_role(services(), "boss", CUSTOMER)
    assert caught.value.code == "role_set_by_configuration"


def test_unknown_customer_is_a_404(repo):
    with pytest.raises(NotFound):
        customers.set_role(services(), "nobody", ADMIN)
    with pytest.raises(NotFound):
        customers.get_customer(services(), "nobody")


@pytest.mark.parametrize("role", ["ADMIN", "staff", "", None, 1, ["admin"]])
def test_only_two_roles_exist(role):
    with pytest.raises(InvalidInput):
        role_changes(customer(), role, ())


def test_profile_update_normalizes_the_phone_and_completes_the_profile(repo):
    customers.sign_in(services(), identity())
    updated = customers.update_profile(services(), repo.get("sub-ann"), {"phone_number": "0712 345-678",
                                                                         "name": "  Ann B  "})
    assert (updated.phone_number, updated.name) == ("+254712345678", "Ann B")
    assert (updated.profile_complete, updated.missing_fields) == (True, [])


@pytest.mark.parametrize(
    "fields", [{"phone_number": ""}, {"phone_number": None}, {"phone_number": "12"}, {"name": ""},
               {"name": "   "}, {"name": "x" * 201}, {"name": None}, {"name": 5}],
)
def test_profile_update_rejects_bad_values_and_changes_nothing(repo, fields):
    customers.sign_in(services(), identity())
    before = repo.get("sub-ann")
    with pytest.raises(InvalidInput):
        customers.update_profile(services(), before, {"phone_number": "0712345678", **fields})
    assert repo.get("sub-ann") == before


def test_profile_phone_must_be_of_phone_regions_when_set(repo):
    use_services(Services(load_settings({"PHONE_REGIONS": "KE,UG"}), customers=repo))
    customers.sign_in(services(), identity())
    before = repo.get("sub-ann")
    for raw, e164 in (("0712345678", "+254712345678"), ("+256 712 345678", "+256712345678")):
        assert customers.update_profile(services(), repo.get("sub-ann"), {"phone_number": raw}).phone_number == e164
    changed = repo.get("sub-ann")
    with pytest.raises(InvalidInput) as caught:
        customers.update_profile(services(), changed, {"phone_number": "+44 7400 123456"})
    assert (caught.value.status, caught.value.code) == (400, "phone_region_not_allowed")
    assert repo.get("sub-ann") == changed != before


def test_names_of_1_to_200_characters():
    assert clean_name("x") == "x"
    assert clean_name("é" * 200) == "é" * 200


def test_token_names_are_cut_to_fit_and_blank_ones_ignored():
    changes = sign_in_changes(customer(name=None), "ann@example.test", "y" * 300, True, ())
    assert changes == {"name": "y" * 200}
    assert sign_in_changes(customer(name=None), "ann@example.test", "  ", True, ()) == {}


def test_concurrent_first_requests_create_one_customer(repo):
    results, barrier = [], threading.Barrier(8)

    def first_request():
        barrier.wait()
        results.append(customers.sign_in(services(), identity()))

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(repo.customers) == 1
    assert {result.created_at for result in results} == {repo.get("sub-ann").created_at}


def test_listing_pages_through_every_customer(repo):
    for number in range(7):
        customers.sign_in(services(), identity(email=f"c{number}@example.test", sub=f"s{number}"))
    seen, cursor = [], None
    while True:
        items, cursor = customers.list_customers(services(), 3, cursor)
        seen.extend(item.id for item in items)
        if cursor is None:
            break
    assert sorted(seen) == [f"s{number}" for number in range(7)]
