"""The API's own description: `GET /openapi.json` (OpenAPI 3.0) and `GET /docs` (Swagger UI, offline).

Swagger UI's files come from the `swagger-ui-bundle` package and are served by the app itself
(`GET /docs/{asset}`), so the page works without internet access. Nothing here is imported or read
until one of these routes is called: other routes' cold starts do not pay for it.
"""

from __future__ import annotations

import functools

from chalice import Blueprint, Response

from chalicelib.api.routing import endpoint
from chalicelib.domain.errors import NotFound

bp = Blueprint(__name__)

# Served asset name -> (file in swagger-ui-bundle's folder, or None for ours, content type)
ASSETS = {
    "swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8"),
    "swagger-ui-bundle.js": ("swagger-ui-bundle.js", "application/javascript; charset=utf-8"),
    "swagger-ui-standalone-preset.js": ("swagger-ui-standalone-preset.js", "application/javascript; charset=utf-8"),
    "init.js": (None, "application/javascript; charset=utf-8"),
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
    ),
}
ASSET_CACHE = "public, max-age=86400"

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>ekiosk API</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
  <noscript>This page needs JavaScript. The raw document is at <a href="openapi.json">openapi.json</a>.</noscript>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script src="docs/swagger-ui-standalone-preset.js"></script>
  <script src="docs/init.js"></script>
</body>
</html>
"""

INIT_JS = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
    validatorUrl: null,
    tryItOutEnabled: false
  });
};
"""

@functools.lru_cache(maxsize=8)
def _document(app_id: int, server_url: str) -> str:
    import json

    from chalicelib.api.openapi import build_document

    return json.dumps(build_document(bp.current_app, server_url=server_url), separators=(",", ":"))


@functools.lru_cache(maxsize=len(ASSETS))
def _asset(name: str) -> str:
    filename, _ = ASSETS[name]
    if filename is None:
        return INIT_JS
    from swagger_ui_bundle import swagger_ui_path

    return (swagger_ui_path / filename).read_text(encoding="utf-8")


def _server_url(request) -> str:
    """"/" locally; "/<stage>" behind an API Gateway stage, so "Try it out" reaches the right URL."""
    context = request.context or {}
    full, resource = context.get("path") or "", context.get("resourcePath") or ""
    if resource and full.endswith(resource):
        return full[: -len(resource)] or "/"
    return "/"


OPENAPI_RESPONSE = {
    "type": "object",
    "required": ["openapi", "info", "paths"],
    "properties": {"openapi": {"type": "string"}, "info": {"type": "object"}, "paths": {"type": "object"}},
}


@endpoint(
    bp, "/openapi.json", ["GET"], public=True,
    summary="This API's OpenAPI 3.0 document",
    response=OPENAPI_RESPONSE,
    tags=["docs"],
)
def openapi_document():
    request = bp.current_request
    body = _document(id(bp.current_app), _server_url(request))
    return Response(body=body, status_code=200, headers={"Content-Type": "application/json"})


@endpoint(
    bp, "/docs", ["GET"], public=True,
    summary="A readable API docs page (Swagger UI, works offline)",
    response=str, media_type="text/html",
    tags=["docs"],
)
def docs_page():
    headers = {"Content-Type": "text/html; charset=utf-8", **SECURITY_HEADERS}
    return Response(body=PAGE, status_code=200, headers=headers)


@endpoint(
    bp, "/docs/{asset}", ["GET"], public=True,
    summary="The docs page's static files (CSS and JavaScript)",
    responses={
        200: {
            "description": "The file.",
            "content": {
                "text/css": {"schema": {"type": "string"}},
                "application/javascript": {"schema": {"type": "string"}},
            },
        }
    },
    tags=["docs"],
)
def docs_asset(asset):
    if asset not in ASSETS:
        raise NotFound("no such file", code="not_found")
    _, content_type = ASSETS[asset]
    return Response(
        body=_asset(asset),
        status_code=200,
        headers={"Content-Type": content_type, "Cache-Control": ASSET_CACHE, "X-Content-Type-Options": "nosniff"},
    )

