"""Helpers for the catalog tests: in-memory wiring, unique names, request counting, brute-force checks."""

from __future__ import annotations

import contextlib
import itertools
import threading
import uuid
from collections.abc import Iterable

from chalicelib.bootstrap import Services, services, use_services
from chalicelib.config import load_settings
from chalicelib.domain.catalog import LEVELS, AggregateDelta, AveragePrice, Category, Product
from chalicelib.domain.money import mean_cents

_counter = itertools.count()


def unique(prefix: str = "t") -> str:
    """A name no other test uses (the integration and e2e sessions share their tables)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}-{next(_counter)}"


@contextlib.contextmanager
def memory_catalog(**adapters):
    """Installs a Services container whose catalog (and customers) live in memory; yields the catalog fake."""
    from tests.fakes.catalog import InMemoryCatalogRepository
    from tests.fakes.customers import InMemoryCustomerRepository

    settings = load_settings({"ADMIN_EMAILS": "staff@ekiosk.test"})
    catalog = adapters.pop("catalog", None) or InMemoryCatalogRepository()
    adapters.setdefault("customers", InMemoryCustomerRepository())
    previous = use_services(Services(settings, catalog=catalog, **adapters))
    try:
        yield catalog
    finally:
        use_services(previous)


class RequestCounter:
    """Counts AWS API calls made in this process (boto3 and PynamoDB both go through botocore)."""

    def __init__(self):
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self):
        from botocore.client import BaseClient

        self._original = BaseClient._make_api_call
        counter = self

        def counted(client, operation_name, params):
            with counter._lock:
                counter.calls.append(operation_name)
            return counter._original(client, operation_name, params)

        BaseClient._make_api_call = counted
        return self

    def __exit__(self, *exc):
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._original

    def count(self, *operations: str) -> int:
        return sum(1 for call in self.calls if not operations or call in operations)


WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def product_delta(before: tuple[Category, int] | None, after: tuple[Category, int] | None) -> AggregateDelta:
    """The aggregate change of a product moving from (category, price) `before` to `after`."""
    delta = AggregateDelta()
    if before is not None:
        delta.add_product(before[0], before[1], -1)
    if after is not None:
        delta.add_product(after[0], after[1], +1)
    return delta


def brute_force_average(categories: Iterable[Category], products: Iterable[Product], category_id: str) -> AveragePrice:
    """The SPEC §5 answer by walking the tree: the reference the aggregates are tested against."""
    by_id = {c.id: c for c in categories}
    target = by_id[category_id]

    def level_of(candidate: Category) -> int | None:
        distance, current = 0, candidate
        while current is not None and distance < LEVELS:
            if current.id == target.id:
                return distance
            current = by_id.get(current.parent_id) if current.parent_id else None
            distance += 1
        return None

    levels = {c.id: level_of(c) for c in by_id.values()}
    prices = [p.price_cents for p in products if levels.get(p.category_id) is not None]
    subcategories = sum(1 for level in levels.values() if level)
    return AveragePrice(target.id, target.name, mean_cents(sum(prices), len(prices)), len(prices), subcategories)


def brute_force(repo, category_id: str) -> AveragePrice:
    """The average-price answer recomputed from every category and product an in-memory repo holds."""
    return brute_force_average(repo.categories.values(), repo.products.values(), category_id)


def report_body(report) -> dict:
    """A bulk upload's answer body, through the response model the route documents for the report's status."""
    from chalicelib.api.catalog import BULK_DOC
    from chalicelib.api.responses import response_model
    from tests.support.responses import serialize

    return serialize(response_model(BULK_DOC, report.status), report)


def csv_text(rows: list[tuple], header: str = "name,stock,price,category") -> str:
    return header + "\n" + "".join(",".join(str(cell) for cell in row) + "\n" for row in rows)


def multipart(data: bytes, filename: str = "products.csv", content_type: str | None = "text/csv",
              field: str = "file") -> tuple[bytes, str]:
    """A multipart/form-data body with one file field; returns (body, content type header)."""
    boundary = "----ekiosk" + uuid.uuid4().hex
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    body = head.encode() + b"\r\n" + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


# --- random catalog edits, for the property tests (unit: in memory; integration: on the emulator)


def catalog_edits():
    """A hypothesis strategy: a list of edits to a catalog (indices are taken modulo what exists)."""
    from hypothesis import strategies as st

    index = st.integers(min_value=0, max_value=1_000)
    price = st.integers(min_value=1, max_value=100_000)
    edit = st.one_of(
        # parent: none (top level), the newest category (-1: grows deep chains), or any
        st.tuples(st.just("category"), st.one_of(st.none(), st.just(-1), st.just(-1), index)),
        st.tuples(st.just("product"), index, price),
        st.tuples(st.just("price"), index, price),
        st.tuples(st.just("discount"), index, st.one_of(st.none(), st.integers(min_value=0, max_value=50))),
        st.tuples(st.just("move"), index, index),
        st.tuples(st.just("delete_product"), index),
        st.tuples(st.just("delete_category"), index),
    )
    return st.lists(edit, min_size=1, max_size=40)


def apply_edits(edits, prefix: str) -> tuple[list[str], list[str]]:
    """Applies edits through the catalog service; returns the ids of the categories and products that exist."""
    from chalicelib.domain.errors import Conflict, InvalidInput
    from chalicelib.services import catalog as service

    categories: list[str] = []
    products: list[str] = []
    for number, edit in enumerate(edits):
        kind = edit[0]
        if kind == "category":
            parent = None
            if edit[1] is not None and categories:
                parent = categories[edit[1] % len(categories)]
            root_name = f"{prefix}-{number}" if parent is None else f"c{number}"
            try:
                categories.append(service.create_category(services(), root_name, parent).id)
            except InvalidInput:  # too deep
                pass
        elif kind == "product" and categories:
            category_id = categories[edit[1] % len(categories)]
            products.append(service.create_product(services(), f"p{number}", edit[2], None, 1, category_id).id)
        elif kind in ("price", "discount", "move", "delete_product") and products:
            product_id = products[edit[1] % len(products)]
            if kind == "price":
                current = service.get_product(services(), product_id)
                if current.discount_price_cents is not None and current.discount_price_cents >= edit[2]:
                    service.update_product(services(), product_id, {"discount_price_cents": None})
                service.update_product(services(), product_id, {"price_cents": edit[2]})
            elif kind == "discount":
                current = service.get_product(services(), product_id)
                if edit[2] is None or edit[2] < current.price_cents:
                    service.update_product(services(), product_id, {"discount_price_cents": edit[2]})
            elif kind == "move" and categories:
                target = categories[edit[2] % len(categories)]
                service.update_product(services(), product_id, {"category_id": target})
            elif kind == "delete_product":
                service.delete_product(services(), product_id)
                products.remove(product_id)
        elif kind == "delete_category" and categories:
            category_id = categories[edit[1] % len(categories)]
            try:
                service.delete_category(services(), category_id)
                categories.remove(category_id)
            except Conflict:
                pass
    return categories, products


def everything():
    """Every category and product, read through the service's paged lists."""
    from chalicelib.services import catalog as service

    categories, cursor = [], None
    while True:
        page, cursor = service.list_categories(services(), None, 100, cursor)
        categories += page
        if not cursor:
            break
    products, cursor = [], None
    while True:
        page, cursor = service.list_products(services(), None, False, 100, cursor)
        products += page
        if not cursor:
            break
    return categories, products
