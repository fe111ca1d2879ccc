"""In-process calls to the app through the WSGI adapter (the authorizer runs; 401s as on the stack)."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@contextlib.contextmanager
def local_application(data_dir: Path):
    """The app under the WSGI adapter as a local stack serves it in-process: the development issuer trusted
    (SPEC §3 wants STAGE=local and an emulator endpoint), settings and verifier rebuilt, undone after."""
    import pytest

    from chalicelib.auth.tokens import get_verifier
    from chalicelib.config import get_settings
    from tests.support.stack import LOCAL_DEV_ENV

    patch = pytest.MonkeyPatch()
    patch.setenv("EKIOSK_DATA_DIR", str(data_dir))
    for name, value in LOCAL_DEV_ENV.items():
        patch.setenv(name, value)
    get_settings.cache_clear()
    get_verifier.cache_clear()
    from app import app
    from chalicelib.runtime.wsgi import ChaliceWSGI

    try:
        yield ChaliceWSGI(app)
    finally:
        patch.undo()
        get_settings.cache_clear()
        get_verifier.cache_clear()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class WsgiClient:
    """Keeps cookies like a browser (the login cookie of /oidc/authenticate); `cookies=False` keeps none."""

    def __init__(self, application, token: str | None = None, cookies: bool = True):
        self.application = application
        self.token = token
        self.cookies: dict[str, str] | None = {} if cookies else None

    def as_user(self, token: str | None) -> WsgiClient:
        return WsgiClient(self.application, token)

    def without_cookies(self) -> WsgiClient:
        return WsgiClient(self.application, self.token, cookies=False)

    def other_browser(self) -> WsgiClient:
        """Another browser: its own, empty cookie jar."""
        return WsgiClient(self.application, self.token)

    def _keep(self, set_cookie: str | None) -> None:
        if self.cookies is None or not set_cookie:
            return
        pair, *attributes = [part.strip() for part in set_cookie.split(";")]
        name, _, value = pair.partition("=")
        if not value or any(a.lower() == "max-age=0" for a in attributes):
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def request(self, method: str, path: str, body=None, headers: dict | None = None, raw: bytes | None = None):
        url = urlsplit(path)
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1:8000",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(payload),
            "CONTENT_LENGTH": str(len(payload)),
        }
        if payload:
            environ["CONTENT_TYPE"] = "application/json"
        if self.token:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        if self.cookies:
            environ["HTTP_COOKIE"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        started = {}

        def start_response(status, response_headers, exc_info=None):
            started["status"] = int(status.split()[0])
            started["headers"] = {name.lower(): value for name, value in response_headers}

        chunks = self.application(environ, start_response)
        self._keep(started["headers"].get("set-cookie"))
        return Reply(started["status"], started["headers"], b"".join(chunks))

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, body, **kwargs)

    def patch(self, path, body=None, **kwargs):
        return self.request("PATCH", path, body, **kwargs)


def dev_token(stack, email: str, name: str | None = None) -> str:
    """A development-issuer token minted in-process (what `make token` prints, without a subprocess)."""
    from chalicelib.auth import dev_issuer
    from chalicelib.config import load_settings

    return dev_issuer.mint(load_settings(stack.env), email, name)


def dev_session(stack, email: str, name: str | None = None):
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {dev_token(stack, email, name)}"
    return session
