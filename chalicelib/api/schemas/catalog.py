"""Categories, products, the average price and bulk upload results (SPEC §4–§6)."""

from __future__ import annotations

from pydantic import Field

from chalicelib.api.schemas.common import Id, Money, Strict, Timestamp


class Category(Strict):
    id: Id
    name: str
    parent_id: str | None = Field(description="null for a top-level category.")
    depth: int = Field(ge=0, description="0 for a top-level category.")


class AveragePrice(Strict):
    category_id: Id
    category: str = Field(description="The category's name.")
    average_price: Money | None = Field(
        description="Mean price over the category and three levels below it; null without products."
    )
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


class RowErrors(Strict):
    row: int = Field(ge=1, description="1-based data row (the CSV header is not a row).")
    errors: dict[str, list[str]] = Field(description="{field: [messages]}")


class BulkUploadResult(Strict):
    products_created: int = Field(ge=0)
    products_updated: int = Field(ge=0)
    errors: list[RowErrors]
