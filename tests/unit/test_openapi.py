"""The OpenAPI document: valid, complete (every route, every SPEC §4 route), served with an offline docs page."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from werkzeug.test import Client

from chalicelib.api.openapi import _oas30, build_document, documented_routes
from tests.support.stack import ROOT

# SPEC §4: (method, path) with path parameters written as {}.
SPEC_ROUTES = {
    ("GET", "/health"),
    ("GET", "/oidc/authenticate"), ("POST", "/oidc/authenticate"), ("GET", "/oidc/callback"),
    ("GET", "/me"), ("PATCH", "/me"), ("GET", "/update-profile"), ("PATCH", "/update-profile"),
    ("GET", "/categories"), ("POST", "/categories"),
    ("GET", "/categories/{}"), ("PATCH", "/categories/{}"), ("DELETE", "/categories/{}"),
    ("GET", "/categories/{}/calculate_average_price"), ("GET", "/categories/{}/average-price"),
    ("GET", "/products"), ("POST", "/products"),
    ("GET", "/products/{}"), ("PUT", "/products/{}"), ("PATCH", "/products/{}"), ("DELETE", "/products/{}"),
    ("POST", "/products/bulk-upload"), ("POST", "/products/bulk_upload"),
    ("POST", "/orders"), ("GET", "/orders"), ("GET", "/orders/{}"), ("PATCH", "/orders/{}"),
    ("GET", "/notifications"),
    ("GET", "/admin/customers"), ("PATCH", "/admin/customers/{}"),
    ("GET", "/openapi.json"), ("GET", "/docs"),
}
PUBLIC_PREFIXES = ("/api/v1/health", "/api/v1/oidc/", "/api/v1/openapi.json", "/api/v1/docs", "/console")
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def app():
    from app import app

    return app


@pytest.fixture(scope="module")
def document(app):
    return build_document(app)


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_the_document_is_valid_openapi_3_0(document):
    from openapi_spec_validator import validate

    assert document["openapi"].startswith("3.0.")
    validate(document)


def test_every_route_has_a_documented_operation(app, document):
    """A route added without `summary=` and a response (or an explicit no-content status) fails here."""
    missing, undocumented = [], []
    for path, method, _entry in documented_routes(app):
        operation = document["paths"].get(path, {}).get(method.lower())
        if operation is None:
            missing.append(f"{method} {path}")
            continue
        success = [code for code in operation["responses"] if code.startswith(("2", "3"))]
        described = success and all(
            "content" in operation["responses"][code] or code in ("204", "302") for code in success
        )
        if not operation.get("summary") or not described:
            undocumented.append(f"{method} {path}")
    assert not missing
    assert not undocumented, "routes without summary= and response= in endpoint(...): " + ", ".join(undocumented)


def test_the_method_not_allowed_views_are_not_operations(app, document):
    documented = {(m.upper(), p) for p, m, _ in _operations(document)}
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            assert ((method, path) in documented) != entry.view_name.startswith("method_not_allowed_")


def test_every_spec_route_is_documented(document):
    documented = {
        (m.upper(), re.sub(r"\{[^}]+\}", "{}", p.removeprefix("/api/v1"))) for p, m, _ in _operations(document)
    }
    assert sorted(SPEC_ROUTES - documented) == []


def test_security_bearer_everywhere_except_the_public_routes(app, document):
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert document["security"] == [{"bearer": []}]
    for path, method, operation in _operations(document):
        entry = app.routes[path][method.upper()]
        public = entry.authorizer is None
        assert operation["x-public"] is public
        if public:
            assert path.startswith(PUBLIC_PREFIXES), f"{method} {path} must not be public"
            assert operation["security"] == []
        else:
            assert operation["security"] == [{"bearer": []}]
            assert "401" in operation["responses"]
    public_spec = {"/api/v1/health", "/api/v1/oidc/authenticate", "/api/v1/oidc/callback", "/api/v1/openapi.json",
                   "/api/v1/docs"}
    assert all(document["paths"][path]["get"]["security"] == [] for path in public_spec)


def test_errors_use_the_envelope_schema(document):
    from jsonschema import Draft4Validator

    from chalicelib.api.responses import error_body

    schemas = document["components"]["schemas"]
    envelope = {**schemas["ErrorEnvelope"], "definitions": schemas}
    envelope = json.loads(json.dumps(envelope).replace("#/components/schemas/", "#/definitions/"))
    Draft4Validator(envelope).validate(error_body("not_found", "No such thing.", None))
    Draft4Validator(envelope).validate(error_body("validation_error", "invalid", {"name": ["too long"]}))
    assert list(Draft4Validator(envelope).iter_errors({"error": {"code": "Bad Code", "message": "x"}}))
    for path, method, operation in _operations(document):
        for code, response in operation["responses"].items():
            if int(code) >= 400:
                name = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                if code == "401":
                    assert name == "GatewayUnauthorized", f"{method} {path} {code}"
                    continue
                schema = schemas[name]  # the envelope, or the envelope with more (e.g. a bulk upload's report)
                assert "error" in schema["required"], f"{method} {path} {code}"
                assert schema["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}


def test_operation_details_come_from_the_endpoint_keywords():
    from chalice import Blueprint, Chalice
    from pydantic import BaseModel, ConfigDict, Field

    from chalicelib.api import authorizer
    from chalicelib.api.response_models.common import Page
    from chalicelib.api.routing import endpoint

    class ThingIn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str = Field(min_length=1, max_length=200)
        price: float | str
        note: str | None = None

    class Thing(BaseModel):
        id: str
        score: int = Field(gt=0)

    class Filters(BaseModel):
        kind: str | None = Field(default=None, description="Only this kind.")

    bp = Blueprint("probe")

    @endpoint(bp, "/things/{thing_id}", ["PUT"], staff=True, summary="Replace a thing", body=ThingIn, response=Thing,
              responses={409: "`taken`"}, headers=[{"name": "Idempotency-Key", "schema": {"type": "string"}}])
    def put_thing(caller, thing_id):
        raise AssertionError("not called")

    @endpoint(bp, "/things", ["GET"], summary="Things", response=Page[Thing], query=Filters)
    def list_things(caller):
        raise AssertionError("not called")

    @endpoint(bp, "/things", ["DELETE"], summary="Forget all", status=204)
    def forget(caller):
        raise AssertionError("not called")

    app = Chalice("probe")
    app.register_blueprint(authorizer.bp)
    app.register_blueprint(bp, url_prefix="/api/v1")
    document = build_document(app)
    put = document["paths"]["/api/v1/things/{thing_id}"]["put"]
    assert put["summary"] == "Replace a thing" and "Staff only" in put["description"]
    assert put["parameters"][0] == {"name": "thing_id", "in": "path", "required": True,
                                    "schema": {"type": "string", "minLength": 1}}
    assert put["parameters"][1]["in"] == "header" and put["parameters"][1]["name"] == "Idempotency-Key"
    assert put["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ThingIn"}
    assert set(put["responses"]) == {"200", "400", "401", "403", "404", "409", "413", "431", "500"}
    listing = document["paths"]["/api/v1/things"]["get"]
    assert listing["parameters"] == [
        {"name": "kind", "in": "query", "required": False,
         "schema": {"type": "string", "nullable": True, "default": None}, "description": "Only this kind."}
    ]
    page = document["components"]["schemas"]["Page_Thing_"]
    assert page["properties"]["next_cursor"]["nullable"] is True
    assert document["components"]["schemas"]["Thing"]["properties"]["score"] == {
        "exclusiveMinimum": True, "minimum": 0, "title": "Score", "type": "integer"
    }
    assert document["components"]["schemas"]["ThingIn"]["additionalProperties"] is False
    assert set(document["paths"]["/api/v1/things"]["delete"]["responses"]) == {"204", "400", "401", "431", "500"}
    from openapi_spec_validator import validate

    validate(document)


def test_endpoint_rejects_unknown_keywords():
    from chalice import Blueprint

    from chalicelib.api.routing import endpoint

    with pytest.raises(TypeError, match="sumary"):
        endpoint(Blueprint("x"), "/x", ["GET"], sumary="typo")


@pytest.mark.parametrize(
    ("schema", "converted"),
    [
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, {"type": "string", "nullable": True}),
        ({"anyOf": [{"$ref": "#/x"}, {"type": "null"}], "default": None},
         {"allOf": [{"$ref": "#/x"}], "nullable": True, "default": None}),
        ({"const": "ok"}, {"enum": ["ok"]}),
        ({"type": "number", "exclusiveMaximum": 5}, {"type": "number", "maximum": 5, "exclusiveMaximum": True}),
        ({"type": "string", "examples": ["a", "b"]}, {"type": "string", "example": "a"}),
        ({"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]}},
         {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}], "nullable": True}}),
    ],
)
def test_json_schema_to_openapi_3_0(schema, converted):
    assert _oas30(schema) == converted


@pytest.fixture(scope="module")
def client(app):
    from chalicelib.runtime.wsgi import ChaliceWSGI

    return Client(ChaliceWSGI(app))


def test_served_document_and_docs_page_work_offline(client, document):
    served = client.get("/api/v1/openapi.json")
    assert served.status_code == 200 and served.headers["Content-Type"] == "application/json"
    assert served.json == json.loads(json.dumps(document))
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html and "//" not in html.replace("<!doctype", "")
    assets = re.findall(r'(?:src|href)="(docs/[^"]+)"', html)
    assert {"docs/swagger-ui.css", "docs/swagger-ui-bundle.js", "docs/init.js"} <= set(assets)
    for asset in assets:
        response = client.get("/api/v1/" + asset)
        assert response.status_code == 200, asset
        assert response.headers["Content-Type"].startswith(("text/css", "application/javascript"))
        assert len(response.get_data()) > 10
    init = client.get("/api/v1/docs/init.js").get_data(as_text=True)
    assert 'url: "openapi.json"' in init
    assert client.get("/api/v1/docs/../../etc/passwd").status_code == 404
    missing = client.get("/api/v1/docs/nope.js")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"


def test_behind_an_api_gateway_stage_the_server_url_has_the_stage(app):
    from chalicelib.api.docs import _server_url

    class Request:
        context = {"path": "/prod/api/v1/openapi.json", "resourcePath": "/api/v1/openapi.json"}

    assert _server_url(Request()) == "/prod"
    Request.context = {"path": "/api/v1/openapi.json", "resourcePath": "/api/v1/openapi.json"}
    assert _server_url(Request()) == "/"


def test_docs_and_generator_stay_out_of_the_cold_start():
    code = (
        "import sys, app; "
        "print(sorted(m for m in ('swagger_ui_bundle', 'chalicelib.api.openapi', 'jinja2') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
