"""Response shaping: JSON bodies and the error envelope `{"error": {code, message, details}}`."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from chalice import Response

from chalicelib.domain.errors import DomainError

JSON_HEADERS = {"Content-Type": "application/json"}


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, default=_default, separators=(",", ":")),
        status_code=status,
        headers={**JSON_HEADERS, **(headers or {})},
    )


def error_body(code: str, message: str, details: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(code: str, message: str, status: int, details: Any = None) -> Response:
    return json_response(error_body(code, message, details), status)


def domain_error_response(error: DomainError) -> Response:
    return error_response(error.code, error.message, error.status, error.details)


def no_content() -> Response:
    return Response(body="", status_code=204, headers={})
