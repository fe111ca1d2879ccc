"""The stock moves (chalicelib/domain/stock.py) and the products table the catalog and orders fakes share."""

from __future__ import annotations

import pytest

from chalicelib.domain import stock
from chalicelib.domain.catalog import AggregateDelta, DeleteProduct
from chalicelib.domain.orders import COMPLETED, HistoryEntry, InsufficientStock, OrderLine, new_order
from chalicelib.domain.stock import Counters
from tests.contracts.conftest import NOW, customer
from tests.fakes.catalog import InMemoryCatalogRepository
from tests.fakes.customers import InMemoryCustomerRepository
from tests.fakes.orders import InMemoryOrderRepository
from tests.fakes.products import InMemoryProducts


def test_each_move_holds_only_under_its_condition():
    assert stock.reserve(Counters(5, 1), 4) == Counters(5, 5)
    assert stock.reserve(Counters(5, 1), 5) is None  # 4 available
    assert stock.deduct(Counters(5, 3), 3) == Counters(2, 0)  # available unchanged
    assert stock.deduct(Counters(2, 3), 3) is None and stock.deduct(Counters(5, 2), 3) is None
    assert stock.release(Counters(5, 3), 3) == Counters(5, 0)
    assert stock.release(Counters(5, 2), 3) is None
    assert stock.stock_covers_reserved(3, 3) and not stock.stock_covers_reserved(2, 3)


def placed(buyer):
    return new_order(order_id="o1", number=1, customer_id=buyer.id, lines=[OrderLine("p1", "Lamp", 2, 1000)],
                     now=NOW, customer_email=buyer.email, customer_phone=buyer.phone_number, request_hash=None)


@pytest.fixture
def shared():
    products = InMemoryProducts()
    customers = InMemoryCustomerRepository()
    orders = InMemoryOrderRepository(customers=customers, products=products)
    return products, InMemoryCatalogRepository(products=products), orders, customers


def test_an_order_reserves_what_the_catalog_shows(shared):
    products, catalog, orders, customers = shared
    buyer = customer()
    customers.create(buyer)
    products.add("p1", "Lamp", 1000, stock=5)
    order = placed(buyer)
    orders.create(order, [])
    shown = catalog.get_product("p1")
    assert (shown.stock, shown.reserved, shown.available) == (5, 2, 3)


def test_approving_after_the_catalog_deleted_the_product_is_insufficient_stock(shared):
    products, catalog, orders, customers = shared
    buyer = customer()
    customers.create(buyer)
    products.add("p1", "Lamp", 1000, stock=5)
    order = placed(buyer)
    orders.create(order, [])
    catalog.write([DeleteProduct(catalog.get_product("p1"))], AggregateDelta())
    with pytest.raises(InsufficientStock):
        orders.transition(order, COMPLETED, HistoryEntry(COMPLETED, NOW, "staff"), [])
