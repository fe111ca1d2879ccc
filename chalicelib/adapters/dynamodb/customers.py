"""The customers table: one item per OIDC subject, plus the short-lived login states of the OIDC flow."""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.adapters.dynamodb.base import table

CUSTOMER_KIND = "CUSTOMER"
LOGIN_STATE_PREFIX = "login-state#"  # never a customer id: those are issuer `sub`s without '#'


class CustomersByKind(GlobalSecondaryIndex):
    """Every customer in sign-up order, for the staff list (login states have no `kind`, so are not in it)."""

    class Meta:
        index_name = "by-kind"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class LoginStateRecord(Model):
    """One `state` of the login flow: single use (taken by a conditional update that marks it) and short-lived.

    The id is a hash of the state, so the table never holds a usable state. `expires_at` (epoch seconds)
    is checked on use and is the attribute for the table's TTL, which removes abandoned states.
    """

    class Meta:
        pass

    id = UnicodeAttribute(hash_key=True)
    nonce = UnicodeAttribute()
    code_verifier = UnicodeAttribute()
    redirect_uri = UnicodeAttribute()
    expires_at = NumberAttribute()
    next = UnicodeAttribute(null=True)  # where the callback hands the token over ("console"), else None
    binding = UnicodeAttribute(null=True)  # hash of the login cookie's value (services/login.py: login CSRF)
    # Set by the request that took the state: a take repeated after a 500 that had taken effect knows it was its own.
    taken_by = UnicodeAttribute(null=True)


@table("customers")
class CustomerRecord(Model):
    class Meta:
        billing_mode = "PAY_PER_REQUEST"
        companions = (LoginStateRecord,)
        ttl_attribute = "expires_at"  # only login states carry it

    id = UnicodeAttribute(hash_key=True)  # the token's `sub`
    kind = UnicodeAttribute(default=CUSTOMER_KIND)
    email = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    phone_number = UnicodeAttribute(null=True)  # E.164
    role = UnicodeAttribute(default="customer")
    role_source = UnicodeAttribute(null=True)  # "admin_emails" or "staff" while admin
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # What the customer's PENDING orders hold (SPEC §7 limits). Only the order transactions change
    # them (ADD on placement, ADD of the negative when an order leaves PENDING); absent means 0.
    pending_orders = NumberAttribute(null=True)
    pending_units = NumberAttribute(null=True)

    by_kind = CustomersByKind()
