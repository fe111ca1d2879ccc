"""SQS batches <-> the delivery use case (services/notifications.py): the one consumer of the notifications
queue, behind the `send_notifications` Lambda, the local worker and the container worker.

In: each record (Lambda's SQS event shape; the workers convert what they receive with `to_lambda_record`)
becomes a `Delivery`: the notification id its body names and its ApproximateReceiveCount.
Out: each Outcome becomes what SQS needs:
- SETTLED: acknowledged (Lambda deletes the messages not reported as failed; the worker deletes them);
- RETRY after n seconds: reported as failed, its visibility timeout set to n (the backoff), so the next
  try comes from the queue itself; with no delay it comes back after the queue's own visibility timeout;
- GAVE_UP: reported as failed with a visibility timeout of 0: this was the receive before the queue's
  maxReceiveCount, so SQS moves it to the dead-letter queue on the next receive;
- POISON: put on the dead-letter queue now and acknowledged (if that fails, reported as failed: SQS
  dead-letters it after maxReceiveCount receives).
"""

from __future__ import annotations

import logging

from chalicelib.domain.notifications import notification_id_of
from chalicelib.ports import Services
from chalicelib.services.notifications import GAVE_UP, Delivery, Outcome, deliver_batch

logger = logging.getLogger("ekiosk.notifications")


def to_lambda_record(message: dict, queue_arn: str) -> dict:
    """An SQS message (ReceiveMessage's shape) as the Lambda event source would deliver it."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
    }


def receive_count(record: dict) -> int:
    try:
        return max(1, int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)))
    except (TypeError, ValueError):
        return 1


def delivery_of(record: dict) -> Delivery:
    return Delivery(notification_id_of(record.get("body") or ""), receive_count(record))


def handle_records(svc: Services, records: list[dict]) -> list[str]:
    """Delivers a batch of SQS records; returns the messageIds that failed (to be left on the queue).

    The others are for the caller to delete (Lambda does it for the ones not reported). The failed ones
    already carry their retry delay as visibility timeout; poison ones are already on the dead-letter queue.
    """
    outcomes = deliver_batch(svc, [delivery_of(record) for record in records])
    pairs = list(zip(records, outcomes, strict=True))
    poison_parked = _dead_letter_poison(svc, [(r, o) for r, o in pairs if o.poison])
    failed: list[str] = []
    delays: dict[str, int] = {}
    for record, outcome in pairs:
        if outcome.done or (outcome.poison and poison_parked):
            continue
        if record.get("messageId") not in failed:
            failed.append(record.get("messageId"))
        delay = 0 if outcome.decision == GAVE_UP else outcome.delay
        if delay is not None and record.get("receiptHandle"):
            delays[record["receiptHandle"]] = delay
    if delays:
        try:
            svc.queue.change_visibility(delays)
        except Exception:  # the queue's own visibility timeout (60 s) applies instead
            logger.exception("could not set the retry delay of %s messages", len(delays))
    return failed


def _dead_letter_poison(svc: Services, poison: list[tuple[dict, Outcome]]) -> bool:
    """Puts the poison messages on the dead-letter queue; False if that failed (SQS will, in time)."""
    if not poison:
        return False
    try:
        svc.queue.dead_letter([record.get("body") or "" for record, _ in poison])
    except Exception:
        logger.exception("could not dead-letter %s poison messages; SQS will", len(poison))
        return False
    for record, outcome in poison:
        logger.error("poison message %s (%s) moved to the dead-letter queue: %.200r",
                     record.get("messageId"), outcome.note, record.get("body"))
    return True


def batch_response(svc: Services, records: list[dict]) -> dict:
    """The SQS Lambda's partial batch response (its event source mapping has ReportBatchItemFailures)."""
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in handle_records(svc, records)]}
