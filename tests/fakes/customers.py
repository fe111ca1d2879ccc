"""The customers port in memory (customers and login states) over dicts."""

from __future__ import annotations

import dataclasses
import threading

from chalicelib.adapters.dynamodb.pages import decode_cursor, encode_cursor
from chalicelib.domain.customers import Customer, LoginState, customer_not_found, login_state_exists


class InMemoryCustomerRepository:
    """The same contract over dicts, for unit tests."""

    def __init__(self, settings=None):
        self.customers: dict[str, Customer] = {}
        self.login_states: dict[str, LoginState] = {}
        self._lock = threading.Lock()

    def get(self, customer_id: str) -> Customer | None:
        found = self.customers.get(customer_id)
        return dataclasses.replace(found) if found else None

    def create(self, customer: Customer) -> bool:
        with self._lock:
            if customer.id in self.customers:
                return False
            self.customers[customer.id] = dataclasses.replace(customer)
            return True

    def update(self, customer_id: str, updated_at: str, **fields) -> Customer:
        with self._lock:
            customer = self.customers.get(customer_id)
            if customer is None:
                raise customer_not_found(customer_id)
            for name, value in {**fields, "updated_at": updated_at}.items():
                setattr(customer, name, value)
            return dataclasses.replace(customer)

    def list(self, limit: int, cursor: str | None) -> tuple[list[Customer], str | None]:
        ordered = sorted(self.customers.values(), key=lambda c: (c.created_at, c.id))
        after = decode_cursor(cursor)
        if after:
            position = (after["created_at"]["S"], after["id"]["S"])
            ordered = [c for c in ordered if (c.created_at, c.id) > position]
        items = [dataclasses.replace(c) for c in ordered[:limit]]
        last = items[-1] if len(ordered) > limit else None
        next_cursor = encode_cursor({"created_at": {"S": last.created_at}, "id": {"S": last.id}}) if last else None
        return items, next_cursor

    def save_login_state(self, state: LoginState) -> None:
        with self._lock:
            stored = self.login_states.setdefault(state.key, state)
            if stored.nonce != state.nonce:  # the same save repeated is fine; another state is not
                raise login_state_exists()

    def take_login_state(self, key: str) -> LoginState | None:
        with self._lock:
            return self.login_states.pop(key, None)
