"""Identity: the caller's profile (`/me`, alias `/update-profile`) and the login flow (`/oidc/*`)."""

from __future__ import annotations

import time
import urllib.parse
from typing import TYPE_CHECKING

from chalice import Blueprint, Response

from chalicelib.api import login_cookie
from chalicelib.api.responses import Reply, domain_error_response
from chalicelib.api.routing import API_PREFIX, endpoint
from chalicelib.auth import dev_issuer
from chalicelib.domain.errors import DomainError, InvalidInput
from chalicelib.domain.oauth import is_http_url

if TYPE_CHECKING:
    from chalicelib.ports import SignInProvider
    from chalicelib.services.login import SignedIn

bp = Blueprint(__name__)
# Views import what they use (services, pydantic-based parsing, jose) so the cold start stays small.

PROFILE_FIELDS = ("phone_number", "name")
NOT_SETTABLE = {
    "role": "not settable here (staff change roles through /admin/customers/{id})",
    "email": "not settable (it comes from the sign-in provider)",
    "id": "not settable",
}
NO_STORE = {"Cache-Control": "no-store"}
CALLBACK_PATH = API_PREFIX + "/oidc/callback"
DEV_AUTHORIZE_PATH = API_PREFIX + "/oidc/dev/authorize"
PROFILE_ROUTE = API_PREFIX + "/me"

# Models by name: pydantic is imported on use, not at cold start. The response model is also the serializer.
RESPONSE = "chalicelib.api.response_models.identity:"
PROFILE = RESPONSE + "Profile"
PROFILE_UPDATE = "chalicelib.api.request_models:ProfileUpdate"
PROFILE_DESCRIPTION = (
    "Created on the first signed-in request. `profile_complete` is false while `missing_fields` lists "
    "fields (e.g. `phone_number`) still needed to place orders."
)
UPDATE_DESCRIPTION = (
    "Only `phone_number` and `name` may be sent (`role`, `email` or any other field → 400 `validation_error`). "
    "The phone number is normalized to E.164 (a number without `+` is read as Kenyan: `0712 345-678` → "
    "`+254712345678`); empty or invalid → 400 `invalid_phone_number`. Only numbers that can receive SMS: "
    "not mobile (premium-rate, toll-free, shared-cost, VoIP, pager, personal, UAN, fixed-line) → 400 "
    "`phone_number_not_mobile`; with `PHONE_REGIONS` set, other regions → 400 `phone_region_not_allowed`. "
    "`name`: 1–200 characters."
)


def _profile_fields(body: dict) -> dict:
    """The PATCH body's fields: only `phone_number` and `name`; anything else is a 400."""
    unknown = {key: [NOT_SETTABLE.get(key, "unknown field")] for key in body if key not in PROFILE_FIELDS}
    if unknown:
        raise InvalidInput("only phone_number and name can be changed", details=unknown, code="validation_error")
    return {key: body[key] for key in PROFILE_FIELDS if key in body}


def _me(caller):
    return caller.customer


def _update_me(caller):
    from chalicelib.api.requests import json_object  # pydantic, imported by it, stays out of the cold start
    from chalicelib.bootstrap import services
    from chalicelib.services import customers

    fields = _profile_fields(json_object(bp.current_request))
    return customers.update_profile(services(), caller.customer, fields)


@endpoint(bp, "/me", ["GET"], tags=["identity"], summary="Your profile", description=PROFILE_DESCRIPTION,
          response=PROFILE)
def get_me(caller):
    return _me(caller)


@endpoint(bp, "/me", ["PATCH"], tags=["identity"], summary="Update your phone number or name",
          description=UPDATE_DESCRIPTION, body=PROFILE_UPDATE, response=PROFILE)
def patch_me(caller):
    return _update_me(caller)


@endpoint(bp, "/update-profile", ["GET"], tags=["identity"], summary="Your profile (alias of GET /me)",
          description=PROFILE_DESCRIPTION, response=PROFILE)
def get_update_profile(caller):
    return _me(caller)


@endpoint(bp, "/update-profile", ["PATCH"], tags=["identity"], summary="Update your profile (alias of PATCH /me)",
          description=UPDATE_DESCRIPTION, body=PROFILE_UPDATE, response=PROFILE)
def patch_update_profile(caller):
    return _update_me(caller)


def _scheme_and_host(request) -> tuple[str, str]:
    headers = request.headers or {}
    host = headers.get("x-forwarded-host") or headers.get("host") or "localhost"
    local = host.split(":")[0] in ("127.0.0.1", "localhost")
    scheme = headers.get("x-forwarded-proto") or ("http" if local else "https")
    return scheme.split(",")[0].strip(), host.split(",")[0].strip()


def _api_root(request) -> str:
    """This API's origin and any stage prefix (the part before /api/v1), as the client reached it."""
    scheme, host = _scheme_and_host(request)
    path = (request.context or {}).get("path") or API_PREFIX + "/oidc/authenticate"
    marker = API_PREFIX + "/oidc/"
    prefix = path[: path.rindex(marker)] if marker in path else ""
    return f"{scheme}://{host}{prefix}"


def _login_cookie_name(request) -> str:
    return login_cookie.name_for(*_scheme_and_host(request))


def _callback_uri(request) -> str:
    """OIDC_REDIRECT_URI, or this API's own callback as the client reached it."""
    from chalicelib.bootstrap import services

    configured = services().settings.oidc_redirect_uri
    if configured:
        return configured
    return _api_root(request) + CALLBACK_PATH


def _sign_in_provider(request) -> SignInProvider:
    """The login's provider: the development issuer, at this API's own `/oidc/dev/authorize`, on a local stack
    without OIDC_* (SPEC §3); else the configured OIDC provider."""
    from chalicelib.bootstrap import services

    settings = services().settings
    if dev_issuer.trusted(settings):
        from chalicelib.auth.dev_provider import DevProvider  # only a local stack uses it

        return DevProvider(settings, _api_root(request) + DEV_AUTHORIZE_PATH)
    from chalicelib.auth.oidc_provider import OidcProvider  # urllib.request and the secrets adapter: not at cold start

    return OidcProvider(settings)


def hand_over_location(next_target: str, redirect_uri: str, fallback_root: str, id_token: str) -> str:
    """Where the callback sends the browser for a hand-over: `<base><target path>#token=<id_token>`.

    `<base>` (origin and any stage prefix) is the callback URL of this login with `/api/v1/oidc/callback`
    cut off: a URL the provider accepted for this client, never one taken from the request. Only when a
    configured OIDC_REDIRECT_URI does not end that way is `fallback_root` (derived from the request the way
    the default callback URL is) used. The token travels in the fragment: browsers never send it to a server.
    """
    from chalicelib.services.login import NEXT_TARGETS

    path = NEXT_TARGETS[next_target]
    parts = urllib.parse.urlsplit(redirect_uri)
    if is_http_url(redirect_uri) and parts.path.endswith(CALLBACK_PATH):
        root = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path[: -len(CALLBACK_PATH)], "", ""))
    else:
        root = fallback_root
    return root.rstrip("/") + path + "#" + urllib.parse.urlencode({"token": id_token})


def _sign_in_body(signed_in: SignedIn, profile_complete: bool) -> dict:
    """The callback's JSON answer: the ID token to use as Bearer, and where to go next."""
    return {
        "id_token": signed_in.id_token,
        "token_type": "Bearer",
        "expires_in": max(0, int(signed_in.claims["exp"] - time.time())),
        "profile_complete": profile_complete,
        "next": None if profile_complete else PROFILE_ROUTE,
    }


@endpoint(
    bp, "/oidc/authenticate", ["GET", "POST"], public=True, tags=["identity"], status=302,
    summary="Start signing in (redirects to the provider)",
    description="302 to the provider's authorization endpoint (from its discovery document, or Google's; on "
    "a local stack without OIDC_* settings, the development sign-in page `/oidc/dev/authorize`): "
    "authorization code flow with `state` (single use, valid 10 minutes, bound to this browser by an HttpOnly "
    "SameSite=Lax login cookie the callback requires), `nonce` and PKCE S256. The "
    "provider sends the browser back to `/oidc/callback`. With `next=console` (the staff console's link) the "
    "callback hands the token to `/console` instead of answering JSON; any other `next` → 400 `invalid_next`.",
    query=[{"name": "next", "schema": {"type": "string", "enum": ["console"]},
            "description": "`console`: after sign-in, redirect to `/console#token=<id_token>`."}],
    response=RESPONSE + "LoginStart",
    response_headers={"Location": "The provider's authorization URL."},
    responses={502: "The provider's discovery document could not be read.",
               503: "OIDC_AUDIENCE is not set (and this is not a local stack)."},
)
def oidc_authenticate():
    from chalicelib.bootstrap import services
    from chalicelib.services import login

    request = bp.current_request
    next_target = (request.query_params or {}).get("next")
    started = login.start(_sign_in_provider(request), services().customers, _callback_uri(request), next_target)
    url = started.authorization_url
    cookie = login_cookie.set_cookie(_login_cookie_name(request), started.binding, max_age=login.STATE_TTL)
    return Reply({"authorization_url": url}, status=302, headers={"Location": url, "Set-Cookie": cookie, **NO_STORE})


@endpoint(
    bp, "/oidc/callback", ["GET"], public=True, tags=["identity"],
    summary="Finish signing in (the provider's redirect)",
    description="Checks `state`, exchanges `code` at the provider's token endpoint, verifies the ID token "
    "(and its nonce), creates or updates the customer. Use `id_token` as the Bearer token; `next` is the "
    "profile route while the phone number is missing. Bad, reused or expired state → 400 `invalid_state`; so is "
    "a callback without the login cookie `/oidc/authenticate` set in this browser (`__Host-ekiosk-login`; "
    "`ekiosk-login-local` on plain http to localhost), or with another sign-in's; the cookie is cleared. "
    "A sign-in started with `next=console` is answered with a 302 to `/console#token=<id_token>` instead.",
    query=[{"name": "code", "schema": {"type": "string"}}, {"name": "state", "schema": {"type": "string"}},
           {"name": "error", "schema": {"type": "string"}, "description": "Set by the provider on failure."}],
    response=RESPONSE + "LoginResult",
    responses={302: {"description": "Sign-in started with `next=console`: the token is handed to the console.",
                     "headers": {"Location": {"description": "`<base>/console#token=<id_token>`.",
                                              "schema": {"type": "string"}}}},
               401: "The provider's ID token was refused (`invalid_id_token`).",
               502: "The provider did not answer in time.",
               503: "OIDC_AUDIENCE is not set (and this is not a local stack)."},
)
def oidc_callback():
    from chalicelib.auth.tokens import get_verifier, identity_of
    from chalicelib.bootstrap import services
    from chalicelib.services import customers, login

    request = bp.current_request
    params = dict(request.query_params or {})
    name = _login_cookie_name(request)
    binding = login_cookie.value_in((request.headers or {}).get("cookie"), name)
    cleared = {"Set-Cookie": login_cookie.set_cookie(name, "", max_age=0), **NO_STORE}  # one use, like the state
    try:
        signed_in = login.finish(_sign_in_provider(request), services().customers, get_verifier(), params, binding)
    except DomainError as error:
        response = domain_error_response(error)
        response.headers.update(cleared)
        return response
    customer = customers.sign_in(services(), identity_of(signed_in.claims))
    if signed_in.hand_over:
        location = hand_over_location(signed_in.hand_over, signed_in.redirect_uri, _api_root(request),
                                      signed_in.id_token)
        return Response(body="", status_code=302, headers={"Location": location, **cleared})
    return Reply(_sign_in_body(signed_in, customer.profile_complete), headers=cleared)


def _text(name: str, description: str, **schema) -> dict:
    # No maxLength here: over-long values are a 400 `invalid_request` (2,048 characters each; email 254,
    # name 200), but documenting them would have fuzzers build URLs the server refuses with a 414.
    return {"name": name, "description": description, "schema": {"type": "string", **schema}}


DEV_AUTHORIZE_QUERY = [
    _text("response_type", "`code`.", enum=["code"]),
    _text("client_id", "The development client ID, `ekiosk-local`."),
    _text("redirect_uri", "Exactly this API's own `/oidc/callback` URL (as `/oidc/authenticate` sends it)."),
    _text("scope", "`openid email profile`."),
    _text("state", "Given back with the code."),
    _text("nonce", "Put into the ID token."),
    _text("code_challenge", "PKCE S256 challenge (43–128 characters)."),
    _text("code_challenge_method", "`S256`.", enum=["S256"]),
    _text("email", "Who signs in; absent → the form asking for it."),
    _text("login_hint", "Same as `email`."),
    _text("name", "Optional display name."),
]


@endpoint(
    bp, "/oidc/dev/authorize", ["GET"], public=True, tags=["identity"],
    summary="Development sign-in page (local stack without OIDC_* only)",
    description="The authorization endpoint of the local development issuer, where `/oidc/authenticate` "
    "sends the browser on a local stack without OIDC_* settings. Without `email` (or `login_hint`): a small "
    "HTML form asking for one. With it: 302 to `redirect_uri` with `code` (valid 5 minutes, bound to the "
    "email, nonce, PKCE challenge, redirect URI and client ID) and `state`. Anywhere else → 404 `not_found`.",
    query=DEV_AUTHORIZE_QUERY,
    response=str, media_type="text/html",
    responses={302: {"description": "Back to the callback with `code` and `state`.",
                     "headers": {"Location": {"description": "`<redirect_uri>?code=…&state=…`.",
                                              "schema": {"type": "string"}}}},
               404: "This stack does not use the development issuer."},
)
def oidc_dev_authorize():
    from chalicelib.api import dev_sign_in_page  # these two: only a local stack serves the page
    from chalicelib.auth import dev_provider
    from chalicelib.bootstrap import services

    request = bp.current_request
    settings = services().settings
    authorization = dev_provider.authorization_request(settings, dict(request.query_params or {}),
                                                       own_callback=_api_root(request) + CALLBACK_PATH)
    if authorization.email is not None:
        location = dev_provider.callback_with_code(settings, authorization)
        return Response(body="", status_code=302, headers={"Location": location, **NO_STORE})
    headers = {
        "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": dev_sign_in_page.DEV_PAGE_POLICY,
        "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
        **NO_STORE,
    }
    return Response(body=dev_sign_in_page.render(authorization.parameters), status_code=200, headers=headers)
