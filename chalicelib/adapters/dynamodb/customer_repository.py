"""Customers storage: PynamoDB behind a small interface (its dict-backed fake: tests/fakes/customers.py).

Also keeps the login flow's `state`s: `save_login_state` / `take_login_state` (single use: a conditional update
marks the state taken by one request, so of two concurrent callbacks with one state only one gets it, and a take
repeated after a 500 that had taken effect still knows it was its own).

Every request goes through chalicelib/adapters/dynamodb/retry.py. The writes are safe to repeat after a
500 that took effect: updates set absolute values; a conditional create that finds its own item reports
what it finds (the customer exists; the login state is the one just saved). A login state whose delete
took effect before a 500 reads as already taken: that sign-in is refused (400) and simply started again.
"""

from __future__ import annotations

import dataclasses
import uuid
from functools import partial

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.adapters.dynamodb import retry
from chalicelib.adapters.dynamodb.customers import (
    CUSTOMER_KIND,
    LOGIN_STATE_PREFIX,
    CustomerRecord,
    LoginStateRecord,
)
from chalicelib.adapters.dynamodb.pages import page
from chalicelib.domain.customers import Customer, LoginState, customer_not_found, login_state_exists

CUSTOMER_FIELDS = tuple(field.name for field in dataclasses.fields(Customer))
CONDITION_FAILED = "ConditionalCheckFailedException"


def _to_domain(record: CustomerRecord) -> Customer:
    return Customer(**{name: getattr(record, name) for name in CUSTOMER_FIELDS})


class DynamoCustomerRepository:
    def __init__(self, settings=None):
        pass  # models are bound to the stage by bootstrap.services()

    def get(self, customer_id: str) -> Customer | None:
        if not customer_id or customer_id.startswith(LOGIN_STATE_PREFIX):
            return None
        try:
            return _to_domain(retry.call(partial(CustomerRecord.get, customer_id, consistent_read=True), "GetItem"))
        except DoesNotExist:
            return None

    def create(self, customer: Customer) -> bool:
        """Stores a new customer; False if one with this id already exists (a concurrent first request)."""
        record = CustomerRecord(kind=CUSTOMER_KIND, **dataclasses.asdict(customer))
        try:
            retry.call(partial(record.save, condition=CustomerRecord.id.does_not_exist()), "PutItem customer")
        except PutError as error:
            if error.cause_response_code == CONDITION_FAILED:
                return False
            raise
        return True

    def update(self, customer_id: str, updated_at: str, **fields) -> Customer:
        """Sets (or, for None, removes) `fields` of an existing customer; NotFound if there is none."""
        record = CustomerRecord(id=customer_id)
        actions = [CustomerRecord.updated_at.set(updated_at)]
        for name, value in fields.items():
            attribute = getattr(CustomerRecord, name)
            actions.append(attribute.remove() if value is None else attribute.set(value))
        try:
            condition = CustomerRecord.id.exists() & CustomerRecord.email.exists()
            retry.call(partial(record.update, actions=actions, condition=condition), "UpdateItem customer")
        except UpdateError as error:
            if error.cause_response_code == CONDITION_FAILED:
                raise customer_not_found(customer_id) from None
            raise
        return _to_domain(record)

    def list(self, limit: int, cursor: str | None) -> tuple[list[Customer], str | None]:
        """Customers in sign-up order, one page at a time."""
        query = partial(CustomerRecord.by_kind.query, CUSTOMER_KIND)
        records, next_cursor = page(query, limit, cursor)
        return [_to_domain(record) for record in records], next_cursor

    def save_login_state(self, state: LoginState) -> None:
        record = LoginStateRecord(
            id=LOGIN_STATE_PREFIX + state.key,
            nonce=state.nonce,
            code_verifier=state.code_verifier,
            redirect_uri=state.redirect_uri,
            expires_at=state.expires_at,
            next=state.next,
            binding=state.binding,
        )
        try:
            retry.call(partial(record.save, condition=LoginStateRecord.id.does_not_exist()), "PutItem login state")
        except PutError as error:
            if error.cause_response_code != CONDITION_FAILED:
                raise
            if self._stored_nonce(record.id) != state.nonce:
                raise login_state_exists() from None
            # our own put, repeated after a 500 that had taken effect

    @staticmethod
    def _stored_nonce(record_id: str) -> str | None:
        try:
            return retry.call(partial(LoginStateRecord.get, record_id, consistent_read=True), "GetItem").nonce
        except DoesNotExist:
            return None

    def take_login_state(self, key: str) -> LoginState | None:
        """The state stored under `key`, taken in one conditional write; None if unknown or already taken. The
        taken record stays, marked, until the table's TTL removes it."""
        R = LoginStateRecord
        taker = uuid.uuid4().hex
        record = R(LOGIN_STATE_PREFIX + key)
        take = partial(record.update, actions=[R.taken_by.set(taker)],
                       condition=R.id.exists() & R.taken_by.does_not_exist())
        try:
            retry.call(take, "UpdateItem login state")  # the update reads the whole record back
        except UpdateError as error:
            if error.cause_response_code != CONDITION_FAILED:
                raise
            try:  # unknown, taken by another request, or taken by this one before a 500 that had taken effect
                record = retry.call(partial(R.get, record.id, consistent_read=True), "GetItem")
            except DoesNotExist:
                return None
            if record.taken_by != taker:
                return None
        return LoginState(
            key, record.nonce, record.code_verifier, record.redirect_uri, int(record.expires_at), record.next,
            record.binding,
        )
