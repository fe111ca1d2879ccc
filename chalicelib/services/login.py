"""The login use case (OIDC authorization code with PKCE): `start` sends the browser to the provider, `finish`
handles its redirect back. The provider, the ID-token verifier and the store of logins in progress are ports
(ports.SignInProvider, IdTokenVerifier, CustomerStore): the configured OIDC provider, or on a local stack
without OIDC_* the development issuer; api/identity.py picks one.

- `state`: 32 random bytes, stored (as a hash) with the nonce, PKCE verifier and redirect URI for
  `STATE_TTL` seconds; single use (taken by a conditional write), so a replayed callback fails.
- The state is bound to the browser that started the login (login CSRF): `start` stores a hash of a random
  `binding` value that the route sets as a cookie (api/login_cookie.py); `finish` refuses (400
  `invalid_state`) a callback without that value, or with another state's, so an attacker cannot complete
  their own login in someone else's browser.
- `nonce`: must come back inside the ID token.
- PKCE S256: the provider gets the challenge, its token endpoint the verifier.
- `next=console` (the only hand-over target; anything else is a 400 `invalid_next`, so never an open
  redirect) is kept with the state, for the callback to hand the token to that page instead of answering JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.domain.customers import LoginState
from chalicelib.domain.errors import InvalidInput, Unauthenticated
from chalicelib.domain.oauth import parameter, pkce_challenge, with_query
from chalicelib.ports import CustomerStore, IdTokenVerifier, SignInProvider

STATE_TTL = 600
SCOPES = "openid email profile"
CONSOLE = "console"
# Hand-over targets: a fixed name -> the path (under the API's origin and stage prefix) the token goes to.
NEXT_TARGETS = {CONSOLE: "/console"}


@dataclass(frozen=True)
class Started:
    authorization_url: str  # where the browser goes: the provider's authorization endpoint
    binding: str  # the login cookie's value: random, its hash kept with the state


@dataclass(frozen=True)
class SignedIn:
    claims: dict  # the ID token's, verified
    id_token: str
    hand_over: str | None  # "console", or None for the JSON answer
    redirect_uri: str  # the callback URL the provider accepted for this login


def state_key(state: str) -> str:
    """What is stored for a state: its hash, so the store never holds a usable state."""
    return hashlib.sha256(state.encode()).hexdigest()


def binding_hash(binding: str) -> str:
    return hashlib.sha256(("login-binding:" + binding).encode()).hexdigest()


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


def start(provider: SignInProvider, logins: CustomerStore, redirect_uri: str,
          next_target: str | None = None) -> Started:
    """Stores a fresh state (with the hand-over target `next_target`, checked, and the hash of a new binding)
    and returns the provider's URL with the binding for the login cookie."""
    next_target = checked_next(next_target)
    client_id = provider.client_id()
    authorization_endpoint = provider.authorization_endpoint()
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    binding = secrets.token_urlsafe(32)
    logins.save_login_state(
        LoginState(
            key=state_key(state),
            nonce=nonce,
            code_verifier=verifier,
            redirect_uri=redirect_uri,
            expires_at=int(time.time()) + STATE_TTL,
            next=next_target,
            binding=binding_hash(binding),
        )
    )
    url = with_query(authorization_endpoint, {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": SCOPES,
        "state": state,
        "nonce": nonce,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    })
    return Started(url, binding)


def _not_this_browser() -> InvalidInput:
    return InvalidInput(
        "this sign-in was not started in this browser; start the sign-in again",
        details={"state": ["not started in this browser (the login cookie is missing or belongs to another sign-in)"]},
        code="invalid_state",
    )


def finish(provider: SignInProvider, logins: CustomerStore, verifier: IdTokenVerifier, params: Mapping[str, str],
           binding: str | None) -> SignedIn:
    """Handles the provider's redirect back (`code`, `state`; `binding`: the login cookie's value): redeems
    the code and verifies the ID token it gives.

    Bad, reused or expired state, or `binding` missing or not this state's → 400 `invalid_state`; a provider
    error → 400 `provider_error`; an ID token the verifier refuses → 401 `invalid_id_token`.
    """
    provider.client_id()  # sign-in not configured: that answer first
    state = parameter(params, "state")
    provider_error = parameter(params, "error")
    if state is None:
        raise InvalidInput("the state parameter is missing", details={"state": ["required"]}, code="invalid_state")
    if not binding:
        raise _not_this_browser()  # checked before the state is used up
    login = logins.take_login_state(state_key(state))
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
        description = parameter(params, "error_description")
        raise InvalidInput(
            "the sign-in provider reported an error",
            details={"error": provider_error, "error_description": description},
            code="provider_error",
        )
    code = parameter(params, "code")
    if code is None:
        raise InvalidInput("the code parameter is missing", details={"code": ["required"]}, code="invalid_request")
    id_token = provider.redeem(code, login)
    try:
        claims = verifier.verify(id_token, nonce=login.nonce)
    except Unauthenticated as error:
        message = f"the provider's ID token was refused: {error.message}"
        raise Unauthenticated(message, code="invalid_id_token") from None
    return SignedIn(claims=claims, id_token=id_token, hand_over=login.next, redirect_uri=login.redirect_uri)
