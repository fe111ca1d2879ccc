"""Which notifications an order event produces (SPEC §8). One per (order, event, channel)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain import messages

ORDER_PLACED = "order_placed"
ORDER_APPROVED = "order_approved"
ORDER_CANCELLED = "order_cancelled"
SMS = "SMS"
EMAIL = "EMAIL"


@dataclass(frozen=True)
class NotificationDraft:
    order_id: str
    event: str
    channel: str
    recipient: str
    message: str

    @property
    def id(self) -> str:
        # Deterministic, so the same (order, event, channel) can only ever be recorded once.
        return notification_id(self.order_id, self.event, self.channel)


def notification_id(order_id: str, event: str, channel: str) -> str:
    return f"{order_id}:{event}:{channel}"


def drafts_for(
    event: str,
    *,
    order_id: str,
    number: int,
    customer_email: str,
    customer_phone: str | None,
    staff_emails: tuple[str, ...],
) -> list[NotificationDraft]:
    drafts = []
    if event == ORDER_PLACED and staff_emails:
        drafts.append(
            NotificationDraft(order_id, event, EMAIL, ",".join(staff_emails),
                              messages.new_order_for_staff(number, customer_email))
        )
    sms_text = {
        ORDER_PLACED: messages.order_placed,
        ORDER_APPROVED: messages.order_approved,
        ORDER_CANCELLED: messages.order_cancelled,
    }[event]
    if customer_phone:
        drafts.append(NotificationDraft(order_id, event, SMS, customer_phone, sms_text(customer_phone, number)))
    return drafts
