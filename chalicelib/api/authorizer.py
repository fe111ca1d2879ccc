"""The one built-in Chalice authorizer: validates the Bearer ID token, nothing more.

It returns a policy that allows every route (API Gateway caches it per token) and passes the token's
identity in the context. The role is looked up from our own records on each request (api/caller.py),
so a role change applies from the user's next request.
"""

from chalice import AuthResponse, Blueprint, UnauthorizedError

from chalicelib.auth.tokens import bearer_token, get_verifier
from chalicelib.domain.errors import Unauthenticated

bp = Blueprint(__name__)


@bp.authorizer(ttl_seconds=300)
def bearer(auth_request):
    try:
        identity = get_verifier().identity(bearer_token(auth_request.token))
    except Unauthenticated:
        # API Gateway turns exactly this message into a 401.
        raise UnauthorizedError("Unauthorized") from None
    return AuthResponse(
        routes=["*"],
        principal_id=identity.sub,
        context={
            "sub": identity.sub,
            "email": identity.email,
            "name": identity.name or "",
            "email_verified": "true" if identity.email_verified else "false",
        },
    )
