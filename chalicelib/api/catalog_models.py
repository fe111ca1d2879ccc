"""Request and response models of the catalog routes (SPEC §4–§6).

Request models check every field with the domain's rules (chalicelib/domain/catalog.py) so that a
bad field is a 400 `validation_error` with `{field: [message]}`; unknown fields are rejected.
Response models document the bodies for the OpenAPI document. Imported on use, not at cold start.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from chalicelib.api.schemas.common import ErrorDetail, Id, Money, Page, Strict, Timestamp
from chalicelib.domain import catalog as rules

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


# --- request bodies


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


# --- query parameters (documentation)


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


# --- responses


class Category(Strict):
    id: Id
    name: str
    parent_id: str | None = Field(description="null for a top-level category.")
    depth: int = Field(ge=0, description="0 for a top-level category.")
    ancestors: list[str] = Field(description="Ids of the categories above it, the top-level one first.")
    created_at: Timestamp
    updated_at: Timestamp


class AveragePrice(Strict):
    category_id: Id
    category: str = Field(description="The category's name.")
    average_price: Money | None = Field(description="Mean `price` over the category and 3 levels below; null: none.")
    products_count: int = Field(ge=0)
    subcategory_count: int = Field(ge=0, description="Descendant categories included (levels 1–3).")


class Product(Strict):
    id: Id
    name: str
    price: Money
    discount_price: Money | None
    current_price: Money = Field(description="The discount price when set, else the price.")
    stock: int = Field(ge=0, description="On hand.")
    reserved: int = Field(ge=0, description="Held by PENDING orders.")
    available: int = Field(description="stock - reserved.")
    category_id: Id
    created_at: Timestamp
    updated_at: Timestamp


class PriceSnapshot(Strict):
    taken_at: Timestamp
    average_price: Money | None
    products_count: int = Field(ge=0)
    subcategory_count: int = Field(ge=0)


class PriceHistory(Page[PriceSnapshot]):
    """A category's hourly average-price snapshots, newest first."""

    category_id: Id


class RowErrors(Strict):
    row: int = Field(ge=1, description="1-based data row (the CSV header and blank lines are not rows).")
    errors: dict[str, list[str]] = Field(description="{field: [messages]}; `row` for the row as a whole.")


class BulkUploadResult(Strict):
    """201: every row applied; 207: some rows failed; 200: a dry run with no failing row."""

    products_created: int = Field(ge=0)
    products_updated: int = Field(ge=0, description="Rows that matched an existing product (same name, category).")
    errors: list[RowErrors]
    dry_run: bool | None = Field(default=None, description="true on a dry run (nothing was written).")


class BulkUploadError(Strict):
    """A bad file (`unsupported_file_type`, `invalid_encoding`, `invalid_csv`, `invalid_json`, `invalid_multipart`, `missing_file`, `empty_file`, `missing_columns`): the error envelope; no row applied (`no_rows_applied`): the envelope plus the report."""  # noqa: E501

    error: ErrorDetail
    products_created: int | None = Field(default=None, ge=0)
    products_updated: int | None = Field(default=None, ge=0)
    errors: list[RowErrors] | None = None
    dry_run: bool | None = Field(default=None, description="true on a dry run (nothing was written).")


class BulkUploadForm(BaseModel):
    file: bytes = Field(description="The CSV or JSON file (`.csv` / `.json`, or its content type).")


CategoryPage = Page[Category]
ProductPage = Page[Product]
