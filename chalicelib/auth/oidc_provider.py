"""The configured OIDC provider (OIDC_*) as the login's provider (ports.SignInProvider): its endpoints from
the issuer's discovery document, the authorization code redeemed at its token endpoint.

- Endpoints come from `{issuer}/.well-known/openid-configuration`, kept an hour per issuer, or Google's
  when Google's document cannot be read; any other unreadable document is a 502 `provider_unavailable`.
- The token endpoint is called with the client secret (when one is set, read when first needed) and a
  timeout (`TOKEN_TIMEOUT`): a refusal is a 400 `code_exchange_failed`, no answer a 502.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from chalicelib.adapters import secrets
from chalicelib.config import GOOGLE_ISSUERS, Settings
from chalicelib.domain.customers import LoginState
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.oauth import LoginNotConfigured, ProviderUnavailable, is_http_url

logger = logging.getLogger("ekiosk.auth")

DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_TTL = 3600
DISCOVERY_TIMEOUT = 5
TOKEN_TIMEOUT = 10
MAX_RESPONSE_BYTES = 1024 * 1024

GOOGLE_ENDPOINTS = {
    "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
    "token_endpoint": "https://oauth2.googleapis.com/token",
}


@dataclass(frozen=True)
class Endpoints:
    authorization_endpoint: str
    token_endpoint: str


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
        self._entries: dict[str, tuple[float, Endpoints]] = {}
        self._lock = threading.Lock()

    def endpoints(self, issuer: str) -> Endpoints:
        with self._lock:
            cached = self._entries.get(issuer)
            if cached and cached[0] > self._clock():
                return cached[1]
            try:
                document = self._fetch(issuer.rstrip("/") + DISCOVERY_PATH, DISCOVERY_TIMEOUT)
                found = Endpoints(document["authorization_endpoint"], document["token_endpoint"])
                if not (is_http_url(found.authorization_endpoint) and is_http_url(found.token_endpoint)):
                    raise ValueError("the discovery document has no usable endpoints")
            except Exception as error:  # network, status, JSON or shape
                if issuer in GOOGLE_ISSUERS or issuer.rstrip("/") in GOOGLE_ISSUERS:
                    logger.info("discovery for %s failed (%s); using Google's endpoints", issuer, error)
                    found = Endpoints(**GOOGLE_ENDPOINTS)
                else:
                    raise ProviderUnavailable(
                        "the sign-in provider's discovery document could not be read", details={"issuer": issuer}
                    ) from None
            self._entries[issuer] = (self._clock() + DISCOVERY_TTL, found)
            return found


DISCOVERY = DiscoveryCache()  # one per process, shared by every request (it locks)


def login_issuer(settings: Settings) -> str:
    """The issuer we send people to: the first of OIDC_ISSUERS that is a URL (Google's by default)."""
    for issuer in settings.oidc_issuers:
        if is_http_url(issuer):
            return issuer
    return "https://accounts.google.com"


class OidcProvider:
    def __init__(self, settings: Settings, discovery: DiscoveryCache = DISCOVERY):
        self._settings = settings
        self._discovery = discovery

    def client_id(self) -> str:
        if not self._settings.oidc_audience:
            raise LoginNotConfigured(
                "the login flow needs OIDC_AUDIENCE (the OAuth client ID); locally, `make token` gives a token"
            )
        return self._settings.oidc_audience

    def authorization_endpoint(self) -> str:
        return self._discovery.endpoints(login_issuer(self._settings)).authorization_endpoint

    def redeem(self, code: str, login: LoginState) -> str:
        token_endpoint = self._discovery.endpoints(login_issuer(self._settings)).token_endpoint
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": login.redirect_uri,
            "client_id": self.client_id(),
            "code_verifier": login.code_verifier,
        }
        try:  # read now, when it is needed (cached in this process; never logged)
            client_secret = secrets.oidc_client_secret(self._settings)
        except secrets.SecretUnavailable as error:
            logger.error("the OIDC client secret is unavailable: %s", error)
            raise LoginNotConfigured("sign-in is unavailable: the client secret could not be read") from None
        if client_secret:
            form["client_secret"] = client_secret
        return _exchange_code(token_endpoint, form)["id_token"]


def _exchange_code(token_endpoint: str, form: dict[str, str]) -> dict:
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
        with urllib.request.urlopen(request, timeout=TOKEN_TIMEOUT) as response:
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
