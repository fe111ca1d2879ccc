"""The notification pipeline against the real emulator (DynamoDB, SQS with its dead-letter queue, SES)
and the fake Africa's Talking server over HTTP, driven by the real worker.

The tests run in a private stage (their own tables and queues in the shared emulator), so messages of
other areas' tests never mix with theirs. PENDING records are written as the order transaction writes
them, then enqueued (or not, to play a failed enqueue).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from chalicelib import bootstrap as wiring
from chalicelib.adapters.aws import client
from chalicelib.adapters.dynamodb.base import bind_models
from chalicelib.adapters.dynamodb.notification_repository import DynamoNotificationRepository
from chalicelib.adapters.email import SesEmailSender
from chalicelib.adapters.queue import SqsNotificationQueue
from chalicelib.adapters.sms import AfricasTalkingSender, LocalSmsSink
from chalicelib.config import get_settings, load_settings
from chalicelib.domain.clock import iso
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.notifications import FAILED, PENDING, SENT, DeliveryTuning, Receipt
from chalicelib.resources import NOTIFICATIONS_QUEUE
from chalicelib.runtime.bootstrap import bootstrap, ensure_queues
from chalicelib.runtime.worker import Worker
from chalicelib.services import notifications as service
from tests.support.fake_africastalking import FakeAfricasTalking
from tests.support.notifications import email_draft, sms_draft, wait_until

ROOT = Path(__file__).resolve().parents[2]
FROM = "no-reply@ekiosk.test"
# Short delays for tests (production: 5 s doubling to 60 s, lease 30 s, sweep after 120 s).
# A provider timeout of 0.5 s fired now and then on a busy 2-core CI machine (a retry: attempts 2, not 1).
FAST = {"NOTIFY_BACKOFF_BASE_SECONDS": "0.2", "NOTIFY_BACKOFF_MAX_SECONDS": "0", "NOTIFY_LEASE_SECONDS": "1",
        "NOTIFY_SWEEP_AGE_SECONDS": "0.5", "NOTIFY_PROVIDER_TIMEOUT_SECONDS": "2"}


@pytest.fixture(scope="module")
def fake():
    with FakeAfricasTalking(username="sandbox", api_key="k") as server:
        yield server


@pytest.fixture(scope="module")
def stage(emulator, tmp_path_factory):
    """A private stage in the shared emulator: its own tables and queues, models bound to them."""
    env = {**os.environ, "STAGE": f"nt{uuid.uuid4().hex[:8]}", "DEFAULT_FROM_EMAIL": FROM,
           "EKIOSK_DATA_DIR": str(tmp_path_factory.mktemp("notify-data"))}
    settings = load_settings(env)
    bootstrap(settings)
    client("ses", settings).verify_email_identity(EmailAddress=FROM)
    bind_models(settings)
    yield settings
    bind_models(get_settings())


@pytest.fixture
def knobs(monkeypatch):
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    return DeliveryTuning.from_env(os.environ)


_queues = itertools.count(1)


@pytest.fixture
def queues(stage):
    """Fresh queues (with the dead-letter queue and redrive policy of resources.py) for each test."""
    settings = dataclasses.replace(stage, stage=f"{stage.stage}-q{next(_queues)}")
    ensure_queues(settings)
    return settings


@pytest.fixture
def svc(stage, queues, fake, knobs):
    fake.reset()
    queue = SqsNotificationQueue(queues)
    services = wiring.Services(
        stage, notifications=DynamoNotificationRepository(stage), queue=queue,
        sms=AfricasTalkingSender("sandbox", "k", sender_id="EKIOSK", base_url=fake.url, tuning=knobs),
        email=SesEmailSender(stage, tuning=knobs),
    )
    previous = wiring.use_services(services)
    yield services
    wiring.use_services(previous)


def quick(worker: Worker) -> Worker:
    worker.poll_seconds = 0  # the tests poll in a loop themselves
    return worker


@pytest.fixture
def worker(svc, queues):
    return quick(Worker(queues))


def add(svc, *drafts, enqueue=True):
    ids = svc.notifications.add(list(drafts), iso(service._now()))
    if enqueue:
        svc.queue.send(ids)
    return ids


def drain(worker, svc, ids, timeout=10.0):
    """Polls until every record is final and the queue is empty; returns the records."""
    def finished():
        worker.poll_once()
        records = [svc.notifications.get(nid) for nid in ids]
        depth = svc.queue.depth()
        if all(r.status != PENDING for r in records) and depth["visible"] + depth["in_flight"] == 0:
            return records
        return None

    return wait_until(finished, timeout=timeout, interval=0.02, what="every notification to be final")


def test_repository_conditions_hold_on_dynamodb(svc):
    repo = svc.notifications
    draft = sms_draft()
    [nid] = add(svc, draft, enqueue=False)
    assert repo.add([draft], "2030-01-01T00:00:00.000000Z") == []  # one record per (order, event, channel)
    state, first = repo.begin_attempt(nid, "2030-01-01T00:00:00.000000Z", "2030-01-01T00:00:30.000000Z")
    assert state == "started" and first.attempts == 1
    assert repo.begin_attempt(nid, "2030-01-01T00:00:10.000000Z", "2030-01-01T00:00:40.000000Z")[0] == "busy"
    state, second = repo.begin_attempt(nid, "2030-01-01T00:00:31.000000Z", "2030-01-01T00:01:01.000000Z")
    assert state == "started" and second.attempts == 2
    assert repo.mark_sent(nid, Receipt("ses", "m-1"), "2030-01-01T00:00:32.000000Z")
    assert not repo.mark_sent(nid, Receipt("ses", "m-2"), "2030-01-01T00:00:33.000000Z")
    assert not repo.mark_failed(nid, "late", "2030-01-01T00:00:34.000000Z")
    stored = repo.get(nid)
    assert (stored.status, stored.provider_message_id, stored.lease_until) == (SENT, "m-1", None)
    assert repo.begin_attempt(nid, "2030-01-02T00:00:00.000000Z", "2030-01-02T00:00:30.000000Z")[0] == "finished"
    assert repo.begin_attempt("nope:order_placed:SMS", "2030", "2031")[0] == "missing"


def test_batch_starts_take_every_free_lease_in_one_transaction_and_fall_back_on_a_race(svc, monkeypatch):
    repo = svc.notifications
    free, leased, done, racing = (sms_draft() for _ in range(4))
    add(svc, free, leased, done, racing, enqueue=False)
    repo.begin_attempt(leased.id, "2030-01-01T00:00:00.000000Z", "2030-01-01T00:10:00.000000Z")
    repo.mark_sent(done.id, Receipt("x", "1"), "2030-01-01T00:00:00.000000Z")
    states = repo.begin_attempts([free.id, leased.id, done.id, "nope:order_placed:SMS"],
                                 "2030-01-01T00:01:00.000000Z", "2030-01-01T00:01:30.000000Z")
    assert {nid: state for nid, (state, _) in states.items()} == {
        free.id: "started", leased.id: "busy", done.id: "finished", "nope:order_placed:SMS": "missing"}
    assert states[free.id][1].attempts == 1 and states[free.id][1].recipient == free.recipient
    assert repo.get(free.id).lease_until == "2030-01-01T00:01:30.000000Z"

    # another worker starts `racing` between our read and our transaction: the transaction is cancelled
    # and each record is decided on its own
    from chalicelib.adapters.dynamodb import retry

    real_batch_get = retry.model_batch_get

    def stale_read(model, ids, **kwargs):
        snapshot = real_batch_get(model, ids, **kwargs)
        repo.begin_attempt(racing.id, "2030-01-01T00:02:00.000000Z", "2030-01-01T00:12:00.000000Z")
        return snapshot

    monkeypatch.setattr(retry, "model_batch_get", stale_read)
    states = repo.begin_attempts([racing.id, free.id], "2030-01-01T00:03:00.000000Z", "2030-01-01T00:03:30.000000Z")
    assert states[racing.id][0] == "busy" and states[free.id][0] == "started"
    assert repo.get(racing.id).attempts == 1 and repo.get(free.id).attempts == 2


def test_batch_sent_records_fall_back_one_by_one_when_one_is_no_longer_pending(svc):
    repo = svc.notifications
    a, b, c = (sms_draft() for _ in range(3))
    add(svc, a, b, c, enqueue=False)
    repo.mark_failed(b.id, "failed elsewhere", "2030-01-01T00:00:00.000000Z")
    recorded = repo.mark_sent_many({n.id: Receipt("africastalking", f"AT-{n.id}") for n in (a, b, c)},
                                   "2030-01-01T00:00:01.000000Z")
    assert recorded == {a.id, c.id}
    assert [repo.get(n.id).status for n in (a, b, c)] == [SENT, FAILED, SENT]
    assert repo.get(c.id).provider_message_id == f"AT-{c.id}"
    assert repo.mark_sent_many({a.id: Receipt("x", "y"), c.id: Receipt("x", "z")}, "2030") == set()


def test_listing_pages_through_dynamodb_indexes(svc):
    order = f"o-{uuid.uuid4().hex[:8]}"
    ids = add(svc, sms_draft(order, event="order_placed"), enqueue=False)
    time.sleep(0.002)
    ids += add(svc, email_draft(order), enqueue=False)
    time.sleep(0.002)
    ids += add(svc, sms_draft(order, event="order_cancelled"), enqueue=False)
    first, cursor = service.list_notifications(svc, order, 2, None)
    second, last_cursor = service.list_notifications(svc, order, 2, cursor)
    assert [n.id for n in first + second] == ids[::-1]
    assert last_cursor is None
    everything, _ = service.list_notifications(svc, None, 100, None)
    assert everything[0].id == ids[-1]  # newest first across orders
    with pytest.raises(InvalidInput):
        service.list_notifications(svc, order, 2, service.list_notifications(svc, None, 1, None)[1] + "x")


def test_the_worker_sends_sms_and_email_once_and_records_them_sent(svc, worker, fake):
    drafts = [sms_draft() for _ in range(9)] + [email_draft(to="staff@ekiosk.test,boss@ekiosk.test")]
    ids = add(svc, *drafts)
    records = drain(worker, svc, ids)
    assert all(r.status == SENT and r.attempts == 1 and r.sent_at for r in records)
    for draft, record in zip(drafts[:9], records, strict=False):
        [received] = fake.delivered_to(draft.recipient)
        assert (received.message, received.sender) == (draft.message, "EKIOSK")
        assert record.provider == "africastalking" and record.provider_message_id == received.message_id
    email = records[-1]
    assert email.provider == "ses" and email.provider_message_id
    ses = client("ses", svc.settings)
    assert ses.get_send_quota()["SentLast24Hours"] >= 2
    for _ in range(3):
        worker.poll_once()
    assert len(fake.delivered) == 9


def test_provider_500s_then_recovery_deliver_exactly_once_with_retries(svc, worker, fake):
    draft = sms_draft()
    fake.fail_next(2, 500)
    [record] = drain(worker, svc, add(svc, draft))
    assert record.status == SENT and record.attempts == 3 and record.error is None
    assert len(fake.delivered_to(draft.recipient)) == 1
    assert len(fake.received_for(draft.recipient)) == 3


def test_a_hanging_provider_times_out_and_is_retried(svc, worker, fake):
    draft = sms_draft()
    fake.hang_next(1, seconds=5)
    started = time.monotonic()
    [record] = drain(worker, svc, add(svc, draft))
    fake.release()
    assert record.status == SENT and record.attempts == 2
    assert len(fake.delivered_to(draft.recipient)) == 1
    assert time.monotonic() - started < 5  # the 2 s timeout fired; the hang was not waited out


def test_a_blacklisted_recipient_is_failed_at_once_and_not_retried(svc, worker, fake):
    draft = sms_draft()
    fake.blacklist(draft.recipient)
    [record] = drain(worker, svc, add(svc, draft))
    assert record.status == FAILED and "UserInBlacklist" in record.error and record.attempts == 1
    for _ in range(3):
        worker.poll_once()
    assert len(fake.received_for(draft.recipient)) == 1
    assert svc.queue.depth(dead_letter=True)["visible"] == 0


def test_an_unverified_ses_sender_is_a_permanent_failure(svc, worker, stage, knobs):
    svc._adapters["email"] = SesEmailSender(load_settings({**os.environ, "STAGE": stage.stage,
                                                           "DEFAULT_FROM_EMAIL": "nobody@unverified.test"}),
                                            tuning=knobs)
    [record] = drain(worker, svc, add(svc, email_draft()))
    assert record.status == FAILED and "MessageRejected" in record.error


def test_the_same_sqs_message_twice_sends_one_sms(svc, worker, fake):
    draft = sms_draft()
    [nid] = add(svc, draft)
    add(svc, draft, enqueue=False)
    svc.queue.send([nid])  # a second message for the same record
    received = wait_until(lambda: svc.queue.sqs.receive_message(
        QueueUrl=svc.queue.url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages"))
    arn = svc.queue.arn()
    from chalicelib.adapters.sqs_batch import handle_records, to_lambda_record

    records = [to_lambda_record(m, arn) for m in received]
    assert len(records) == 2
    for record in records + records:  # each message, then each again (SQS redelivery)
        assert handle_records(svc, [record]) == []
    svc.queue.sqs.delete_message_batch(QueueUrl=svc.queue.url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)])
    drain(worker, svc, [nid])
    assert len(fake.delivered_to(draft.recipient)) == 1
    assert svc.notifications.get(nid).attempts == 1


def test_one_poison_message_among_ten_is_dead_lettered_and_the_nine_are_sent_once(svc, worker, fake):
    drafts = [sms_draft() for _ in range(9)]
    ids = add(svc, *drafts)
    svc.queue.sqs.send_message(QueueUrl=svc.queue.url, MessageBody="this is not a notification")
    records = drain(worker, svc, ids)
    assert all(r.status == SENT for r in records)
    for _ in range(3):
        worker.poll_once()
    assert sorted(r.to for r in fake.delivered) == sorted(d.recipient for d in drafts)
    dead = svc.queue.receive_dead_letters()
    assert [m["Body"] for m in dead] == ["this is not a notification"]


def test_transient_failures_end_in_the_dead_letter_queue_with_a_failed_record_then_redrive_delivers(
        svc, worker, fake):
    draft = sms_draft()
    fake.fail_next(100, 503)
    [nid] = add(svc, draft)
    [record] = drain(worker, svc, [nid])
    assert record.status == FAILED and "HTTP 503" in record.error
    assert record.attempts == NOTIFICATIONS_QUEUE.max_receive_count
    wait_until(lambda: worker.poll_once() == 0 and svc.queue.depth(dead_letter=True)["visible"] == 1,
               what="the message in the dead-letter queue")
    assert svc.notifications.get(nid).status == FAILED

    fake.reset()
    assert service.redrive_dead_letters(svc) == {"moved": 1, "reset": 1, "kept": 0}
    assert svc.notifications.get(nid).status == PENDING
    [record] = drain(worker, svc, [nid])
    assert record.status == SENT and record.attempts == NOTIFICATIONS_QUEUE.max_receive_count + 1
    assert len(fake.delivered_to(draft.recipient)) == 1


def test_redrive_keeps_poison_on_the_dead_letter_queue(svc):
    svc.queue.dead_letter(["garbage"])
    assert service.redrive_dead_letters(svc)["kept"] == 1


def test_a_failed_enqueue_after_the_commit_is_made_good_by_the_sweeper(svc, worker, fake):
    draft = sms_draft()
    [nid] = add(svc, draft, enqueue=False)  # the order committed, then SendMessageBatch failed
    for _ in range(2):
        worker.poll_once()
    assert svc.notifications.get(nid).status == PENDING
    time.sleep(0.6)
    assert nid in [n.id for n in svc.notifications.stale_pending(iso(service._now()))]
    assert service.sweep_pending(svc) >= 1
    [record] = drain(worker, svc, [nid])
    assert record.status == SENT and len(fake.delivered_to(draft.recipient)) == 1


def test_without_an_account_sms_go_to_the_local_sink_and_the_record_says_so(svc, worker, stage):
    sink = LocalSmsSink(stage.data_dir / "sms-outbox.jsonl")
    svc._adapters["sms"] = sink
    draft = sms_draft()
    [record] = drain(worker, svc, add(svc, draft))
    assert record.status == SENT and record.provider == "local-sink"
    assert record.provider_message_id.startswith("local-sink-")
    assert [(x["to"], x["message"]) for x in sink.read() if x["messageId"] == record.provider_message_id] == [
        (draft.recipient, draft.message)]


def test_a_worker_killed_mid_batch_leaves_every_notification_delivered_once(svc, stage, fake):
    """Five SMS are answered, five hang at the provider; the worker is SIGKILLed before it records or
    deletes anything of the hanging five. A new worker sends exactly those five."""
    svc._adapters["queue"] = SqsNotificationQueue(stage)  # the stage's own queue: what a worker process polls
    worker = quick(Worker(stage))
    drafts = [sms_draft() for _ in range(10)]
    ids = add(svc, *drafts)
    fake.hang_next(5, seconds=30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
    env.update(STAGE=stage.stage, AWS_ENDPOINT_URL=stage.aws_endpoint_url, AT_USERNAME="sandbox", AT_API_KEY="k",
               AT_BASE_URL=fake.url, AT_SENDER_ID="EKIOSK", LOG_LEVEL="WARNING", WORKER_VISIBILITY_SECONDS="2",
               NOTIFY_PROVIDER_TIMEOUT_SECONDS="2", NOTIFY_LEASE_SECONDS="1")  # the lease is at least 2 + 2 + 1 s
    process = subprocess.Popen([sys.executable, "-m", "chalicelib.runtime.worker"], cwd=ROOT, env=env)
    try:
        wait_until(lambda: len(fake.delivered) == 5 and len(fake.requests) == 10
                   and sum(svc.notifications.get(n).status == SENT for n in ids) == 5,
                   timeout=20, what="five answered and five hanging")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    fake.release()
    assert sorted(svc.notifications.get(n).status for n in ids) == [PENDING] * 5 + [SENT] * 5
    records = drain(worker, svc, ids, timeout=20)
    assert all(r.status == SENT for r in records)
    assert sorted(r.to for r in fake.delivered) == sorted(d.recipient for d in drafts)


def test_redrive_keeps_going_through_empty_replies_while_messages_remain(svc, worker, fake, monkeypatch):
    """SQS may answer a receive with nothing although messages wait (short polling samples a subset of
    its servers): two empty replies first must not end the run."""
    drafts = [sms_draft() for _ in range(3)]
    ids = add(svc, *drafts, enqueue=False)
    for nid in ids:
        svc.notifications.mark_failed(nid, "HTTP 503", iso(service._now()))
    svc.queue.dead_letter([_body(nid) for nid in ids])
    real_receive, replies = svc.queue.receive_dead_letters, []

    def flaky(**kwargs):
        replies.append(kwargs)
        if len(replies) <= 2:
            return []
        return real_receive(**{**kwargs, "max_messages": 1})  # one at a time: empties in between too

    monkeypatch.setattr(svc.queue, "receive_dead_letters", flaky)
    counts = service.redrive_dead_letters(svc, wait_seconds=1)
    assert counts == {"moved": 3, "reset": 3, "kept": 0}
    assert all(kwargs["wait_seconds"] >= 1 for kwargs in replies)  # long polling
    records = drain(worker, svc, ids)
    assert all(r.status == SENT for r in records)
    assert all(len(fake.delivered_to(d.recipient)) == 1 for d in drafts)


def test_a_message_delivered_again_after_its_deletion_sends_nothing(svc, worker, fake):
    """SQS is at-least-once: a message already handled and deleted may come back; its record is SENT."""
    draft = sms_draft()
    ids = add(svc, draft)
    [record] = drain(worker, svc, ids)
    assert record.status == SENT
    svc.queue.send(ids)  # the same message body once more, as a duplicate delivery would bring it
    [again] = drain(worker, svc, ids)
    assert (again.status, again.attempts, again.provider_message_id) == (SENT, 1, record.provider_message_id)
    assert len(fake.delivered_to(draft.recipient)) == 1
    assert svc.queue.depth() == {"visible": 0, "in_flight": 0, "delayed": 0}


def _body(notification_id: str) -> str:
    from chalicelib.domain.notifications import message_body

    return message_body(notification_id)
