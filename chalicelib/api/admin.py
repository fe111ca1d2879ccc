"""Staff management of customers: the list of profiles and role changes."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.pagination import list_page
from chalicelib.api.routing import endpoint
from chalicelib.domain.errors import InvalidInput

bp = Blueprint(__name__)
# The role change body is one field, checked by hand with its own messages (request_models.RoleChange documents it).


def _role_of(body: dict) -> str:
    """The body of a role change: exactly `{"role": "customer"|"admin"}`."""
    from chalicelib.domain.customers import ROLES

    details = {key: ["unknown field"] for key in body if key != "role"}
    role = body.get("role")
    if role not in ROLES:
        details["role"] = ["required, one of: " + ", ".join(ROLES)]
    if details:
        raise InvalidInput("the body must be {\"role\": \"customer\" or \"admin\"}", details=details,
                           code="validation_error")
    return role


# Models by name: pydantic is imported on use, not at cold start. The response model is also the serializer.
RESPONSE = "chalicelib.api.response_models.identity:"


@endpoint(bp, "/admin/customers", ["GET"], staff=True, tags=["admin"], summary="Customers (staff)",
          description="Every customer's profile (as in `/me`), in sign-up order.", query=["limit", "cursor"],
          response=RESPONSE + "ProfilePage")
def list_customers(caller):
    from chalicelib.bootstrap import services
    from chalicelib.services import customers

    page = list_page(bp.current_request, caller)
    items, position = customers.list_customers(services(), page.limit, page.position)
    return {"items": items, "next_cursor": page.next_cursor(position)}


@endpoint(bp, "/admin/customers/{customer_id}", ["GET"], staff=True, tags=["admin"],
          summary="One customer's profile (staff)", response=RESPONSE + "Profile")
def get_customer(caller, customer_id):
    from chalicelib.bootstrap import services
    from chalicelib.services import customers

    return customers.get_customer(services(), customer_id)


@endpoint(
    bp, "/admin/customers/{customer_id}", ["PATCH"], staff=True, tags=["admin"],
    summary="Set a customer's role (staff)",
    description="`{\"role\": \"customer\"|\"admin\"}`, anything else → 400. It applies from that customer's next "
    "request. An email in ADMIN_EMAILS is always staff: setting `customer` for it → 409 `role_set_by_configuration`.",
    body="chalicelib.api.request_models:RoleChange", response=RESPONSE + "Profile",
    responses={409: "The role is set by ADMIN_EMAILS."},
)
def change_role(caller, customer_id):
    from chalicelib.api.requests import json_object
    from chalicelib.bootstrap import services
    from chalicelib.services import customers

    role = _role_of(json_object(bp.current_request))
    return customers.set_role(services(), customer_id, role)
