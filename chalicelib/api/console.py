"""The staff console: one static page (HTML, CSS, JS in chalicelib/console/) served at `/console`.

The page holds no secret and bypasses nothing: it calls the same /api/v1 routes with the staff member's
Bearer token, so the API's own authorization decides what it may see (a customer's token gets 403s).
Registered WITHOUT the /api/v1 prefix. Only the files listed in ASSETS are served.
"""

from __future__ import annotations

from pathlib import Path

from chalice import Blueprint, Response

from chalicelib.api.routing import endpoint
from chalicelib.domain.errors import NotFound

bp = Blueprint(__name__)

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
PAGE = "index.html"
# The served files and their content types: nothing else under chalicelib/ is ever readable through here.
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
HTML_TYPE = "text/html; charset=utf-8"
# Same-origin only: no inline script, no third-party origin; the token never leaves for another host.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _read(name: str) -> str:
    # Read on each request (a few kB, microseconds): an edited file shows on the next reload of `make run`.
    return (CONSOLE_DIR / name).read_text(encoding="utf-8")


def _serve(name: str, content_type: str, cache: str) -> Response:
    return Response(
        body=_read(name),
        status_code=200,
        headers={"Content-Type": content_type, "Cache-Control": cache, **SECURITY_HEADERS},
    )


@endpoint(
    bp, "/console", ["GET"], public=True, tags=["console"],
    summary="The staff console (one HTML page; it calls these routes with the staff member's token)",
    response=str, media_type="text/html",
)
def console_page():
    # no-cache: the page is revalidated on every load, so a deployment's new assets are picked up.
    return _serve(PAGE, HTML_TYPE, "no-cache")


@endpoint(
    bp, "/console/{asset}", ["GET"], public=True, tags=["console"],
    summary="The console's static files (JavaScript, CSS, icon)",
    responses={200: {"description": "The file.", "content": {
        media.split(";")[0]: {"schema": {"type": "string"}} for media in ASSETS.values()}}},
)
def console_asset(asset: str):
    content_type = ASSETS.get(asset)
    if content_type is None:
        raise NotFound("No such console file.", code="not_found")
    return _serve(asset, content_type, "no-cache")
