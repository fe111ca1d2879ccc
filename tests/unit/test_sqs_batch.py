"""The SQS consumer (adapters/sqs_batch.py) on its own: records in, the use case's decisions out as SQS actions.

The delivery use case is replaced by a script of Outcomes, so each test pins one mapping."""

from __future__ import annotations

import pytest

from chalicelib.adapters import sqs_batch
from chalicelib.bootstrap import Services
from chalicelib.config import load_settings
from chalicelib.domain.notifications import message_body
from chalicelib.services.notifications import GAVE_UP, POISON, RETRY, SETTLED, Delivery, Outcome
from tests.fakes.queue import InMemoryNotificationQueue
from tests.support.notifications import sqs_record


@pytest.fixture
def svc():
    return Services(load_settings({}), queue=InMemoryNotificationQueue())


@pytest.fixture
def decide(monkeypatch):
    """Makes the use case answer `outcomes` (one per record, in order); records what it was asked."""
    asked: list[list[Delivery]] = []

    def script(*outcomes: Outcome) -> list[list[Delivery]]:
        def deliver_batch(svc, deliveries):
            asked.append(list(deliveries))
            assert len(deliveries) == len(outcomes)
            return list(outcomes)

        monkeypatch.setattr(sqs_batch, "deliver_batch", deliver_batch)
        return asked

    return script


def test_records_become_deliveries_with_their_notification_id_and_receive_count(svc, decide):
    asked = decide(Outcome(SETTLED, "sent"), Outcome(SETTLED, "sent"), Outcome(POISON, "unreadable"))
    records = [sqs_record("o-1:order_placed:SMS", receive_count=4), sqs_record("o-2:order_placed:SMS"),
               sqs_record(body="{not json")]
    records[1]["attributes"] = {"ApproximateReceiveCount": "garbage"}
    sqs_batch.handle_records(svc, records)
    assert asked == [[Delivery("o-1:order_placed:SMS", 4), Delivery("o-2:order_placed:SMS", 1), Delivery(None, 1)]]


def test_settled_messages_are_acknowledged_and_left_alone(svc, decide):
    decide(Outcome(SETTLED, "sent"), Outcome(SETTLED, "already SENT"))
    assert sqs_batch.handle_records(svc, [sqs_record("a:e:SMS"), sqs_record("b:e:SMS")]) == []
    assert svc.queue.visibility == {} and svc.queue.dead_lettered == []


def test_a_retry_is_reported_failed_and_comes_back_after_its_delay(svc, decide):
    decide(Outcome(RETRY, "transient failure", 20), Outcome(SETTLED, "sent"))
    first, second = sqs_record("a:e:SMS"), sqs_record("b:e:SMS")
    assert sqs_batch.handle_records(svc, [first, second]) == [first["messageId"]]
    assert svc.queue.visibility == {first["receiptHandle"]: 20}


def test_a_retry_without_a_delay_keeps_the_queues_own_visibility_timeout(svc, decide):
    decide(Outcome(RETRY, "sent but not recorded", None))
    record = sqs_record("a:e:SMS")
    assert sqs_batch.handle_records(svc, [record]) == [record["messageId"]]
    assert svc.queue.visibility == {}


def test_a_message_given_up_on_is_made_visible_at_once_for_sqs_to_dead_letter(svc, decide):
    decide(Outcome(GAVE_UP, "dead-lettered"))
    record = sqs_record("a:e:SMS", receive_count=9)
    assert sqs_batch.handle_records(svc, [record]) == [record["messageId"]]
    assert svc.queue.visibility == {record["receiptHandle"]: 0} and svc.queue.dead_lettered == []


def test_poison_goes_to_the_dead_letter_queue_and_is_acknowledged(svc, decide):
    decide(Outcome(POISON, "unreadable message body"), Outcome(SETTLED, "sent"))
    assert sqs_batch.handle_records(svc, [sqs_record(body="garbage"), sqs_record("a:e:SMS")]) == []
    assert svc.queue.dead_lettered == ["garbage"]


def test_poison_is_left_to_sqs_when_the_dead_letter_queue_refuses_it(svc, decide):
    def refuse(bodies):
        raise RuntimeError("SQS down")

    svc.queue.dead_letter = refuse
    decide(Outcome(POISON, "unknown notification id"))
    record = sqs_record("gone:e:SMS")
    assert sqs_batch.handle_records(svc, [record]) == [record["messageId"]]


def test_a_failed_visibility_change_still_reports_the_failures(svc, decide):
    def refuse(delays):
        raise RuntimeError("SQS down")

    svc.queue.change_visibility = refuse
    decide(Outcome(RETRY, "transient failure", 5))
    record = sqs_record("a:e:SMS")
    assert sqs_batch.handle_records(svc, [record]) == [record["messageId"]]


def test_a_message_id_is_reported_once(svc, decide):
    decide(Outcome(RETRY, "busy", 3), Outcome(RETRY, "busy", 3))
    record = sqs_record("a:e:SMS", message_id="m-1")
    assert sqs_batch.handle_records(svc, [record, dict(record)]) == ["m-1"]


def test_the_lambda_answer_is_a_partial_batch_response(svc, decide):
    decide(Outcome(SETTLED, "sent"), Outcome(RETRY, "transient failure", 5))
    records = [sqs_record("a:e:SMS", message_id="m-0"), sqs_record("b:e:SMS", message_id="m-1")]
    assert sqs_batch.batch_response(svc, records) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


def test_a_received_sqs_message_becomes_the_lambda_record():
    message = {"MessageId": "m-1", "ReceiptHandle": "rh-1", "Body": message_body("a:e:SMS"),
               "Attributes": {"ApproximateReceiveCount": "3"}}
    record = sqs_batch.to_lambda_record(message, "arn:aws:sqs:us-east-1:1:q")
    assert sqs_batch.delivery_of(record) == Delivery("a:e:SMS", 3)
    assert (record["messageId"], record["receiptHandle"], record["eventSourceARN"]) == (
        "m-1", "rh-1", "arn:aws:sqs:us-east-1:1:q")
