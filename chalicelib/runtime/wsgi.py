"""A WSGI application over Chalice's LocalGateway: the app served as API Gateway would serve it.

Routes, the built-in authorizer (401 for a missing or invalid token), binary bodies and status codes
behave as behind API Gateway. Used by `make run` and the container (gunicorn `chalicelib.runtime.wsgi:application`).
"""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from urllib.parse import quote, unquote_to_bytes

from chalice import UnauthorizedError
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException, RouteMatcher

UNAUTHORIZED_BODY = {
    "message": "Unauthorized",
    "error": {"code": "unauthorized", "message": "A valid Bearer ID token is required.", "details": None},
}
NOT_FOUND_BODY = {"error": {"code": "not_found", "message": "No such route.", "details": None}}
TOO_LARGE_BODY = {"error": {"code": "payload_too_large", "message": "The request body is too large.", "details": None}}
TOO_LONG_BODY = {"error": {"code": "uri_too_long", "message": "The URL is too long.", "details": None}}
HEADERS_TOO_LARGE_BODY = {
    "error": {"code": "request_header_fields_too_large", "message": "The request headers are too large.",
              "details": None},
}
MAX_URL = 10240  # API Gateway's limit; gunicorn's own (HTML) limit is lifted in gunicorn_conf.py
MAX_BODY = 11 * 1024 * 1024  # just over the 10 MB bulk-upload limit, so that route can answer 413 itself
# Request headers (names + values, in bytes) above this → 431 with the envelope. gunicorn's per-field
# limit is set above it (gunicorn_conf.py), and whatever gunicorn itself refuses is enveloped too
# (runtime/gunicorn_errors.py).
MAX_HEADER_BYTES = 32 * 1024


def _invalid_unicode(where: str) -> dict:
    return {"error": {"code": "invalid_unicode", "message": f"Text in the request's {where} is not valid Unicode.",
                      "details": {where: ["must be valid Unicode text"]}}}


def _utf8(native: str, *, percent_encoded: bool = False) -> str | None:
    """A WSGI native string (bytes as latin-1) read as UTF-8 text, or None when it is not valid UTF-8."""
    try:
        raw = native.encode("latin-1")
        if percent_encoded:
            raw = unquote_to_bytes(raw.replace(b"+", b" "))
        return raw.decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None



def _status_line(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Status"


def _json(start_response, status: int, body: dict, headers: dict | None = None):
    payload = json.dumps(body).encode()
    start_response(
        _status_line(status),
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *(headers or {}).items()],
    )
    return [payload]


class ChaliceWSGI:
    def __init__(self, chalice_app, stage: str = "local"):
        self._app = chalice_app
        config = Config.create(chalice_stage=stage, app_name=chalice_app.app_name, lambda_timeout=30)
        self._gateway = LocalGateway(chalice_app, config)
        self._routes = RouteMatcher(list(chalice_app.routes))

    def _needs_token(self, resource_path: str, method: str) -> bool:
        entry = self._app.routes.get(resource_path, {}).get(method)
        return bool(entry and entry.authorizer)

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"].upper()
        raw_path = environ.get("PATH_INFO", "/")
        path = quote(raw_path.encode("latin-1", "replace"), safe="/%:@!$&'()*+,;=-._~")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        if len(path) > MAX_URL:
            return _json(start_response, 414, TOO_LONG_BODY)
        raw_headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                       if key.startswith("HTTP_")}
        header_bytes = sum(len(name) + len(value) for name, value in raw_headers.items())
        header_bytes += len(environ.get("CONTENT_TYPE") or "") + len(environ.get("CONTENT_LENGTH") or "")
        if header_bytes > MAX_HEADER_BYTES:
            return _json(start_response, 431, HEADERS_TOO_LARGE_BODY)
        # Text that is not valid UTF-8 (invalid bytes, encoded surrogates) → 400 before any route sees it.
        if _utf8(raw_path) is None:
            return _json(start_response, 400, _invalid_unicode("path"))
        if _utf8(environ.get("QUERY_STRING") or "", percent_encoded=True) is None:
            return _json(start_response, 400, _invalid_unicode("query"))
        headers = {}
        for name, value in raw_headers.items():
            text = _utf8(value)
            if text is None:
                return _json(start_response, 400, _invalid_unicode("headers"))
            headers[name] = text
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY:
            return _json(start_response, 413, TOO_LARGE_BODY)
        body = environ["wsgi.input"].read(length) if length else b""
        if body and environ.get("CONTENT_TYPE"):
            # Like API Gateway, forward a content type only along with a body.
            headers["content-type"] = environ["CONTENT_TYPE"]
        headers["content-length"] = str(len(body))
        try:
            match = self._routes.match_route(path)
        except ValueError:
            return _json(start_response, 404, NOT_FOUND_BODY)
        if self._needs_token(match.route, method) and not headers.get("authorization", "").strip():
            return _json(start_response, 401, UNAUTHORIZED_BODY)
        try:
            response = self._gateway.handle_request(method=method, path=path, headers=headers, body=body or None)
        except UnauthorizedError:
            return _json(start_response, 401, UNAUTHORIZED_BODY)
        except LocalGatewayException as error:
            payload = error.body or b""
            start_response(_status_line(error.CODE), [*error.headers.items(), ("Content-Length", str(len(payload)))])
            return [payload]
        return self._respond(response, start_response)

    @staticmethod
    def _respond(response: dict, start_response):
        body = response.get("body") or b""
        if response.get("isBase64Encoded"):
            body = base64.b64decode(body)
        elif isinstance(body, str):
            body = body.encode()
        headers = [(k, v) for k, v in (response.get("headers") or {}).items() if k.lower() != "content-length"]
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers.extend((name, value) for value in values)
        headers.append(("Content-Length", str(len(body))))
        start_response(_status_line(response["statusCode"]), headers)
        return [body]


def _load_application():
    from app import app
    from chalicelib.config import get_settings

    return ChaliceWSGI(app, stage=get_settings().stage)


application = _load_application()
