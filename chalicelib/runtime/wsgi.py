"""A WSGI application over Chalice's LocalGateway: the app served as API Gateway would serve it.

Routes, the built-in authorizer (401 for a missing or invalid token), binary bodies and status codes
behave as behind API Gateway. Used by `make run` and the container (gunicorn `chalicelib.runtime.wsgi:application`).
"""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from urllib.parse import quote

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
MAX_URL = 10240  # API Gateway's limit; gunicorn's own (HTML) limit is lifted in gunicorn_conf.py
MAX_BODY = 11 * 1024 * 1024  # just over the 10 MB bulk-upload limit, so that route can answer 413 itself



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
        path = quote(environ.get("PATH_INFO", "/"), safe="/%:@!$&'()*+,;=-._~")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        if len(path) > MAX_URL:
            return _json(start_response, 414, TOO_LONG_BODY)
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
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
