"""Request models of the order routes (SPEC §7): imported on use, so pydantic stays out of the cold start."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from chalicelib.api.requests import validate
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.orders import MAX_ITEMS, MAX_QUANTITY

# A body naming the customer is refused: an order is always the caller's own.
CUSTOMER_FIELDS = ("customer", "customer_id")


class OrderItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: StrictStr = Field(min_length=1, max_length=200)
    quantity: StrictInt = Field(ge=1, le=MAX_QUANTITY)

    @field_validator("product_id")
    @classmethod
    def valid_text(cls, value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text") from None
        return value


class PlaceOrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_ITEMS)

    @field_validator("items")
    @classmethod
    def each_product_once(cls, items: list[OrderItemIn]) -> list[OrderItemIn]:
        seen: set[str] = set()
        twice: set[str] = set()
        for item in items:
            (twice if item.product_id in seen else seen).add(item.product_id)
        if twice:
            raise ValueError(f"each product may appear only once; repeated: {', '.join(sorted(twice))}")
        return items


class StatusChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Any JSON value: the domain decides (non-strings and unknown statuses → 400).
    status: Any = Field(
        description="COMPLETED (approve) or CANCELED (cancel); case-insensitive, CANCELLED accepted.",
        examples=["COMPLETED"],
    )


def parse_place_order(body: dict) -> PlaceOrderIn:
    named = [name for name in CUSTOMER_FIELDS if name in body]
    if named:
        raise InvalidInput(
            "orders are always placed for the caller; the body must not name a customer",
            details={name: ["not allowed: the customer is always the caller"] for name in named},
            code="validation_error",
        )
    return validate(PlaceOrderIn, body)
