"""The notifications queue: one message per notification record, sent in batches of up to ten."""

from __future__ import annotations

import json

from chalicelib.adapters.aws import client
from chalicelib.config import Settings
from chalicelib.resources import NOTIFICATIONS_QUEUE

SQS_BATCH = 10


def message_body(notification_id: str) -> str:
    return json.dumps({"notification_id": notification_id})


def notification_id_of(body: str) -> str | None:
    try:
        value = json.loads(body).get("notification_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


class SqsNotificationQueue:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            sqs = client("sqs", self._settings)
            name = self._settings.queue_name(NOTIFICATIONS_QUEUE.name)
            self._url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._url

    def send(self, notification_ids: list[str]) -> None:
        """Enqueues the ids; raises if any could not be sent (the sweeper would still find them)."""
        sqs = client("sqs", self._settings)
        for start in range(0, len(notification_ids), SQS_BATCH):
            chunk = notification_ids[start : start + SQS_BATCH]
            result = sqs.send_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "MessageBody": message_body(nid)} for i, nid in enumerate(chunk)],
            )
            if result.get("Failed"):
                raise RuntimeError(f"SQS refused {len(result['Failed'])} notification messages")


class InMemoryNotificationQueue:
    def __init__(self, settings: Settings | None = None):
        self.sent: list[str] = []

    def send(self, notification_ids: list[str]) -> None:
        self.sent.extend(notification_ids)
