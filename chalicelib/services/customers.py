"""Customer use cases: just-in-time sign-in, the profile, and staff managing roles."""

from __future__ import annotations

from chalicelib.domain.clock import utc_now
from chalicelib.domain.customers import Customer, Identity, clean_name, new_customer, role_changes, sign_in_changes
from chalicelib.domain.errors import NotFound
from chalicelib.domain.phone import normalize_phone
from chalicelib.ports import Services


def sign_in(svc: Services, identity: Identity) -> Customer:
    """The caller's customer record, created from the token's claims if missing; email kept in sync.

    Race-safe: of concurrent first requests of one subject, one conditional put wins and the others
    read what it stored.
    """
    repo = svc.customers
    admin_emails = svc.settings.admin_emails
    customer = repo.get(identity.sub)
    if customer is None:
        candidate = new_customer(
            identity.sub, identity.email, identity.name, identity.email_verified, admin_emails, utc_now()
        )
        if repo.create(candidate):
            return candidate
        customer = repo.get(identity.sub)  # created concurrently by another request
    changes = sign_in_changes(customer, identity.email, identity.name, identity.email_verified, admin_emails)
    if changes:
        customer = repo.update(customer.id, utc_now(), **changes)
    return customer


def update_profile(svc: Services, customer: Customer, fields: dict) -> Customer:
    """Applies the profile fields the caller sent (`phone_number`, `name`), validated and normalized."""
    changes = {}
    if "phone_number" in fields:
        changes["phone_number"] = normalize_phone(fields["phone_number"], regions=svc.settings.phone_regions)
    if "name" in fields:
        changes["name"] = clean_name(fields["name"])
    if not changes:
        return customer
    return svc.customers.update(customer.id, utc_now(), **changes)


def get_customer(svc: Services, customer_id: str) -> Customer:
    customer = svc.customers.get(customer_id)
    if customer is None:
        raise NotFound("no such customer", details={"id": customer_id}, code="customer_not_found")
    return customer


def list_customers(svc: Services, limit: int, cursor: str | None) -> tuple[list[Customer], str | None]:
    return svc.customers.list(limit, cursor)


def set_role(svc: Services, customer_id: str, role: str) -> Customer:
    """Staff make a customer `admin` or `customer`; it applies from that customer's next request."""
    customer = get_customer(svc, customer_id)
    changes = role_changes(customer, role, svc.settings.admin_emails)
    if customer.role == changes["role"] and customer.role_source == changes["role_source"]:
        return customer
    return svc.customers.update(customer_id, utc_now(), **changes)
