"""Contract suites: each test runs once against the in-memory fake and once against the DynamoDB adapter.

`impl` is "fake" or "dynamodb". The DynamoDB variants share the session's `emulator` (a real emulator
subprocess with the stage's tables); the fake variants need nothing and start none. Every helper here
gives both variants the same seeding and inspection verbs, so a test body never branches on `impl`.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from chalicelib.domain.customers import Customer

IMPLEMENTATIONS = ["fake", "dynamodb"]
NOW = "2026-01-01T00:00:00.000000Z"


def uid(prefix: str = "t") -> str:
    """Unique across the session: the DynamoDB variants share their tables with every other test."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def customer(customer_id: str | None = None, *, email: str | None = None, phone: str | None = "+254700000001",
             role: str = "customer", created_at: str = NOW) -> Customer:
    customer_id = customer_id or uid("cu")
    return Customer(id=customer_id, email=email or f"{customer_id}@ekiosk.test", name="Test", phone_number=phone,
                    role=role, created_at=created_at, updated_at=created_at)


def same_error(raised: pytest.ExceptionInfo, error_type: type, code: str, details=None) -> None:
    """The domain error contract: type, code and (when given) details."""
    assert isinstance(raised.value, error_type), repr(raised.value)
    assert raised.value.code == code
    if details is not None:
        assert raised.value.details == details


def as_dict(value) -> dict:
    return dataclasses.asdict(value)


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request) -> str:
    if request.param == "dynamodb":
        request.getfixturevalue("emulator")
    return request.param


@pytest.fixture
def settings(impl):
    from chalicelib.config import get_settings, load_settings

    return get_settings() if impl == "dynamodb" else load_settings({"ADMIN_EMAILS": "staff@ekiosk.test"})
