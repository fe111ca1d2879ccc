"""Patch moto's DynamoDB TransactWriteItems so that it costs O(items touched).

Why: moto 5.2.5's ``DynamoDBBackend.transact_write_items`` deep-copies every table a
transaction touches, so that it can roll back on failure. That costs 13 ms on an empty table
and more than a second at 20,000 items. The embedded emulator serves requests one at a time
(one global lock), so nothing else can see or change a table while a transaction runs. That
makes it safe to snapshot only the items the transaction touches (moto allows one operation per
item) and to put them back on failure. The function below is moto's own, with the table-level
backup replaced by ``_Undo``. Everything else stays as it was: all-or-nothing,
CancellationReasons in request order, ReturnValuesOnConditionCheckFailure, and validation
errors that cancel the whole request.

moto does not implement ``ClientRequestToken``. The handler wrapper adds DynamoDB's behaviour:
for 10 minutes after a successful transaction, the same token with the same items succeeds
without writing again. The same token with different items raises
IdempotentParameterMismatchException.

A second, smaller patch: moto's SQS ``ReceiveMessage`` checks each returned message's retention
period by computing *all* queue attributes, three of which walk every message in the queue. That
made receiving 10 messages cost 40 ms with 10 queued and 1.5 s with 1,000 queued, so the worker
slowed down exactly when a backlog built up. The replacement reads the one attribute it needs.

The patches are applied only to the moto version they were written against. For any other version,
``install()`` warns and leaves moto unchanged.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from typing import Any

import moto
from moto.core.responses import ActionResult
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ERROR_TYPE_PREFIX,
    ConditionalCheckFailed,
    DynamodbException,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.sqs.models import Message, SQSBackend

PATCHED_MOTO_VERSIONS = ("5.2.5",)
IDEMPOTENCY_WINDOW_SECONDS = 600.0

_original_backend_twi = DynamoDBBackend.transact_write_items
_original_handler_twi = DynamoHandler.transact_write_items
_original_retention_check = SQSBackend.is_message_valid_based_on_retention_period


class IdempotentParameterMismatch(DynamodbException):
    error_type = ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException"

    def __init__(self) -> None:
        super().__init__(
            self.error_type,
            message="ClientRequestToken was used with different TransactItems within the idempotency window",
        )


class _Undo:
    """Keeps the items a transaction is about to change and puts them back on rollback."""

    def __init__(self) -> None:
        self._saved: list[tuple[Table, DynamoType, DynamoType | None, bool, Item | None, int]] = []

    def snapshot(self, backend: DynamoDBBackend, table_name: str, key: dict[str, Any]) -> None:
        table = backend.get_table(table_name)
        hash_value, range_value = backend.get_keys_value(table, key)
        had_bucket = hash_value in table.items
        current = table.get_item(hash_value, range_value)
        stream_len = len(table.stream_shard.items) if table.stream_shard is not None else 0
        self._saved.append((table, hash_value, range_value, had_bucket, copy.deepcopy(current), stream_len))

    def rollback(self) -> None:
        for table, hash_value, range_value, had_bucket, item, stream_len in reversed(self._saved):
            if range_value is None:
                if item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
            else:
                bucket = table.items[hash_value]
                if item is None:
                    bucket.pop(range_value, None)
                else:
                    bucket[range_value] = item
                if not bucket and not had_bucket:
                    del table.items[hash_value]
            if table.stream_shard is not None:
                del table.stream_shard.items[stream_len:]
        self._saved.clear()


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = _Undo()  # moto: deep copy of every touched table

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[Any] = []  # [(Code, Message, Item), ..]
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            undo.rollback()  # moto leaves earlier writes in place here; we do not
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression,
                    expression_attribute_names,
                    expression_attribute_values,
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                undo.snapshot(self, table_name, key)
            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            undo.rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 - moto reports any other failure as a reason
            errors.append((type(e).__name__, str(e), original_item))

    if any(code is not None for code, _, _ in errors):
        undo.rollback()
        raise TransactionCanceledException(errors)


def handler_transact_write_items(self: DynamoHandler) -> ActionResult:
    token = self.body.get("ClientRequestToken")
    if not token:
        return _original_handler_twi(self)
    backend = self.dynamodb_backend
    # Kept on the backend object, so it is reset and persisted with the tables.
    tokens: dict[str, tuple[str, float]] = backend.__dict__.setdefault("_ekiosk_tx_tokens", {})
    now = time.time()
    for old in [t for t, (_, at) in tokens.items() if now - at >= IDEMPOTENCY_WINDOW_SECONDS]:
        del tokens[old]
    fingerprint = json.dumps(self.body.get("TransactItems"), sort_keys=True)
    if token in tokens:
        if tokens[token][0] != fingerprint:
            raise IdempotentParameterMismatch()
        return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
    result = _original_handler_twi(self)
    tokens[token] = (fingerprint, time.time())
    return result


def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Message) -> bool:
    """moto's check, reading MessageRetentionPeriod directly instead of every queue attribute."""
    retention_period = int(self.get_queue(queue_name).message_retention_period)
    return retention_period + message.sent_timestamp / 1000 > time.time()


def install() -> bool:
    """Apply the patch; returns whether the patched path is active."""
    if moto.__version__ not in PATCHED_MOTO_VERSIONS:
        print(
            f"emulator: moto {moto.__version__} is not one the transaction patch was written "
            f"for ({', '.join(PATCHED_MOTO_VERSIONS)}); using moto's own transact_write_items",
            file=sys.stderr,
            flush=True,
        )
        return False
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    DynamoHandler.transact_write_items = handler_transact_write_items  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    return True


def uninstall() -> None:
    DynamoDBBackend.transact_write_items = _original_backend_twi  # type: ignore[method-assign]
    DynamoHandler.transact_write_items = _original_handler_twi  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = _original_retention_check  # type: ignore[method-assign]


def installed() -> bool:
    return DynamoDBBackend.transact_write_items is transact_write_items
