"""Pages over DynamoDB indexes: a cursor only when something follows (DynamoDB answers a LastEvaluatedKey
whenever Limit is reached, even at the very end), and no page lost to a filter."""

from __future__ import annotations

import pytest

from chalicelib.bootstrap import services
from chalicelib.services import catalog as service
from tests.support.catalog import unique

KEYS = ("id", "category_id", "name_key")  # the table's and the by-category index's keys


@pytest.fixture
def aws_limits(emulator):
    """As DynamoDB does (the emulator does not): a Query that stops at its Limit answers a
    LastEvaluatedKey even when nothing follows."""
    from chalicelib.adapters.dynamodb.catalog import ProductRecord

    client = ProductRecord._get_connection().connection.client
    limits = {}

    def remember(params, **_):
        limits["Limit"] = params.get("Limit")

    def stop_at_limit(parsed, **_):
        items = parsed.get("Items") or []
        if limits.get("Limit") and len(items) == limits["Limit"] and "LastEvaluatedKey" not in parsed:
            parsed["LastEvaluatedKey"] = {key: items[-1][key] for key in KEYS}

    client.meta.events.register("provide-client-params.dynamodb.Query", remember)
    client.meta.events.register("after-call.dynamodb.Query", stop_at_limit)
    yield
    client.meta.events.unregister("provide-client-params.dynamodb.Query", remember)
    client.meta.events.unregister("after-call.dynamodb.Query", stop_at_limit)


def pages(category_id: str, limit: int) -> list[list[str]]:
    found, cursor = [], None
    while True:
        items, cursor = service.list_products(services(), category_id, False, limit, cursor)
        found.append([p.name for p in items])
        if not cursor:
            return found


def test_a_full_last_page_has_no_cursor_and_no_page_is_empty(aws_limits):
    category = service.create_category(services(), unique("pages"), None)
    names = [f"P{i:02d}" for i in range(6)]
    for name in names:
        service.create_product(services(), name, 100, None, 1, category.id)
    assert pages(category.id, 6) == [names]
    assert pages(category.id, 3) == [names[:3], names[3:]]
    assert pages(category.id, 4) == [names[:4], names[4:]]
    assert pages(category.id, 100) == [names]
    assert all(page for page in pages(category.id, 2))


def test_a_filtered_query_pages_through_everything(emulator):
    from functools import partial

    from chalicelib.adapters.dynamodb.catalog import ProductRecord
    from chalicelib.adapters.dynamodb.pages import page

    category = service.create_category(services(), unique("filtered"), None)
    for i in range(9):
        service.create_product(services(), f"P{i}", 100, None, i % 3, category.id)  # stock 0, 1, 2, 0, 1, 2, …
    run = partial(ProductRecord.by_category.query, category.id, filter_condition=ProductRecord.stock == 2)
    seen, cursor, calls = [], None, 0
    while True:
        items, cursor = page(run, 2, cursor)
        calls += 1
        seen += [p.name for p in items]
        if not cursor:
            break
    assert seen == ["P2", "P5", "P8"] and calls == 2
