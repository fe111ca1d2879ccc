"""Customers storage: PynamoDB behind a small interface (the unit tests use a dict-backed fake)."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.adapters.dynamodb.customers import CustomerRecord
from chalicelib.domain.customers import Customer


def _to_domain(record: CustomerRecord) -> Customer:
    return Customer(
        id=record.id,
        email=record.email,
        name=record.name,
        phone_number=record.phone_number,
        role=record.role,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


class DynamoCustomerRepository:
    def __init__(self, settings=None):
        pass  # models are bound to the stage by bootstrap.services()

    def get(self, customer_id: str) -> Customer | None:
        try:
            return _to_domain(CustomerRecord.get(customer_id))
        except DoesNotExist:
            return None

    def create(self, customer: Customer) -> bool:
        """Stores a new customer; False if one with this id already exists."""
        record = CustomerRecord(**customer.__dict__)
        try:
            record.save(condition=CustomerRecord.id.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def update(self, customer_id: str, updated_at: str, **fields) -> Customer:
        record = CustomerRecord(id=customer_id)
        actions = [CustomerRecord.updated_at.set(updated_at)]
        for name, value in fields.items():
            attribute = getattr(CustomerRecord, name)
            actions.append(attribute.remove() if value is None else attribute.set(value))
        record.update(actions=actions, condition=CustomerRecord.id.exists())
        return _to_domain(record)


class InMemoryCustomerRepository:
    def __init__(self, settings=None):
        self.customers: dict[str, Customer] = {}

    def get(self, customer_id: str) -> Customer | None:
        found = self.customers.get(customer_id)
        return Customer(**found.__dict__) if found else None

    def create(self, customer: Customer) -> bool:
        if customer.id in self.customers:
            return False
        self.customers[customer.id] = Customer(**customer.__dict__)
        return True

    def update(self, customer_id: str, updated_at: str, **fields) -> Customer:
        customer = self.customers[customer_id]
        for name, value in {**fields, "updated_at": updated_at}.items():
            setattr(customer, name, value)
        return Customer(**customer.__dict__)
