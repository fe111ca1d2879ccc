"""Verification of OIDC ID tokens: RS256 only, key by `kid`, `iss`/`aud`/`exp`/`iat`/`sub` required."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from chalicelib.config import Settings, get_settings
from chalicelib.domain.errors import Unauthenticated

LEEWAY_SECONDS = 30
ALGORITHM = "RS256"


class KeySource(Protocol):
    def key_for(self, kid: str) -> dict | None:
        """The JWK with this kid, or None when there is none."""


@dataclass(frozen=True)
class Identity:
    """What a verified ID token says about its holder (never the role: that is ours)."""

    sub: str
    email: str
    name: str | None
    email_verified: bool


class StaticKeys:
    def __init__(self, keys: dict[str, dict]):
        self._keys = keys

    def key_for(self, kid: str) -> dict | None:
        return self._keys.get(kid)


class TokenVerifier:
    def __init__(self, keys: KeySource, issuers: tuple[str, ...], audience: str | None):
        self._keys = keys
        self._issuers = issuers
        self._audience = audience

    def verify(self, token: str) -> dict:
        """Returns the verified claims or raises Unauthenticated."""
        from jose import JWTError, jwt

        if not self._audience:
            raise Unauthenticated("no OIDC audience is configured")
        try:
            header = jwt.get_unverified_header(token)
        except JWTError as error:
            raise Unauthenticated("malformed token") from error
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated("unsupported token algorithm")
        key = self._keys.key_for(str(header.get("kid") or ""))
        if key is None:
            raise Unauthenticated("unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=list(self._issuers),
                options={
                    "require_exp": True,
                    "require_iat": True,
                    "require_aud": True,
                    "require_iss": True,
                    "require_sub": True,
                    "leeway": LEEWAY_SECONDS,
                    "verify_at_hash": False,
                },
            )
        except JWTError as error:
            raise Unauthenticated(f"invalid token: {error}") from error
        if claims.get("email_verified") in (False, "false"):
            raise Unauthenticated("email not verified")
        if not claims.get("sub") or not claims.get("email"):
            raise Unauthenticated("token lacks sub or email")
        return claims

    def identity(self, token: str) -> Identity:
        claims = self.verify(token)
        return Identity(
            sub=str(claims["sub"]),
            email=str(claims["email"]).strip().lower(),
            name=claims.get("name"),
            email_verified=claims.get("email_verified") in (True, "true"),
        )


def bearer_token(header_value: str | None) -> str:
    """The token from an `Authorization: Bearer …` header (scheme case-insensitive)."""
    scheme, _, token = (header_value or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer token")
    return token.strip()


def build_verifier(settings: Settings) -> TokenVerifier:
    if settings.uses_dev_issuer:
        from chalicelib.auth import dev_issuer

        return TokenVerifier(dev_issuer.key_source(settings), (dev_issuer.ISSUER,), dev_issuer.AUDIENCE)
    from chalicelib.auth.jwks import JwksCache

    return TokenVerifier(JwksCache(settings.oidc_jwks_url), settings.oidc_issuers, settings.oidc_audience)


@lru_cache(maxsize=1)
def get_verifier() -> TokenVerifier:
    return build_verifier(get_settings())
