"""Notifications: the staff list of records, the SQS consumer and the sweeper (SPEC §8).

On AWS, `send_notifications` is the `on_sqs_message` Lambda (batches of 10; the event source mapping
needs `ReportBatchItemFailures`, set in infra/) and `sweep_notifications` runs every minute. Locally the
worker (chalicelib/runtime/worker.py) calls the same SQS consumer (chalicelib/adapters/sqs_batch.py) and
the same sweeper.
"""

from chalice import Blueprint, Rate

from chalicelib.api.caller import Caller
from chalicelib.api.pagination import list_page
from chalicelib.api.requests import query
from chalicelib.api.routing import endpoint
from chalicelib.config import get_settings
from chalicelib.domain.errors import InvalidInput
from chalicelib.resources import NOTIFICATIONS_QUEUE

bp = Blueprint(__name__)

ORDER_ID_MAX_LENGTH = 200


@endpoint(
    bp, "/notifications", ["GET"], staff=True, tags=["notifications"],
    summary="Notification records (staff)",
    description="Every SMS and email the order events produced, newest first, with their delivery status. "
    "`?order_id=` narrows the list to one order (an order without notifications gives an empty list).",
    query=["limit", "cursor", {"name": "order_id", "description": "Only this order's notifications.",
                                 "schema": {"type": "string", "minLength": 1, "maxLength": ORDER_ID_MAX_LENGTH}}],
    response="chalicelib.api.response_models.notifications:NotificationPage",  # named: no pydantic at cold start
)
def list_notifications(caller: Caller):
    from chalicelib.bootstrap import services
    from chalicelib.services import notifications

    request = bp.current_request
    order_id = query(request).get("order_id")
    if order_id is not None and not 1 <= len(order_id) <= ORDER_ID_MAX_LENGTH:
        raise InvalidInput(
            "order_id must be 1–200 characters",
            details={"order_id": [f"must be 1–{ORDER_ID_MAX_LENGTH} characters"]},
        )
    page = list_page(request, caller, order_id=order_id)
    items, position = notifications.list_notifications(services(), order_id, page.limit, page.position)
    return {"items": items, "next_cursor": page.next_cursor(position)}


@bp.on_sqs_message(queue=get_settings().queue_name(NOTIFICATIONS_QUEUE.name), batch_size=10,
                   name="send_notifications")
def send_notifications(event):
    """Partial batch response: only the failed messages come back (after their backoff delay)."""
    from chalicelib.adapters.sqs_batch import batch_response
    from chalicelib.bootstrap import services

    return batch_response(services(), event.to_dict().get("Records", []))


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="sweep_notifications")
def sweep_notifications(event):
    from chalicelib.bootstrap import services
    from chalicelib.services.notifications import sweep_pending

    return {"requeued": sweep_pending(services())}
