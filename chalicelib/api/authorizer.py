"""The one built-in Chalice authorizer: validates the Bearer ID token and signs the subject in.

It returns a policy that allows every route (API Gateway caches it per token) and passes the token's
identity in the context, with the role the customer record had then (`role`, informational only).
Views never trust that role: the staff check reads our record on each request (api/caller.py), so a
role change applies from the user's next request.

A subject seen for the first time gets its customer record here (SPEC §4), whatever route it calls.
Locally every request runs the authorizer, so a short per-process memory of recent sign-ins keeps
that from costing a database read per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from chalice import AuthResponse, Blueprint, UnauthorizedError

from chalicelib.auth.tokens import Identity, bearer_token, get_verifier
from chalicelib.domain.errors import Unauthenticated

logger = logging.getLogger("ekiosk.auth")

bp = Blueprint(__name__)

# API Gateway caches the allow policy per token this long: a token is honoured at most this long past its `exp`.
POLICY_TTL = 60
RECENT_SIGN_INS = 10_000


class RecentSignIns:
    """Identities whose customer record was brought up to date less than `ttl` seconds ago."""

    def __init__(self, ttl: float = POLICY_TTL, size: int = RECENT_SIGN_INS, clock=time.monotonic):
        self._ttl, self._size, self._clock = ttl, size, clock
        self._seen: OrderedDict[Identity, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def role_of(self, identity: Identity) -> str | None:
        with self._lock:
            entry = self._seen.get(identity)
            if entry is None or entry[0] <= self._clock():
                return None
            return entry[1]

    def remember(self, identity: Identity, role: str) -> None:
        with self._lock:
            self._seen[identity] = (self._clock() + self._ttl, role)
            self._seen.move_to_end(identity)
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)


recent = RecentSignIns()


def sign_in(identity: Identity) -> str | None:
    """Creates or refreshes the caller's customer record; its role, or None if the store failed."""
    role = recent.role_of(identity)
    if role is not None:
        return role
    from chalicelib.bootstrap import services
    from chalicelib.services import customers

    try:
        role = customers.sign_in(services(), identity).role
    except Exception:  # the view will try again and answer with the envelope if the store is down
        logger.exception("sign-in of %s failed in the authorizer", identity.sub)
        return None
    recent.remember(identity, role)
    return role


@bp.authorizer(ttl_seconds=POLICY_TTL)
def bearer(auth_request):
    try:
        identity = get_verifier().identity(bearer_token(auth_request.token))
    except Unauthenticated:
        # API Gateway turns exactly this message into a 401.
        raise UnauthorizedError("Unauthorized") from None
    role = sign_in(identity)
    context = {
        "sub": identity.sub,
        "email": identity.email,
        "name": identity.name or "",
        "email_verified": "true" if identity.email_verified else "false",
    }
    if role:
        context["role"] = role
    return AuthResponse(routes=["*"], principal_id=identity.sub, context=context)
