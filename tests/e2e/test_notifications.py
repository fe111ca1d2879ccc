"""Notifications over HTTP against a running stack (SPEC §8), with a fake Africa's Talking server.

One private stack for the whole module, pointed at the fake (AT_BASE_URL) with short retry delays;
the orders API drives the events, `GET /notifications` and the fake's log show the outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import requests

from chalicelib.adapters.dynamodb.notifications import pending_record
from chalicelib.config import load_settings
from chalicelib.domain.notifications import NotificationDraft, message_body
from chalicelib.resources import NOTIFICATIONS_QUEUE
from tests.support.fake_africastalking import FakeAfricasTalking
from tests.support.notifications import wait_until
from tests.support.orders import Seeder, customer_session, next_phone, unique
from tests.support.stack import ROOT, STAFF_EMAIL, TEST_FAULTS, eventually, iam_denials, launch, observed, stop

FIELDS = ["id", "order_id", "event", "channel", "recipient", "message", "status", "attempts",
          "provider_message_id", "error", "created_at", "sent_at"]
FAST = {"NOTIFY_BACKOFF_BASE_SECONDS": "1", "NOTIFY_BACKOFF_MAX_SECONDS": "0", "NOTIFY_LEASE_SECONDS": "3",
        "NOTIFY_PROVIDER_TIMEOUT_SECONDS": "1", "NOTIFY_SWEEP_AGE_SECONDS": "4", "NOTIFY_SWEEP_INTERVAL_SECONDS": "1"}


def attempts_were(actual: int, expected: int) -> bool:
    """Exactly `expected` on a faithful emulator. Under the realism tier's faults the count is not a promise: SQS's
    receive count, which ends the retries, and the attempts drift apart (a receive lost to a 500, a duplicate
    delivery), and a message hidden by a lost receive leaves the record untouched long enough for the sweeper to
    enqueue it again, after which two messages count their receives apart (17 attempts were seen). SPEC §8's
    promises (retried for minutes, then FAILED; sent at most once) are checked apart, in both tiers."""
    return actual == expected if not os.environ.get(TEST_FAULTS) else actual >= 1


@pytest.fixture(scope="module")
def fake():
    with FakeAfricasTalking(username="sandbox", api_key="k") as server:
        yield server


@pytest.fixture(scope="module")
def at_stack(fake, tmp_path_factory):
    running = launch(tmp_path_factory.mktemp("notify-stack") / "data", AT_USERNAME="sandbox", AT_API_KEY="k",
                     AT_BASE_URL=fake.url, AT_SENDER_ID="EKIOSK", **FAST)
    yield running
    denied = iam_denials(running)
    stop(running)
    assert denied == [], "a process of the stack did something its function's IAM policy does not allow"


@pytest.fixture(scope="module")
def seed(at_stack):
    return Seeder.for_endpoint(at_stack.aws_endpoint)


@pytest.fixture(scope="module")
def staff_session(at_stack):
    return at_stack.session(STAFF_EMAIL)


@pytest.fixture
def clean(fake):
    fake.reset()
    return fake


def place(stack, seed, session, quantity: int = 1) -> dict:
    product = seed.product(stock=10, price_cents=1_000)
    answer = session.post(stack.api + "/orders", json={"items": [{"product_id": product, "quantity": quantity}]},
                          timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()


def phone_of(stack, session) -> str:
    return session.get(stack.api + "/me", timeout=30).json()["phone_number"]


def records_of(stack, staff, order_id: str) -> dict[tuple[str, str], dict]:
    answer = staff.get(stack.api + "/notifications", params={"order_id": order_id}, timeout=30)
    assert answer.status_code == 200, answer.text
    return {(n["event"], n["channel"]): n for n in answer.json()["items"]}


def settled(stack, staff, order_id: str, expected: int, timeout: float = 10.0) -> dict:
    """Waits until the order has `expected` records and none is PENDING."""
    def check():
        records = records_of(stack, staff, order_id)
        if len(records) == expected and all(r["status"] != "PENDING" for r in records.values()):
            return records
        return None

    return wait_until(check, timeout=timeout, interval=0.1, what=f"the notifications of {order_id}")


def test_placing_approving_and_cancelling_send_the_exact_texts_once_and_record_them_sent(
        at_stack, seed, staff_session, clean):
    buyer_email = f"{unique('buyer')}@ekiosk.test"
    buyer = customer_session(at_stack, seed, email=buyer_email)
    phone = phone_of(at_stack, buyer)
    started = time.monotonic()
    first = place(at_stack, seed, buyer)
    records = settled(at_stack, staff_session, first["id"], 2)
    assert time.monotonic() - started < 10  # SPEC: first attempted within 10 s of the event
    number = first["number"]

    sms = records[("order_placed", "SMS")]
    assert list(sms) == FIELDS
    assert sms["message"] == f"Hello {phone} your order #{number} has been placed successfully."
    assert (sms["recipient"], sms["status"], sms["attempts"], sms["error"]) == (phone, "SENT", 1, None)
    assert sms["id"] == f"{first['id']}:order_placed:SMS" and sms["order_id"] == first["id"]
    [delivered] = clean.delivered_to(phone)
    assert (delivered.message, delivered.sender) == (sms["message"], "EKIOSK")
    assert sms["provider_message_id"] == delivered.message_id and sms["sent_at"] >= sms["created_at"]

    email = records[("order_placed", "EMAIL")]
    assert email["message"] == f"A new order (#{number}) placed for {buyer_email} requires your attention."
    assert (email["recipient"], email["status"]) == (STAFF_EMAIL, "SENT")
    assert email["provider_message_id"]  # SES's MessageId

    answer = staff_session.patch(f"{at_stack.api}/orders/{first['id']}", json={"status": "COMPLETED"}, timeout=30)
    assert answer.status_code == 200, answer.text
    approved = settled(at_stack, staff_session, first["id"], 3)[("order_approved", "SMS")]
    assert approved["message"] == f"Good news, {phone}! Your order #{number} has been approved."
    assert approved["status"] == "SENT"

    second = place(at_stack, seed, buyer)
    settled(at_stack, staff_session, second["id"], 2)
    answer = staff_session.patch(f"{at_stack.api}/orders/{second['id']}", json={"status": "cancelled"}, timeout=30)
    assert answer.status_code == 200, answer.text
    cancelled = settled(at_stack, staff_session, second["id"], 3)[("order_cancelled", "SMS")]
    assert cancelled["message"] == f"Sorry, {phone}. Your order #{second['number']} has been cancelled."

    assert [r.message for r in clean.delivered_to(phone)] == [
        f"Hello {phone} your order #{number} has been placed successfully.",
        f"Good news, {phone}! Your order #{number} has been approved.",
        f"Hello {phone} your order #{second['number']} has been placed successfully.",
        f"Sorry, {phone}. Your order #{second['number']} has been cancelled.",
    ]


def test_the_list_is_staff_only_paginated_and_validated(at_stack, seed, staff_session, clean):
    buyer = customer_session(at_stack, seed)
    order = place(at_stack, seed, buyer)
    settled(at_stack, staff_session, order["id"], 2)
    url = at_stack.api + "/notifications"
    assert requests.get(url, timeout=30).status_code == 401
    forbidden = buyer.get(url, timeout=30)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    first = staff_session.get(url, params={"order_id": order["id"], "limit": 1}, timeout=30).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    rest = staff_session.get(url, params={"order_id": order["id"], "cursor": first["next_cursor"]}, timeout=30).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {first["items"][0]["channel"], rest["items"][0]["channel"]} == {"SMS", "EMAIL"}
    everything = staff_session.get(url, timeout=30).json()
    assert set(everything) == {"items", "next_cursor"} and len(everything["items"]) >= 2
    assert staff_session.get(url, params={"order_id": "no-such-order"}, timeout=30).json() == {
        "items": [], "next_cursor": None}
    for params in ({"limit": 0}, {"limit": "x"}, {"order_id": ""}, {"order_id": "x" * 201}, {"cursor": "%%%"}):
        answer = staff_session.get(url, params=params, timeout=30)
        assert answer.status_code == 400, (params, answer.text)
        assert set(answer.json()["error"]) == {"code", "message", "details"}


def test_sms_provider_500s_then_recovery_deliver_exactly_once(at_stack, seed, staff_session, clean):
    buyer = customer_session(at_stack, seed)
    phone = phone_of(at_stack, buyer)
    clean.fail_next(2, 500)
    order = place(at_stack, seed, buyer)
    sms = settled(at_stack, staff_session, order["id"], 2, timeout=20)[("order_placed", "SMS")]
    assert sms["status"] == "SENT" and sms["attempts"] >= 2 and sms["error"] is None
    assert len(clean.delivered_to(phone)) == 1
    assert [r.outcome for r in clean.received_for(phone)] == ["http 500", "http 500", "delivered"]


def test_a_hanging_sms_provider_times_out_and_is_retried(at_stack, seed, staff_session, clean):
    buyer = customer_session(at_stack, seed)
    phone = phone_of(at_stack, buyer)
    clean.hang_next(1, seconds=15)
    order = place(at_stack, seed, buyer)
    sms = settled(at_stack, staff_session, order["id"], 2, timeout=12)[("order_placed", "SMS")]
    clean.release()
    assert sms["status"] == "SENT" and sms["attempts"] == 2
    assert [r.outcome for r in clean.received_for(phone)] == ["hung", "delivered"]


def test_a_blacklisted_customer_is_recorded_failed_and_not_retried(at_stack, seed, staff_session, clean):
    buyer = customer_session(at_stack, seed)
    phone = phone_of(at_stack, buyer)
    clean.blacklist(phone)
    order = place(at_stack, seed, buyer)
    sms = settled(at_stack, staff_session, order["id"], 2)[("order_placed", "SMS")]
    assert sms["status"] == "FAILED" and sms["attempts"] == 1 and "UserInBlacklist" in sms["error"]
    assert sms["provider_message_id"] is None and sms["sent_at"] is None
    time.sleep(1.5)  # retries would be immediate here (no backoff in this stack): none arrives
    assert len(clean.received_for(phone)) == 1
    assert records_of(at_stack, staff_session, order["id"])[("order_placed", "SMS")]["attempts"] == 1


def _sqs(stack):
    import boto3

    return observed(boto3.client("sqs", endpoint_url=stack.aws_endpoint, region_name="us-east-1",
                                 aws_access_key_id="testing", aws_secret_access_key="testing"))


def _queue_url(stack, name="notifications"):
    return _sqs(stack).get_queue_url(QueueName=f"ekiosk-local-{name}")["QueueUrl"]


def test_the_same_message_enqueued_again_sends_nothing_twice(at_stack, seed, staff_session, clean):
    buyer = customer_session(at_stack, seed)
    phone = phone_of(at_stack, buyer)
    order = place(at_stack, seed, buyer)
    settled(at_stack, staff_session, order["id"], 2)
    sqs = _sqs(at_stack)
    for _ in range(2):
        sqs.send_message(QueueUrl=_queue_url(at_stack), MessageBody=message_body(f"{order['id']}:order_placed:SMS"))
    # Under the realism tier messages (these or an earlier test's) can sit invisible for a whole visibility timeout
    # before they are consumed: a ReceiveMessage whose answer was lost to a 500 after it took effect hides them, and
    # a duplicate delivery reappears only after it. Two such timeouts in a row are rare but seen on a busy machine.
    lingering = 2 * NOTIFICATIONS_QUEUE.visibility_timeout if os.environ.get(TEST_FAULTS) else 0
    wait_until(lambda: not any(int(v) for v in sqs.get_queue_attributes(
        QueueUrl=_queue_url(at_stack), AttributeNames=["ApproximateNumberOfMessages",
                                                       "ApproximateNumberOfMessagesNotVisible"])[
        "Attributes"].values()), timeout=10 + lingering, what="the duplicates to be consumed")
    assert len(clean.delivered_to(phone)) == 1
    assert records_of(at_stack, staff_session, order["id"])[("order_placed", "SMS")]["attempts"] == 1


def test_one_poison_message_among_ten_leaves_the_nine_sent_once(at_stack, seed, staff_session, clean):
    table = "ekiosk-local-notifications"
    order_id = f"o-{uuid.uuid4().hex[:10]}"
    phones = [next_phone() for _ in range(9)]
    ids = []
    for i, phone in enumerate(phones):
        draft = NotificationDraft(order_id, ("order_placed", "order_approved", "order_cancelled")[i % 3],
                                  "SMS", phone, f"message {i} for {phone}")
        draft = NotificationDraft(f"{order_id}-{i}", draft.event, "SMS", phone, draft.message)
        seed.db.put_item(TableName=table, Item=pending_record(draft, time.strftime("%Y-%m-%dT%H:%M:%S.000000Z",
                                                                                 time.gmtime())).serialize())
        ids.append(draft.id)
    entries = [{"Id": str(i), "MessageBody": message_body(nid)} for i, nid in enumerate(ids)]
    entries.insert(4, {"Id": "poison", "MessageBody": "{\"notification_id\": 42}"})
    _sqs(at_stack).send_message_batch(QueueUrl=_queue_url(at_stack), Entries=entries)
    wait_until(lambda: all(len(clean.delivered_to(p)) == 1 for p in phones), what="the nine SMS")
    time.sleep(2)
    assert sorted(r.to for r in clean.delivered) == sorted(phones)
    dead = _sqs(at_stack).receive_message(QueueUrl=_queue_url(at_stack, "notifications-dlq"),
                                          MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    assert "{\"notification_id\": 42}" in [m["Body"] for m in dead]


def test_an_enqueue_failing_after_the_commit_is_delivered_by_the_sweeper(at_stack, seed, staff_session, clean):
    from chalicelib.runtime.bootstrap import ensure_queues

    buyer = customer_session(at_stack, seed)
    phone = phone_of(at_stack, buyer)
    sqs = _sqs(at_stack)
    sqs.delete_queue(QueueUrl=_queue_url(at_stack))  # SQS is unavailable when the order commits
    try:
        order = place(at_stack, seed, buyer)  # still 201: the records are committed, PENDING
        records = eventually(lambda: records_of(at_stack, staff_session, order["id"]), bool)  # the list may lag
        assert {r["status"] for r in records.values()} == {"PENDING"}
    finally:
        ensure_queues(load_settings({"STAGE": "local", "AWS_ENDPOINT_URL": at_stack.aws_endpoint}))
    records = settled(at_stack, staff_session, order["id"], 2, timeout=20)
    assert {r["status"] for r in records.values()} == {"SENT"}
    assert len(clean.delivered_to(phone)) == 1


def test_transient_failures_end_failed_in_the_dead_letter_queue_and_make_redrive_delivers(
        at_stack, seed, staff_session, clean):
    buyer = customer_session(at_stack, seed)
    phone = phone_of(at_stack, buyer)
    clean.fail_next(100, 503)
    order = place(at_stack, seed, buyer)
    sms = settled(at_stack, staff_session, order["id"], 2, timeout=40)[("order_placed", "SMS")]
    assert sms["status"] == "FAILED" and "503" in sms["error"] and attempts_were(sms["attempts"], 9)
    failed_attempts = sms["attempts"]
    dlq = _queue_url(at_stack, "notifications-dlq")
    wait_until(lambda: int(_sqs(at_stack).get_queue_attributes(QueueUrl=dlq, AttributeNames=[
        "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"]) >= 1,
        timeout=10, what="the message in the dead-letter queue")

    clean.reset()
    out = subprocess.run([sys.executable, "-m", "chalicelib.runtime.redrive"], cwd=ROOT, env=at_stack.env,
                         capture_output=True, text=True, timeout=60, check=True)
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["moved"] >= 1 and summary["reset"] >= 1
    sms = settled(at_stack, staff_session, order["id"], 2)[("order_placed", "SMS")]
    assert sms["status"] == "SENT" and attempts_were(sms["attempts"], failed_attempts + 1)
    assert len(clean.delivered_to(phone)) == 1


def test_without_an_account_sms_land_in_the_local_outbox(stack, staff):
    seed = Seeder.for_endpoint(stack.aws_endpoint)
    buyer = customer_session(stack, seed)
    phone = phone_of(stack, buyer)
    order = place(stack, seed, buyer)
    sms = settled(stack, staff, order["id"], 2)[("order_placed", "SMS")]
    assert sms["status"] == "SENT" and sms["provider_message_id"].startswith("local-sink-")
    outbox = [json.loads(line) for line in (stack.data_dir / "sms-outbox.jsonl").read_text().splitlines()]
    assert [(x["to"], x["message"]) for x in outbox if x["messageId"] == sms["provider_message_id"]] == [
        (phone, sms["message"])]
