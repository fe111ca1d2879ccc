"""The OpenAPI 3.0 document, generated from the app's route table and the pydantic models.

Every route in `app.routes` becomes an operation (the enveloped 405 views of api/system.py are left
out: they are the absence of an operation). What `endpoint(...)` was told (`summary=`, `body=`,
`response=`, `query=`, `responses=` …, stored on the handler as `api_doc`) fills in the details (a
response's schema is that of the very model the route serializes its answer through:
`responses.response_model`); path parameters, bearer security and the error responses are derived
from the route itself.

Imported only by the docs routes and the tests, never on the cold-start path of other routes.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.response_models.common import ErrorEnvelope, GatewayUnauthorized
from chalicelib.api.responses import resolve, response_model, success_status

OPENAPI_VERSION = "3.0.3"
REF_TEMPLATE = "#/components/schemas/{model}"
SECURITY_SCHEME = "bearer"
EXCLUDED_VIEW_PREFIX = "method_not_allowed_"
JSON = "application/json"

COMMON_PARAMETERS: dict[str, dict] = {
    "limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Page size, 1–100.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
    },
    "cursor": {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "The `next_cursor` of the previous page (opaque).",
        "schema": {"type": "string"},
    },
}
PAGE = ["limit", "cursor"]

ERROR_DESCRIPTIONS = {
    400: "Malformed or invalid input (`error.details` is {field: [messages]} for invalid fields).",
    401: "No token, or an invalid one.",
    403: "Signed in, but not allowed.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "Conflict.",
    413: "The request body is too large.",
    414: "The URL is too long.",
    431: "The request headers are too large (over 32 KiB in total).",
    500: "An internal error (a bug; never the answer to bad input).",
}

DESCRIPTION = """\
ekiosk: an online kiosk back end. Customers sign in with Google (OpenID Connect), browse a catalog of
products in nested categories and place orders; staff approve or cancel them.

* Every route needs `Authorization: Bearer <ID token>` except `/health`, `/oidc/*`, `/openapi.json`
  and `/docs`. On a local stack, `make token EMAIL=you@example.com` prints one.
* Money is a decimal string with two places (`"1500.00"`); input may be a number or a string.
  IDs are opaque strings; times are ISO 8601 UTC.
* Lists take `?limit=` (1–100, default 50) and `?cursor=` and answer `{"items": [...], "next_cursor": ...}`.
  A cursor works only in the list that gave it out (same route, filters and caller); any other → 400
  `invalid_cursor`.
* Text that is not valid Unicode anywhere in a request → 400 `invalid_unicode`; headers over 32 KiB → 431.
* Every 4xx and 5xx the app answers is `{"error": {"code": "snake_case", "message": "...", "details": ...}}`.
"""


def _oas30(schema: Any) -> Any:
    """JSON Schema 2020-12 (what pydantic writes) to the OpenAPI 3.0 schema dialect."""
    if isinstance(schema, list):
        return [_oas30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = dict(schema)
    nullable = False
    for combinator in ("anyOf", "oneOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [option for option in options if option != {"type": "null"}]
            del schema[combinator]
            nullable = True
            if len(rest) != 1:
                schema[combinator] = rest
            elif "$ref" in rest[0]:
                schema["allOf"] = rest
            else:
                schema = {**rest[0], **schema}
    if schema.get("type") == "null":
        del schema["type"]
        schema["enum"] = [None]
        nullable = True
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "$defs", "definitions"):
            out[key] = {name: _oas30(sub) for name, sub in value.items()}
        elif key == "const":
            out["enum"] = [value]
        elif key == "examples":
            if isinstance(value, list) and value:
                out["example"] = value[0]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = _oas30(value)
    if nullable:
        out["nullable"] = True
    return out


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


class _Schemas:
    """Collects the pydantic models an operation names; renders them as components once, at the end."""

    def __init__(self):
        self._wanted: list[tuple[type[BaseModel], str]] = []
        self._placeholders: list[tuple[dict, tuple[type[BaseModel], str]]] = []

    def ref(self, model: type[BaseModel], mode: str) -> dict:
        key = (model, mode)
        if key not in self._wanted:
            self._wanted.append(key)
        placeholder: dict = {}
        self._placeholders.append((placeholder, key))
        return placeholder

    def schema(self, value: Any, mode: str) -> dict:
        value = resolve(value)
        if _is_model(value):
            return self.ref(value, mode)
        if value is str:
            return {"type": "string"}
        if isinstance(value, dict):
            return value
        raise TypeError(f"cannot document {value!r}: use a pydantic model or a schema dict")

    def fields(self, model: type[BaseModel]) -> list[tuple[str, dict, bool]]:
        """(name, schema, required) of a flat model's fields, for query and header parameters."""
        schema = _oas30(model.model_json_schema(ref_template=REF_TEMPLATE, mode="validation"))
        required = set(schema.get("required", []))
        return [(name, sub, name in required) for name, sub in schema.get("properties", {}).items()]

    def components(self) -> dict:
        if not self._wanted:
            return {}
        keys, top = models_json_schema(self._wanted, ref_template=REF_TEMPLATE)
        for placeholder, key in self._placeholders:
            placeholder.update(keys[key])
        return {name: _oas30(schema) for name, schema in sorted(top.get("$defs", {}).items())}


def _parameters(spec: Any, location: str, schemas: _Schemas) -> list[dict]:
    spec = resolve(spec)
    if spec is None:
        return []
    if _is_model(spec):
        params = []
        for name, schema, required in schemas.fields(spec):
            description = schema.pop("description", None)
            schema.pop("title", None)
            param = {"name": name, "in": location, "required": required, "schema": schema}
            if description:
                param["description"] = description
            params.append(param)
        return params
    params = []
    for item in spec:
        if isinstance(item, str):
            params.append(dict(COMMON_PARAMETERS[item]))
        else:
            params.append({"in": location, "required": False, **item})
    return params


def _error_response(status: int, description: str | None = None) -> dict:
    schema = {"$ref": REF_TEMPLATE.format(model="GatewayUnauthorized" if status == 401 else "ErrorEnvelope")}
    description = description or ERROR_DESCRIPTIONS.get(status, "Error.")
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _extra_response(status: int, value: Any, schemas: _Schemas, media_type: str) -> dict:
    value = resolve(value)
    if isinstance(value, str):
        if status >= 400:
            return _error_response(status, value)
        return {"description": value}
    if _is_model(value):
        return {"description": value.__doc__.strip().split("\n")[0] if value.__doc__ else "OK",
                "content": {media_type: {"schema": schemas.ref(value, "serialization")}}}
    return value


def _operation_id(view_name: str, method: str, path: str, seen: set[str]) -> str:
    base = view_name.rsplit(".", 1)[-1]
    candidates = [base, f"{base}_{method.lower()}", f"{base}_{method.lower()}_" + re.sub(r"\W+", "_", path).strip("_")]
    for candidate in candidates:
        if candidate not in seen:
            seen.add(candidate)
            return candidate
    raise ValueError(f"duplicate operation id for {method} {path}")


def _operation(path: str, method: str, entry, schemas: _Schemas, seen_ids: set[str]) -> dict:
    view = entry.view_function
    doc: dict = dict(getattr(view, "api_doc", None) or {})
    public = doc.get("public", entry.authorizer is None)
    staff = doc.get("staff", False)
    module = getattr(view, "__module__", "") or ""
    operation: dict[str, Any] = {
        "operationId": _operation_id(entry.view_name, method, path, seen_ids),
        "tags": list(doc.get("tags") or [module.rsplit(".", 1)[-1] or "api"]),
    }
    if doc.get("summary"):
        operation["summary"] = doc["summary"]
    description = doc.get("description") or ""
    if staff:
        description = (description + "\n\n" if description else "") + "Staff only (role `admin`)."
    if description:
        operation["description"] = description

    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in entry.view_args
    ]
    parameters += _parameters(doc.get("query"), "query", schemas)
    parameters += _parameters(doc.get("headers"), "header", schemas)
    if parameters:
        operation["parameters"] = parameters

    body = doc.get("body")
    if body is not None:
        content = body if isinstance(body, dict) else {JSON: body}
        operation["requestBody"] = {
            "required": True,
            "content": {media: {"schema": schemas.schema(value, "validation")} for media, value in content.items()},
        }

    media_type = doc.get("media_type", JSON)
    status = success_status(doc)
    success: dict[str, Any] = {"description": "OK" if status < 300 else "See the headers."}
    if status == 201:
        success["description"] = "Created."
    if status == 204:
        success["description"] = "No content."
    response = response_model(doc, status)  # the model the route serializes through (api/responses.py)
    if response is not None:
        success["content"] = {media_type: {"schema": schemas.schema(response, "serialization")}}
    if doc.get("response_headers"):
        success["headers"] = {
            name: (value if isinstance(value, dict) else {"description": value, "schema": {"type": "string"}})
            for name, value in doc["response_headers"].items()
        }
    responses: dict[str, Any] = {str(status): success}

    errors = {400, 431, 500}  # any request: text that is not valid Unicode → 400; oversize headers → 431
    if body is not None:
        errors |= {400, 413}
    if doc.get("query") or doc.get("headers"):
        errors.add(400)
    if doc.get("query"):
        errors.add(414)
    if entry.view_args:
        errors.add(404)
    if not public:
        errors.add(401)
    if staff:
        errors.add(403)
    for code in sorted(errors):
        responses[str(code)] = _error_response(code)
    for code, value in (doc.get("responses") or {}).items():
        responses[str(code)] = _extra_response(int(code), value, schemas, media_type)
    operation["responses"] = dict(sorted(responses.items()))
    operation["security"] = [] if public else [{SECURITY_SCHEME: []}]
    operation["x-public"] = bool(public)
    return operation


def documented_routes(app) -> list[tuple[str, str, Any]]:
    """(path, method, route entry) of every route the document covers."""
    return [
        (path, method, entry)
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if not entry.view_name.startswith(EXCLUDED_VIEW_PREFIX)
    ]


def build_document(app, server_url: str = "/") -> dict:
    schemas = _Schemas()
    schemas.ref(ErrorEnvelope, "serialization")
    schemas.ref(GatewayUnauthorized, "serialization")
    paths: dict[str, dict] = {}
    seen_ids: set[str] = set()
    for path, method, entry in documented_routes(app):
        paths.setdefault(path, {})[method.lower()] = _operation(path, method, entry, schemas, seen_ids)
    tags = sorted({tag for item in paths.values() for op in item.values() for tag in op["tags"]})
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "ekiosk API", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": server_url}],
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {
            "schemas": schemas.components(),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An OpenID Connect ID token (RS256). Locally: `make token EMAIL=...`.",
                }
            },
        },
        "security": [{SECURITY_SCHEME: []}],
    }
