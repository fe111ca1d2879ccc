"""Customer use cases: just-in-time sign-in (creates the record on first sight)."""

from __future__ import annotations

from chalicelib.adapters.dynamodb.base import utc_now
from chalicelib.auth.tokens import Identity
from chalicelib.bootstrap import services
from chalicelib.domain.customers import ADMIN, Customer, initial_role


def sign_in(identity: Identity) -> Customer:
    """The caller's customer record, created from the token's claims if missing; email kept in sync."""
    repo = services().customers
    admin_emails = services().settings.admin_emails
    customer = repo.get(identity.sub)
    if customer is None:
        now = utc_now()
        candidate = Customer(
            id=identity.sub,
            email=identity.email,
            name=identity.name,
            phone_number=None,
            role=initial_role(identity.email, admin_emails),
            created_at=now,
            updated_at=now,
        )
        if repo.create(candidate):
            return candidate
        customer = repo.get(identity.sub)  # created concurrently by another request
    changes = {}
    if identity.email and customer.email != identity.email:
        changes["email"] = identity.email
    if customer.role != ADMIN and identity.email in admin_emails:
        changes["role"] = ADMIN
    if changes:
        customer = repo.update(customer.id, utc_now(), **changes)
    return customer
