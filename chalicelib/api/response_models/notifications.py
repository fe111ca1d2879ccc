"""Notification records (SPEC §8)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.response_models.common import Id, Page, Strict, Timestamp


class Notification(Strict):
    id: Id = Field(description='"{order_id}:{event}:{channel}"')
    order_id: Id
    event: str
    channel: Literal["SMS", "EMAIL"]
    recipient: str
    message: str
    status: Literal["PENDING", "SENT", "FAILED"]
    attempts: int = Field(ge=0)
    provider_message_id: str | None
    error: str | None
    created_at: Timestamp
    sent_at: Timestamp | None


NotificationPage = Page[Notification]
