"""The notifications queue port (SqsNotificationQueue / InMemoryNotificationQueue): sending, delaying a retry,
dead-lettering and moving dead letters back, one contract for both implementations."""

from __future__ import annotations

import pytest

from chalicelib.domain.notifications import message_body, notification_id_of
from tests.contracts.conftest import uid
from tests.fakes.queue import InMemoryNotificationQueue


class Sqs:
    """The SQS adapter on its own pair of queues (the session's emulator), and the consumer's receive."""

    def __init__(self, settings):
        from chalicelib.adapters.aws import client
        from chalicelib.adapters.queue import SqsNotificationQueue

        self.sqs = client("sqs", settings)
        name = uid("contract")
        for queue_name in (name, name + "-dlq"):
            self.sqs.create_queue(QueueName=queue_name)
        self.queue = SqsNotificationQueue(settings, name=name, dead_letter_name=name + "-dlq")

    def receive(self, max_messages: int = 10, hide_seconds: int = 30) -> list[dict]:
        return self.sqs.receive_message(QueueUrl=self.queue.url, MaxNumberOfMessages=max_messages,
                                        VisibilityTimeout=hide_seconds, AttributeNames=["All"]).get("Messages", [])


class Memory:
    def __init__(self):
        self.queue = InMemoryNotificationQueue()
        self.receive = self.queue.receive


@pytest.fixture
def side(impl, settings):
    return Memory() if impl == "fake" else Sqs(settings)


def depth(visible: int, in_flight: int = 0) -> dict[str, int]:
    return {"visible": visible, "in_flight": in_flight, "delayed": 0}


def test_sent_ids_wait_visible_one_message_each(side):
    ids = [uid("n") for _ in range(12)]  # more than one SQS batch of ten
    side.queue.send(ids)
    side.queue.send([])
    assert side.queue.depth() == depth(12)
    bodies = [m["Body"] for m in side.receive(10)] + [m["Body"] for m in side.receive(10)]
    assert sorted(notification_id_of(body) for body in bodies) == sorted(ids)
    assert bodies[0] == message_body(notification_id_of(bodies[0]))


def test_a_received_message_is_in_flight_until_its_visibility_is_changed(side):
    side.queue.send([uid("n"), uid("n")])
    (message,) = side.receive(1, hide_seconds=60)
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert side.queue.depth() == depth(1, in_flight=1)
    assert side.queue.change_visibility({message["ReceiptHandle"]: 0}) == []  # the retry is due now
    assert side.queue.depth() == depth(2)
    (again, other) = side.receive(2)
    assert {again["Attributes"]["ApproximateReceiveCount"], other["Attributes"]["ApproximateReceiveCount"]} == \
        {"1", "2"}
    assert side.queue.change_visibility({again["ReceiptHandle"]: 600, other["ReceiptHandle"]: 600}) == []
    assert side.queue.depth() == depth(0, in_flight=2)


def test_poison_goes_to_the_dead_letter_queue_and_moving_it_back_empties_that_queue(side):
    side.queue.dead_letter(["not json", message_body("n-1")])
    assert side.queue.depth(dead_letter=True) == depth(2)
    assert side.queue.depth() == depth(0)
    letters = side.queue.receive_dead_letters(10, hide_seconds=60)
    assert sorted(m["Body"] for m in letters) == sorted(["not json", message_body("n-1")])
    assert side.queue.depth(dead_letter=True) == depth(0, in_flight=2)  # hidden while being moved
    side.queue.move_back(letters)
    side.queue.move_back([])
    assert side.queue.depth(dead_letter=True) == depth(0)
    assert side.queue.depth() == depth(2)
    assert sorted(m["Body"] for m in side.receive(10)) == sorted(["not json", message_body("n-1")])
