"""Profiles and the login answers (SPEC §4)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.response_models.common import Id, Page, Strict

Role = Literal["customer", "admin"]


class Profile(Strict):
    id: Id
    email: str
    name: str | None
    phone_number: str | None = Field(description="E.164, e.g. +254711223344; null until set.")
    role: Role
    profile_complete: bool
    missing_fields: list[str] = Field(description='Fields still needed to order, e.g. ["phone_number"].')


ProfilePage = Page[Profile]  # GET /admin/customers


class LoginResult(Strict):
    id_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    profile_complete: bool
    next: str | None = Field(
        default=None, description="Where to go next, e.g. the profile route when the phone is missing."
    )


class LoginStart(Strict):
    authorization_url: str = Field(description="The provider's authorization endpoint (also in Location).")
