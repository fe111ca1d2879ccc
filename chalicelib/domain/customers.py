"""Customers: roles and profile completeness."""

from __future__ import annotations

from dataclasses import dataclass

CUSTOMER = "customer"
ADMIN = "admin"
ROLES = (CUSTOMER, ADMIN)
REQUIRED_PROFILE_FIELDS = ("phone_number",)


@dataclass
class Customer:
    id: str
    email: str
    name: str | None
    phone_number: str | None
    role: str
    created_at: str
    updated_at: str

    @property
    def missing_fields(self) -> list[str]:
        return [field for field in REQUIRED_PROFILE_FIELDS if not getattr(self, field)]

    @property
    def profile_complete(self) -> bool:
        return not self.missing_fields

    def profile(self) -> dict:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "phone_number": self.phone_number,
            "role": self.role,
            "profile_complete": self.profile_complete,
            "missing_fields": self.missing_fields,
        }


def initial_role(email: str, admin_emails: tuple[str, ...]) -> str:
    return ADMIN if email.lower() in admin_emails else CUSTOMER
