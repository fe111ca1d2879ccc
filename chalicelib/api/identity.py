"""Identity: the caller's profile (`/me`, alias `/update-profile`) and the login flow (`/oidc/*`)."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.responses import json_response
from chalicelib.api.routing import endpoint
from chalicelib.domain.errors import InvalidInput

bp = Blueprint(__name__)
# Views import what they use (services, pydantic-based parsing, jose) so the cold start stays small.

PROFILE_FIELDS = ("phone_number", "name")
NOT_SETTABLE = {
    "role": "not settable here (staff change roles through /admin/customers/{id})",
    "email": "not settable (it comes from the sign-in provider)",
    "id": "not settable",
}
NO_STORE = {"Cache-Control": "no-store"}


def _profile_fields(body: dict) -> dict:
    """The PATCH body's fields: only `phone_number` and `name`; anything else is a 400."""
    unknown = {key: [NOT_SETTABLE.get(key, "unknown field")] for key in body if key not in PROFILE_FIELDS}
    if unknown:
        raise InvalidInput("only phone_number and name can be changed", details=unknown, code="validation_error")
    return {key: body[key] for key in PROFILE_FIELDS if key in body}


def _me(caller):
    return json_response(caller.customer.profile())


def _update_me(caller):
    from chalicelib.api.requests import json_object  # pydantic, imported by it, stays out of the cold start
    from chalicelib.services import customers

    fields = _profile_fields(json_object(bp.current_request))
    return json_response(customers.update_profile(caller.customer, fields).profile())


@endpoint(bp, "/me", ["GET"])
def get_me(caller):
    return _me(caller)


@endpoint(bp, "/me", ["PATCH"])
def patch_me(caller):
    return _update_me(caller)


@endpoint(bp, "/update-profile", ["GET"])
def get_update_profile(caller):
    return _me(caller)


@endpoint(bp, "/update-profile", ["PATCH"])
def patch_update_profile(caller):
    return _update_me(caller)


def _callback_uri(request) -> str:
    """OIDC_REDIRECT_URI, or this API's own callback as the client reached it."""
    from chalicelib.bootstrap import services

    configured = services().settings.oidc_redirect_uri
    if configured:
        return configured
    headers = request.headers or {}
    host = headers.get("x-forwarded-host") or headers.get("host") or "localhost"
    local = host.split(":")[0] in ("127.0.0.1", "localhost")
    scheme = headers.get("x-forwarded-proto") or ("http" if local else "https")
    path = (request.context or {}).get("path") or "/api/v1/oidc/authenticate"
    base = path[: path.rindex("/oidc/")] if "/oidc/" in path else "/api/v1"
    return f"{scheme.split(',')[0].strip()}://{host.split(',')[0].strip()}{base}/oidc/callback"


@endpoint(bp, "/oidc/authenticate", ["GET", "POST"], public=True)
def oidc_authenticate():
    from chalicelib.auth import oidc_flow
    from chalicelib.bootstrap import services

    request = bp.current_request
    url = oidc_flow.start(services().settings, _callback_uri(request), services().customers)
    return Response(
        body={"authorization_url": url},
        status_code=302,
        headers={"Location": url, "Content-Type": "application/json", **NO_STORE},
    )


@endpoint(bp, "/oidc/callback", ["GET"], public=True)
def oidc_callback():
    from chalicelib.auth import oidc_flow
    from chalicelib.auth.tokens import get_verifier, identity_of
    from chalicelib.bootstrap import services
    from chalicelib.services import customers

    params = dict(bp.current_request.query_params or {})
    result = oidc_flow.finish(services().settings, params, services().customers, get_verifier())
    customer = customers.sign_in(identity_of(result["claims"]))
    body = oidc_flow.sign_in_response(result["id_token"], result["claims"], customer.profile_complete)
    return json_response(body, headers=NO_STORE)
