"""A product's stock counters and the moves orders make on them.

`available = stock - reserved`. Each move holds only under its condition; DynamoDB applies the same moves as
conditional update expressions (adapters/dynamodb/order_repository.py, catalog_expressions.py), the in-memory
fakes apply these functions, so the rule is written once in Python.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Counters:
    stock: int
    reserved: int

    @property
    def available(self) -> int:
        return self.stock - self.reserved


def reserve(counters: Counters, quantity: int) -> Counters | None:
    """Placing an order holds `quantity`; None when fewer are available."""
    if counters.available < quantity:
        return None
    return Counters(counters.stock, counters.reserved + quantity)


def deduct(counters: Counters, quantity: int) -> Counters | None:
    """Approving an order takes `quantity` out of stock and its reservation (available unchanged); None when
    either holds less."""
    if counters.stock < quantity or counters.reserved < quantity:
        return None
    return Counters(counters.stock - quantity, counters.reserved - quantity)


def release(counters: Counters, quantity: int) -> Counters | None:
    """Canceling an order gives its reservation back; None when less is reserved than it holds."""
    if counters.reserved < quantity:
        return None
    return Counters(counters.stock, counters.reserved - quantity)


def stock_covers_reserved(stock: int, reserved: int) -> bool:
    """Staff may set stock to any value not below what orders hold."""
    return reserved <= stock
