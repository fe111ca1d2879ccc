"""Helpers for the notification tests: drafts, SQS-shaped records, and polling."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from chalicelib.domain.notifications import NotificationDraft, message_body


def sqs_record(notification_id: str | None = None, *, body: str | None = None, receive_count: int = 1,
               message_id: str | None = None) -> dict:
    """One record as the Lambda SQS event source delivers it."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"rh-{uuid.uuid4().hex}",
        "body": body if body is not None else message_body(notification_id),
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }


def sms_draft(order_id: str | None = None, phone: str | None = None, event: str = "order_placed") -> NotificationDraft:
    order_id = order_id or f"o-{uuid.uuid4().hex[:10]}"
    phone = phone or f"+2547{uuid.uuid4().int % 100_000_000:08d}"
    text = f"Hello {phone} your order #1 has been placed successfully."
    return NotificationDraft(order_id, event, "SMS", phone, text)


def email_draft(order_id: str | None = None, to: str = "staff@ekiosk.test") -> NotificationDraft:
    order_id = order_id or f"o-{uuid.uuid4().hex[:10]}"
    return NotificationDraft(order_id, "order_placed", "EMAIL", to,
                             "A new order (#1) placed for john@example.com requires your attention.")


def wait_until(check: Callable[[], object], timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Polls `check` until it returns something truthy; returns it, or fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
