"""Identity: the caller's profile (`/me`, alias `/update-profile`) and the login flow (`/oidc/*`)."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.responses import Reply, domain_error_response
from chalicelib.api.routing import API_PREFIX, endpoint
from chalicelib.domain.errors import DomainError, InvalidInput

bp = Blueprint(__name__)
# Views import what they use (services, pydantic-based parsing, jose) so the cold start stays small.

PROFILE_FIELDS = ("phone_number", "name")
NOT_SETTABLE = {
    "role": "not settable here (staff change roles through /admin/customers/{id})",
    "email": "not settable (it comes from the sign-in provider)",
    "id": "not settable",
}
NO_STORE = {"Cache-Control": "no-store"}

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
    from chalicelib.api.requests import json_object
    from chalicelib.services import customers

    fields = _profile_fields(json_object(bp.current_request))
    return customers.update_profile(caller.customer, fields)


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
    from chalicelib.auth import oidc_flow

    return oidc_flow.login_cookie_name(*_scheme_and_host(request))


def _callback_uri(request) -> str:
    """OIDC_REDIRECT_URI, or this API's own callback as the client reached it."""
    from chalicelib.bootstrap import services

    configured = services().settings.oidc_redirect_uri
    if configured:
        return configured
    return _api_root(request) + API_PREFIX + "/oidc/callback"


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
    from chalicelib.auth import oidc_flow
    from chalicelib.bootstrap import services

    request = bp.current_request
    next_target = (request.query_params or {}).get("next")
    binding = oidc_flow.new_binding()
    url = oidc_flow.start(
        services().settings, _callback_uri(request), services().customers, next_target=next_target,
        dev_authorization_endpoint=_api_root(request) + oidc_flow.DEV_AUTHORIZE_PATH, binding=binding,
    )
    cookie = oidc_flow.login_cookie(_login_cookie_name(request), binding)
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
    from chalicelib.auth import oidc_flow
    from chalicelib.auth.tokens import get_verifier, identity_of
    from chalicelib.bootstrap import services
    from chalicelib.services import customers

    request = bp.current_request
    params = dict(request.query_params or {})
    name = _login_cookie_name(request)
    binding = oidc_flow.cookie_value((request.headers or {}).get("cookie"), name)
    cleared = {"Set-Cookie": oidc_flow.login_cookie(name, "", max_age=0), **NO_STORE}  # one use, like the state
    try:
        result = oidc_flow.finish(services().settings, params, services().customers, get_verifier(), binding=binding)
    except DomainError as error:
        response = domain_error_response(error)
        response.headers.update(cleared)
        return response
    customer = customers.sign_in(identity_of(result["claims"]))
    if result["hand_over"]:
        location = oidc_flow.hand_over_location(
            result["hand_over"], result["redirect_uri"], _api_root(request), result["id_token"]
        )
        return Response(body="", status_code=302, headers={"Location": location, **cleared})
    body = oidc_flow.sign_in_response(result["id_token"], result["claims"], customer.profile_complete)
    return Reply(body, headers=cleared)


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
    from chalicelib.auth import oidc_flow
    from chalicelib.bootstrap import services

    request = bp.current_request
    kind, value = oidc_flow.dev_authorize(services().settings, dict(request.query_params or {}),
                                          own_callback=_api_root(request) + oidc_flow.CALLBACK_PATH)
    if kind == "redirect":
        return Response(body="", status_code=302, headers={"Location": value, **NO_STORE})
    headers = {
        "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": DEV_PAGE_POLICY,
        "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
        **NO_STORE,
    }
    return Response(body=value, status_code=200, headers=headers)


DEV_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
