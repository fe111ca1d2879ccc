"""retry.py, the one DynamoDB retry policy: every transient code and cancellation reason is retried with
bounded, jittered backoff; business refusals and bugs pass straight through; exhaustion is a 503."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pynamodb.exceptions import (
    CancellationReason,
    DeleteError,
    GetError,
    PutError,
    QueryError,
    TransactWriteError,
    UpdateError,
    VerboseClientError,
)

from chalicelib.adapters.dynamodb import retry
from chalicelib.domain.attempts import BASE, CAP
from chalicelib.domain.errors import TryAgain

ALL_ERRORS = sorted(retry.RETRYABLE_ERRORS)
ALL_REASONS = sorted(retry.RETRYABLE_REASONS)
WRAPPERS = [PutError, UpdateError, DeleteError, GetError, QueryError]


def client_error(code: str, status: int = 400, reasons: list[str | None] | None = None,
                 operation: str = "UpdateItem") -> ClientError:
    response: dict = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r or "None"} for r in reasons]
    return ClientError(response, operation)


def pynamo_cancelled(reasons: list[str | None]) -> TransactWriteError:
    """What PynamoDB raises for a cancelled transaction: a VerboseClientError with parsed reasons, as `cause`."""
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}}, "TransactWriteItems", {},
        cancellation_reasons=[CancellationReason(code=r) if r else None for r in reasons],
    )
    return TransactWriteError("Failed to write transaction items", cause)


@pytest.fixture
def pauses(monkeypatch):
    """No real sleeping: every pause is recorded; the clock advances by the pause."""
    now = [0.0]
    recorded: list[float] = []

    def sleep(seconds):
        recorded.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(retry, "sleep", sleep)
    monkeypatch.setattr(retry, "clock", lambda: now[0])
    monkeypatch.setattr(retry, "uniform", lambda low, high: high)  # the longest pause jitter allows
    return recorded


def failing(*errors, result="ok"):
    """An operation that raises `errors` one per call, then returns `result`."""
    pending = list(errors)
    calls = []

    def operation():
        calls.append(1)
        if pending:
            raise pending.pop(0)
        return result

    operation.calls = calls
    return operation


@pytest.mark.parametrize("code", ALL_ERRORS)
def test_every_transient_error_code_is_retried(code, pauses):
    operation = failing(client_error(code, 500 if "Internal" in code else 400))
    assert retry.call(operation) == "ok"
    assert len(operation.calls) == 2 and len(pauses) == 1


@pytest.mark.parametrize("wrapper", WRAPPERS)
@pytest.mark.parametrize("code", ALL_ERRORS)
def test_pynamodb_wrapped_errors_are_unwrapped(wrapper, code, pauses):
    wrapped = wrapper("Failed", client_error(code))
    assert retry.error_code(wrapped) == code
    assert retry.call(failing(wrapped, wrapped)) == "ok"
    assert len(pauses) == 2


@pytest.mark.parametrize("reason", ALL_REASONS)
def test_every_retryable_cancellation_reason_is_retried(reason, pauses):
    raw = client_error("TransactionCanceledException", reasons=[None, reason, None], operation="TransactWriteItems")
    wrapped = pynamo_cancelled([reason, None])
    assert retry.cancellation_reasons(wrapped) == [reason, None]
    operation = failing(raw, wrapped)
    assert retry.call(operation) == "ok"
    assert len(operation.calls) == 3 and len(pauses) == 2


@pytest.mark.parametrize("make", [
    lambda reasons: client_error("TransactionCanceledException", reasons=reasons),
    pynamo_cancelled,
])
def test_conditional_check_failed_is_the_callers_business(make, pauses):
    cancelled = make(["TransactionConflict", "ConditionalCheckFailed", None])  # mixed: still business
    with pytest.raises(type(cancelled)) as caught:
        retry.call(failing(cancelled))
    assert caught.value is cancelled and pauses == []
    plain = UpdateError("Failed", client_error("ConditionalCheckFailedException"))
    with pytest.raises(UpdateError):
        retry.call(failing(plain))
    assert pauses == []


@pytest.mark.parametrize("error", [
    client_error("TransactionCanceledException", reasons=["ValidationError", None]),
    pynamo_cancelled(["ThrottlingError", "ValidationError"]),
    client_error("ValidationException"),
    client_error("ResourceNotFoundException"),
    client_error("AccessDeniedException"),
    ValueError("a bug"),
])
def test_bugs_and_permanent_errors_are_not_retried(error, pauses):
    with pytest.raises(type(error)):
        retry.call(failing(error))
    assert pauses == []


def test_connection_errors_and_5xx_statuses_are_transient(pauses):
    refused = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert retry.call(failing(refused, GetError("Failed", refused), client_error("Whatever", 503))) == "ok"
    assert len(pauses) == 3


def test_backoff_is_full_jitter_capped_and_exhaustion_is_a_503(pauses):
    endless = failing(*[client_error("ThrottlingException")] * 100)
    with pytest.raises(TryAgain) as caught:
        retry.call(endless, deadline=1_000)
    assert len(endless.calls) == retry.MAX_ATTEMPTS and len(pauses) == retry.MAX_ATTEMPTS - 1
    assert pauses == [min(CAP, BASE * 2 ** n) for n in range(1, retry.MAX_ATTEMPTS)]
    assert max(pauses) <= CAP and sum(pauses) < retry.DEADLINE
    assert (caught.value.status, caught.value.code) == (503, "try_again")


def test_jitter_draws_between_zero_and_the_exponential_bound(monkeypatch):
    draws = []
    monkeypatch.setattr(retry, "sleep", lambda s: None)
    monkeypatch.setattr(retry, "uniform", lambda low, high: draws.append((low, high)) or low)
    for attempt in range(1, 12):
        retry.pause(attempt)
    assert all(low == 0 for low, _ in draws)
    assert [high for _, high in draws] == [min(CAP, BASE * 2 ** n) for n in range(1, 12)]


def test_the_deadline_bounds_the_total_time(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(retry, "clock", lambda: now[0])
    monkeypatch.setattr(retry, "sleep", lambda s: now.__setitem__(0, now[0] + s))

    def slow_throttle():
        now[0] += 2.0  # each request takes 2 s
        raise client_error("ProvisionedThroughputExceededException")

    with pytest.raises(TryAgain):
        retry.call(slow_throttle, deadline=5.0)
    assert now[0] < 5.0 + 2.0 + CAP + 2.0  # no attempt starts after the deadline


def test_batch_get_asks_again_for_unprocessed_keys_with_backoff(pauses):
    sent = []
    key = {"id": {"S": "a"}}

    def send(items):
        sent.append(items)
        if len(sent) < 3:
            return {"Responses": {"t": []}, "UnprocessedKeys": {"t": {"Keys": [key], "ConsistentRead": True}}}
        return {"Responses": {"t": [{"id": {"S": "a"}, "v": {"N": "1"}}]}, "UnprocessedKeys": {}}

    found = retry.batch_get(send, {"t": {"Keys": [key, {"id": {"S": "b"}}], "ConsistentRead": True}})
    assert found == {"t": [{"id": {"S": "a"}, "v": {"N": "1"}}]}
    assert len(sent) == 3 and sent[1] == {"t": {"Keys": [key], "ConsistentRead": True}}
    assert len(pauses) == 2 and all(p > 0 for p in pauses)


def test_batch_write_retries_unprocessed_items_then_gives_up_with_503(pauses):
    item = {"PutRequest": {"Item": {"id": {"S": "a"}}}}
    calls = []

    def stubborn(items):
        calls.append(items)
        return {"UnprocessedItems": items}

    with pytest.raises(TryAgain):
        retry.batch_write(stubborn, {"t": [item]})
    assert len(calls) == retry.MAX_ATTEMPTS and len(pauses) == retry.MAX_ATTEMPTS - 1

    pauses.clear()
    answers = [{"UnprocessedItems": {"t": [item]}}, {"UnprocessedItems": {}}]
    retry.batch_write(lambda items: answers.pop(0), {"t": [item, item]})
    assert answers == [] and len(pauses) == 1


def test_batch_requests_that_fail_transiently_are_retried_too(pauses):
    answers = [client_error("ThrottlingException", operation="BatchGetItem"), {"Responses": {"t": []}}]

    def send(items):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert retry.batch_get(send, {"t": {"Keys": [{"id": {"S": "a"}}]}}) == {"t": []}
    assert len(pauses) == 1
