"""The development issuer as the login's provider (ports.SignInProvider), on a local stack without OIDC_*
(dev_issuer.trusted): both of a provider's endpoints, the way a real one would check them.

- The authorization endpoint is this API's own `/oidc/dev/authorize`: `authorization_request` checks its
  parameters (404 anywhere else), the page asks for an email, `callback_with_code` sends the browser back to
  the callback with a code (dev_issuer.issue_code). Like a provider's registered redirect URI, `redirect_uri`
  must be exactly this API's own callback, so it is never an open redirect; CR or LF in any parameter → 400.
- The token endpoint is a function call: `DevProvider.redeem` checks the code against this login
  (dev_issuer.redeem_code: signature, expiry, redirect URI, client ID, nonce, PKCE) and mints the ID token.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.auth import dev_issuer
from chalicelib.config import Settings
from chalicelib.domain.customers import LoginState
from chalicelib.domain.errors import InvalidInput, NotFound
from chalicelib.domain.oauth import is_http_url, parameter, with_query

# The code flow's parameters, in the order the page keeps them as hidden fields.
AUTHORIZE_PARAMETERS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
                        "code_challenge", "code_challenge_method")
REQUIRED = ("response_type", "client_id", "redirect_uri", "state", "nonce", "code_challenge",
            "code_challenge_method")
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254


class DevProvider:
    def __init__(self, settings: Settings, authorization_endpoint: str):
        self._settings = settings
        self._authorization_endpoint = authorization_endpoint

    def client_id(self) -> str:
        return dev_issuer.AUDIENCE

    def authorization_endpoint(self) -> str:
        return self._authorization_endpoint

    def redeem(self, code: str, login: LoginState) -> str:
        try:
            claims = dev_issuer.redeem_code(
                self._settings, code, redirect_uri=login.redirect_uri, client_id=dev_issuer.AUDIENCE,
                code_verifier=login.code_verifier, nonce=login.nonce,
            )
        except dev_issuer.CodeRefused as error:
            raise InvalidInput(
                "the sign-in provider refused the authorization code",
                details={"error": "invalid_grant", "error_description": str(error)[:300]},
                code="code_exchange_failed",
            ) from None
        return dev_issuer.mint(self._settings, claims["email"], claims.get("name"), ttl=dev_issuer.LOGIN_TOKEN_TTL,
                               nonce=login.nonce)


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked request to `/oidc/dev/authorize`; without `email` yet, the page asks for one."""

    parameters: dict[str, str]  # those of AUTHORIZE_PARAMETERS that were given
    email: str | None
    name: str | None


def _invalid(field: str, problem: str, code: str = "invalid_request") -> InvalidInput:
    return InvalidInput(f"{field}: {problem}", details={field: [problem]}, code=code)


def authorization_request(settings: Settings, params: Mapping[str, str], own_callback: str) -> AuthorizationRequest:
    """Checks a request to `/oidc/dev/authorize` (404 unless the development issuer is the provider).

    `redirect_uri` must be exactly `own_callback` (this API's callback URL, as `/oidc/authenticate` sends
    it), like a provider's registered redirect URI; CR or LF in any parameter → 400."""
    if not dev_issuer.trusted(settings):
        raise NotFound("no development sign-in here: this stack uses its OIDC provider", code="not_found")
    values = {name: parameter(params, name) for name in (*AUTHORIZE_PARAMETERS, "email", "login_hint", "name")}
    for name, value in values.items():
        if value is not None and ("\r" in value or "\n" in value):
            raise _invalid(name, "must not contain CR or LF")
    for name in REQUIRED:
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
    if not (is_http_url(redirect_uri) and hmac.compare_digest(redirect_uri.encode(), own_callback.encode())):
        raise _invalid("redirect_uri", f"must be this API's callback, {own_callback}", code="invalid_redirect_uri")
    given = {name: values[name] for name in AUTHORIZE_PARAMETERS if values[name] is not None}
    email = (values["email"] or values["login_hint"] or "").strip()
    if not email:
        return AuthorizationRequest(given, email=None, name=None)
    local, _, domain = email.rpartition("@")
    if len(email) > MAX_EMAIL_LENGTH or not local or "." not in domain or any(c.isspace() for c in email):
        raise _invalid("email", "must be an email address", code="invalid_email")
    name = (values["name"] or "").strip() or None
    if name and len(name) > MAX_NAME_LENGTH:
        raise _invalid("name", f"at most {MAX_NAME_LENGTH} characters")
    return AuthorizationRequest(given, email=email, name=name)


def callback_with_code(settings: Settings, request: AuthorizationRequest) -> str:
    """Where the browser goes once an email is given: the callback with a code for it, and the state."""
    given = request.parameters
    code = dev_issuer.issue_code(
        settings, email=request.email, name=request.name, nonce=given["nonce"],
        code_challenge=given["code_challenge"], redirect_uri=given["redirect_uri"], client_id=given["client_id"],
    )
    return with_query(given["redirect_uri"], {"code": code, "state": given["state"]})
