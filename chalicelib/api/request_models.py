"""Request models (SPEC §4–§8): every body and query a route reads, in one place.

Bodies are checked field by field with the domain's rules (chalicelib/domain/catalog.py, orders.py) so that
a bad field is a 400 `validation_error` with `{field: [message]}`; unknown fields are rejected. The query
models and the bulk upload form document their parameters for the OpenAPI document. Imported on use, not at
cold start (pydantic); `api/requests.py` reads the raw request without pydantic.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator
from pydantic_core import PydanticCustomError

from chalicelib.api.requests import validate
from chalicelib.api.response_models.identity import Role
from chalicelib.domain import catalog as rules
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.orders import MAX_ITEMS, MAX_QUANTITY

# --- catalog (SPEC §5–§6)

MoneyIn = str | float | int
MONEY_IN = 'A number or a decimal string with at most two places, e.g. 1500 or "1500.00".'


def _rule(function, value, **options):
    """Runs a domain field rule; its ValueError becomes a pydantic error with the rule's own message."""
    try:
        return function(value, **options)
    except ValueError as error:
        raise PydanticCustomError("invalid", str(error)) from None


def _an_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a category id")
    return value.strip()


class CategoryIn(BaseModel):
    """`POST /categories`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="1–200 characters, no '/'; unique among its siblings (case-insensitive).")
    parent_id: str | None = Field(default=None, description="The parent category; null or absent: top level.")

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value):
        return _rule(rules.clean_name, value, category=True)

    @field_validator("parent_id", mode="before")
    @classmethod
    def _parent(cls, value):
        return None if value is None else _rule(_an_id, value)


class CategoryPatchIn(CategoryIn):
    """`PATCH /categories/{id}`: rename. A different `parent_id` is refused (409 `reparent_not_supported`)."""

    name: str | None = Field(default=None, description="The new name (same rules as when creating).")
    parent_id: str | None = Field(default=None, description="Accepted only when it is the current parent.")


class ProductIn(BaseModel):
    """`POST /products` and `PUT /products/{id}` (PUT replaces every editable field: no discount_price = none)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="1–200 characters.")
    price: MoneyIn = Field(description="> 0. " + MONEY_IN)
    discount_price: MoneyIn | None = Field(default=None, description=">= 0 and < price; null: no discount.")
    stock: int = Field(description="Integer >= 0 (a PUT/PATCH cannot go below `reserved`: 409).")
    category_id: str = Field(description="An existing category (else 400).")

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value):
        return _rule(rules.clean_name, value)

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, value):
        return _rule(rules.clean_price, value)

    @field_validator("discount_price", mode="before")
    @classmethod
    def _discount(cls, value):
        return _rule(rules.clean_discount, value)

    @field_validator("stock", mode="before")
    @classmethod
    def _stock(cls, value):
        return _rule(rules.clean_stock, value)

    @field_validator("category_id", mode="before")
    @classmethod
    def _category(cls, value):
        return _rule(_an_id, value)

    def changes(self, only_given: bool = False) -> dict:
        """Domain field (money in cents) -> value; `only_given` keeps only the fields the body named."""
        return {
            domain: getattr(self, field)
            for field, domain in FIELD_NAMES.items()
            if not only_given or field in self.model_fields_set
        }


class ProductPatchIn(ProductIn):
    """`PATCH /products/{id}`: any subset of the fields; `discount_price: null` removes the discount."""

    name: str | None = Field(default=None, description="1–200 characters.")
    price: MoneyIn | None = Field(default=None, description="> 0 and above the (new or stored) discount price.")
    stock: int | None = Field(default=None, description="Integer >= reserved.")
    category_id: str | None = Field(default=None, description="Moves the product to this existing category.")


FIELD_NAMES = {  # API field -> domain field
    "name": "name",
    "price": "price_cents",
    "discount_price": "discount_price_cents",
    "stock": "stock",
    "category_id": "category_id",
}


# query parameters (documentation)


class CategoryQuery(BaseModel):
    parent_id: str | None = Field(
        default=None,
        description="Only this category's children (`root` or `null`: the top level). Absent: every category.",
    )
    limit: int = Field(default=50, ge=1, le=100, description="Page size, 1–100.")
    cursor: str | None = Field(default=None, description="The `next_cursor` of the previous page (opaque).")


class ProductQuery(BaseModel):
    category_id: str | None = Field(default=None, description="Only products of this category (404 if unknown).")
    include_descendants: bool = Field(
        default=False, description="With category_id: also the products of every category below it."
    )
    limit: int = Field(default=50, ge=1, le=100, description="Page size, 1–100.")
    cursor: str | None = Field(default=None, description="The `next_cursor` of the previous page (opaque).")


class BulkQuery(BaseModel):
    dry_run: bool = Field(default=False, description="Validate and report without writing anything.")


class BulkUploadForm(BaseModel):
    file: bytes = Field(description="The CSV or JSON file (`.csv` / `.json`, or its content type).")


# --- orders (SPEC §7)

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


# --- identity (SPEC §4): documentation of bodies the routes check by hand (no pydantic at their cold start)

def _no_default(schema: dict) -> None:
    schema.pop("default", None)  # optional, but null is not a value


class ProfileUpdate(BaseModel):
    """PATCH /me: only these two fields; role and email are not settable here."""

    model_config = ConfigDict(extra="forbid")

    phone_number: str = Field(
        default=None,
        description="Normalized to E.164; numbers without + are read as Kenyan; spaces and dashes allowed; "
        "mobile numbers only (they receive SMS).",
        examples=["+254711223344"],
        json_schema_extra=_no_default,
    )
    name: str = Field(default=None, min_length=1, max_length=200, json_schema_extra=_no_default)


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
