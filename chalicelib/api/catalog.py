"""Categories and products (SPEC §4–§6): routes, request bodies, and the hourly price snapshot."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from chalicelib.api.requests import page_params, parse_body, query, query_bool
from chalicelib.api.responses import json_response, no_content
from chalicelib.api.routing import endpoint
from chalicelib.domain import catalog as rules

bp = Blueprint(__name__)


def _rule(function, value, **options):
    """Runs a domain field rule; its ValueError becomes a pydantic error with the rule's own message."""
    try:
        return function(value, **options)
    except ValueError as error:
        raise PydanticCustomError("invalid", str(error)) from None


def _id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a category id")
    return value.strip()


# --- request bodies

FIELD_NAMES = {  # API field -> domain field
    "name": "name",
    "price": "price_cents",
    "discount_price": "discount_price_cents",
    "stock": "stock",
    "category_id": "category_id",
}


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Any
    parent_id: Any = None

    @field_validator("name")
    @classmethod
    def _name(cls, value):
        return _rule(rules.clean_name, value, category=True)

    @field_validator("parent_id")
    @classmethod
    def _parent(cls, value):
        return None if value is None else _rule(_id, value)


class CategoryUpdate(CategoryCreate):
    name: Any = None


class ProductFields(BaseModel):
    """POST and PUT: every editable field (a PUT without `discount_price` clears the discount)."""

    model_config = ConfigDict(extra="forbid")

    name: Any
    price: Any
    discount_price: Any = None
    stock: Any
    category_id: Any

    @field_validator("name")
    @classmethod
    def _name(cls, value):
        return _rule(rules.clean_name, value)

    @field_validator("price")
    @classmethod
    def _price(cls, value):
        return _rule(rules.clean_price, value)

    @field_validator("discount_price")
    @classmethod
    def _discount(cls, value):
        return _rule(rules.clean_discount, value)

    @field_validator("stock")
    @classmethod
    def _stock(cls, value):
        return _rule(rules.clean_stock, value)

    @field_validator("category_id")
    @classmethod
    def _category(cls, value):
        return _rule(_id, value)

    def changes(self, only_given: bool = False) -> dict:
        """Editable domain fields (cents) -> values; `only_given` keeps only the fields in the body."""
        return {
            domain: getattr(self, field)
            for field, domain in FIELD_NAMES.items()
            if not only_given or field in self.model_fields_set
        }


class ProductPatch(ProductFields):
    """PATCH: any subset; `discount_price: null` removes the discount."""

    name: Any = None
    price: Any = None
    stock: Any = None
    category_id: Any = None


# --- categories


@endpoint(bp, "/categories", ["GET"])
def list_categories(caller):
    from chalicelib.services import catalog

    limit, cursor = page_params(bp.current_request)
    parent_id = query(bp.current_request).get("parent_id")
    items, next_cursor = catalog.list_categories(parent_id, limit, cursor)
    return json_response({"items": [c.view() for c in items], "next_cursor": next_cursor})


@endpoint(bp, "/categories", ["POST"], staff=True)
def create_category(caller):
    from chalicelib.services import catalog

    body = parse_body(CategoryCreate, bp.current_request)
    return json_response(catalog.create_category(body.name, body.parent_id).view(), status=201)


@endpoint(bp, "/categories/{category_id}", ["GET"])
def get_category(caller, category_id):
    from chalicelib.services import catalog

    return json_response(catalog.get_category(category_id).view())


@endpoint(bp, "/categories/{category_id}", ["PATCH"], staff=True)
def update_category(caller, category_id):
    from chalicelib.services import catalog

    catalog.get_category(category_id)  # an unknown id is a 404 whatever the body
    body = parse_body(CategoryUpdate, bp.current_request)
    category = catalog.update_category(
        category_id, body.name, "parent_id" in body.model_fields_set, body.parent_id
    )
    return json_response(category.view())


@endpoint(bp, "/categories/{category_id}", ["DELETE"], staff=True)
def delete_category(caller, category_id):
    from chalicelib.services import catalog

    catalog.delete_category(category_id)
    return no_content()


def _average_price(category_id):
    from chalicelib.services import catalog

    return json_response(catalog.average_price(category_id))


@endpoint(bp, "/categories/{category_id}/calculate_average_price", ["GET"])
def calculate_average_price(caller, category_id):
    return _average_price(category_id)


@endpoint(bp, "/categories/{category_id}/average-price", ["GET"])
def average_price(caller, category_id):
    return _average_price(category_id)


@endpoint(bp, "/categories/{category_id}/price-history", ["GET"])
def price_history(caller, category_id):
    from chalicelib.services import price_history as history

    limit, cursor = page_params(bp.current_request)
    items, next_cursor = history.history(category_id, limit, cursor)
    return json_response({"category_id": category_id, "items": [s.view() for s in items], "next_cursor": next_cursor})


# --- products


@endpoint(bp, "/products", ["GET"])
def list_products(caller):
    from chalicelib.services import catalog

    request = bp.current_request
    limit, cursor = page_params(request)
    category_id = query(request).get("category_id") or None
    descendants = query_bool(request, "include_descendants")
    items, next_cursor = catalog.list_products(category_id, descendants, limit, cursor)
    return json_response({"items": [p.view() for p in items], "next_cursor": next_cursor})


@endpoint(bp, "/products", ["POST"], staff=True)
def create_product(caller):
    from chalicelib.services import catalog

    body = parse_body(ProductFields, bp.current_request)
    product = catalog.create_product(body.name, body.price, body.discount_price, body.stock, body.category_id)
    return json_response(product.view(), status=201)


@endpoint(bp, "/products/{product_id}", ["GET"])
def get_product(caller, product_id):
    from chalicelib.services import catalog

    return json_response(catalog.get_product(product_id).view())


@endpoint(bp, "/products/{product_id}", ["PUT"], staff=True)
def replace_product(caller, product_id):
    from chalicelib.services import catalog

    catalog.get_product(product_id)  # an unknown id is a 404 whatever the body
    body = parse_body(ProductFields, bp.current_request)
    return json_response(catalog.update_product(product_id, body.changes()).view())


@endpoint(bp, "/products/{product_id}", ["PATCH"], staff=True)
def patch_product(caller, product_id):
    from chalicelib.services import catalog

    catalog.get_product(product_id)  # an unknown id is a 404 whatever the body
    body = parse_body(ProductPatch, bp.current_request)
    return json_response(catalog.update_product(product_id, body.changes(only_given=True)).view())


@endpoint(bp, "/products/{product_id}", ["DELETE"], staff=True)
def delete_product(caller, product_id):
    from chalicelib.services import catalog

    catalog.delete_product(product_id)
    return no_content()


def _bulk_upload():
    from chalicelib.services import bulk_import

    request = bp.current_request
    dry_run = query_bool(request, "dry_run")
    headers = request.headers or {}
    report = bulk_import.upload(request.raw_body or b"", headers.get("content-type", ""), dry_run=dry_run)
    return json_response(report.body(), status=report.status)


@endpoint(bp, "/products/bulk-upload", ["POST"], staff=True)
def bulk_upload(caller):
    return _bulk_upload()


@endpoint(bp, "/products/bulk_upload", ["POST"], staff=True)
def bulk_upload_alias(caller):
    return _bulk_upload()


# --- the periodic price analysis (the local worker runs the same job: chalicelib/services/jobs.py)


@bp.schedule(Rate(1, unit=Rate.HOURS))
def snapshot_category_prices(event):
    from chalicelib.services import price_history

    price_history.snapshot_all()
