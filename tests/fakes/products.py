"""The products table in memory, shared by the catalog and the orders fakes as the two DynamoDB adapters share
one table: an order placed on the orders fake reserves stock the catalog fake shows, and a product deleted on
the catalog fake is gone for the orders fake. Stock moves are the domain's (chalicelib/domain/stock.py)."""

from __future__ import annotations

import threading

from chalicelib.domain.catalog import Product
from chalicelib.domain.stock import Counters

NOW = "2026-01-01T00:00:00.000000Z"


class InMemoryProducts:
    def __init__(self):
        self.products: dict[str, Product] = {}
        self.paths: dict[str, str] = {}  # product id -> category path (the by-path index)
        self.lock = threading.RLock()  # one lock over the table: a fake's write is atomic like a transaction

    def counters(self, product_id: str) -> Counters:
        product = self.products[product_id]
        return Counters(product.stock, product.reserved)

    def set_counters(self, product_id: str, counters: Counters) -> None:
        """Stores stock and reserved, and `available` with them (DynamoDB keeps it stored, too)."""
        product = self.products[product_id]
        product.stock, product.reserved, product.available = counters.stock, counters.reserved, counters.available

    def add(self, product_id: str, name: str, price_cents: int, discount_price_cents: int | None = None,
            stock: int = 0, reserved: int = 0, category_id: str = "c-test", category_path: str = "/c-test/") -> Product:
        """Seeds a product directly (as the contract tests seed DynamoDB), outside any use case."""
        product = Product(product_id, name, category_id, price_cents, discount_price_cents, stock, reserved,
                          Counters(stock, reserved).available, NOW, NOW)
        with self.lock:
            self.products[product_id] = product
            self.paths[product_id] = category_path
        return product
