"""The DynamoDB order repository's decisions, on a stubbed client (no network): which cancellation
reasons are retried, which become 409s, and the block-wise order numbers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from chalicelib.adapters.dynamodb import retry
from chalicelib.adapters.dynamodb.order_numbers import NumberBlocks
from chalicelib.adapters.dynamodb.order_repository import DynamoOrderRepository
from chalicelib.config import load_settings
from chalicelib.domain.notifications import ORDER_PLACED, drafts_for
from chalicelib.domain.orders import (
    CANCELED,
    COMPLETED,
    HistoryEntry,
    InsufficientStock,
    InvalidTransition,
    OrderExists,
    OrderLine,
    TryAgain,
    UnknownProducts,
    new_order,
)

NONE = {"Code": "None"}
CONFLICT = {"Code": "TransactionConflict", "Message": "conflict"}


def failed(item: dict | None = None) -> dict:
    reason = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
    if item is not None:
        reason["Item"] = item
    return reason


def product_item(pid: str, stock: int, reserved: int) -> dict:
    return {"id": {"S": pid}, "stock": {"N": str(stock)}, "reserved": {"N": str(reserved)},
            "available": {"N": str(stock - reserved)}}


@pytest.fixture
def stubbed(monkeypatch):
    db = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    repo = DynamoOrderRepository(load_settings({}), db=db)
    sleeps: list[float] = []
    monkeypatch.setattr(retry, "sleep", sleeps.append)
    with Stubber(db) as stub:
        yield repo, stub, sleeps
        stub.assert_no_pending_responses()


def order():
    return new_order(
        order_id="o1", number=1, customer_id="c1",
        lines=[OrderLine("p1", "Pen", 2, 100), OrderLine("p2", "Ink", 5, 300)],
        now="2024-01-01T00:00:00.000000Z", customer_email="c@x.test", customer_phone="+254711223344",
        request_hash="h",
    )


def drafts(o):
    return drafts_for(ORDER_PLACED, order_id=o.id, number=o.number, customer_email="c@x.test",
                      customer_phone="+254711223344", staff_emails=("s@x.test",))


def cancel(stub, *reasons):
    stub.add_client_error(
        "transact_write_items", service_error_code="TransactionCanceledException",
        service_message="Transaction cancelled", http_status_code=400,
        modeled_fields={"CancellationReasons": list(reasons)},
    )


def test_place_is_one_transaction_with_order_reservations_and_notifications(stubbed):
    repo, stub, _ = stubbed
    o = order()
    captured = {}
    stub.add_response("transact_write_items", {}, {"TransactItems": ANY, "ClientRequestToken": ANY})
    repo._db.meta.events.register("provide-client-params.dynamodb.TransactWriteItems",
                                  lambda params, **_: captured.update(params))
    repo.create(o, drafts(o))
    items = captured["TransactItems"]
    assert [next(iter(i)) for i in items] == ["Put", "Update", "Update", "Put", "Put", "Update"]
    assert items[0]["Put"]["ConditionExpression"] == "attribute_not_exists(id)"
    reserve = items[1]["Update"]
    assert reserve["UpdateExpression"] == "SET reserved = reserved + :q, available = available - :q"
    assert reserve["ConditionExpression"] == "attribute_exists(id) AND available >= :q"  # no arithmetic
    assert reserve["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    notes = [i["Put"]["Item"] for i in items[3:5]]
    assert {n["id"]["S"] for n in notes} == {"o1:order_placed:EMAIL", "o1:order_placed:SMS"}
    assert all(n["pending"]["S"] == "PENDING" and n["status"]["S"] == "PENDING" for n in notes[:2])
    counters = items[5]["Update"]  # the customer's pending counters, against a room computed here
    assert counters["TableName"] == "ekiosk-local-customers" and counters["Key"] == {"id": {"S": "c1"}}
    assert counters["UpdateExpression"] == "ADD pending_orders :one, pending_units :units"
    assert counters["ExpressionAttributeValues"] == {
        ":one": {"N": "1"}, ":units": {"N": "7"}, ":orders_room": {"N": "4"}, ":units_room": {"N": "993"}}
    assert "pending_orders <= :orders_room" in counters["ConditionExpression"]
    assert "pending_units <= :units_room" in counters["ConditionExpression"]


def test_write_conflicts_are_retried_with_backoff_and_never_surface(stubbed):
    repo, stub, sleeps = stubbed
    o = order()
    cancel(stub, NONE, CONFLICT, NONE, NONE, NONE)
    cancel(stub, NONE, NONE, CONFLICT, NONE, NONE)
    stub.add_response("transact_write_items", {})
    repo.create(o, drafts(o))
    assert len(sleeps) == 2 and all(0 <= s <= 0.4 for s in sleeps)


def test_endless_conflicts_end_in_503_try_again(stubbed):
    repo, stub, sleeps = stubbed
    o = order()
    for _ in range(retry.MAX_ATTEMPTS):
        cancel(stub, NONE, CONFLICT, NONE, NONE, NONE)
    with pytest.raises(TryAgain) as caught:
        repo.create(o, drafts(o))
    assert caught.value.status == 503
    assert len(sleeps) == retry.MAX_ATTEMPTS - 1


def test_only_really_short_items_are_reported(stubbed):
    repo, stub, sleeps = stubbed
    o = order()
    cancel(stub, NONE, NONE, failed(product_item("p2", 10, 7)), NONE, NONE)
    with pytest.raises(InsufficientStock) as caught:
        repo.create(o, drafts(o))
    assert caught.value.details == [{"product_id": "p2", "requested": 5, "available": 3}]
    assert sleeps == []


def test_a_taken_order_id_is_a_replay_and_a_vanished_product_is_unknown(stubbed):
    repo, stub, _ = stubbed
    o = order()
    cancel(stub, failed({"id": {"S": "o1"}}), NONE, NONE, NONE, NONE)
    with pytest.raises(OrderExists):
        repo.create(o, drafts(o))
    cancel(stub, NONE, failed(), NONE, NONE, NONE)
    with pytest.raises(UnknownProducts) as caught:
        repo.create(o, drafts(o))
    assert caught.value.details == {"items.0.product_id": ["no such product"]}


def test_other_errors_are_not_retried(stubbed):
    repo, stub, sleeps = stubbed
    o = order()
    stub.add_client_error("transact_write_items", service_error_code="ValidationException", http_status_code=400)
    with pytest.raises(ClientError):
        repo.create(o, drafts(o))
    assert sleeps == []


def test_transition_reports_the_current_status_or_the_shortage(stubbed):
    repo, stub, _ = stubbed
    o = order()
    entry = HistoryEntry(COMPLETED, "2024-01-02T00:00:00.000000Z", "staff")
    cancel(stub, failed({"id": {"S": "o1"}, "status": {"S": "CANCELED"}}), NONE, NONE)
    with pytest.raises(InvalidTransition) as caught:
        repo.transition(o, COMPLETED, entry, [])
    assert caught.value.details == {"from": "CANCELED", "to": COMPLETED}
    cancel(stub, NONE, NONE, failed(product_item("p2", 4, 5)))
    with pytest.raises(InsufficientStock) as short:
        repo.transition(o, COMPLETED, entry, [])
    assert short.value.details == [{"product_id": "p2", "requested": 5, "available": 4}]


def test_cancel_skips_products_that_no_longer_exist(stubbed):
    repo, stub, _ = stubbed
    o = order()
    entry = HistoryEntry(CANCELED, "2024-01-02T00:00:00.000000Z", "staff")
    cancel(stub, NONE, failed(), NONE)  # p1 was deleted
    sent = []
    repo._db.meta.events.register("provide-client-params.dynamodb.TransactWriteItems",
                                  lambda params, **_: sent.append(params["TransactItems"]))
    stub.add_response("transact_write_items", {})
    done = repo.transition(o, CANCELED, entry, [])
    assert done.status == CANCELED
    assert [i["Update"]["Key"]["id"]["S"] for i in sent[-1]] == ["o1", "p2", "c1"]  # c1: its counters


def test_number_blocks_are_unique_under_threads():
    counter = {"value": 0}
    lock = threading.Lock()
    calls = []

    def reserve(size):
        with lock:
            counter["value"] += size
            calls.append(size)
            return counter["value"]

    blocks = [NumberBlocks(reserve, size=20) for _ in range(3)]
    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(lambda i: blocks[i % 3].next(), range(300)))
    assert len(set(numbers)) == 300 and min(numbers) >= 1
    assert len(calls) <= 300 // 20 + 3  # one counter update per block, not per order


def test_ids_dynamodb_would_refuse_are_simply_not_found(stubbed):
    repo, _, _ = stubbed  # no response queued: any request would fail the test
    for order_id in ("", "x" * 1025, "\ud800"):
        assert repo.get(order_id) is None


def test_batched_read_retries_only_unprocessed_keys(stubbed):
    repo, stub, sleeps = stubbed
    products = repo._table("products")
    customers = repo._table("customers")
    customer = {"id": {"S": "c1"}, "email": {"S": "c@x.test"}, "role": {"S": "customer"},
                "phone_number": {"S": "+254711223344"}, "created_at": {"S": "t"}, "updated_at": {"S": "t"}}
    product = {**product_item("p1", 5, 1), "name": {"S": "Pen"}, "price_cents": {"N": "100"}}
    stub.add_response("batch_get_item", {
        "Responses": {customers: [customer]},
        "UnprocessedKeys": {products: {"Keys": [{"id": {"S": "p1"}}], "ConsistentRead": True}},
    })
    stub.add_response("batch_get_item", {"Responses": {products: [product]}},
                      {"RequestItems": {products: {"Keys": [{"id": {"S": "p1"}}], "ConsistentRead": True}}})
    seen = repo.load_for_placement("c1", ["p1"], None)
    assert seen.customer.phone_number == "+254711223344" and seen.existing is None
    assert seen.products["p1"].available == 4 and seen.products["p1"].price_cents == 100
    assert len(sleeps) == 1
