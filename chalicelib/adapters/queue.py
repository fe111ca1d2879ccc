"""The notifications queue: one message per notification record, sent in batches of up to ten.

Besides sending, the delivery side uses it to delay a failed message's next try (its visibility
timeout), to dead-letter a poison message at once, and `make redrive` to move dead letters back.
"""

from __future__ import annotations

from chalicelib.adapters.aws import client
from chalicelib.config import Settings
from chalicelib.domain.notifications import message_body
from chalicelib.resources import NOTIFICATIONS_DLQ, NOTIFICATIONS_QUEUE

SQS_BATCH = 10


def _chunks(items: list, size: int = SQS_BATCH):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqsNotificationQueue:
    def __init__(self, settings: Settings, *, name: str | None = None, dead_letter_name: str | None = None):
        self._settings = settings
        self.name = name or settings.queue_name(NOTIFICATIONS_QUEUE.name)
        self.dead_letter_name = dead_letter_name or settings.queue_name(NOTIFICATIONS_DLQ.name)
        self._urls: dict[str, str] = {}

    @property
    def sqs(self):
        return client("sqs", self._settings)

    def _url_of(self, name: str) -> str:
        if name not in self._urls:
            self._urls[name] = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[name]

    @property
    def url(self) -> str:
        return self._url_of(self.name)

    @property
    def dead_letter_url(self) -> str:
        return self._url_of(self.dead_letter_name)

    def arn(self) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def _send_bodies(self, url: str, bodies: list[str]) -> None:
        for chunk in _chunks(bodies):
            result = self.sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)]
            )
            if result.get("Failed"):
                raise RuntimeError(f"SQS refused {len(result['Failed'])} notification messages")

    def send(self, notification_ids: list[str]) -> None:
        """Enqueues the ids; raises if any could not be sent (the sweeper would still find them)."""
        self._send_bodies(self.url, [message_body(nid) for nid in notification_ids])

    def change_visibility(self, delays: dict[str, int]) -> list[str]:
        """{receipt handle: seconds until the message is visible again}; returns the handles that failed."""
        failed = []
        items = list(delays.items())
        for chunk in _chunks(items):
            result = self.sqs.change_message_visibility_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": int(seconds)}
                         for i, (handle, seconds) in enumerate(chunk)],
            )
            failed.extend(chunk[int(entry["Id"])][0] for entry in result.get("Failed", []))
        return failed

    def dead_letter(self, bodies: list[str]) -> None:
        """Puts raw message bodies on the dead-letter queue (poison messages, kept for a human)."""
        self._send_bodies(self.dead_letter_url, bodies)

    def receive_dead_letters(self, max_messages: int = SQS_BATCH, hide_seconds: int = 60,
                             wait_seconds: int = 0) -> list[dict]:
        """One ReceiveMessage; `wait_seconds` > 0 long-polls (an empty short-poll reply proves nothing)."""
        return self.sqs.receive_message(
            QueueUrl=self.dead_letter_url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=hide_seconds, AttributeNames=["All"],
        ).get("Messages", [])

    def move_back(self, messages: list[dict]) -> None:
        """Sends dead-lettered messages to the main queue again, then deletes them from the dead-letter queue."""
        if not messages:
            return
        self._send_bodies(self.url, [message["Body"] for message in messages])
        for chunk in _chunks(messages):
            self.sqs.delete_message_batch(
                QueueUrl=self.dead_letter_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )

    def depth(self, dead_letter: bool = False) -> dict[str, int]:
        """Approximate message counts: {"visible": n, "in_flight": m, "delayed": k}."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.dead_letter_url if dead_letter else self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                            "ApproximateNumberOfMessagesDelayed"],
        )["Attributes"]
        return {
            "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        }
