"""The catalog's TransactWriteItems: items tagged so that cancellation reasons map back to what they were."""

from __future__ import annotations

from functools import partial

from pynamodb.exceptions import TransactWriteError

from chalicelib.adapters.dynamodb import retry
from chalicelib.adapters.dynamodb.catalog import (
    ProductRecord,
)

MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit for TransactWriteItems
ALL_OLD = "ALL_OLD"
# Cancellation reasons a caller sorts out (a condition refused, or a transient reason next to one).
REFUSALS = retry.RETRYABLE_REASONS | {"ConditionalCheckFailed"}


class CatalogTransaction:
    """TransactWriteItems items with a tag each, so refusals can be mapped back to what they were."""

    def __init__(self):
        self.deletes: list[tuple[dict, object]] = []
        self.puts: list[tuple[dict, object]] = []
        self.updates: list[tuple[dict, object]] = []

    def __len__(self) -> int:
        return len(self.deletes) + len(self.puts) + len(self.updates)

    def delete(self, record, tag, condition=None) -> None:
        self.deletes.append((record.get_delete_kwargs_from_instance(condition, ALL_OLD), tag))

    def put(self, record, tag, condition=None) -> None:
        self.puts.append((record.get_save_kwargs_from_instance(condition, ALL_OLD), tag))

    def update(self, record, tag, actions, condition=None) -> None:
        self.updates.append((record.get_update_kwargs_from_instance(actions, condition, ALL_OLD), tag))

    def commit(self) -> list[tuple[object, object]]:
        """[] on success, else [(tag, cancellation reason)] of the refusing items (reason None = busy)."""
        if len(self) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"a transaction holds at most {MAX_TRANSACTION_ITEMS} items, not {len(self)}")
        connection = ProductRecord._get_connection().connection
        token = retry.new_token()  # one per logical transaction: a repeat after an effective 500 is a no-op
        try:
            retry.call(partial(
                connection.transact_write_items,
                condition_check_items=[],
                delete_items=[kwargs for kwargs, _ in self.deletes],
                put_items=[kwargs for kwargs, _ in self.puts],
                update_items=[kwargs for kwargs, _ in self.updates],
                client_request_token=token,
            ), "catalog transaction")
        except TransactWriteError as error:
            if error.cause_response_code != "TransactionCanceledException":
                raise
            tags = [tag for _, tag in (*self.deletes, *self.puts, *self.updates)]
            refused = [
                (tag, reason) for tag, reason in zip(tags, error.cancellation_reasons, strict=False) if reason
            ]
            if any(reason.code not in REFUSALS for _, reason in refused):
                raise  # ValidationError: a bug, not a refusal
            return refused or [(None, None)]
        return []
