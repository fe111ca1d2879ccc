"""The customers table: one item per OIDC subject."""

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chalicelib.adapters.dynamodb.base import table


@table("customers")
class CustomerRecord(Model):
    class Meta:
        billing_mode = "PAY_PER_REQUEST"

    id = UnicodeAttribute(hash_key=True)  # the token's `sub`
    email = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    phone_number = UnicodeAttribute(null=True)  # E.164
    role = UnicodeAttribute(default="customer")
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
