"""A test OIDC issuer: generated RSA keys, tokens (good and forged), and a fake provider over HTTP.

`FakeProvider` serves, on 127.0.0.1 and a free port:
- `/.well-known/openid-configuration` (discovery), `/jwks` (with Cache-Control; counts fetches),
- `/authorize` (checks the code-flow parameters, then redirects back with a code, as after a login),
- `/token` (checks client, secret, redirect URI and PKCE S256; answers an ID token carrying the nonce).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler

from tests.support.http_server import LoopbackServer

AUDIENCE = "ekiosk-test-client"
CLIENT_SECRET = "test-client-secret"
REMOVE = object()  # a claim override that removes the claim


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class TestKey:
    kid: str
    private_pem: str
    public_pem: str
    public_jwk: dict

    __test__ = False  # not a pytest class


@cache
def signing_key(private_pem: str):
    """jose's key object for a PEM, built once: loading an RSA private key checks it, which is slow."""
    from jose import jwk

    return jwk.construct(private_pem, "RS256")


@cache
def _generated(index: int) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


def make_key(kid: str, index: int = 0) -> TestKey:
    """An RSA key pair (the `index`-th one generated in this process) published under `kid`."""
    from jose import jwk

    private, public = _generated(index)
    public_jwk = {**jwk.construct(public, "RS256").to_dict(), "kid": kid, "use": "sig", "alg": "RS256"}
    return TestKey(kid, private, public, public_jwk)


class TestIssuer:
    """Mints ID tokens as a provider would, and the forgeries of the attack matrix."""

    __test__ = False

    def __init__(self, issuer: str, key: TestKey, audience: str = AUDIENCE):
        self.issuer = issuer
        self.key = key
        self.audience = audience

    def claims(self, email: str = "someone@example.test", **overrides) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "sub-" + hashlib.sha256(str(email).encode()).hexdigest()[:16],
            "email": email,
            "email_verified": True,
            "name": str(email).split("@")[0].title(),
            "iat": now,
            "exp": now + 600,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not REMOVE}

    def token(self, email: str = "someone@example.test", key: TestKey | None = None, kid: str | None = None,
              headers: dict | None = None, **overrides) -> str:
        from jose import jwt

        key = key or self.key
        return jwt.encode(
            self.claims(email, **overrides), signing_key(key.private_pem), algorithm="RS256",
            headers={"kid": kid or key.kid, **(headers or {})},
        )

    def unsigned(self, email: str = "someone@example.test", **overrides) -> str:
        """`alg: none`, no signature."""
        header = {"alg": "none", "typ": "JWT", "kid": self.key.kid}
        return _compact(header, self.claims(email, **overrides)) + "."

    def hs256_with_public_key(self, email: str = "someone@example.test", **overrides) -> str:
        """HS256, with the issuer's public key (PEM and JWK forms are tried by attackers) as the HMAC secret."""
        header = {"alg": "HS256", "typ": "JWT", "kid": self.key.kid}
        signing_input = _compact(header, self.claims(email, **overrides))
        signature = hmac.new(self.key.public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + b64url(signature)

    def tampered(self, email: str = "someone@example.test", **changes) -> str:
        """A genuine token whose payload was changed afterwards (the signature is the original one)."""
        header, _payload, signature = self.token(email).split(".")
        payload = self.claims(email, **changes)
        return ".".join([header, b64url(json.dumps(payload).encode()), signature])


def _compact(header: dict, payload: dict) -> str:
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())


@dataclass
class LoginUser:
    email: str
    name: str = "Test User"
    email_verified: bool = True

    @property
    def sub(self) -> str:
        return "sub-" + hashlib.sha256(self.email.encode()).hexdigest()[:16]


@dataclass
class FakeProviderState:
    published: list[TestKey]
    cache_control: str = "public, max-age=300"
    jwks_fetches: int = 0
    discovery_fetches: int = 0
    user: LoginUser = field(default_factory=lambda: LoginUser("login@example.test"))
    codes: dict = field(default_factory=dict)
    authorize_requests: list = field(default_factory=list)
    token_requests: list = field(default_factory=list)
    token_delay: float = 0.0
    wrong_nonce: bool = False


class FakeProvider:
    """A fake OIDC provider and JWKS server on 127.0.0.1 (a free port), running in a thread."""

    def __init__(self, key: TestKey, client_id: str = AUDIENCE, client_secret: str = CLIENT_SECRET):
        self.state = FakeProviderState(published=[key])
        self.client_id = client_id
        self.client_secret = client_secret
        self.lock = threading.Lock()
        self._server = LoopbackServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.issuer = TestIssuer(self.url, key, client_id)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def jwks_url(self) -> str:
        return self.url + "/jwks"

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def publish(self, *keys: TestKey) -> None:
        with self.lock:
            self.state.published = list(keys)

    @property
    def jwks_fetches(self) -> int:
        with self.lock:
            return self.state.jwks_fetches

    def stack_env(self, **extra) -> dict:
        """The OIDC_* settings that make a stack trust this provider (and not the development issuer)."""
        return {
            "OIDC_ISSUERS": self.url,
            "OIDC_AUDIENCE": self.client_id,
            "OIDC_JWKS_URL": self.jwks_url,
            "OIDC_CLIENT_SECRET": self.client_secret,
            **extra,
        }

    # the endpoints -------------------------------------------------------------------------------

    def discovery(self) -> dict:
        with self.lock:
            self.state.discovery_fetches += 1
        return {
            "issuer": self.url,
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "jwks_uri": self.jwks_url,
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> tuple[dict, str]:
        with self.lock:
            self.state.jwks_fetches += 1
            return {"keys": [key.public_jwk for key in self.state.published]}, self.state.cache_control

    def authorize(self, params: dict[str, str]) -> tuple[int, dict, str | None]:
        """Returns (status, error body, redirect location)."""
        with self.lock:
            self.state.authorize_requests.append(params)
            user = self.state.user
        required = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge")
        missing = [name for name in required if not params.get(name)]
        if missing or params.get("response_type") != "code" or params.get("client_id") != self.client_id:
            return 400, {"error": "invalid_request", "missing": missing}, None
        if params.get("code_challenge_method") != "S256" or "openid" not in params["scope"].split():
            return 400, {"error": "invalid_request"}, None
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.state.codes[code] = {"params": params, "user": user}
        query = urllib.parse.urlencode({"code": code, "state": params["state"]})
        return 302, {}, params["redirect_uri"] + "?" + query

    def token(self, form: dict[str, str]) -> tuple[int, dict]:
        with self.lock:
            self.state.token_requests.append(form)
            delay, wrong_nonce = self.state.token_delay, self.state.wrong_nonce
            grant = self.state.codes.pop(form.get("code", ""), None)  # codes are single use
        if delay:
            time.sleep(delay)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {"error": "invalid_grant"}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client"}
        params = grant["params"]
        if form.get("redirect_uri") != params["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        verifier = form.get("code_verifier", "")
        if b64url(hashlib.sha256(verifier.encode()).digest()) != params["code_challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        user: LoginUser = grant["user"]
        id_token = self.issuer.token(
            user.email, sub=user.sub, name=user.name, email_verified=user.email_verified,
            nonce="not-the-nonce" if wrong_nonce else params["nonce"], exp=int(time.time()) + 3600,
        )
        return 200, {"access_token": secrets.token_urlsafe(16), "id_token": id_token, "token_type": "Bearer",
                     "expires_in": 3599, "scope": params["scope"]}


def _handler_for(provider: FakeProvider):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args):  # quiet
            pass

        def _send(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
            payload = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):  # noqa: N802 - the http.server API
            parsed = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(parsed.query))
            if parsed.path == "/.well-known/openid-configuration":
                self._send(200, provider.discovery())
            elif parsed.path == "/jwks":
                document, cache_control = provider.jwks()
                self._send(200, document, {"Cache-Control": cache_control})
            elif parsed.path == "/authorize":
                status, body, location = provider.authorize(params)
                self._send(status, body, {"Location": location} if location else None)
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            if urllib.parse.urlsplit(self.path).path == "/token":
                if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                    self._send(400, {"error": "invalid_request"})
                    return
                self._send(*provider.token(form))
            else:
                self._send(404, {"error": "not_found"})

    return Handler
