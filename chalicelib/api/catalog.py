"""Categories and products (SPEC §4–§6): routes, request bodies, and the hourly price snapshot."""

from __future__ import annotations

from chalice import Blueprint, Rate

from chalicelib.api.pagination import list_page
from chalicelib.api.requests import parse_body, query, query_bool
from chalicelib.api.responses import Reply, no_content
from chalicelib.api.routing import endpoint

bp = Blueprint(__name__)

# Models by name: pydantic is imported on use, not at cold start. The response model is also the serializer.
REQUEST = "chalicelib.api.request_models:"
RESPONSE = "chalicelib.api.response_models.catalog:"
TAGS = ["catalog"]
NOT_FOUND = "`not_found`: no such category or product."


def _models():
    from chalicelib.api import request_models

    return request_models


# --- categories


@endpoint(
    bp, "/categories", ["GET"], tags=TAGS, summary="List categories", response=RESPONSE + "CategoryPage",
    query=REQUEST + "CategoryQuery",
    description="Every category (no `parent_id`), the top level (`parent_id=root` or `null`) or one category's "
                "children, by name. An unknown `parent_id` is a 404.",
    responses={404: "`not_found`: no category has this `parent_id`."},
)
def list_categories(caller):
    from chalicelib.bootstrap import services
    from chalicelib.services import catalog

    parent_id = query(bp.current_request).get("parent_id") or None  # empty: no filter
    page = list_page(bp.current_request, caller, parent_id=parent_id)
    items, position = catalog.list_categories(services(), parent_id, page.limit, page.position)
    return {"items": items, "next_cursor": page.next_cursor(position)}


@endpoint(
    bp, "/categories", ["POST"], staff=True, tags=TAGS, summary="Create a category", body=REQUEST + "CategoryIn",
    response=RESPONSE + "Category", status=201,
    description="Names are unique among siblings, case-insensitively; an unknown `parent_id` is a 400.",
    responses={409: "`duplicate_name`: a sibling already has this name."},
)
def create_category(caller):
    from chalicelib.bootstrap import services
    from chalicelib.services import catalog

    body = parse_body(_models().CategoryIn, bp.current_request)
    return catalog.create_category(services(), body.name, body.parent_id)


@endpoint(bp, "/categories/{category_id}", ["GET"], tags=TAGS, summary="One category", response=RESPONSE + "Category")
def get_category(caller, category_id):
    from chalicelib.bootstrap import services
    from chalicelib.services import catalog

    return catalog.get_category(services(), category_id)


@endpoint(
    bp, "/categories/{category_id}", ["PATCH"], staff=True, tags=TAGS, summary="Rename a category",
    body=REQUEST + "CategoryPatchIn", response=RESPONSE + "Category",
    responses={409: "`duplicate_name`, or `reparent_not_supported` (a `parent_id` other than the current one)."},
)
def update_category(caller, category_id):
    from chalicelib.bootstrap import services
    from chalicelib.services import catalog

    catalog.get_category(services(), category_id)  # an unknown id is a 404 whatever the body
    body = parse_body(_models().CategoryPatchIn, bp.current_request)
    category = catalog.update_category(
        services(), category_id, body.name, "parent_id" in body.model_fields_set, body.parent_id
    )
    return category


@endpoint(
    bp, "/categories/{category_id}", ["DELETE"], staff=True, tags=TAGS, summary="Delete an empty category",
    status=204,
    responses={409: "`category_not_empty`: it still has products or subcategories (details: their numbers)."},
)
def delete_category(caller, category_id):
    from chalicelib.bootstrap import services
    from chalicelib.services import catalog

    catalog.delete_category(services(), category_id)
    return no_content()


AVERAGE_DESCRIPTION = (
    "The unweighted mean of `price` over the products of the category and of its descendants down to three "
    "levels below it (SPEC §5); `average_price` is null when there are none. One read of the category's own "
    "aggregates, whatever the size of the catalog."
)


def _average_price(category_id):
    from chalicelib.bootstrap import services
    from chalicelib.services import catalog

    return catalog.average_price(services(), category_id)


@endpoint(
    bp, "/categories/{category_id}/calculate_average_price", ["GET"], tags=TAGS,
    summary="Average price of a category", response=RESPONSE + "AveragePrice", description=AVERAGE_DESCRIPTION,
)
def calculate_average_price(caller, category_id):
    return _average_price(category_id)


@endpoint(
    bp, "/categories/{category_id}/average-price", ["GET"], tags=TAGS,
    summary="Average price of a category (alias of calculate_average_price)", response=RESPONSE + "AveragePrice",
    description=AVERAGE_DESCRIPTION,
)
def average_price(caller, category_id):
    return _average_price(category_id)


@endpoint(
    bp, "/categories/{category_id}/price-history", ["GET"], tags=TAGS, summary="Hourly average-price history",
    response=RESPONSE + "PriceHistory", query=["limit", "cursor"],
    description="Snapshots of the category's average price, newest first, taken every hour by the periodic "
                "price analysis (one per hour: a rerun within the hour replaces it).",
)
def price_history(caller, category_id):
    from chalicelib.bootstrap import services
    from chalicelib.services import price_history as history

    page = list_page(bp.current_request, caller)  # the category is a path parameter: part of the route
    items, position = history.history(services(), category_id, page.limit, page.position)
    return {"items": items, "next_cursor": page.next_cursor(position), "category_id": category_id}


# --- products


@endpoint(
    bp, "/products", ["GET"], tags=TAGS, summary="List products", response=RESPONSE + "ProductPage",
    query=REQUEST + "ProductQuery",
    description="Every product, or one category's (by name; with `include_descendants=true` also those of every "
                "category below it).",
    responses={404: "`not_found`: no category has this `category_id`."},
)
def list_products(caller):
    from chalicelib.bootstrap import services
    from chalicelib.services import catalog

    request = bp.current_request
    category_id = query(request).get("category_id") or None
    descendants = query_bool(request, "include_descendants")
    page = list_page(request, caller, category_id=category_id, include_descendants=descendants)
    items, position = catalog.list_products(services(), category_id, descendants, page.limit, page.position)
    return {"items": items, "next_cursor": page.next_cursor(position)}


@endpoint(
    bp, "/products", ["POST"], staff=True, tags=TAGS, summary="Create a product", body=REQUEST + "ProductIn",
    response=RESPONSE + "Product", status=201,
)
def create_product(caller):
    from chalicelib.bootstrap import services
    from chalicelib.services import catalog

    body = parse_body(_models().ProductIn, bp.current_request)
    return catalog.create_product(services(), body.name, body.price, body.discount_price, body.stock,
                                  body.category_id)


@endpoint(bp, "/products/{product_id}", ["GET"], tags=TAGS, summary="One product", response=RESPONSE + "Product")
def get_product(caller, product_id):
    from chalicelib.bootstrap import services
    from chalicelib.services import catalog

    return catalog.get_product(services(), product_id)


STOCK_CONFLICT = {409: "`stock_below_reserved`: stock cannot go below what pending orders reserve."}


@endpoint(
    bp, "/products/{product_id}", ["PUT"], staff=True, tags=TAGS, summary="Replace a product's fields",
    body=REQUEST + "ProductIn", response=RESPONSE + "Product", responses=STOCK_CONFLICT,
    description="Every editable field; a missing `discount_price` removes the discount.",
)
def replace_product(caller, product_id):
    from chalicelib.bootstrap import services
    from chalicelib.services import catalog

    catalog.get_product(services(), product_id)  # an unknown id is a 404 whatever the body
    body = parse_body(_models().ProductIn, bp.current_request)
    return catalog.update_product(services(), product_id, body.changes())


@endpoint(
    bp, "/products/{product_id}", ["PATCH"], staff=True, tags=TAGS, summary="Change some of a product's fields",
    body=REQUEST + "ProductPatchIn", response=RESPONSE + "Product", responses=STOCK_CONFLICT,
    description="Only the fields given; `discount_price` is checked against the stored price (and the reverse).",
)
def patch_product(caller, product_id):
    from chalicelib.bootstrap import services
    from chalicelib.services import catalog

    catalog.get_product(services(), product_id)  # an unknown id is a 404 whatever the body
    body = parse_body(_models().ProductPatchIn, bp.current_request)
    return catalog.update_product(services(), product_id, body.changes(only_given=True))


@endpoint(
    bp, "/products/{product_id}", ["DELETE"], staff=True, tags=TAGS, summary="Delete a product", status=204,
    description="Past orders keep their item snapshots (name, price, quantity).",
)
def delete_product(caller, product_id):
    from chalicelib.bootstrap import services
    from chalicelib.services import catalog

    catalog.delete_product(services(), product_id)
    return no_content()


BULK_DOC = {
    "tags": TAGS,
    "body": {
        "multipart/form-data": REQUEST + "BulkUploadForm",
        "text/csv": {"type": "string", "example": "name,stock,price,category,discount_price\n"
                                                  "Desk lamp,12,1500.00,Home/Lighting,\n"},
        "application/json": {"type": "array", "items": {"type": "object"}},
    },
    "query": REQUEST + "BulkQuery",
    "response": RESPONSE + "BulkUploadResult",
    "status": 201,
    "description": "CSV (UTF-8, optional BOM, header `name,stock,price,category` and optional `discount_price`) or "
                   "a JSON list of objects with the same fields. `category` is a name or a path such as "
                   "`Electronics/Laptops`; missing categories are created. A product whose name already exists "
                   "in its category is updated, so uploading the same file twice is safe. Rows are numbered from "
                   "1 (the header is not a row). Nothing is written for a structurally bad file.",
    "responses": {
        200: RESPONSE + "BulkUploadResult",
        207: RESPONSE + "BulkUploadResult",
        400: RESPONSE + "BulkUploadError",
        413: "`file_too_large` (over 10 MB) or `too_many_rows` (over 50,000).",
    },
}


def _bulk_upload():
    from chalicelib.bootstrap import services
    from chalicelib.services import bulk_import

    request = bp.current_request
    dry_run = query_bool(request, "dry_run")
    headers = request.headers or {}
    report = bulk_import.upload(services(), request.raw_body or b"", headers.get("content-type", ""), dry_run=dry_run)
    return Reply(report, status=report.status)


@endpoint(bp, "/products/bulk-upload", ["POST"], staff=True, summary="Upload products in bulk", **BULK_DOC)
def bulk_upload(caller):
    return _bulk_upload()


@endpoint(
    bp, "/products/bulk_upload", ["POST"], staff=True, summary="Upload products in bulk (alias of bulk-upload)",
    **BULK_DOC,
)
def bulk_upload_alias(caller):
    return _bulk_upload()


# --- the periodic price analysis (the local worker runs the same job: chalicelib/services/jobs.py)


@bp.schedule(Rate(1, unit=Rate.HOURS))
def snapshot_category_prices(event):
    from chalicelib.bootstrap import services
    from chalicelib.services import price_history

    price_history.snapshot_all(services())
