"""The Lambda entry points of the notifications blueprint, invoked as AWS would (chalice.test.Client)."""

from __future__ import annotations

import pytest
from chalice.test import Client

from chalicelib import bootstrap as wiring
from chalicelib.config import load_settings
from chalicelib.domain.notifications import SENT, message_body
from tests.fakes.notifications import InMemoryNotificationRepository
from tests.fakes.queue import InMemoryNotificationQueue
from tests.fakes.senders import FakeEmailSender, FakeSmsSender
from tests.support.notifications import sms_draft


@pytest.fixture
def fakes():
    svc = wiring.Services(load_settings({}), notifications=InMemoryNotificationRepository(),
                          queue=InMemoryNotificationQueue(), sms=FakeSmsSender(), email=FakeEmailSender())
    previous = wiring.use_services(svc)
    yield svc
    wiring.use_services(previous)


@pytest.fixture(scope="module")
def client():
    from app import app

    with Client(app) as test_client:
        yield test_client


def sqs_event(client, bodies: list[str]) -> dict:
    event = client.events.generate_sqs_event(message_bodies=bodies, queue_name="ekiosk-local-notifications")
    for i, record in enumerate(event["Records"]):  # the generator gives every record the same messageId
        record["messageId"] = f"m-{i}"
        record["receiptHandle"] = f"rh-{i}"
        record["attributes"]["ApproximateReceiveCount"] = "1"
    return event


def test_the_sqs_handler_answers_a_partial_batch_response(client, fakes):
    good = sms_draft()
    failing = sms_draft()
    fakes.notifications.add([good, failing], "2030-01-01T00:00:00.000000Z")
    from chalicelib.domain.notifications import TransientDeliveryError

    fakes.sms.fail(failing.recipient, TransientDeliveryError("HTTP 500"))
    event = sqs_event(client, [message_body(good.id), message_body(failing.id), "poison"])
    answer = client.lambda_.invoke("send_notifications", event)
    assert answer.payload == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert fakes.notifications.get(good.id).status == SENT
    assert fakes.queue.visibility == {"rh-1": 5}
    assert fakes.queue.dead_lettered == ["poison"]


def test_the_scheduled_sweeper_re_enqueues_stale_records(client, fakes):
    draft = sms_draft()
    fakes.notifications.add([draft], "2000-01-01T00:00:00.000000Z")
    answer = client.lambda_.invoke("sweep_notifications", client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    assert answer.payload == {"requeued": 1}
    assert fakes.queue.sent == [draft.id]


def test_the_sqs_handler_is_wired_to_the_stage_queue_with_batches_of_ten():
    from app import app

    [handler] = [h for h in app.event_sources if h.name == "send_notifications"]
    assert (handler.queue, handler.batch_size) == ("ekiosk-local-notifications", 10)
    [schedule] = [h for h in app.event_sources if h.name == "sweep_notifications"]
    assert schedule.schedule_expression.to_string() == "rate(1 minute)"
