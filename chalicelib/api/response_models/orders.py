"""Orders (SPEC §7)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from chalicelib.api.response_models.common import Id, Money, Page, Strict, Timestamp, from_attributes
from chalicelib.domain import orders as domain
from chalicelib.domain.money import format_cents

OrderStatus = Literal["PENDING", "COMPLETED", "CANCELED"]


class OrderItem(Strict):
    product_id: Id
    name: str = Field(description="Snapshot at placement.")
    quantity: int = Field(ge=1)
    price_at_time_of_order: Money = Field(description="The product's current price at placement.")
    line_total: Money

    @model_validator(mode="before")
    @classmethod
    def _from_domain(cls, value):
        if isinstance(value, domain.OrderLine):
            return from_attributes(value, cls, price_at_time_of_order=format_cents(value.price_cents),
                                   line_total=str(value.line_total))
        return value


class HistoryEntry(Strict):
    status: OrderStatus
    at: Timestamp
    by: Id = Field(description="The customer who placed the order, or the staff member who changed it.")


class Order(Strict):
    id: Id
    number: int = Field(ge=1, description="Short human number used in messages (#123).")
    customer_id: Id
    status: OrderStatus
    items: list[OrderItem]
    total_price: Money
    created_at: Timestamp
    updated_at: Timestamp
    history: list[HistoryEntry]

    @model_validator(mode="before")
    @classmethod
    def _from_domain(cls, value):
        if isinstance(value, domain.Order):
            return from_attributes(value, cls, total_price=str(value.total))
        return value


OrderPage = Page[Order]  # so that a route can name it "chalicelib.api.response_models.orders:OrderPage"
