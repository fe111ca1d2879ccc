"""What the login use case and its providers (the configured OIDC provider, the development issuer) share of
the OAuth 2.0 authorization code flow: PKCE S256, the bounds of a redirect's parameters, absolute URLs."""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from collections.abc import Mapping

from chalicelib.domain.errors import DomainError, InvalidInput

MAX_PARAMETER_LENGTH = 2048


# What every SignInProvider (chalicelib/ports.py) raises besides a refused code.
class LoginNotConfigured(DomainError):
    status = 503
    code = "login_not_configured"


class ProviderUnavailable(DomainError):
    status = 502
    code = "provider_unavailable"


def pkce_challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636): the provider sees this challenge; only the token endpoint sees the verifier."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")


def parameter(params: Mapping[str, str], name: str) -> str | None:
    """A query parameter of a redirect: empty counts as absent; over 2,048 characters → 400 `invalid_request`."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > MAX_PARAMETER_LENGTH:
        raise InvalidInput(f"{name} is too long", details={name: ["too long"]}, code="invalid_request")
    return value


def is_http_url(value: object) -> bool:
    """An absolute http(s) URL: the only kind a browser is sent to or a provider endpoint may be."""
    if not isinstance(value, str):
        return False
    parsed = urllib.parse.urlsplit(value)
    return parsed.scheme in ("https", "http") and bool(parsed.netloc)


def with_query(url: str, parameters: Mapping[str, str]) -> str:
    """`url` with `parameters` added to the query it may already have."""
    separator = "&" if urllib.parse.urlsplit(url).query else "?"
    return url + separator + urllib.parse.urlencode(parameters)
