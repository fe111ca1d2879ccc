"""The emulator's hostility: AWS's documented failures, on demand (SPEC §10).

``EKIOSK_EMULATOR_FAULTS`` is a comma-separated list of ``name=value`` (or the profile ``aws``; later
entries win, so ``aws,seed=7`` works):

* ``transaction_conflict=p``, ``throttle=p``, ``internal_error=p``: error answers drawn per request
  at the request-dispatch level (``FaultState.before`` / ``after`` called by the emulator's
  serializing middleware), in exactly the shape AWS sends (JSON 1.0 ``__type`` for DynamoDB and SQS,
  which botocore 1.44 speaks JSON to (``awsQueryCompatible``, so the query error code goes in the
  ``x-amzn-query-error`` header as well); query-protocol XML for SES).
* ``index_lag_ms=n``: GSI ``Query``/``Scan`` run against the table as it was n ms ago (see
  ``IndexLag``; moto handler patches in emulator_patches).
* ``sqs_empty_receive=p``, ``sqs_duplicate=p``: moto SQS backend patches in emulator_patches.
* ``seed=n``: the random seed (default: random; printed at start).

What botocore retries by itself (botocore/data/_retry.json and botocore/retries/standard.py, standard
mode as the app configures it): ``ThrottlingException``, ``ProvisionedThroughputExceededException``
and any HTTP 500. It does not retry ``TransactionConflictException`` or
``TransactionCanceledException``: the app sees those at once. A 500 that came *after* the request
took effect is retried by the SDK, so the write happens again: exactly what AWS can do.

Tests schedule faults for the next matching request(s) through the control routes (``handle_control``):

    GET    /_ekiosk/faults          {"config", "injected", "iam": {"enforced", "denied"}}
    DELETE /_ekiosk/faults          reset the counters, the denial list and the script
    PUT    /_ekiosk/faults/config   {"faults": "throttle=0.5,seed=1"} replace the random configuration
    POST   /_ekiosk/faults/script   {"faults": [{"service", "operation", "fault", "times", "table",
                                     "queue", "after_effect", "partial"}]} append to the script
    GET    /_ekiosk/faults/script   what is still scheduled
    DELETE /_ekiosk/faults/script   drop what is scheduled

A scripted fault fires on the next request that matches it (service, and operation / table / queue
when given), ``times`` times (default 1), before any random draw, and is counted as injected.
"""

from __future__ import annotations

import copy
import json
import random
import re
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

PROBABILITIES = ("transaction_conflict", "throttle", "internal_error", "sqs_empty_receive", "sqs_duplicate")
INTEGERS = ("index_lag_ms", "seed")
FAULT_NAMES = PROBABILITIES + ("index_lag_ms",)
# A request carrying this header with "true" gets no fault drawn (errors, empty receives, duplicates): the test
# harness seeds and inspects through it (observing must not perturb); the app never sends it. Index lag still
# applies to its GSI reads.
OBSERVER_HEADER = "X-Ekiosk-Observer"
PROFILES = {
    "aws": {
        "transaction_conflict": 0.05,
        "throttle": 0.02,
        "internal_error": 0.01,
        "index_lag_ms": 500,
        "sqs_empty_receive": 0.3,
        "sqs_duplicate": 0.02,
    }
}

DDB = "com.amazonaws.dynamodb.v20120810#"
JSON_10 = "application/x-amz-json-1.0"

# Operations the faults apply to. Control-plane calls (CreateTable, CreateQueue, ...) are left alone,
# so that the stack's bootstrap is not what a fault test exercises.
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
DYNAMODB_DATA = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
     "TransactGetItems", "TransactWriteItems"}
)  # fmt: skip
SQS_DATA = frozenset(
    {"SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch",
     "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"}
)  # fmt: skip
SES_SEND = frozenset({"SendEmail", "SendRawEmail", "SendTemplatedEmail", "SendBulkTemplatedEmail"})


def parse_faults(text: str | None) -> dict[str, float | int]:
    """``"aws,seed=3"`` -> ``{..., "seed": 3}``. Raises ValueError on an unknown name or a bad value."""
    config: dict[str, float | int] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if part in PROFILES:
            config.update(PROFILES[part])
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep:
            raise ValueError(f"{part!r}: expected name=value or a profile ({', '.join(PROFILES)})")
        if name in PROBABILITIES:
            try:
                p = float(value)
            except ValueError:
                raise ValueError(f"{name}: {value!r} is not a probability") from None
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name}: {value!r} is not between 0 and 1")
            config[name] = p
        elif name in INTEGERS:
            try:
                n = int(value)
            except ValueError:
                raise ValueError(f"{name}: {value!r} is not an integer") from None
            if n < 0:
                raise ValueError(f"{name}: {value!r} is negative")
            config[name] = n
        else:
            raise ValueError(f"unknown fault {name!r} (known: {', '.join(PROBABILITIES + INTEGERS)})")
    return config


@dataclass
class Scripted:
    service: str
    fault: str
    operation: str | None = None
    times: int = 1
    table: str | None = None
    queue: str | None = None
    after_effect: bool | None = None
    partial: bool | None = None

    SERVICES = ("dynamodb", "sqs", "ses")

    @classmethod
    def from_json(cls, raw: Any) -> Scripted:
        if not isinstance(raw, dict):
            raise ValueError("each fault is an object")
        unknown = set(raw) - {"service", "operation", "fault", "times", "table", "queue", "after_effect", "partial"}
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        item = cls(
            service=str(raw.get("service", "")),
            fault=str(raw.get("fault", "")),
            operation=raw.get("operation"),
            times=int(raw.get("times", 1)),
            table=raw.get("table"),
            queue=raw.get("queue"),
            after_effect=raw.get("after_effect"),
            partial=raw.get("partial"),
        )
        if item.service not in cls.SERVICES:
            raise ValueError(f"service must be one of {cls.SERVICES}")
        if item.fault not in PROBABILITIES:
            raise ValueError(f"fault must be one of {PROBABILITIES}")
        if item.times < 1:
            raise ValueError("times must be >= 1")
        return item

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Call:
    """What the fault layer knows about one AWS request."""

    service: str | None
    action: str | None
    body: dict[str, Any] = field(default_factory=dict)
    observer: bool = False  # sent with OBSERVER_HEADER: no fault strikes it

    @property
    def tables(self) -> list[str]:
        body = self.body
        if "TableName" in body:
            return [body["TableName"]]
        if "RequestItems" in body and isinstance(body["RequestItems"], dict):
            return list(body["RequestItems"])
        names = []
        for item in body.get("TransactItems") or []:
            for op in item.values():
                if isinstance(op, dict) and "TableName" in op:
                    names.append(op["TableName"])
        return names

    @property
    def queue(self) -> str | None:
        url = self.body.get("QueueUrl") or self.body.get("QueueName")
        return url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) else None


@dataclass
class Injection:
    fault: str
    after_effect: bool = False
    partial: bool = False


class FaultState:
    """The configuration, the random source, the script and the counters. Used under the emulator's lock."""

    def __init__(self, config: dict[str, float | int] | None = None):
        self.injected: Counter[str] = Counter()
        self.denied: list[dict[str, str]] = []
        self.iam_enforced = False
        self.script: list[Scripted] = []
        self.current: Call = Call(None, None)
        self.configure(config or {})

    def configure(self, config: dict[str, float | int]) -> None:
        self.config = dict(config)
        seed = self.config.get("seed")
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
            self.seed_was_random = True
        else:
            self.seed_was_random = False
        self.seed = int(seed)
        self.rng = random.Random(self.seed)
        self.index_lag = IndexLag(int(self.config.get("index_lag_ms", 0)))

    @property
    def active(self) -> bool:
        return any(self.config.get(name) for name in FAULT_NAMES) or bool(self.script)

    def describe(self) -> str:
        shown = {k: v for k, v in self.config.items() if k != "seed"}
        return f"faults {shown or 'none'} (seed {self.seed}{', random' if self.seed_was_random else ''})"

    # --- draws --------------------------------------------------------------------------------

    def _scripted(self, fault: str, call: Call) -> Scripted | None:
        for item in self.script:
            if item.fault != fault or item.service != call.service:
                continue
            if item.operation and item.operation != call.action:
                continue
            if item.table and item.table not in call.tables:
                continue
            if item.queue and item.queue != call.queue:
                continue
            item.times -= 1
            if item.times <= 0:
                self.script.remove(item)
            return item
        return None

    def draw(self, fault: str, call: Call | None = None) -> Scripted | bool:
        """Whether ``fault`` strikes this request: a scripted entry, True (a random draw) or False."""
        call = call or self.current
        if call.observer:
            return False
        scripted = self._scripted(fault, call)
        if scripted is not None:
            return scripted
        p = float(self.config.get(fault, 0.0))
        return p > 0 and self.rng.random() < p

    def count(self, fault: str) -> None:
        self.injected[fault] += 1

    def choose(self, call: Call) -> Injection | None:
        """The error fault (if any) for this request, decided before it runs."""
        service, action = call.service, call.action
        if service == "dynamodb" and action in DYNAMODB_DATA:
            candidates = ["throttle", "internal_error"]
            if action in DYNAMODB_WRITES or action == "TransactWriteItems":
                candidates.insert(0, "transaction_conflict")
        elif (service == "sqs" and action in SQS_DATA) or (service == "ses" and action in SES_SEND):
            candidates = ["internal_error"]
        else:
            return None
        for fault in candidates:
            hit = self.draw(fault, call)
            if not hit:
                continue
            after = False
            partial = False
            if fault == "internal_error" and service in ("dynamodb", "sqs"):
                wanted = hit.after_effect if isinstance(hit, Scripted) else None
                after = self.rng.random() < 0.5 if wanted is None else bool(wanted)
            if fault == "throttle" and action in ("BatchGetItem", "BatchWriteItem"):
                wanted = hit.partial if isinstance(hit, Scripted) else None
                partial = self.rng.random() < 0.5 if wanted is None else bool(wanted)
            return Injection(fault, after, partial)
        return None

    # --- answers ------------------------------------------------------------------------------

    def error(self, call: Call, injection: Injection, environ: dict[str, Any]) -> tuple[str, list, bytes]:
        """The HTTP answer AWS gives for this fault: (status, headers, body)."""
        fault, service = injection.fault, call.service
        if service == "ses":
            return ses_error(500, "InternalFailure", "An internal error occurred.", "Receiver")
        if service == "sqs":
            return sqs_error(500, "com.amazon.coral.service#InternalFailure", "InternalError", "Receiver",
                             "We encountered an internal error. Please try again.")  # fmt: skip
        if fault == "internal_error":
            return dynamodb_error(500, DDB + "InternalServerError", "Internal server error")
        if fault == "throttle":
            if call.action == "TransactWriteItems":
                return self._cancelled(call, "ThrottlingError", "Throughput exceeds the current capacity for one or more global secondary indexes. DynamoDB is automatically scaling your index so please try again shortly.")  # noqa: E501
            if self.rng.random() < 0.5:
                return dynamodb_error(400, "com.amazon.coral.availability#ThrottlingException",
                                      "Rate of requests exceeds the allowed throughput.")  # fmt: skip
            return dynamodb_error(
                400, DDB + "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded. "
                "Consider increasing your provisioning level with the UpdateTable API.",
            )  # fmt: skip
        # transaction_conflict
        if call.action == "TransactWriteItems":
            return self._cancelled(call, "TransactionConflict", "Transaction is ongoing for the item")
        return dynamodb_error(400, DDB + "TransactionConflictException",
                              "Transaction is ongoing for the item")  # fmt: skip

    def _cancelled(self, call: Call, code: str, message: str) -> tuple[str, list, bytes]:
        count = max(1, len(call.body.get("TransactItems") or []))
        hit = {self.rng.randrange(count)}
        for i in range(count):  # "at least one item": sometimes more than one
            if self.rng.random() < 0.25:
                hit.add(i)
        reasons = [{"Code": code, "Message": message} if i in hit else {"Code": "None"} for i in range(count)]
        codes = ", ".join(r["Code"] for r in reasons)
        body = {
            "__type": DDB + "TransactionCanceledException",
            "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
            "CancellationReasons": reasons,
        }
        return "400 Bad Request", [("Content-Type", JSON_10)], json.dumps(body).encode()

    # --- batches throttled in part ------------------------------------------------------------

    def split_batch(self, call: Call) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(the part to run, the part to hand back as unprocessed), or None when there is one entry."""
        requests = call.body.get("RequestItems") or {}
        flat: list[tuple[str, Any]] = []
        for table, entry in requests.items():
            if call.action == "BatchGetItem":
                flat += [(table, key) for key in entry.get("Keys", [])]
            else:
                flat += [(table, item) for item in entry]
        if len(flat) < 2:
            return None
        keep = self.rng.randrange(1, len(flat))
        chosen = set(self.rng.sample(range(len(flat)), keep))
        run: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for i, (table, value) in enumerate(flat):
            target = run if i in chosen else rest
            if call.action == "BatchGetItem":
                options = {k: v for k, v in requests[table].items() if k != "Keys"}
                target.setdefault(table, {**options, "Keys": []})["Keys"].append(value)
            else:
                target.setdefault(table, []).append(value)
        return run, rest

    # --- the status document ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        config = dict(self.config)
        config["seed"] = self.seed
        return {
            "config": config,
            "injected": {name: self.injected.get(name, 0) for name in FAULT_NAMES},
            "iam": {"enforced": self.iam_enforced, "denied": list(self.denied)},
        }

    def reset(self) -> None:
        self.injected.clear()
        self.denied.clear()
        self.script.clear()


def dynamodb_error(status: int, type_: str, message: str) -> tuple[str, list, bytes]:
    reason = {400: "Bad Request", 500: "Internal Server Error"}.get(status, "Error")
    body = json.dumps({"__type": type_, "message": message}).encode()
    return f"{status} {reason}", [("Content-Type", JSON_10)], body


def sqs_error(status: int, type_: str, query_code: str, fault: str, message: str) -> tuple[str, list, bytes]:
    """SQS speaks JSON 1.0 to botocore with awsQueryCompatible: the query code rides in a header."""
    reason = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error"}.get(status, "Error")
    body = json.dumps({"__type": type_, "message": message}).encode()
    headers = [("Content-Type", JSON_10), ("x-amzn-query-error", f"{query_code};{fault}")]
    return f"{status} {reason}", headers, body


def ses_error(status: int, code: str, message: str, fault: str = "Sender") -> tuple[str, list, bytes]:
    reason = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error"}.get(status, "Error")
    body = (
        '<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
        f"<Error><Type>{fault}</Type><Code>{code}</Code><Message>{_xml(message)}</Message></Error>"
        f"<RequestId>{_request_id()}</RequestId></ErrorResponse>"
    ).encode()
    return f"{status} {reason}", [("Content-Type", "text/xml")], body


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _request_id() -> str:
    return str(uuid.uuid4())


_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/")


def credential_scope(environ: dict[str, Any]) -> tuple[str | None, str, str | None]:
    """(access key id, region, signing service) from the SigV4 Authorization header."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return None, "us-east-1", None
    return match.group(1), match.group(2), match.group(3)


def service_of(target: str, signing_service: str | None, action: str | None) -> str | None:
    if target.startswith("DynamoDB_"):
        return "dynamodb"
    if target.startswith("AmazonSQS."):
        return "sqs"
    if signing_service in ("ses", "email"):
        return "ses"
    return signing_service


# --- index lag -----------------------------------------------------------------------------------


class IndexLag:
    """A short history of item writes, so that a GSI read can see the table as it was n ms ago.

    For each (table, hash key, range key) written in the last n ms it keeps (when, the item before
    that write). A GSI Query/Scan swaps in, for each such key, the version before its oldest recent
    write (None: the item did not exist, so it is taken out), runs moto's own query, and swaps the
    current versions back; all under the emulator's lock, so nobody else sees the swap. The cost is
    the number of writes in the last n ms, not the table's size.
    """

    def __init__(self, lag_ms: int):
        self.lag = lag_ms / 1000.0
        self.writes: dict[tuple[str, Any, Any], deque[tuple[float, Any]]] = {}
        self._since_prune = 0

    def _prune(self, now: float) -> None:
        horizon = now - self.lag
        for key in [k for k, entries in self.writes.items() if entries[-1][0] <= horizon]:
            del self.writes[key]

    def before_write(self, table: Any, hash_value: Any, range_value: Any) -> tuple:
        """Returns a token for ``after_write``: the item before the write."""
        return (table, hash_value, range_value, copy.deepcopy(_get(table, hash_value, range_value)))

    def after_write(self, token: tuple) -> None:
        table, hash_value, range_value, before = token
        if _json_of(_get(table, hash_value, range_value)) == _json_of(before):
            return  # nothing changed (a failed condition, say)
        now = time.monotonic()
        self._since_prune += 1
        if self._since_prune >= 1000:  # without GSI reads, forget old writes now and then
            self._since_prune = 0
            self._prune(now)
        key = (table.name, hash_value, range_value)
        entries = self.writes.setdefault(key, deque())
        entries.append((now, before))
        horizon = now - self.lag
        while entries and entries[0][0] <= horizon and len(entries) > 1:
            entries.popleft()

    def lagged_view(self, table: Any) -> list[tuple[Any, Any, Any]] | None:
        """Puts the old versions in place; returns what ``restore`` needs (None: nothing lagging)."""
        now = time.monotonic()
        self._prune(now)
        horizon = now - self.lag
        swapped = []
        for (name, hash_value, range_value), entries in self.writes.items():
            if name != table.name:
                continue
            young = [before for at, before in entries if at > horizon]
            if not young:
                continue
            current = _get(table, hash_value, range_value)
            _place(table, hash_value, range_value, young[0])
            swapped.append((hash_value, range_value, current))
        return swapped or None

    @staticmethod
    def restore(table: Any, swapped: list[tuple[Any, Any, Any]]) -> None:
        for hash_value, range_value, current in reversed(swapped):
            _place(table, hash_value, range_value, current)


def _get(table: Any, hash_value: Any, range_value: Any) -> Any:
    if range_value is None:
        return table.items.get(hash_value)
    bucket = table.items.get(hash_value)  # not table.items[...]: it is a defaultdict
    return bucket.get(range_value) if bucket else None


def _json_of(item: Any) -> Any:
    return None if item is None else item.to_json()


def _place(table: Any, hash_value: Any, range_value: Any, item: Any) -> None:
    """Put ``item`` (or nothing) at this key of a moto table, without any of moto's bookkeeping."""
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    bucket = table.items.get(hash_value)
    if bucket is None:
        if item is None:
            return
        bucket = table.items[hash_value] = {}
    if item is None:
        bucket.pop(range_value, None)
        if not bucket:
            del table.items[hash_value]
    else:
        bucket[range_value] = item


# The one FaultState of this process (moto's backends are process-global too); set by the emulator.
STATE = FaultState()


def handle_control(state: FaultState, method: str, path: str, body: bytes) -> tuple[str, list, bytes]:
    """The /_ekiosk/faults routes (see the module docstring). The caller holds the emulator's lock."""

    def answer(status: str, document: Any) -> tuple[str, list, bytes]:
        return status, [("Content-Type", "application/json")], json.dumps(document).encode()

    def payload() -> Any:
        return json.loads(body or b"{}")

    path = path.rstrip("/")
    try:
        if path == "/_ekiosk/faults":
            if method == "GET":
                return answer("200 OK", state.status())
            if method == "DELETE":
                state.reset()
                return answer("200 OK", state.status())
        elif path == "/_ekiosk/faults/config" and method in ("PUT", "POST"):
            raw = payload().get("faults", "")
            state.configure(parse_faults(raw) if isinstance(raw, str) else parse_faults(
                ",".join(f"{k}={v}" for k, v in raw.items())))  # fmt: skip
            return answer("200 OK", state.status())
        elif path == "/_ekiosk/faults/script":
            if method == "POST":
                raw = payload()
                entries = raw.get("faults") if isinstance(raw, dict) else None
                items = [Scripted.from_json(entry) for entry in entries or []]
                state.script.extend(items)
                return answer("200 OK", {"script": [i.to_json() for i in state.script]})
            if method == "GET":
                return answer("200 OK", {"script": [i.to_json() for i in state.script]})
            if method == "DELETE":
                state.script.clear()
                return answer("200 OK", {"script": []})
        else:
            return answer("404 Not Found", {"message": f"no such route: {path}"})
    except (ValueError, TypeError, AttributeError) as exc:
        return answer("400 Bad Request", {"message": str(exc)})
    return answer("405 Method Not Allowed", {"message": f"{method} {path} is not supported"})


def call_of(
    target: str, action: str | None, body: bytes, form: bool, environ: dict[str, Any]
) -> tuple[Call, str | None, str]:
    """The Call of a request, with its access key id and region."""
    access_key, region, signing = credential_scope(environ)
    service = service_of(target, signing, action)
    params: dict[str, Any] = {}
    if target:
        try:
            loaded = json.loads(body or b"{}")
            params = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            params = {}
    elif form and body:
        from urllib.parse import parse_qsl

        params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return Call(service, action, params), access_key, region
