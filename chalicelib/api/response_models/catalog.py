"""Categories, products, price history and bulk uploads (SPEC §5–§6)."""

from __future__ import annotations

from pydantic import Field, model_validator

from chalicelib.api.response_models.common import ErrorDetail, Id, Money, Page, Strict, Timestamp, from_attributes
from chalicelib.domain import catalog as domain
from chalicelib.domain.money import format_cents, mean_cents
from chalicelib.services.bulk_import import Report


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

    @model_validator(mode="before")
    @classmethod
    def _from_domain(cls, value):
        if isinstance(value, domain.Product):
            return from_attributes(value, cls, price=format_cents(value.price_cents),
                                   discount_price=format_cents(value.discount_price_cents),
                                   current_price=format_cents(value.current_price_cents))
        return value


class PriceSnapshot(Strict):
    taken_at: Timestamp
    average_price: Money | None
    products_count: int = Field(ge=0)
    subcategory_count: int = Field(ge=0)

    @model_validator(mode="before")
    @classmethod
    def _from_domain(cls, value):
        if isinstance(value, domain.PriceSnapshot):
            return from_attributes(value, cls, average_price=mean_cents(value.price_sum_cents, value.products_count))
        return value


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

    @model_validator(mode="before")
    @classmethod
    def _from_domain(cls, value):
        return _report_fields(value) if isinstance(value, Report) else value


def _report_fields(report: Report) -> dict:
    fields = {
        "products_created": report.created,
        "products_updated": report.updated,
        "errors": [{"row": row, "errors": report.errors[row]} for row in sorted(report.errors)],
    }
    return {**fields, "dry_run": True} if report.dry_run else fields  # absent, not false, on a real upload


class BulkUploadError(Strict):
    """A bad file (`unsupported_file_type`, `invalid_encoding`, `invalid_csv`, `invalid_json`, `invalid_multipart`, `missing_file`, `empty_file`, `missing_columns`): the error envelope; no row applied (`no_rows_applied`): the envelope plus the report."""  # noqa: E501

    error: ErrorDetail
    products_created: int | None = Field(default=None, ge=0)
    products_updated: int | None = Field(default=None, ge=0)
    errors: list[RowErrors] | None = None
    dry_run: bool | None = Field(default=None, description="true on a dry run (nothing was written).")

    @model_validator(mode="before")
    @classmethod
    def _from_domain(cls, value):
        if isinstance(value, Report):  # no row applied: the report, and the envelope every 4xx carries
            fields = _report_fields(value)
            message = "no row of the file could be applied; see errors"
            details = {"errors": fields["errors"]}
            return {"error": {"code": "no_rows_applied", "message": message, "details": details}, **fields}
        return value


CategoryPage = Page[Category]
ProductPage = Page[Product]
