"""Seeding products and customers for the order tests, straight into DynamoDB.

Products belong to the catalog area and phone numbers to the identity area; the order tests write
their records directly (ProductRecord / CustomerRecord shapes), so they do not depend on those
routes. `customer_session` uses PATCH /me when the stack has it.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
import uuid
from dataclasses import dataclass

import requests

from chalicelib.adapters.dynamodb.catalog import ProductRecord
from chalicelib.adapters.dynamodb.customers import CustomerRecord
from chalicelib.auth.dev_issuer import subject_for
from chalicelib.domain.clock import utc_now

_phones = itertools.count(1)
_phones_lock = threading.Lock()


def next_phone() -> str:
    with _phones_lock:
        return f"+2547{next(_phones) % 100_000_000:08d}"


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Seeder:
    """Writes ProductRecord / CustomerRecord items through a low-level DynamoDB client."""

    db: object  # a boto3 DynamoDB client
    stage: str = "local"

    @classmethod
    def for_endpoint(cls, endpoint_url: str, stage: str = "local") -> Seeder:
        import boto3

        from tests.support.stack import observed

        db = boto3.client(
            "dynamodb", endpoint_url=endpoint_url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        return cls(observed(db), stage)

    @classmethod
    def for_settings(cls, settings) -> Seeder:
        from chalicelib.adapters.aws import client

        return cls(client("dynamodb", settings), settings.stage)

    def table(self, name: str) -> str:
        return f"ekiosk-{self.stage}-{name}"

    def product(self, stock: int, price_cents: int = 1000, discount_price_cents: int | None = None,
                name: str | None = None, reserved: int = 0) -> str:
        product_id = unique("p")
        now = utc_now()
        name = name or f"Product {product_id}"
        record = ProductRecord(
            id=product_id, name=name, name_key=name.casefold(), category_id="c-orders-tests",
            path_key=f"/c-orders-tests/{product_id}", price_cents=price_cents,
            discount_price_cents=discount_price_cents, stock=stock, reserved=reserved,
            available=stock - reserved, created_at=now, updated_at=now,
        )
        self.db.put_item(TableName=self.table("products"), Item=record.serialize())
        return product_id

    def restock(self, product_id: str, amount: int) -> None:
        """What a catalog stock increase does: stock and available move together."""
        self.db.update_item(
            TableName=self.table("products"), Key={"id": {"S": product_id}},
            UpdateExpression="SET stock = stock + :n, available = available + :n",
            ExpressionAttributeValues={":n": {"N": str(amount)}},
        )

    def product_state(self, product_id: str) -> dict[str, int]:
        item = self.db.get_item(TableName=self.table("products"), Key={"id": {"S": product_id}},
                                ConsistentRead=True)["Item"]
        return {k: int(item[k]["N"]) for k in ("stock", "reserved", "available")}

    def pending_of(self, customer_id: str) -> tuple[int, int]:
        """(pending_orders, pending_units) of a customer, read consistently; (0, 0) if there is none."""
        from chalicelib.adapters.dynamodb.order_mappers import pending_counters

        item = self.db.get_item(TableName=self.table("customers"), Key={"id": {"S": customer_id}},
                                ConsistentRead=True).get("Item")
        return pending_counters(item)

    def customer(self, email: str, phone: str | None, role: str = "customer", customer_id: str | None = None) -> str:
        """Creates (or sets the phone of) the customer record that `email`'s dev token maps to."""
        customer_id = customer_id or subject_for(email)
        now = utc_now()
        record = CustomerRecord(id=customer_id, email=email.lower(), name=email.split("@")[0],
                                phone_number=phone, role=role, created_at=now, updated_at=now)
        try:
            self.db.put_item(TableName=self.table("customers"), Item=record.serialize(),
                             ConditionExpression="attribute_not_exists(id)")
        except self.db.exceptions.ConditionalCheckFailedException:
            if phone is None:
                self.db.update_item(TableName=self.table("customers"), Key={"id": {"S": customer_id}},
                                    UpdateExpression="REMOVE phone_number")
            else:
                self.db.update_item(TableName=self.table("customers"), Key={"id": {"S": customer_id}},
                                    UpdateExpression="SET phone_number = :p",
                                    ExpressionAttributeValues={":p": {"S": phone}})
        return customer_id

    def notifications_of(self, order_id: str) -> list[dict]:
        items = self.db.scan(
            TableName=self.table("notifications"), FilterExpression="order_id = :o",
            ExpressionAttributeValues={":o": {"S": order_id}}, ConsistentRead=True,
        )["Items"]
        return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


@functools.cache
def _dev_signer(data_dir: str) -> tuple:
    """The development issuer's key, parsed once (parsing an RSA key costs ~0.15 s), and its kid."""
    from jose import jwk

    from chalicelib.auth import dev_issuer
    from chalicelib.config import load_settings

    pem = dev_issuer._private_pem(load_settings({"EKIOSK_DATA_DIR": data_dir}))
    return jwk.construct(pem.decode(), "RS256"), dev_issuer._public_jwk(pem)["kid"]


def dev_token(stack, email: str) -> str:
    """The token `make token EMAIL=…` would print for this stack (same claims as dev_issuer.mint)."""
    from jose import jwt

    from chalicelib.auth import dev_issuer

    key, kid = _dev_signer(str(stack.data_dir))
    now = int(time.time())
    email = email.strip().lower()
    claims = {
        "iss": dev_issuer.ISSUER, "aud": dev_issuer.AUDIENCE, "sub": subject_for(email), "email": email,
        "email_verified": True, "name": email.split("@")[0], "iat": now, "exp": now + 3600,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def session_for(stack, email: str) -> requests.Session:
    """Like stack.session(email), without a subprocess per user."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {dev_token(stack, email)}"
    return session


def customer_session(stack, seeder: Seeder, email: str | None = None, phone: str | None = "auto") -> requests.Session:
    """A signed-in customer with a phone number (PATCH /me if the stack has it, else a direct write)."""
    email = email or f"{unique('buyer')}@ekiosk.test"
    session = session_for(stack, email)
    if phone == "auto":
        phone = next_phone()
    if phone is None:
        return session
    answer = session.patch(stack.api + "/me", json={"phone_number": phone}, timeout=30)
    if answer.status_code != 200:  # the identity routes are not there (yet)
        seeder.customer(email, phone)
    return session
