"""Reading requests: JSON object bodies validated by pydantic models, query parameters."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TypeVar

from chalicelib.api.request_text import check_json_text
from chalicelib.domain.errors import InvalidInput, PayloadTooLarge

if TYPE_CHECKING:  # pydantic is loaded by the models passed to validate(), not by this module (cold start)
    from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound="BaseModel")

MAX_JSON_BODY = 1024 * 1024


def json_object(request) -> dict:
    raw = request.raw_body or b""
    if len(raw) > MAX_JSON_BODY:
        raise PayloadTooLarge("the request body is too large")
    if not raw.strip():
        raise InvalidInput("a JSON object body is required", code="invalid_json")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", code="invalid_json")
    check_json_text(body)
    return body


def validation_details(error: ValidationError) -> dict[str, list[str]]:
    """pydantic errors as {field: [messages]} ("body" for errors about the whole object)."""
    details: dict[str, list[str]] = {}
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        details.setdefault(field, []).append(message)
    return details


def validate(model: type[Model], data: dict) -> Model:
    from pydantic import ValidationError  # already loaded: `model` is a pydantic model

    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidInput("invalid input", details=validation_details(error), code="validation_error") from None


def parse_body(model: type[Model], request) -> Model:
    return validate(model, json_object(request))


def query(request) -> dict[str, str]:
    return dict(request.query_params or {})


def query_bool(request, name: str, default: bool = False) -> bool:
    value = query(request).get(name)
    if value is None:
        return default
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise InvalidInput(f"{name} must be true or false", details={name: ["must be true or false"]})
