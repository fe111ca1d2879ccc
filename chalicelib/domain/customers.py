"""Customers: roles, profile completeness and the rules that change them (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.errors import Conflict, InvalidInput, NotFound


@dataclass(frozen=True)
class Identity:
    """What a verified ID token says about its holder (never the role: that is ours)."""

    sub: str
    email: str
    name: str | None
    email_verified: bool

CUSTOMER = "customer"
ADMIN = "admin"
ROLES = (CUSTOMER, ADMIN)
REQUIRED_PROFILE_FIELDS = ("phone_number",)
NAME_MAX_LENGTH = 200

# Why a customer is admin: their email is in ADMIN_EMAILS, or a staff member made them so.
ROLE_FROM_CONFIG = "admin_emails"
ROLE_FROM_STAFF = "staff"


@dataclass
class Customer:
    id: str
    email: str
    name: str | None
    phone_number: str | None
    role: str
    created_at: str
    updated_at: str
    role_source: str | None = None

    @property
    def missing_fields(self) -> list[str]:
        return [field for field in REQUIRED_PROFILE_FIELDS if not getattr(self, field)]

    @property
    def profile_complete(self) -> bool:
        return not self.missing_fields

    @property
    def is_staff(self) -> bool:
        return self.role == ADMIN


def is_configured_admin(email: str, email_verified: bool, admin_emails: tuple[str, ...]) -> bool:
    """ADMIN_EMAILS grants staff only to an email the issuer says it verified."""
    return email_verified and bool(email) and email.lower() in admin_emails


def new_customer(sub: str, email: str, name: str | None, email_verified: bool, admin_emails, now: str) -> Customer:
    configured = is_configured_admin(email, email_verified, admin_emails)
    return Customer(
        id=sub,
        email=email,
        name=clean_token_name(name),
        phone_number=None,
        role=ADMIN if configured else CUSTOMER,
        role_source=ROLE_FROM_CONFIG if configured else None,
        created_at=now,
        updated_at=now,
    )


def sign_in_changes(customer: Customer, email: str, name: str | None, email_verified: bool, admin_emails) -> dict:
    """What a sign-in changes on an existing record: the email follows the token; ADMIN_EMAILS is applied.

    A role granted by ADMIN_EMAILS goes when the email leaves that list; a role staff granted stays.
    The name is taken from the token only while the customer has none (they may have chosen another).
    """
    changes: dict = {}
    if email and customer.email != email:
        changes["email"] = email
    configured = is_configured_admin(email or customer.email, email_verified, admin_emails)
    if configured and customer.role != ADMIN:
        changes.update(role=ADMIN, role_source=ROLE_FROM_CONFIG)
    elif customer.role == ADMIN and customer.role_source == ROLE_FROM_CONFIG and not configured and email_verified:
        changes.update(role=CUSTOMER, role_source=None)
    token_name = clean_token_name(name)
    if not customer.name and token_name:
        changes["name"] = token_name
    return changes


def role_changes(customer: Customer, role: str, admin_emails: tuple[str, ...]) -> dict:
    """What staff setting `role` changes; refused for a customer whom ADMIN_EMAILS makes staff."""
    if role not in ROLES:
        raise InvalidInput(
            "role must be customer or admin", details={"role": ["must be one of: customer, admin"]},
            code="validation_error",
        )
    if role == CUSTOMER and customer.email.lower() in admin_emails:
        raise Conflict(
            "this customer is staff through ADMIN_EMAILS; remove the email there to change the role",
            details={"role": ["set by ADMIN_EMAILS"]},
            code="role_set_by_configuration",
        )
    if role == ADMIN:
        return {"role": ADMIN, "role_source": ROLE_FROM_STAFF}
    return {"role": CUSTOMER, "role_source": None}


def clean_name(value: object, field: str = "name") -> str:
    """A profile name: a string of 1–200 characters once surrounding spaces are removed."""
    if not isinstance(value, str):
        raise InvalidInput("name must be a string", details={field: ["must be a string"]}, code="validation_error")
    name = value.strip()
    if not 1 <= len(name) <= NAME_MAX_LENGTH:
        raise InvalidInput(
            f"name must be 1–{NAME_MAX_LENGTH} characters",
            details={field: [f"must be 1–{NAME_MAX_LENGTH} characters"]},
            code="validation_error",
        )
    return name


def clean_token_name(value: object) -> str | None:
    """The token's `name` claim if usable as a profile name (cut to the maximum length), else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:NAME_MAX_LENGTH]


@dataclass(frozen=True)
class LoginState:
    """One sign-in in progress (the OIDC `state`), kept by CustomerStore until its callback takes it."""

    key: str  # a hash of the state, never the state itself
    nonce: str
    code_verifier: str
    redirect_uri: str
    expires_at: int
    next: str | None = None  # the fixed hand-over target ("console"), or None for the JSON answer
    binding: str | None = None  # a hash of the login cookie's value: the browser that started this login


# The errors every CustomerStore raises.
def customer_not_found(customer_id: str) -> NotFound:
    return NotFound("no such customer", details={"id": customer_id}, code="customer_not_found")


def login_state_exists() -> Conflict:
    return Conflict("another login is stored under this state", code="login_state_exists")
