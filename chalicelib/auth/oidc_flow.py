"""The login flow (OIDC authorization code with PKCE): `start` redirects to the provider, `finish` handles
its callback.

- `state`: 32 random bytes, stored (as a hash) with the nonce, PKCE verifier and redirect URI for
  `STATE_TTL` seconds; single use (taken by a conditional delete), so a replayed callback fails.
- The state is bound to the browser that started the login (login CSRF): `start` stores a hash of a random
  `binding` value that the route sets as an HttpOnly, SameSite=Lax cookie (`LOGIN_COOKIE`, `__Host-`
  prefixed and Secure; `LOCAL_LOGIN_COOKIE` only on plain http to a loopback host, where browsers may refuse
  Secure cookies); `finish` refuses (400 `invalid_state`) a callback without that cookie, or whose cookie
  is not the one of this state, so an attacker cannot complete their own login in someone else's browser.
- `nonce`: must come back inside the ID token.
- PKCE S256: the provider gets the challenge, the token endpoint the verifier.
- Endpoints come from the issuer's discovery document (cached), or Google's when it cannot be read.
- The token endpoint is called with the client secret (when one is set) and a timeout.
- `next=console` (the only hand-over target; anything else is a 400 `invalid_next`, so never an open redirect)
  is kept with the state; the callback then sends the browser to `<base>/console#token=<id_token>`, where
  `<base>` comes from the stored callback URL (the one the provider accepted), instead of answering JSON.
- On a local stack without OIDC_* (tokens.dev_issuer_trusted) the development issuer is the provider: the
  authorization endpoint is this API's own `/oidc/dev/authorize` (an email form), and the callback redeems
  its code in-process (dev_issuer.redeem_code: signature, expiry, redirect URI, client ID, nonce, PKCE)
  and mints the ID token, instead of calling a token endpoint. Nothing else changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.config import GOOGLE_ISSUERS, Settings
from chalicelib.domain.errors import DomainError, InvalidInput, Unauthenticated

if TYPE_CHECKING:
    from chalicelib.ports import CustomerStore

logger = logging.getLogger("ekiosk.auth")

STATE_TTL = 600
SCOPES = "openid email profile"
DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_TTL = 3600
DISCOVERY_TIMEOUT = 5
TOKEN_TIMEOUT = 10
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_PARAMETER_LENGTH = 2048
PROFILE_ROUTE = "/api/v1/me"
API_PREFIX = "/api/v1"
CALLBACK_PATH = API_PREFIX + "/oidc/callback"
DEV_AUTHORIZE_PATH = API_PREFIX + "/oidc/dev/authorize"
CONSOLE = "console"
LOGIN_COOKIE = "__Host-ekiosk-login"
LOCAL_LOGIN_COOKIE = "ekiosk-login-local"  # plain http on 127.0.0.1/localhost only (no Secure, no prefix)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
# Hand-over targets: a fixed name -> the path (under the API's origin and stage prefix) the token goes to.
NEXT_TARGETS = {CONSOLE: "/console"}

GOOGLE_ENDPOINTS = {
    "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
    "token_endpoint": "https://oauth2.googleapis.com/token",
}


class LoginNotConfigured(DomainError):
    status = 503
    code = "login_not_configured"


class ProviderUnavailable(DomainError):
    status = 502
    code = "provider_unavailable"


@dataclass(frozen=True)
class Provider:
    authorization_endpoint: str
    token_endpoint: str


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def state_key(state: str) -> str:
    """What is stored for a state: its hash, so the table never holds a usable state."""
    return hashlib.sha256(state.encode()).hexdigest()


def binding_hash(binding: str) -> str:
    return hashlib.sha256(("login-binding:" + binding).encode()).hexdigest()


def new_binding() -> str:
    """The login cookie's value: random, its hash stored with the state."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in LOOPBACK_HOSTS or name.endswith(".localhost")


def login_cookie_name(scheme: str, host: str) -> str:
    """`__Host-` (Secure) everywhere but plain http to a loopback host (a local stack)."""
    return LOCAL_LOGIN_COOKIE if scheme == "http" and is_loopback(host) else LOGIN_COOKIE


def login_cookie(name: str, value: str, max_age: int = STATE_TTL) -> str:
    """A Set-Cookie value: HttpOnly, Path=/, SameSite=Lax (sent on the provider's top-level redirect back),
    Secure for the `__Host-` name. An empty value with max_age 0 clears it."""
    secure = "; Secure" if name.startswith("__Host-") else ""
    return f"{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}"


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of cookie `name` in a Cookie request header (the first one), or None."""
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name and value:
            return value
    return None


def pkce_challenge(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def _is_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urllib.parse.urlsplit(value)
    return parsed.scheme in ("https", "http") and bool(parsed.netloc)


def _get_json(url: str, timeout: float) -> dict:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "ekiosk"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        document = json.loads(response.read(MAX_RESPONSE_BYTES))
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document


class DiscoveryCache:
    """Provider endpoints per issuer, from `{issuer}/.well-known/openid-configuration`, kept an hour."""

    def __init__(self, clock=time.monotonic, fetch=_get_json):
        self._clock = clock
        self._fetch = fetch
        self._entries: dict[str, tuple[float, Provider]] = {}
        self._lock = threading.Lock()

    def provider(self, issuer: str) -> Provider:
        with self._lock:
            cached = self._entries.get(issuer)
            if cached and cached[0] > self._clock():
                return cached[1]
            try:
                document = self._fetch(issuer.rstrip("/") + DISCOVERY_PATH, DISCOVERY_TIMEOUT)
                found = Provider(document["authorization_endpoint"], document["token_endpoint"])
                if not (_is_http_url(found.authorization_endpoint) and _is_http_url(found.token_endpoint)):
                    raise ValueError("the discovery document has no usable endpoints")
            except Exception as error:  # network, status, JSON or shape
                if issuer in GOOGLE_ISSUERS or issuer.rstrip("/") in GOOGLE_ISSUERS:
                    logger.info("discovery for %s failed (%s); using Google's endpoints", issuer, error)
                    found = Provider(**GOOGLE_ENDPOINTS)
                else:
                    raise ProviderUnavailable(
                        "the sign-in provider's discovery document could not be read", details={"issuer": issuer}
                    ) from None
            self._entries[issuer] = (self._clock() + DISCOVERY_TTL, found)
            return found


_discovery = DiscoveryCache()


def login_issuer(settings: Settings) -> str:
    """The issuer we send people to: the first of OIDC_ISSUERS that is a URL (Google's by default)."""
    for issuer in settings.oidc_issuers:
        if _is_http_url(issuer):
            return issuer
    return "https://accounts.google.com"


def uses_dev_provider(settings: Settings) -> bool:
    from chalicelib.auth.tokens import dev_issuer_trusted

    return dev_issuer_trusted(settings)


def _client_id(settings: Settings) -> str:
    if uses_dev_provider(settings):
        from chalicelib.auth import dev_issuer

        return dev_issuer.AUDIENCE
    if not settings.oidc_audience:
        raise LoginNotConfigured(
            "the login flow needs OIDC_AUDIENCE (the OAuth client ID); locally, `make token` gives a token"
        )
    return settings.oidc_audience


def checked_next(value: str | None) -> str | None:
    """`next` of /oidc/authenticate: absent → None; else exactly one of NEXT_TARGETS' names, or a 400."""
    if value is None:
        return None
    if value not in NEXT_TARGETS:
        raise InvalidInput(
            "next must be one of: " + ", ".join(sorted(NEXT_TARGETS)),
            details={"next": [f"must be one of: {', '.join(sorted(NEXT_TARGETS))}"]},
            code="invalid_next",
        )
    return value


def start(
    settings: Settings,
    redirect_uri: str,
    repo: CustomerStore,
    discovery: DiscoveryCache | None = None,
    next_target: str | None = None,
    dev_authorization_endpoint: str | None = None,
    binding: str | None = None,
) -> str:
    """Stores a fresh state (with the hand-over target `next_target`, checked, and the hash of `binding`, the
    login cookie's value) and returns the provider's URL.

    With the development issuer as provider, the URL is `dev_authorization_endpoint` (this API's own
    `/oidc/dev/authorize`; by default derived from `redirect_uri`).
    """
    from chalicelib.domain.customers import LoginState

    next_target = checked_next(next_target)
    client_id = _client_id(settings)
    if uses_dev_provider(settings):
        if dev_authorization_endpoint is None:
            root = redirect_uri[: -len(CALLBACK_PATH)] if redirect_uri.endswith(CALLBACK_PATH) else ""
            dev_authorization_endpoint = root + DEV_AUTHORIZE_PATH
        provider = Provider(dev_authorization_endpoint, "")
    else:
        provider = (discovery or _discovery).provider(login_issuer(settings))
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    repo.save_login_state(
        LoginState(
            key=state_key(state),
            nonce=nonce,
            code_verifier=verifier,
            redirect_uri=redirect_uri,
            expires_at=int(time.time()) + STATE_TTL,
            next=next_target,
            binding=binding_hash(binding) if binding else None,
        )
    )
    parameters = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": SCOPES,
        "state": state,
        "nonce": nonce,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    separator = "&" if urllib.parse.urlsplit(provider.authorization_endpoint).query else "?"
    return provider.authorization_endpoint + separator + urllib.parse.urlencode(parameters)


def exchange_code(token_endpoint: str, form: dict[str, str], timeout: float | None = None) -> dict:
    """POSTs the authorization code to the token endpoint (within `TOKEN_TIMEOUT` s); returns its JSON answer."""
    request = urllib.request.Request(
        token_endpoint,
        data=urllib.parse.urlencode(form).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "User-Agent": "ekiosk",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout or TOKEN_TIMEOUT) as response:
            answer = json.loads(response.read(MAX_RESPONSE_BYTES))
    except urllib.error.HTTPError as error:
        if 400 <= error.code < 500:
            raise InvalidInput(
                "the sign-in provider refused the authorization code",
                details=_provider_error(error),
                code="code_exchange_failed",
            ) from None
        raise ProviderUnavailable(f"the sign-in provider answered {error.code}") from None
    except (OSError, ValueError) as error:  # URLError, timeouts, refused connections, bad JSON
        raise ProviderUnavailable("the sign-in provider did not answer in time", details=str(error)) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("id_token"), str):
        raise ProviderUnavailable("the sign-in provider's answer has no ID token")
    return answer


def _provider_error(error: urllib.error.HTTPError) -> dict | None:
    try:
        body = json.loads(error.read(64 * 1024))
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    return {key: str(body[key])[:300] for key in ("error", "error_description") if key in body}


def _parameter(params: dict, name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > MAX_PARAMETER_LENGTH:
        raise InvalidInput(f"{name} is too long", details={name: ["too long"]}, code="invalid_request")
    return value


def _not_this_browser() -> InvalidInput:
    return InvalidInput(
        "this sign-in was not started in this browser; start the sign-in again",
        details={"state": ["not started in this browser (the login cookie is missing or belongs to another sign-in)"]},
        code="invalid_state",
    )


def finish(settings: Settings, params: dict, repo: CustomerStore, verifier, discovery: DiscoveryCache | None = None,
           binding: str | None = None) -> dict:
    """Handles the provider's redirect back (`code`, `state`); returns the verified claims, the ID token, and
    the login's hand-over target (`hand_over`: "console" or None) and `redirect_uri`.

    Bad, reused or expired state, or `binding` (the login cookie's value) missing or not this state's → 400
    `invalid_state`; a provider error → 400 `provider_error`.
    """
    _client_id(settings)
    state = _parameter(params, "state")
    provider_error = _parameter(params, "error")
    if state is None:
        raise InvalidInput("the state parameter is missing", details={"state": ["required"]}, code="invalid_state")
    if not binding:
        raise _not_this_browser()  # checked before the state is used up
    login = repo.take_login_state(state_key(state))
    if login is None:
        raise InvalidInput(
            "unknown or already used state; start the sign-in again",
            details={"state": ["unknown or already used"]},
            code="invalid_state",
        )
    if not login.binding or not hmac.compare_digest(login.binding, binding_hash(binding)):
        raise _not_this_browser()
    if login.expires_at < time.time():
        raise InvalidInput(
            "the sign-in took too long; start it again", details={"state": ["expired"]}, code="invalid_state"
        )
    if provider_error:
        description = _parameter(params, "error_description")
        raise InvalidInput(
            "the sign-in provider reported an error",
            details={"error": provider_error, "error_description": description},
            code="provider_error",
        )
    code = _parameter(params, "code")
    if code is None:
        raise InvalidInput("the code parameter is missing", details={"code": ["required"]}, code="invalid_request")
    if uses_dev_provider(settings):
        answer = _dev_exchange(settings, code, login)
    else:
        answer = _provider_exchange(settings, code, login, discovery)
    try:
        claims = verifier.verify(answer["id_token"], nonce=login.nonce)
    except Unauthenticated as error:
        message = f"the provider's ID token was refused: {error.message}"
        raise Unauthenticated(message, code="invalid_id_token") from None
    return {
        "claims": claims,
        "id_token": answer["id_token"],
        "hand_over": login.next,
        "redirect_uri": login.redirect_uri,
    }


def _dev_exchange(settings: Settings, code: str, login) -> dict:
    """The development issuer's "token endpoint", in-process: checks the code against this login, mints."""
    from chalicelib.auth import dev_issuer

    try:
        claims = dev_issuer.redeem_code(
            settings, code, redirect_uri=login.redirect_uri, client_id=dev_issuer.AUDIENCE,
            code_verifier=login.code_verifier, nonce=login.nonce,
        )
    except dev_issuer.CodeRefused as error:
        raise InvalidInput(
            "the sign-in provider refused the authorization code",
            details={"error": "invalid_grant", "error_description": str(error)[:300]},
            code="code_exchange_failed",
        ) from None
    token = dev_issuer.mint(settings, claims["email"], claims.get("name"), ttl=dev_issuer.LOGIN_TOKEN_TTL,
                            nonce=login.nonce)
    return {"id_token": token}


def _provider_exchange(settings: Settings, code: str, login, discovery: DiscoveryCache | None) -> dict:
    provider = (discovery or _discovery).provider(login_issuer(settings))
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": login.redirect_uri,
        "client_id": settings.oidc_audience,
        "code_verifier": login.code_verifier,
    }
    from chalicelib.adapters import secrets

    try:  # read now, when it is needed (cached in this process; never logged)
        client_secret = secrets.oidc_client_secret(settings)
    except secrets.SecretUnavailable as error:
        logger.error("the OIDC client secret is unavailable: %s", error)
        raise LoginNotConfigured("sign-in is unavailable: the client secret could not be read") from None
    if client_secret:
        form["client_secret"] = client_secret
    return exchange_code(provider.token_endpoint, form)


def hand_over_location(next_target: str, redirect_uri: str, fallback_root: str, id_token: str) -> str:
    """Where the callback sends the browser for a hand-over: `<base><target path>#token=<id_token>`.

    `<base>` (origin and any stage prefix) is the callback URL of this login with `/api/v1/oidc/callback`
    cut off: a URL the provider accepted for this client, never one taken from the request. Only when a
    configured OIDC_REDIRECT_URI does not end that way is `fallback_root` (derived from the request the way
    the default callback URL is) used. The token travels in the fragment: browsers never send it to a server.
    """
    path = NEXT_TARGETS[next_target]
    parts = urllib.parse.urlsplit(redirect_uri)
    if _is_http_url(redirect_uri) and parts.path.endswith(CALLBACK_PATH):
        root = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path[: -len(CALLBACK_PATH)], "", ""))
    else:
        root = fallback_root
    return root.rstrip("/") + path + "#" + urllib.parse.urlencode({"token": id_token})


def sign_in_response(id_token: str, claims: dict, profile_complete: bool) -> dict:
    """The callback's answer: the ID token to use as Bearer, and where to go next."""
    return {
        "id_token": id_token,
        "token_type": "Bearer",
        "expires_in": max(0, int(claims["exp"] - time.time())),
        "profile_complete": profile_complete,
        "next": None if profile_complete else PROFILE_ROUTE,
    }


# The development issuer's authorization endpoint (`/oidc/dev/authorize`) -----------------------------------

DEV_AUTHORIZE_FIELDS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
                        "code_challenge", "code_challenge_method")
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254


def _invalid(field: str, problem: str, code: str = "invalid_request") -> InvalidInput:
    return InvalidInput(f"{field}: {problem}", details={field: [problem]}, code=code)


def dev_authorize(settings: Settings, params: dict, own_callback: str) -> tuple[str, str]:
    """`/oidc/dev/authorize`: ("form", html) asking for an email, or ("redirect", url) back to the callback
    with `code` and `state` once one is given. Only with the development issuer as provider (else 404).

    `redirect_uri` must be exactly `own_callback` (this API's callback URL, as `/oidc/authenticate` sends
    it), like a provider's registered redirect URI; CR or LF in any parameter → 400."""
    from chalicelib.auth import dev_issuer
    from chalicelib.domain.errors import NotFound

    if not uses_dev_provider(settings):
        raise NotFound("no development sign-in here: this stack uses its OIDC provider", code="not_found")
    values = {name: _parameter(params, name) for name in (*DEV_AUTHORIZE_FIELDS, "email", "login_hint", "name")}
    for name, value in values.items():
        if value is not None and ("\r" in value or "\n" in value):
            raise _invalid(name, "must not contain CR or LF")
    for name in ("response_type", "client_id", "redirect_uri", "state", "nonce", "code_challenge",
                 "code_challenge_method"):
        if values[name] is None:
            raise _invalid(name, "required")
    if values["response_type"] != "code":
        raise _invalid("response_type", "must be code")
    if values["client_id"] != dev_issuer.AUDIENCE:
        raise _invalid("client_id", f"must be {dev_issuer.AUDIENCE}", code="invalid_client")
    if values["code_challenge_method"] != "S256":
        raise _invalid("code_challenge_method", "must be S256")
    if not (43 <= len(values["code_challenge"]) <= 128):
        raise _invalid("code_challenge", "must be 43 to 128 characters")
    redirect_uri = values["redirect_uri"]
    # Like a real provider's registered redirect URI: only this API's own callback, so never an open redirect.
    if not (_is_http_url(redirect_uri) and hmac.compare_digest(redirect_uri.encode(), own_callback.encode())):
        raise _invalid("redirect_uri", f"must be this API's callback, {own_callback}", code="invalid_redirect_uri")
    email = (values["email"] or values["login_hint"] or "").strip()
    if not email:
        return "form", _dev_form(values)
    local, _, domain = email.rpartition("@")
    if len(email) > MAX_EMAIL_LENGTH or not local or "." not in domain or any(c.isspace() for c in email):
        raise _invalid("email", "must be an email address", code="invalid_email")
    name = (values["name"] or "").strip() or None
    if name and len(name) > MAX_NAME_LENGTH:
        raise _invalid("name", f"at most {MAX_NAME_LENGTH} characters")
    code = dev_issuer.issue_code(
        settings, email=email, name=name, nonce=values["nonce"], code_challenge=values["code_challenge"],
        redirect_uri=redirect_uri, client_id=values["client_id"],
    )
    separator = "&" if urllib.parse.urlsplit(redirect_uri).query else "?"
    return "redirect", redirect_uri + separator + urllib.parse.urlencode({"code": code, "state": values["state"]})


def _dev_form(values: dict) -> str:
    from html import escape

    hidden = "\n".join(
        f'<input type="hidden" name="{name}" value="{escape(values[name] or "", quote=True)}">'
        for name in DEV_AUTHORIZE_FIELDS if values[name] is not None
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ekiosk development sign-in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin:.8rem 0 .2rem}}input[type=email],input[type=text]{{width:100%;padding:.4rem}}
button{{margin-top:1rem;padding:.5rem 1rem}}</style></head>
<body><main><h1>Development sign-in</h1>
<p>This local stack has no OIDC provider configured: sign in as any email address (local only).</p>
<form method="get" action="{escape(DEV_AUTHORIZE_PATH.rsplit("/", 1)[-1])}">
{hidden}
<label for="email">Email</label><input id="email" name="email" type="email" required autofocus maxlength="254">
<label for="name">Name (optional)</label><input id="name" name="name" type="text" maxlength="200">
<button type="submit">Sign in</button>
</form></main></body></html>
"""
