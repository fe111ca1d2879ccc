"""Who is calling: the identity the authorizer verified, and (lazily) their customer record."""

from __future__ import annotations

from chalicelib.auth.tokens import Identity
from chalicelib.domain.errors import Forbidden, Unauthenticated


class Caller:
    def __init__(self, identity: Identity):
        self.identity = identity
        self._customer = None

    @classmethod
    def from_request(cls, request) -> Caller:
        context = (request.context or {}).get("authorizer") or {}
        if not context.get("sub"):
            raise Unauthenticated("not signed in")
        return cls(
            Identity(
                sub=context["sub"],
                email=context.get("email", ""),
                name=context.get("name") or None,
                email_verified=context.get("email_verified") == "true",
            )
        )

    @property
    def id(self) -> str:
        return self.identity.sub

    @property
    def customer(self):
        """The caller's customer record, created on first sight (SPEC §4: just in time)."""
        if self._customer is None:
            from chalicelib.bootstrap import services
            from chalicelib.services import customers

            self._customer = customers.sign_in(services(), self.identity)
        return self._customer

    @property
    def is_staff(self) -> bool:
        return self.customer.role == "admin"

    def require_staff(self) -> None:
        if not self.is_staff:
            raise Forbidden("staff only", code="forbidden")
