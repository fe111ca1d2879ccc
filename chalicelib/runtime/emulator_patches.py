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


# --- fault injection (SPEC §10) -------------------------------------------------------------------
# The error faults (conflicts, throttling, 500s) are answered by the serializing middleware before or
# after moto runs; these patches add the three that need moto's state: GSI reads that lag behind
# writes, empty receives and duplicate deliveries. Each does nothing while its fault is off.

from moto.dynamodb.exceptions import ResourceNotFoundException  # noqa: E402

from chalicelib.runtime import emulator_faults  # noqa: E402

_FAULT_HANDLER_WRITES = ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items")
_FAULT_HANDLER_READS = ("query", "scan")
_fault_originals: dict[tuple[type, str], Any] = {}


def _written_keys(handler: DynamoHandler, name: str) -> list[tuple[Table, Any, Any]]:
    """(table, hash, range) of every item a write request names."""
    body, backend = handler.body, handler.dynamodb_backend
    named: list[tuple[str, dict[str, Any], bool]] = []  # (table, attributes, whole item?)
    if name in ("put_item", "update_item", "delete_item"):
        named.append((body["TableName"], body["Item"] if name == "put_item" else body["Key"], name == "put_item"))
    elif name == "batch_write_item":
        for table_name, requests in (body.get("RequestItems") or {}).items():
            for request in requests:
                if "PutRequest" in request:
                    named.append((table_name, request["PutRequest"]["Item"], True))
                elif "DeleteRequest" in request:
                    named.append((table_name, request["DeleteRequest"]["Key"], False))
    else:
        for item in body.get("TransactItems") or []:
            for op_type, op in item.items():
                if op_type == "Put":
                    named.append((op["TableName"], op["Item"], True))
                elif op_type in ("Update", "Delete"):
                    named.append((op["TableName"], op["Key"], False))
    keys = []
    for table_name, attributes, _ in named:
        table = backend.get_table(table_name)
        if not table.global_indexes:
            continue  # only GSI reads lag
        hash_value, range_value = backend.get_keys_value(table, attributes)
        keys.append((table, hash_value, range_value))
    return keys


def _lagging_write(name: str, original: Any) -> Any:
    def write(self: DynamoHandler) -> Any:
        lag = emulator_faults.STATE.index_lag
        if not lag.lag:
            return original(self)
        try:
            tokens = [lag.before_write(*key) for key in _written_keys(self, name)]
        except (KeyError, TypeError, ResourceNotFoundException, MockValidationException):
            tokens = []  # moto reports the bad request itself
        result = original(self)
        for token in tokens:
            lag.after_write(token)
        return result

    return write


def _lagging_read(original: Any) -> Any:
    def read(self: DynamoHandler) -> Any:
        lag = emulator_faults.STATE.index_lag
        index = self.body.get("IndexName")
        if not lag.lag or not index:
            return original(self)
        try:
            table = self.dynamodb_backend.get_table(self.body["TableName"])
        except (KeyError, ResourceNotFoundException):
            return original(self)
        if index not in {i.name for i in table.global_indexes}:
            return original(self)
        swapped = lag.lagged_view(table)
        if not swapped:
            return original(self)
        emulator_faults.STATE.count("index_lag_ms")
        try:
            return original(self)
        finally:
            lag.restore(table, swapped)

    return read


def receive_message_faulty(self: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> list[Message]:
    """sqs_empty_receive: a receive that would have found messages finds none (short polling's sampling)."""
    original = _fault_originals[(SQSBackend, "receive_message")]
    state = emulator_faults.STATE
    if state.config.get("sqs_empty_receive") or state.script:
        queue = self.queues.get(queue_name)
        has_visible = queue is not None and any(m.visible and not m.delayed for m in queue._messages)
        if has_visible and state.draw("sqs_empty_receive"):
            state.count("sqs_empty_receive")
            return []
    return original(self, queue_name, *args, **kwargs)


def delete_message_faulty(self: SQSBackend, queue_name: str, receipt_handle: str) -> None:
    """sqs_duplicate: the message is deleted, and a copy comes back once its visibility timeout ends."""
    original = _fault_originals[(SQSBackend, "delete_message")]
    state = emulator_faults.STATE
    copy_of = None
    if state.config.get("sqs_duplicate") or state.script:
        queue = self.queues.get(queue_name)
        if queue is not None:
            message = next((m for m in queue._messages if m.had_receipt_handle(receipt_handle)), None)
            if message is not None and state.draw("sqs_duplicate"):
                copy_of = copy.deepcopy(message)
    original(self, queue_name, receipt_handle)
    if copy_of is not None:
        copy_of.receipt_handle = None
        copy_of._old_receipt_handles = []  # the old handles stay deleted
        self.get_queue(queue_name)._messages.append(copy_of)
        state.count("sqs_duplicate")


def install_faults() -> bool:
    """Wrap moto for the state-dependent faults; returns whether it did (same moto versions as above)."""
    if moto.__version__ not in PATCHED_MOTO_VERSIONS:
        print(f"emulator: moto {moto.__version__}: index_lag_ms, sqs_empty_receive and sqs_duplicate are off",
              file=sys.stderr, flush=True)  # fmt: skip
        return False
    for name in ("receive_message", "delete_message"):
        _fault_originals.setdefault((SQSBackend, name), getattr(SQSBackend, name))
    # Wrap whatever moto's handler has now (install() may have replaced transact_write_items).
    for name in _FAULT_HANDLER_WRITES + _FAULT_HANDLER_READS:
        current = getattr(DynamoHandler, name)
        if getattr(current, "_ekiosk_fault", False):
            continue
        wrapper = _lagging_write(name, current) if name in _FAULT_HANDLER_WRITES else _lagging_read(current)
        wrapper._ekiosk_fault = True  # type: ignore[attr-defined]
        setattr(DynamoHandler, name, wrapper)
    SQSBackend.receive_message = receive_message_faulty  # type: ignore[method-assign]
    SQSBackend.delete_message = delete_message_faulty  # type: ignore[method-assign]
    return True
