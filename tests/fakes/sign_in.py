"""The sign-in ports in memory: a provider (ports.SignInProvider) that issues codes for a login and redeems them
for ID tokens, and a verifier (ports.IdTokenVerifier) of those tokens, held to the same contract as
OidcProvider / DevProvider and TokenVerifier (tests/contracts/test_sign_in_contract.py).

A fake token is JWT-shaped but unsigned (`header.claims.fake`): the verifier checks the header's `alg` and
`kid` and the claims as TokenVerifier does, with no cryptography.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping

from chalicelib.auth.tokens import ALGORITHM, LEEWAY_SECONDS, REQUIRED_CLAIMS
from chalicelib.domain.customers import LoginState
from chalicelib.domain.errors import InvalidInput, Unauthenticated
from chalicelib.domain.oauth import LoginNotConfigured, ProviderUnavailable, pkce_challenge

ISSUER = "https://id.example.test"
CLIENT_ID = "client"
KID = "fake-key"


def _b64(document: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def _unb64(part: str) -> dict:
    document = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document


def fake_token(claims: dict, kid: str = KID, alg: str = ALGORITHM) -> str:
    return f"{_b64({'alg': alg, 'kid': kid})}.{_b64(claims)}.fake"


def _refused(description: str) -> InvalidInput:
    return InvalidInput("the sign-in provider refused the authorization code", code="code_exchange_failed",
                        details={"error": "invalid_grant", "error_description": description})


class FakeSignInProvider:
    """`authorize` is the browser's trip to the provider (a code for these parameters, as after a login);
    `redeem` gives a code's ID token once, for the login it was issued for. `available = False`: the provider
    does not answer; `client_id=None`: sign-in is not configured."""

    def __init__(self, client_id: str | None = CLIENT_ID, issuer: str = ISSUER):
        self._client_id = client_id
        self.issuer = issuer
        self.available = True
        self.codes: dict[str, dict] = {}
        self.redeemed: list[tuple[str, str]] = []  # (code, redirect URI)

    def client_id(self) -> str:
        if not self._client_id:
            raise LoginNotConfigured("the login flow needs OIDC_AUDIENCE (the OAuth client ID)")
        return self._client_id

    def authorization_endpoint(self) -> str:
        return self.issuer + "/authorize"

    def authorize(self, params: Mapping[str, str], email: str = "someone@example.test") -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"params": dict(params), "email": email}
        return code

    def redeem(self, code: str, login: LoginState) -> str:
        client_id = self.client_id()
        if not self.available:
            raise ProviderUnavailable("the sign-in provider did not answer in time")
        grant = self.codes.pop(code, None)
        if grant is None:
            raise _refused("unknown code")
        params = grant["params"]
        if params.get("redirect_uri") != login.redirect_uri:
            raise _refused("redirect_uri mismatch")
        if params.get("code_challenge") != pkce_challenge(login.code_verifier):
            raise _refused("PKCE verification failed")
        self.redeemed.append((code, login.redirect_uri))
        now = int(time.time())
        return fake_token({"iss": self.issuer, "aud": client_id, "sub": "sub-" + grant["email"],
                           "email": grant["email"], "email_verified": True, "iat": now, "exp": now + 3600,
                           "nonce": params.get("nonce")})


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class FakeIdTokenVerifier:
    """Verifies fake tokens (`fake_token`) the way TokenVerifier verifies signed ones."""

    def __init__(self, issuers: tuple[str, ...] = (ISSUER,), audience: str = CLIENT_ID, kids: tuple[str, ...] = (KID,),
                 clock=time.time):
        self._issuers, self._audience, self._kids, self._clock = issuers, audience, kids, clock

    def verify(self, token: str, nonce: str | None = None) -> dict:
        try:
            header_part, claims_part, _signature = token.split(".")
            header, claims = _unb64(header_part), _unb64(claims_part)
        except (AttributeError, ValueError) as error:
            raise Unauthenticated("invalid token", details={"reason": str(error)[:200]}) from None
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated("unsupported token algorithm")
        if header.get("kid") not in self._kids:
            raise Unauthenticated("unknown signing key")
        self._check_claims(claims)
        if nonce is not None and str(claims.get("nonce", "")) != nonce:
            raise Unauthenticated("the token's nonce does not match this sign-in")
        return claims

    def _check_claims(self, claims: dict) -> None:
        now = self._clock()
        missing = [name for name in REQUIRED_CLAIMS if name not in claims]
        if missing:
            raise Unauthenticated("invalid token", details={"reason": f"missing {missing}"})
        if claims["iss"] not in self._issuers:
            raise Unauthenticated("invalid token", details={"reason": "Invalid issuer"})
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if self._audience not in audiences:
            raise Unauthenticated("invalid token", details={"reason": "Invalid audience"})
        if len(audiences) > 1 and claims.get("azp") != self._audience:
            raise Unauthenticated("the token's authorized party is not this client")
        for name in ("exp", "iat", "nbf"):
            if name in claims and not _is_number(claims[name]):
                raise Unauthenticated(f"the token's {name} is not a number")
        if claims["exp"] < now - LEEWAY_SECONDS:
            raise Unauthenticated("invalid token", details={"reason": "Signature has expired."})
        if claims["iat"] > now + LEEWAY_SECONDS or claims.get("nbf", now) > now + LEEWAY_SECONDS:
            raise Unauthenticated("the token is not valid yet")
        if not isinstance(claims.get("sub"), str) or not claims["sub"].strip():
            raise Unauthenticated("the token has no subject")
        if claims.get("email_verified") in (False, "false"):
            raise Unauthenticated("email not verified")
        if not isinstance(claims.get("email"), str) or "@" not in claims["email"]:
            raise Unauthenticated("the token has no email")
