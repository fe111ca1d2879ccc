"""Delivery rules over in-memory fakes, through the SQS consumer (adapters/sqs_batch.py) as the Lambda and the
workers call it: once only, failure classes, backoff, poison, concurrency, sweeper."""

from __future__ import annotations

import time

import pytest

from chalicelib.adapters import sqs_batch
from chalicelib.bootstrap import Services
from chalicelib.config import load_settings
from chalicelib.domain.clock import iso
from chalicelib.domain.notifications import (
    FAILED,
    PENDING,
    SENT,
    DeliveryTuning,
    PermanentDeliveryError,
    Receipt,
    TransientDeliveryError,
)
from chalicelib.services import notifications as service
from tests.fakes.notifications import InMemoryNotificationRepository
from tests.fakes.queue import InMemoryNotificationQueue
from tests.fakes.senders import FakeEmailSender, FakeSmsSender
from tests.support.notifications import email_draft, sms_draft, sqs_record

NOW = "2030-01-01T00:00:00.000000Z"
KNOBS = DeliveryTuning(backoff_base=5, backoff_max=60, lease_seconds=30, sweep_age=120)


@pytest.fixture
def svc():
    return Services(load_settings({}), delivery=KNOBS, notifications=InMemoryNotificationRepository(),
                    queue=InMemoryNotificationQueue(), sms=FakeSmsSender("africastalking"),
                    email=FakeEmailSender("ses"))


def tuned(svc, knobs: DeliveryTuning) -> Services:
    """The same fakes with other delivery knobs."""
    return Services(svc.settings, delivery=knobs, notifications=svc.notifications, queue=svc.queue,
                    sms=svc.sms, email=svc.email)


def add(svc, *drafts, now=None):
    svc.notifications.add(list(drafts), now or iso(service._now()))
    return [d.id for d in drafts]


def run(svc, *records, knobs=KNOBS):
    return sqs_batch.handle_records(tuned(svc, knobs), list(records))


def test_a_message_is_sent_once_and_recorded_sent_with_the_provider_id(svc):
    draft = sms_draft()
    [nid] = add(svc, draft)
    assert run(svc, sqs_record(nid)) == []
    record = svc.notifications.get(nid)
    assert (record.status, record.attempts, record.error) == (SENT, 1, None)
    assert record.provider == "africastalking" and record.provider_message_id.startswith("africastalking-")
    assert record.sent_at and [(sent.to, sent.message) for sent in svc.sms.sent] == [(draft.recipient, draft.message)]


def test_email_goes_through_the_email_sender(svc):
    [nid] = add(svc, email_draft(to="a@x.test,b@x.test"))
    assert run(svc, sqs_record(nid)) == []
    assert svc.email.sent[0].addresses == ("a@x.test", "b@x.test") and svc.sms.sent == []
    assert svc.notifications.get(nid).provider == "ses"


def test_the_same_message_delivered_twice_sends_one_sms(svc):
    [nid] = add(svc, sms_draft())
    first = sqs_record(nid)
    assert run(svc, first) == []
    assert run(svc, dict(first, receiptHandle="another")) == []  # SQS redelivery
    assert run(svc, sqs_record(nid)) == []  # a second message for the same record (sweeper)
    assert len(svc.sms.sent) == 1
    assert svc.notifications.get(nid).attempts == 1


def test_the_same_record_twice_in_one_batch_is_sent_once(svc):
    [nid] = add(svc, sms_draft())
    svc.sms.latency = 0.05
    a, b = sqs_record(nid), sqs_record(nid)
    failed = run(svc, a, b)
    assert len(svc.sms.sent) == 1
    # the loser of the lease race is retried later (when it finds the record SENT and is acknowledged)
    assert len(failed) == 1
    assert run(svc, a if failed == [a["messageId"]] else b) == []
    assert len(svc.sms.sent) == 1


def test_transient_failure_keeps_the_message_with_a_growing_delay_then_it_is_delivered_once(svc):
    draft = sms_draft()
    [nid] = add(svc, draft)
    svc.sms.fail(draft.recipient, TransientDeliveryError("HTTP 500"), TransientDeliveryError("timed out"))
    for receives, delay in ((1, 5), (2, 10)):
        record = sqs_record(nid, receive_count=receives)
        assert run(svc, record) == [record["messageId"]]
        assert svc.queue.visibility[record["receiptHandle"]] == delay
        stored = svc.notifications.get(nid)
        assert (stored.status, stored.attempts, stored.lease_until) == (PENDING, receives, None)
        assert stored.error
    assert run(svc, sqs_record(nid, receive_count=3)) == []
    stored = svc.notifications.get(nid)
    assert (stored.status, stored.attempts, stored.error) == (SENT, 3, None)
    assert len(svc.sms.sent_to(draft.recipient)) == 1


def test_the_last_receive_before_the_dead_letter_queue_records_failed_with_the_error(svc):
    draft = sms_draft()
    [nid] = add(svc, draft)
    svc.sms.fail(draft.recipient, TransientDeliveryError("HTTP 503"))
    record = sqs_record(nid, receive_count=KNOBS.max_receives)
    assert run(svc, record) == [record["messageId"]]  # not deleted: SQS moves it to the DLQ
    assert svc.queue.visibility[record["receiptHandle"]] == 0
    stored = svc.notifications.get(nid)
    assert stored.status == FAILED and "HTTP 503" in stored.error and stored.attempts == 1


def test_permanent_failure_is_recorded_failed_at_once_and_the_message_acknowledged(svc):
    draft = sms_draft()
    [nid] = add(svc, draft)
    svc.sms.fail(draft.recipient, PermanentDeliveryError("UserInBlacklist (406)"))
    assert run(svc, sqs_record(nid)) == []
    stored = svc.notifications.get(nid)
    assert (stored.status, stored.error) == (FAILED, "UserInBlacklist (406)")
    assert run(svc, sqs_record(nid, receive_count=2)) == []  # not retried
    assert svc.sms.calls == [draft.recipient]


def test_an_unexpected_sender_error_is_treated_as_transient(svc):
    draft = sms_draft()
    [nid] = add(svc, draft)
    svc.sms.fail(draft.recipient, RuntimeError("boom"))
    record = sqs_record(nid)
    assert run(svc, record) == [record["messageId"]]
    assert "RuntimeError: boom" in svc.notifications.get(nid).error


def test_one_poison_message_among_ten_does_not_make_the_nine_be_sent_again(svc):
    ids = add(svc, *[sms_draft() for _ in range(8)])
    records = [sqs_record(nid) for nid in ids]
    records.insert(3, sqs_record(body="{not json"))
    records.insert(6, sqs_record("no-such-order:order_placed:SMS"))
    assert run(svc, *records) == []
    assert len(svc.sms.sent) == 8
    assert svc.queue.dead_lettered == ["{not json", '{"notification_id": "no-such-order:order_placed:SMS"}']
    assert run(svc, *records) == []  # even if the whole batch came back, nothing is sent again
    assert len(svc.sms.sent) == 8


def test_a_poison_message_is_left_to_sqs_when_it_cannot_be_dead_lettered(svc):
    def refuse(bodies):
        raise RuntimeError("SQS down")

    svc.queue.dead_letter = refuse
    poison = sqs_record(body="garbage")
    assert run(svc, poison) == [poison["messageId"]]


def test_a_batch_of_ten_with_50_ms_provider_latency_takes_about_50_ms(svc):
    svc.sms.latency = 0.05
    ids = add(svc, *[sms_draft() for _ in range(10)])
    run(svc, sqs_record(ids[0]))  # warm the thread pool
    started = time.perf_counter()
    assert run(svc, *[sqs_record(nid) for nid in ids[1:]]) == []
    elapsed = time.perf_counter() - started
    assert len(svc.sms.sent) == 10
    assert elapsed < 0.2, elapsed  # one at a time would take >= 0.45 s


def test_one_at_a_time_when_concurrency_is_one(svc):
    svc.sms.latency = 0.02
    ids = add(svc, *[sms_draft() for _ in range(5)])
    started = time.perf_counter()
    run(svc, *[sqs_record(nid) for nid in ids], knobs=DeliveryTuning(concurrency=1))
    assert time.perf_counter() - started >= 0.1


def test_an_attempt_in_flight_elsewhere_is_retried_after_its_lease(svc):
    [nid] = add(svc, sms_draft())
    now = service._now()
    state, _ = svc.notifications.begin_attempt(nid, iso(now),
                                               iso(now + service.timedelta(seconds=20)))
    assert state == "started"
    record = sqs_record(nid)
    assert run(svc, record) == [record["messageId"]]
    assert 15 <= svc.queue.visibility[record["receiptHandle"]] <= 20
    assert svc.sms.sent == []


def test_an_expired_lease_of_a_dead_worker_is_taken_over(svc):
    [nid] = add(svc, sms_draft())
    svc.notifications.begin_attempt(nid, "2000-01-01T00:00:00.000000Z", "2000-01-01T00:00:30.000000Z")
    assert run(svc, sqs_record(nid, receive_count=2)) == []
    stored = svc.notifications.get(nid)
    assert (stored.status, stored.attempts) == (SENT, 2)


def test_the_sweeper_re_enqueues_only_stale_pending_records_and_only_once_per_period(svc):
    stale, fresh, done = sms_draft(), sms_draft(), sms_draft()
    add(svc, stale, done, now="2000-01-01T00:00:00.000000Z")
    add(svc, fresh)
    svc.notifications.mark_sent(done.id, Receipt("x", "1"), "2000-01-01T00:00:01.000000Z")
    assert service.sweep_pending(svc) == 1
    assert svc.queue.sent == [stale.id]
    assert service.sweep_pending(svc) == 0  # touched: not again before sweep_age
    assert run(svc, sqs_record(stale.id)) == []
    assert svc.notifications.get(stale.id).status == SENT


def test_the_sweeper_leaves_records_to_a_later_run_when_the_queue_is_down(svc):
    add(svc, sms_draft(), now="2000-01-01T00:00:00.000000Z")
    svc.queue.fail_sends = True
    with pytest.raises(RuntimeError):
        service.sweep_pending(svc)
    svc.queue.fail_sends = False
    later = DeliveryTuning(sweep_age=0)
    time.sleep(0.01)
    assert service.sweep_pending(tuned(svc, later)) == 1


def test_listing_is_newest_first_filtered_by_order_and_paginated(svc):
    order = "o-list"
    for i, draft in enumerate([sms_draft(order, event=e) for e in ("order_placed", "order_approved")]):
        add(svc, draft, now=f"2030-01-01T00:00:0{i}.000000Z")
    add(svc, sms_draft(), now="2030-01-01T00:00:05.000000Z")
    page, cursor = service.list_notifications(svc, order, 1, None)
    assert [n.event for n in page] == ["order_approved"] and cursor
    rest, cursor = service.list_notifications(svc, order, 1, cursor)
    assert [n.event for n in rest] == ["order_placed"] and cursor is None
    assert len(service.list_notifications(svc, None, 50, None)[0]) == 3


def test_when_the_store_is_down_every_message_is_retried_with_backoff_and_nothing_is_sent(svc):
    [nid] = add(svc, sms_draft())

    def down(*args, **kwargs):
        raise ConnectionError("DynamoDB unreachable")

    svc.notifications.begin_attempts = down
    record = sqs_record(nid, receive_count=2)
    assert run(svc, record) == [record["messageId"]]
    assert svc.queue.visibility[record["receiptHandle"]] == 10
    assert svc.sms.sent == []


def test_a_sent_message_that_cannot_be_recorded_is_left_on_the_queue_without_a_new_delay(svc, monkeypatch):
    monkeypatch.setattr(service.time, "sleep", lambda seconds: None)
    [nid] = add(svc, sms_draft())

    def down(*args, **kwargs):
        raise ConnectionError("DynamoDB unreachable")

    svc.notifications.mark_sent_many = down
    record = sqs_record(nid)
    assert run(svc, record) == [record["messageId"]]
    assert record["receiptHandle"] not in svc.queue.visibility  # comes back after the queue's timeout
    assert svc.notifications.get(nid).status == PENDING and len(svc.sms.sent) == 1


def test_successes_are_recorded_while_a_slow_call_is_still_in_flight(svc):
    slow, fast = sms_draft(), sms_draft()
    add(svc, slow, fast)
    original = svc.sms.send
    seen_during_slow_call = []

    def send(to, message):
        if to == slow.recipient:
            time.sleep(0.3)
            seen_during_slow_call.append(svc.notifications.get(fast.id).status)
        return original(to, message)

    svc.sms.send = send
    assert run(svc, sqs_record(slow.id), sqs_record(fast.id)) == []
    assert seen_during_slow_call == [SENT]


def test_deliver_is_one_attempt_at_one_notification(svc):
    [nid] = add(svc, sms_draft())
    assert service.deliver(svc, nid).note == "sent"
    assert service.deliver(svc, nid).note == "already SENT"
    assert service.deliver(svc, "missing:order_placed:SMS").poison


def test_the_lease_outlasts_the_longest_provider_call():
    assert DeliveryTuning().lease == 30
    assert DeliveryTuning(lease_seconds=1, provider_timeout=4).lease == 3 + 4 + 1
