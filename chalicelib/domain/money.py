"""Money: integer cents inside, two-place decimal strings outside (half-up rounding)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e15")  # far above any price; cents stay well inside DynamoDB's 38 digits


def to_cents(value: object) -> int:
    """A number or numeric string (e.g. 1500, "1500.5", "1500.00") as cents; ValueError if not money."""
    if isinstance(value, bool) or value is None:
        raise ValueError("must be a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if abs(amount) >= MAX_AMOUNT:  # also keeps quantize below (28 digits) from raising InvalidOperation
        raise ValueError("is too large")
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValueError("must have at most two decimal places")
    return int(amount * 100)


def format_cents(cents: int | None) -> str | None:
    if cents is None:
        return None
    return str((Decimal(int(cents)) / 100).quantize(CENT))


def mean_cents(total_cents: int, count: int) -> str | None:
    """The mean as a two-place string, rounded half-up; None when there is nothing to average."""
    if count == 0:
        return None
    return str((Decimal(int(total_cents)) / Decimal(100 * count)).quantize(CENT, rounding=ROUND_HALF_UP))
