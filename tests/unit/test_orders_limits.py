"""Stock hoarding (SPEC §7): per-customer pending limits and hold expiry, on in-memory fakes and a
stubbed DynamoDB client (no network)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.adapters.dynamodb.order_repository import DynamoOrderRepository
from chalicelib.api.caller import Caller
from chalicelib.auth.tokens import Identity
from chalicelib.bootstrap import Services, services, use_services
from chalicelib.config import load_settings
from chalicelib.domain.customers import Customer
from chalicelib.domain.orders import (
    CANCELED,
    COMPLETED,
    PENDING,
    HistoryEntry,
    InsufficientStock,
    InvalidTransition,
    OrderLine,
    PendingLimitReached,
    PendingLimits,
    hold_cutoff,
    hold_expired,
    new_order,
)
from chalicelib.services import orders
from tests.fakes.customers import InMemoryCustomerRepository
from tests.fakes.orders import InMemoryOrderRepository
from tests.fakes.queue import InMemoryNotificationQueue

STAFF = "boss@shop.test"
LIMITS = {"MAX_PENDING_ORDERS": "3", "MAX_PENDING_UNITS": "20", "ORDER_HOLD_SECONDS": "60"}


# ---- settings ---------------------------------------------------------------------------------


def test_defaults_and_explicit_values():
    defaults = load_settings({})
    assert (defaults.max_pending_orders, defaults.max_pending_units, defaults.order_hold_seconds) == (5, 1000, 259200)
    explicit = load_settings(LIMITS)
    assert (explicit.max_pending_orders, explicit.max_pending_units, explicit.order_hold_seconds) == (3, 20, 60)
    assert load_settings({"MAX_PENDING_ORDERS": ""}).max_pending_orders == 5


@pytest.mark.parametrize("value", ["0", "-1", "many", "1.5"])
def test_nonsense_limits_are_refused_at_start(value):
    with pytest.raises(ValueError, match="MAX_PENDING_UNITS"):
        load_settings({"MAX_PENDING_UNITS": value})


# ---- the arithmetic -----------------------------------------------------------------------------


def test_room_is_computed_in_code_because_conditions_cannot_subtract():
    limits = PendingLimits(max_orders=3, max_units=20)
    assert limits.orders_room() == 2  # at most 2 other PENDING orders for a third one
    assert limits.units_room(5) == 15
    assert limits.units_room(21) == -1  # no counter is ever that low: always refused
    assert limits.admits(2, 15, 5)  # exactly at both limits, the new order included
    assert not limits.admits(3, 0, 1)  # the fourth order
    assert not limits.admits(2, 16, 5)  # the 21st unit
    assert not limits.admits(0, 0, 21)


def test_the_409_names_what_is_held_and_the_limits():
    with pytest.raises(PendingLimitReached) as caught:
        PendingLimits(3, 20).check(3, 7, 1)
    error = caught.value
    assert (error.status, error.code) == (409, "pending_limit")
    assert error.details == {"pending_orders": 3, "pending_units": 7, "max_pending_orders": 3,
                             "max_pending_units": 20}


def test_hold_cutoff_is_in_the_stored_format_and_strict():
    now = datetime(2030, 1, 4, 0, 0, 0, tzinfo=UTC)
    assert hold_cutoff(now, 259200) == "2030-01-01T00:00:00.000000Z"
    order = new_order(order_id="o", number=1, customer_id="c", lines=[OrderLine("p", "P", 1, 100)],
                      now="2030-01-01T00:00:00.000000Z", customer_email=None, customer_phone=None,
                      request_hash=None)
    assert not hold_expired(order, now, 259200)  # exactly the hold: not yet
    assert hold_expired(order, now + timedelta(microseconds=1), 259200)
    assert not hold_expired(order.with_status(CANCELED, "x", "s"), now + timedelta(days=9), 259200)


# ---- the use cases on fakes ---------------------------------------------------------------------


@pytest.fixture
def world():
    settings = load_settings({"ADMIN_EMAILS": STAFF, **LIMITS})
    customers = InMemoryCustomerRepository()
    repo = InMemoryOrderRepository(settings, customers=customers)
    queue = InMemoryNotificationQueue()
    previous = use_services(Services(settings, customers=customers, orders=repo, queue=queue))
    yield repo, customers, queue
    use_services(previous)


def caller(customers, email, role="customer"):
    sub = "sub-" + email
    customers.create(Customer(sub, email, None, "+254711223344", role, "t", "t"))
    return Caller(Identity(sub=sub, email=email, name=None, email_verified=True))


def stock(repo, pid, amount):
    repo.table.add(pid, f"Product {pid}", 1000, None, amount)


def test_the_fourth_order_is_refused_with_nothing_reserved_or_sent(world):
    repo, customers, queue = world
    buyer = caller(customers, "ann@x.test")
    stock(repo, "p1", 100)
    for _ in range(3):
        orders.place_order(services(), buyer, [("p1", 1)])
    sent, stored = list(queue.sent), dict(repo.notifications)
    with pytest.raises(PendingLimitReached) as caught:
        orders.place_order(services(), buyer, [("p1", 1)])
    assert caught.value.details == {"pending_orders": 3, "pending_units": 3, "max_pending_orders": 3,
                                    "max_pending_units": 20}
    assert repo.products["p1"].reserved == 3 and len(repo.orders) == 3
    assert queue.sent == sent and repo.notifications == stored
    other = caller(customers, "bob@x.test")  # the limit is per customer
    orders.place_order(services(), other, [("p1", 1)])


def test_units_count_across_pending_orders_the_new_one_included(world):
    repo, customers, _ = world
    buyer = caller(customers, "cy@x.test")
    stock(repo, "p1", 100)
    stock(repo, "p2", 100)
    orders.place_order(services(), buyer, [("p1", 12)])
    orders.place_order(services(), buyer, [("p1", 4), ("p2", 4)])  # 20 units: exactly the limit
    with pytest.raises(PendingLimitReached) as caught:
        orders.place_order(services(), buyer, [("p2", 1)])  # the 21st
    assert caught.value.details["pending_units"] == 20
    with pytest.raises(PendingLimitReached):
        orders.place_order(services(), caller(customers, "dee@x.test"), [("p1", 21)])  # alone above the limit
    assert repo.products["p1"].reserved == 16 and repo.products["p2"].reserved == 4


def test_a_limit_is_reported_before_a_shortage(world):
    repo, customers, _ = world
    buyer = caller(customers, "eve@x.test")
    stock(repo, "p1", 100)
    stock(repo, "scarce", 0)
    for _ in range(3):
        orders.place_order(services(), buyer, [("p1", 1)])
    with pytest.raises(PendingLimitReached):
        orders.place_order(services(), buyer, [("scarce", 1)])
    with pytest.raises(InsufficientStock):
        orders.place_order(services(), caller(customers, "fay@x.test"), [("scarce", 1)])


def test_leaving_pending_frees_the_share_at_once(world):
    repo, customers, _ = world
    buyer = caller(customers, "gus@x.test")
    boss = caller(customers, STAFF, role="admin")
    stock(repo, "p1", 100)
    placed = [orders.place_order(services(), buyer, [("p1", 5)])[0] for _ in range(3)]
    assert repo.pending_of(buyer.id) == (3, 15)
    orders.change_status(services(), boss, placed[0], CANCELED)
    assert repo.pending_of(buyer.id) == (2, 10)
    orders.place_order(services(), buyer, [("p1", 10)])  # the freed slot, and the units up to 20
    orders.change_status(services(), boss, placed[1], COMPLETED)
    assert repo.pending_of(buyer.id) == (2, 15)
    with pytest.raises(InvalidTransition):  # a refused transition frees nothing twice
        orders.change_status(services(), boss, placed[1], CANCELED)
    assert repo.pending_of(buyer.id) == (2, 15)


def test_an_idempotent_replay_at_the_limit_returns_the_original(world):
    repo, customers, queue = world
    buyer = caller(customers, "hal@x.test")
    stock(repo, "p1", 100)
    first, _ = orders.place_order(services(), buyer, [("p1", 2)], "key-1")
    orders.place_order(services(), buyer, [("p1", 2)])
    orders.place_order(services(), buyer, [("p1", 2)])
    sent = list(queue.sent)
    again, replayed = orders.place_order(services(), buyer, [("p1", 2)], "key-1")
    assert replayed and again == first
    assert repo.pending_of(buyer.id) == (3, 6) and queue.sent == sent
    with pytest.raises(PendingLimitReached):  # a new key is a new order
        orders.place_order(services(), buyer, [("p1", 2)], "key-2")


def test_a_replay_whose_original_was_counted_but_not_yet_seen_is_still_a_replay(world):
    """BatchGetItem is no snapshot: it may see the counters of a concurrent same-key order but not the
    order itself; such a request must replay, not fail with pending_limit."""
    repo, customers, _ = world
    buyer = caller(customers, "ida@x.test")
    stock(repo, "p1", 100)
    first, _ = orders.place_order(services(), buyer, [("p1", 1)], "k")
    orders.place_order(services(), buyer, [("p1", 1)])
    orders.place_order(services(), buyer, [("p1", 1)])
    real = repo.load_for_placement

    def without_the_order(customer_id, product_ids, order_id):
        seen = real(customer_id, product_ids, order_id)
        seen.existing = None
        return seen

    repo.load_for_placement = without_the_order
    again, replayed = orders.place_order(services(), buyer, [("p1", 1)], "k")
    assert replayed and again.id == first.id


def test_expired_holds_are_cancelled_by_the_system_like_a_staff_cancel(world):
    repo, customers, queue = world
    buyer = caller(customers, "jo@x.test")
    stock(repo, "p1", 10)
    old, _ = orders.place_order(services(), buyer, [("p1", 4)])
    assert orders.expire_holds(services(), now=datetime.now(UTC) + timedelta(seconds=30)) == 0  # not yet
    young_at = datetime.now(UTC) + timedelta(seconds=45)
    assert orders.expire_holds(services(), now=young_at + timedelta(seconds=16)) == 1
    done = repo.orders[old.id]
    assert done.status == CANCELED
    assert (done.history[-1].status, done.history[-1].by) == (CANCELED, "system")
    assert repo.products["p1"].reserved == 0 and repo.pending_of(buyer.id) == (0, 0)
    assert queue.sent[-1] == f"{old.id}:order_cancelled:SMS"
    assert repo.notifications[queue.sent[-1]].message == "Sorry, +254711223344. Your order #1 has been cancelled."
    assert orders.expire_holds(services(), now=young_at + timedelta(days=1)) == 0  # once only


def test_expiry_and_staff_have_exactly_one_winner(world):
    repo, customers, _ = world
    buyer = caller(customers, "kim@x.test")
    boss = caller(customers, STAFF, role="admin")
    stock(repo, "p1", 10)
    later = datetime.now(UTC) + timedelta(seconds=61)
    approved, _ = orders.place_order(services(), buyer, [("p1", 1)])
    orders.change_status(services(), boss, approved, COMPLETED)
    expired, _ = orders.place_order(services(), buyer, [("p1", 1)])
    assert orders.expire_holds(services(), now=later) == 1  # only the one still PENDING
    with pytest.raises(InvalidTransition):
        orders.change_status(services(), boss, expired, COMPLETED)
    assert repo.orders[approved.id].status == COMPLETED and repo.orders[expired.id].status == CANCELED
    assert (repo.products["p1"].stock, repo.products["p1"].reserved) == (9, 0)


def test_expiry_pages_through_the_oldest_first(world, monkeypatch):
    repo, customers, _ = world
    monkeypatch.setattr(orders, "EXPIRY_PAGE", 2)
    stock(repo, "p1", 100)
    buyers = [caller(customers, f"b{i}@x.test") for i in range(5)]
    for buyer in buyers:
        orders.place_order(services(), buyer, [("p1", 1)])
    assert orders.expire_holds(services(), now=datetime.now(UTC) + timedelta(seconds=61)) == 5
    assert all(o.status == CANCELED for o in repo.orders.values())


def test_the_job_runs_every_minute_on_aws_and_every_ten_seconds_locally():
    from app import app
    from chalicelib.services.jobs import EXPIRE_HOLDS, PERIODIC_JOBS

    scheduled = {s.name: s for s in app.event_sources if type(s).__name__ == "ScheduledEventConfig"}
    assert scheduled["expire_order_holds"].schedule_expression.to_string() == "rate(1 minute)"
    assert EXPIRE_HOLDS in PERIODIC_JOBS and EXPIRE_HOLDS.run is orders.expire_holds
    assert EXPIRE_HOLDS.period == 60 and EXPIRE_HOLDS.local_period <= 10


# ---- the DynamoDB transactions, on a stubbed client -------------------------------------------


def failed(item=None):
    reason = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
    if item is not None:
        reason["Item"] = item
    return reason


NONE = {"Code": "None"}


@pytest.fixture
def stubbed():
    db = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    repo = DynamoOrderRepository(load_settings(LIMITS), db=db)
    repo._sleep = lambda _: None
    with Stubber(db) as stub:
        yield repo, stub
        stub.assert_no_pending_responses()


def an_order():
    return new_order(order_id="o1", number=1, customer_id="c1",
                     lines=[OrderLine("p1", "Pen", 2, 100), OrderLine("p2", "Ink", 5, 300)],
                     now="2024-01-01T00:00:00.000000Z", customer_email="c@x.test",
                     customer_phone="+254711223344", request_hash="h")


def cancel(stub, *reasons):
    stub.add_client_error(
        "transact_write_items", service_error_code="TransactionCanceledException",
        service_message="Transaction cancelled", http_status_code=400,
        modeled_fields={"CancellationReasons": list(reasons)},
    )


def test_the_customer_condition_failing_is_pending_limit_with_what_it_held(stubbed):
    repo, stub = stubbed
    customer = {"id": {"S": "c1"}, "pending_orders": {"N": "2"}, "pending_units": {"N": "14"}}
    short = failed({"id": {"S": "p2"}, "stock": {"N": "1"}, "reserved": {"N": "0"}, "available": {"N": "1"}})
    # order put, p1, p2 (also short), no notifications, the customer's counters
    cancel(stub, NONE, NONE, short, failed(customer))
    with pytest.raises(PendingLimitReached) as caught:
        repo.create(an_order(), [], PendingLimits(3, 20))
    assert caught.value.details == {"pending_orders": 2, "pending_units": 14, "max_pending_orders": 3,
                                    "max_pending_units": 20}
    cancel(stub, NONE, NONE, short, NONE)  # the counters had room: a real shortage
    with pytest.raises(InsufficientStock):
        repo.create(an_order(), [], PendingLimits(3, 20))


def test_a_transition_releases_the_counters_or_leaves_uncounted_orders_alone(stubbed):
    repo, stub = stubbed
    sent = []
    repo._db.meta.events.register("provide-client-params.dynamodb.TransactWriteItems",
                                  lambda params, **_: sent.append(params["TransactItems"]))
    entry = HistoryEntry(CANCELED, "2024-01-02T00:00:00.000000Z", "system")
    cancel(stub, NONE, NONE, NONE, failed())  # an order placed before the counters existed
    stub.add_response("transact_write_items", {}, {"TransactItems": ANY, "ClientRequestToken": ANY})
    done = repo.transition(an_order(), CANCELED, entry, [])
    assert done.status == CANCELED and done.history[-1].by == "system"
    release = sent[0][-1]["Update"]
    assert release["Key"] == {"id": {"S": "c1"}}
    assert release["UpdateExpression"] == "ADD pending_orders :minus_one, pending_units :minus_units"
    assert release["ExpressionAttributeValues"][":minus_units"] == {"N": "-7"}
    assert release["ConditionExpression"] == "pending_orders >= :one AND pending_units >= :units"
    assert [i["Update"]["Key"]["id"]["S"] for i in sent[1]] == ["o1", "p1", "p2"]  # retried without them


def test_expired_orders_come_from_one_index_query_never_a_scan(stubbed):
    repo, stub = stubbed
    stub.add_response("query", {"Items": [], "LastEvaluatedKey": {"id": {"S": "o9"}}}, {
        "TableName": "ekiosk-local-orders", "IndexName": "by-status",
        "KeyConditionExpression": "#st = :pending AND created_at < :cutoff",
        "ExpressionAttributeNames": {"#st": "status"},
        "ExpressionAttributeValues": {":pending": {"S": PENDING}, ":cutoff": {"S": "2030-01-01T00:00:00.000000Z"}},
        "ScanIndexForward": True, "Limit": 100,
    })
    found, after = repo.expired("2030-01-01T00:00:00.000000Z")
    assert found == [] and after == {"id": {"S": "o9"}}


def test_the_local_worker_runs_the_expiry_every_ten_seconds(monkeypatch):
    from chalicelib.runtime import worker as worker_module
    from chalicelib.services import jobs

    clock = {"now": 1000.0}
    ran: list[str] = []
    monkeypatch.setattr(worker_module.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(jobs, "PERIODIC_JOBS", tuple(
        dataclasses.replace(job, run=lambda svc, name=job.name: ran.append(name)) for job in jobs.PERIODIC_JOBS))
    monkeypatch.setattr(worker_module, "client", lambda service, settings: None)
    worker = worker_module.Worker(load_settings({"STAGE": "local"}))
    last_run: dict = {}
    expiry = jobs.EXPIRE_HOLDS.name
    worker.run_due_jobs(last_run)
    assert ran.count(expiry) == 1
    clock["now"] += 9
    worker.run_due_jobs(last_run)
    assert ran.count(expiry) == 1
    clock["now"] += 1
    worker.run_due_jobs(last_run)
    assert ran.count(expiry) == 2  # every 10 s, though PERIODIC_JOBS says 60 for AWS
    assert ran.count(jobs.SNAPSHOT_PRICES.name) == 1


def test_without_the_old_item_in_the_reason_the_counters_are_read_again(stubbed):
    repo, stub = stubbed
    cancel(stub, NONE, NONE, NONE, failed())
    stub.add_response("get_item", {"Item": {"id": {"S": "c1"}, "pending_orders": {"N": "3"}}}, {
        "TableName": "ekiosk-local-customers", "Key": {"id": {"S": "c1"}}, "ConsistentRead": True,
        "ProjectionExpression": "id, pending_orders, pending_units"})
    with pytest.raises(PendingLimitReached) as caught:
        repo.create(an_order(), [], PendingLimits(3, 20))
    assert (caught.value.pending_orders, caught.value.pending_units) == (3, 0)


def test_expiring_an_order_that_already_moved_on_is_a_no_op(world):
    repo, customers, queue = world
    buyer = caller(customers, "lu@x.test")
    boss = caller(customers, STAFF, role="admin")
    stock(repo, "p1", 10)
    order, _ = orders.place_order(services(), buyer, [("p1", 1)])
    done = orders.change_status(services(), boss, order, COMPLETED)
    sent = list(queue.sent)
    assert orders.expire_order(services(), done) is False  # a copy that says COMPLETED
    assert orders.expire_order(services(), order) is False  # a stale copy that still says PENDING
    assert repo.orders[order.id].status == COMPLETED and queue.sent == sent
