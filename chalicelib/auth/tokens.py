"""Verification of OIDC ID tokens: RS256 only, key by `kid`, `iss`/`aud`/`exp`/`iat`/`sub` required.

Every failure, whatever its cause, is an `Unauthenticated` (the authorizer answers 401): a verifier
that fails closed. python-jose is imported on the first verification, not at import time.

Whom a process trusts (`build_verifier`): the development issuer's key on a local stack (SPEC §3,
dev_issuer.trusted), else the OIDC_* issuers with their keys from the JWKS (jwks.py).
"""

from __future__ import annotations

import hmac
import logging
import time
from functools import lru_cache
from typing import Protocol

from chalicelib.auth import dev_issuer
from chalicelib.config import Settings, get_settings
from chalicelib.domain.customers import Identity
from chalicelib.domain.errors import Unauthenticated

logger = logging.getLogger("ekiosk.auth")

LEEWAY_SECONDS = 30
ALGORITHM = "RS256"
MAX_TOKEN_LENGTH = 16 * 1024
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub")


class KeySource(Protocol):
    def key_for(self, kid: str) -> dict | None:
        """The JWK with this kid, or None when there is none."""


class StaticKeys:
    def __init__(self, keys: dict[str, dict]):
        self._keys = keys

    def key_for(self, kid: str) -> dict | None:
        return self._keys.get(kid)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _usable_key(key: dict) -> bool:
    """An RSA signing key that may be used with RS256 (a JWKS may also hold keys for other uses)."""
    return (
        key.get("kty") == "RSA"
        and key.get("alg", ALGORITHM) == ALGORITHM
        and key.get("use", "sig") == "sig"
    )


class TokenVerifier:
    def __init__(self, keys: KeySource, issuers: tuple[str, ...], audience: str | None, clock=time.time):
        self._keys = keys
        self._issuers = tuple(issuers)
        self._audience = audience
        self._clock = clock

    @property
    def audience(self) -> str | None:
        return self._audience

    def verify(self, token: str, nonce: str | None = None) -> dict:
        """Returns the verified claims or raises Unauthenticated. With `nonce`, the token must carry it."""
        if not self._audience:
            raise Unauthenticated("no OIDC audience is configured")
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("malformed token")
        try:
            claims = self._decode(token)
        except Unauthenticated:
            raise
        except Exception as error:  # whatever jose or a malformed key raises, the token is refused
            logger.info("token refused: %s: %s", type(error).__name__, error)
            raise Unauthenticated("invalid token", details={"reason": str(error)[:200]}) from None
        self._check_claims(claims)
        if nonce is not None and not _same(str(claims.get("nonce", "")), nonce):
            raise Unauthenticated("the token's nonce does not match this sign-in")
        return claims

    def _decode(self, token: str) -> dict:
        from jose import jwt

        header = jwt.get_unverified_header(token)
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated("unsupported token algorithm")
        if "crit" in header:
            raise Unauthenticated("unsupported critical token header")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the token names no signing key")
        key = self._keys.key_for(kid)
        if key is None or not _usable_key(key):
            raise Unauthenticated("unknown signing key")
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=self._audience,
            issuer=list(self._issuers),
            options={
                **{f"require_{name}": True for name in REQUIRED_CLAIMS},
                "verify_signature": True,
                "verify_aud": True,
                "verify_iss": True,
                "verify_exp": True,
                "verify_nbf": True,
                "verify_iat": True,
                "verify_sub": True,
                "verify_at_hash": False,
                "leeway": LEEWAY_SECONDS,
            },
        )

    def _check_claims(self, claims: dict) -> None:
        """What jose leaves to us: claim types, `iat` not in the future, `azp`, `email_verified`."""
        now = self._clock()
        for name in ("exp", "iat", "nbf"):
            if name in claims and not _is_number(claims[name]):
                raise Unauthenticated(f"the token's {name} is not a number")
        if claims["iat"] > now + LEEWAY_SECONDS:
            raise Unauthenticated("the token was issued in the future")
        if not isinstance(claims.get("sub"), str) or not claims["sub"].strip():
            raise Unauthenticated("the token has no subject")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self._audience:
            raise Unauthenticated("the token's authorized party is not this client")
        if claims.get("email_verified") in (False, "false"):
            raise Unauthenticated("email not verified")
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise Unauthenticated("the token has no email")

    def identity(self, token: str, nonce: str | None = None) -> Identity:
        return identity_of(self.verify(token, nonce))


def identity_of(claims: dict) -> Identity:
    name = claims.get("name")
    return Identity(
        sub=claims["sub"],
        email=claims["email"].strip().lower(),
        name=name if isinstance(name, str) and name.strip() else None,
        email_verified=claims.get("email_verified") in (True, "true"),
    )


def bearer_token(header_value: str | None) -> str:
    """The token from an `Authorization: Bearer …` header (scheme case-insensitive)."""
    scheme, _, token = (header_value or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer token")
    return token.strip()


def build_verifier(settings: Settings) -> TokenVerifier:
    if dev_issuer.trusted(settings):
        key = dev_issuer.public_key(settings)
        return TokenVerifier(StaticKeys({key["kid"]: key}), (dev_issuer.ISSUER,), dev_issuer.AUDIENCE)
    from chalicelib.auth.jwks import JwksCache, cooldown_from_environment  # urllib.request: not at cold start

    return TokenVerifier(
        JwksCache(settings.oidc_jwks_url, cooldown=cooldown_from_environment()),
        settings.oidc_issuers,
        settings.oidc_audience,
    )


@lru_cache(maxsize=1)
def get_verifier() -> TokenVerifier:
    return build_verifier(get_settings())
