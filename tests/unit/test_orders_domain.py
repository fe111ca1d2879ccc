"""The order rules without any storage: statuses, transitions, money, idempotency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.notifications import ORDER_APPROVED, ORDER_CANCELLED
from chalicelib.domain.orders import (
    CANCELED,
    COMPLETED,
    PENDING,
    HistoryEntry,
    InsufficientStock,
    InvalidTransition,
    OrderLine,
    Shortage,
    check_idempotency_key,
    current_price_cents,
    event_for_transition,
    line_total,
    new_order,
    order_id_for,
    order_total,
    parse_status,
    request_hash,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("PENDING", PENDING), ("pending", PENDING), ("Completed", COMPLETED), ("canceled", CANCELED),
     ("CANCELLED", CANCELED), ("cancelled", CANCELED), (" COMPLETED ", COMPLETED)],
)
def test_status_input_is_case_insensitive_and_accepts_cancelled(given, expected):
    assert parse_status(given) == expected


@pytest.mark.parametrize("given", ["SHIPPED", "", "COMPLETE", "CANCEL", None, 1, True, ["PENDING"], {"s": 1}])
def test_anything_else_is_400(given):
    with pytest.raises(InvalidInput) as caught:
        parse_status(given)
    assert caught.value.status == 400 and "status" in caught.value.details


def test_only_pending_to_completed_or_canceled():
    assert event_for_transition(PENDING, COMPLETED) == ORDER_APPROVED
    assert event_for_transition(PENDING, CANCELED) == ORDER_CANCELLED
    for current in (PENDING, COMPLETED, CANCELED):
        for target in (PENDING, COMPLETED, CANCELED):
            if current == PENDING and target != PENDING:
                continue
            with pytest.raises(InvalidTransition) as caught:
                event_for_transition(current, target)
            assert caught.value.status == 409 and caught.value.code == "invalid_transition"
            assert caught.value.details == {"from": current, "to": target}


def test_current_price_is_the_discount_price_when_set():
    assert current_price_cents(150_000, None) == 150_000
    assert current_price_cents(150_000, 120_000) == 120_000
    assert current_price_cents(150_000, 0) == 0  # a discount to zero is still a discount


def test_line_totals_and_totals_are_two_place_decimals_rounded_half_up():
    assert line_total(Decimal("1500.00"), 3) == Decimal("4500.00")
    assert str(line_total(Decimal("0.10"), 3)) == "0.30"  # no binary float drift
    assert str(line_total(Decimal("0.125"), 1)) == "0.13"  # half-up, not banker's (0.12)
    assert str(line_total(Decimal("0.335"), 3)) == "1.01"  # 1.005 → 1.01
    assert str(order_total([Decimal("0.10"), Decimal("0.20")])) == "0.30"


def test_order_shape_is_exactly_the_spec():
    order = new_order(
        order_id="o1", number=7, customer_id="c1",
        lines=[OrderLine("p1", "Pen", 3, 1999), OrderLine("p2", "Book", 1, 150_000)],
        now="2024-01-01T00:00:00.000000Z", customer_email="a@b.c", customer_phone="+254711223344",
        request_hash="h",
    )
    assert order.status == PENDING and order.updated_at == order.created_at
    assert [line.line_total for line in order.items] == [Decimal("59.97"), Decimal("1500.00")]
    assert order.total == Decimal("1559.97") and order.history == [HistoryEntry(PENDING, order.created_at, "c1")]
    assert order.total_cents == 155_997
    done = order.with_status(COMPLETED, "2024-01-02T00:00:00.000000Z", "staff")
    assert done.status == COMPLETED and done.updated_at.startswith("2024-01-02")
    assert done.history[-1] == HistoryEntry(COMPLETED, "2024-01-02T00:00:00.000000Z", "staff")
    assert order.status == PENDING and len(order.history) == 1  # the original is untouched


def test_insufficient_stock_details():
    error = InsufficientStock([Shortage("p1", 5, 2)])
    assert (error.status, error.code) == (409, "insufficient_stock")
    assert error.details == [{"product_id": "p1", "requested": 5, "available": 2}]


def test_idempotency_key_limits():
    assert check_idempotency_key(None) is None
    assert check_idempotency_key("k" * 255) == "k" * 255
    for bad in ("k" * 256, "", "   "):
        with pytest.raises(InvalidInput) as caught:
            check_idempotency_key(bad)
        assert caught.value.code == "invalid_idempotency_key"


def test_request_hash_ignores_item_order_but_not_content():
    assert request_hash([("a", 1), ("b", 2)]) == request_hash([("b", 2), ("a", 1)])
    assert request_hash([("a", 1), ("b", 2)]) != request_hash([("a", 2), ("b", 1)])
    assert request_hash([("a", 1)]) != request_hash([("a", 1), ("b", 1)])


def test_order_ids_derive_from_customer_and_key():
    assert order_id_for("c1", "k") == order_id_for("c1", "k")
    assert order_id_for("c1", "k") != order_id_for("c2", "k")
    assert order_id_for("c1", "k") != order_id_for("c1", "k2")
    assert order_id_for("c1", None) != order_id_for("c1", None)
    assert "#" not in order_id_for("c1", "k#1")  # never collides with the counter item
