"""The one retry policy for DynamoDB: which failures are transient, how long to back off, when to give up.

Every DynamoDB request the app makes goes through `call` (single requests and transactions) or through
`batch_get` / `batch_write` (batches, which also back off on unprocessed keys and items). A failure
that outlasts the policy becomes `TryAgain`, which the API answers with 503 `try_again` and the error
envelope; nothing transient ever reaches a client as a 500.

Two layers, both bounded:
* botocore's own retries (mode "standard", `BOTOCORE_TOTAL_ATTEMPTS` attempts per request, including
  the first) for throttling, 5xx answers and connection errors: set on every client, the boto3 ones
  (chalicelib/adapters/aws.py) and PynamoDB's (chalicelib/adapters/dynamodb/base.py);
* this module's, around whole operations: every code of `RETRYABLE_ERRORS`, and a
  `TransactionCanceledException` whose reasons are all in `RETRYABLE_REASONS`, is retried with full
  jitter (a random pause in [0, min(CAP, BASE * 2**attempt)], domain/attempts.py) for at most
  `MAX_ATTEMPTS` attempts and `DEADLINE` seconds — well inside API Gateway's 29 s and the Lambda timeouts.

What is not transient passes through unchanged: a cancellation with a `ConditionalCheckFailed` reason
(or `ConditionalCheckFailedException`) is the caller's business (stock short, name taken, record
finished elsewhere, …); `ValidationError` / `ValidationException` is a bug and must not be retried.

THE RULE FOR NON-IDEMPOTENT WRITES. A 500 (or a timeout) may come *after* the write took effect
(DynamoDB cannot say which), and both retry layers then send it again. So every write must be safe to
apply twice:
* Transactions carry a `ClientRequestToken`. botocore fills one in per API call (its own retries
  reuse it); for this module's retries of the same logical transaction pass one explicit token
  (`new_token()`, created once, before the loop) so that DynamoDB answers the repeat from its
  10-minute idempotency window instead of applying it again.
* Single-item writes that are not idempotent (`ADD n`, `SET x = x + :n`, `attempts = attempts + 1`)
  must be conditional on the expected current value (a version, the value read, a lease stamp
  unique to this attempt), so that a repeat after an effective 500 fails its condition; on that
  failure, re-read the item and decide whether *our* write took effect (the stamp is there) before
  treating it as a refusal. Writes that set absolute values (`SET price = :p`) are idempotent.
* A counter that only needs to be unique, not gap-free (order number blocks), may simply be retried:
  a repeat wastes a block, it never hands out a number twice.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from typing import TypeVar

from chalicelib.domain.attempts import DEADLINE, Attempts, jitter_bound
from chalicelib.domain.errors import TryAgain

logger = logging.getLogger("ekiosk.dynamodb")

T = TypeVar("T")

BOTOCORE_TOTAL_ATTEMPTS = 3  # botocore "standard" mode, per request, the first one included
MAX_ATTEMPTS = 8  # this module's attempts per operation

# Error codes of a whole request failing transiently (nothing happened, or a 5xx that may have).
RETRYABLE_ERRORS = frozenset({
    "TransactionConflictException",  # a single-item write on an item a transaction holds
    "TransactionInProgressException",  # a transaction with the same token is still running
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "InternalServerError",  # HTTP 500: may have taken effect (see the rule above)
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
})
# Cancellation reasons of a TransactionCanceledException that a retry can get past.
RETRYABLE_REASONS = frozenset({
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
    "InternalServerError",
})
BUSINESS_REASONS = frozenset({"ConditionalCheckFailed"})  # the caller decides
CANCELED = "TransactionCanceledException"

# Injectable for tests: no real sleeping, a controllable clock, a fixed random draw.
sleep: Callable[[float], None] = time.sleep
clock: Callable[[], float] = time.monotonic
uniform: Callable[[float, float], float] = random.uniform


def new_token() -> str:
    """A ClientRequestToken for one logical transaction, reused by every retry of it."""
    return str(uuid.uuid4())


def _client_error(error: BaseException):
    """The botocore ClientError inside `error` (PynamoDB wraps it as `cause`), or None."""
    from botocore.exceptions import ClientError

    seen = 0
    while error is not None and seen < 4:
        if isinstance(error, ClientError):
            return error
        error = getattr(error, "cause", None) or error.__cause__
        seen += 1
    return None


def error_code(error: BaseException) -> str | None:
    client_error = _client_error(error)
    if client_error is None:
        return None
    return client_error.response.get("Error", {}).get("Code")


def cancellation_reasons(error: BaseException) -> list[str | None]:
    """The reason code per item of a cancelled transaction (None: that item was fine)."""
    client_error = _client_error(error)
    if client_error is None:
        return []
    reasons = client_error.response.get("CancellationReasons")
    if reasons is None:  # PynamoDB's VerboseClientError keeps them parsed
        reasons = [{"Code": r.code} if r else None for r in (getattr(client_error, "cancellation_reasons", None) or [])]
    codes = []
    for reason in reasons:
        code = (reason or {}).get("Code")
        codes.append(None if code in (None, "None") else code)
    return codes


def is_transient(error: BaseException) -> bool:
    """Whether trying the same request again can succeed (and is what the caller would want)."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    if isinstance(error, BotoConnectionError | HTTPClientError):
        return True
    cause = getattr(error, "cause", None)
    if cause is not None and isinstance(cause, BotoConnectionError | HTTPClientError):
        return True
    client_error = _client_error(error)
    if client_error is None:
        return False
    code = error_code(error)
    if code == CANCELED:
        reasons = {r for r in cancellation_reasons(error) if r is not None}
        return bool(reasons) and reasons <= RETRYABLE_REASONS
    if code in RETRYABLE_ERRORS:
        return True
    status = client_error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return status >= 500


def pause(attempt: int) -> float:
    """Full jitter: a random pause in [0, min(CAP, BASE * 2**attempt)] (attempt counts from 1)."""
    delay = uniform(0, jitter_bound(attempt))
    sleep(delay)
    return delay


def _exhausted(what: str, error: BaseException | None) -> TryAgain:
    logger.warning("dynamodb: %s still failing after every retry: %s", what, error_code(error) if error else "")
    return TryAgain("the store is busy; please try again")


def attempts(what: str, max_attempts: int = MAX_ATTEMPTS, deadline: float = DEADLINE) -> Attempts:
    """The domain's bounded loop, paced by this module's (test-injectable) sleep, clock and jitter."""
    return Attempts(what, max_attempts, deadline, pause=lambda attempt: pause(attempt), clock=lambda: clock())


def call(operation: Callable[[], T], what: str = "request", *, max_attempts: int = MAX_ATTEMPTS,
         deadline: float = DEADLINE) -> T:
    """`operation()` until it succeeds or fails with something not transient; TryAgain when exhausted."""
    last: BaseException | None = None
    for attempt in attempts(what, max_attempts, deadline):
        try:
            return operation()
        except Exception as error:
            if not is_transient(error):
                raise
            last = error
            logger.info("dynamodb: %s attempt %d hit %s; retrying", what, attempt, error_code(error) or error)
    raise _exhausted(what, last)


# --- batches: unprocessed keys and items are retried with the same backoff


def batch_get(send: Callable[[dict], dict], request_items: dict[str, dict], what: str = "BatchGetItem") -> dict:
    """BatchGetItem through `send(RequestItems) -> response` until no key is left unprocessed.

    `request_items` is DynamoDB's RequestItems (at most 100 keys in all); returns {table: [items]}."""
    found: dict[str, list[dict]] = {}
    pending = {table: dict(spec) for table, spec in request_items.items() if spec.get("Keys")}
    if not pending:
        return found
    for _ in attempts(what):
        response = call(partial(send, pending), what)
        for table, items in (response.get("Responses") or {}).items():
            found.setdefault(table, []).extend(items)
        pending = {table: spec for table, spec in (response.get("UnprocessedKeys") or {}).items() if spec.get("Keys")}
        if not pending:
            return found
        logger.info("dynamodb: %s left %d keys unprocessed", what, sum(len(s["Keys"]) for s in pending.values()))
    raise _exhausted(what + " (unprocessed keys)", None)


def batch_write(send: Callable[[dict], dict], request_items: dict[str, list], what: str = "BatchWriteItem") -> None:
    """BatchWriteItem through `send(RequestItems) -> response` until no item is left unprocessed."""
    pending = {table: list(requests) for table, requests in request_items.items() if requests}
    if not pending:
        return
    for _ in attempts(what):
        response = call(partial(send, pending), what)
        pending = {table: items for table, items in (response.get("UnprocessedItems") or {}).items() if items}
        if not pending:
            return
        logger.info("dynamodb: %s left %d items unprocessed", what, sum(len(i) for i in pending.values()))
    raise _exhausted(what + " (unprocessed items)", None)


def chunks(values: Iterable, size: int):
    chunk = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def model_batch_get(model, hash_keys: Iterable[str], consistent_read: bool = True,
                    attributes_to_get: list[str] | None = None) -> list:
    """PynamoDB's `Model.batch_get` (hash keys only), with backoff on unprocessed keys and a bound.

    (PynamoDB's own loops on unprocessed keys with no pause and no limit.)"""
    attribute = model._hash_key_attribute()
    table = model.Meta.table_name
    client = model._get_connection().connection.client
    records = []
    for chunk in chunks(sorted(set(hash_keys)), 100):
        keys = [{attribute.attr_name: {attribute.attr_type: attribute.serialize(key)}} for key in chunk]
        spec: dict = {"Keys": keys, "ConsistentRead": consistent_read}
        if attributes_to_get:
            names = {f"#a{i}": name for i, name in enumerate(attributes_to_get)}
            spec["ProjectionExpression"] = ", ".join(names)
            spec["ExpressionAttributeNames"] = names
        found = batch_get(lambda items: client.batch_get_item(RequestItems=items), {table: spec},
                          f"BatchGetItem {model.__name__}")
        records += [model.from_raw_data(item) for item in found.get(table, [])]
    return records


def model_batch_put(model, records: Iterable) -> None:
    """PutRequests for `records` of `model`, 25 a request, with backoff on unprocessed items."""
    table = model.Meta.table_name
    client = model._get_connection().connection.client
    for chunk in chunks(records, 25):
        batch_write(lambda items: client.batch_write_item(RequestItems=items),
                    {table: [{"PutRequest": {"Item": record.serialize()}} for record in chunk]},
                    f"BatchWriteItem {model.__name__}")
