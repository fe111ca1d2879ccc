"""Shapes shared by every area: money, times, the error envelope, pages."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

MONEY_PATTERN = r"^-?\d+\.\d{2}$"

Money = Annotated[
    str,
    Field(pattern=MONEY_PATTERN, description='A decimal string with two places, e.g. "1500.00".', examples=["1500.00"]),
]
Timestamp = Annotated[str, Field(description="ISO 8601 UTC time.", examples=["2025-01-31T09:30:00Z"])]
Id = Annotated[str, Field(min_length=1, description="An opaque identifier.")]


class Strict(BaseModel):
    """A response model: every field a body has, in its order (no undocumented extras); built from a dict or
    read from a domain object's attributes."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


def from_attributes(value: Any, model: type[BaseModel], **computed: Any) -> dict:
    """The fields of `model` read from `value`'s attributes, but for those `computed` gives (e.g. money in cents
    formatted as a Money string)."""
    return {name: computed[name] if name in computed else getattr(value, name) for name in model.model_fields}


class ErrorDetail(Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="A stable snake_case code.", examples=["not_found"])
    message: str = Field(description="A human-readable explanation.")
    details: Any = Field(
        default=None,
        description="More about the error, e.g. {field: [messages]} for invalid input, or null.",
    )


class ErrorEnvelope(Strict):
    """Every 4xx and 5xx the app answers."""

    error: ErrorDetail


class GatewayUnauthorized(BaseModel):
    """A 401 from the authorizer: API Gateway answers {"message": "Unauthorized"}; the local stack adds the envelope."""

    message: str | None = None
    error: ErrorDetail | None = None


T = TypeVar("T")


class Page(Strict, Generic[T]):
    """A page of a list: pass `next_cursor` back as `?cursor=` for the next page."""

    items: list[T]
    next_cursor: str | None = Field(description="Opaque; null on the last page.")


class Health(Strict):
    status: str = Field(examples=["ok"])
