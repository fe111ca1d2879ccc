"""EKIOSK_EMULATOR_IAM=enforce: each request is checked against the IAM policy of the function that signed it.

A small evaluator of identity-based policies, enough for the documents infra/generate.py writes:
Allow and Deny statements, ``Action``/``NotAction`` and ``Resource``/``NotResource`` with ``*`` and ``?``
wildcards (actions case-insensitive), and the ``String*`` condition operators. An explicit Deny wins;
without an Allow the answer is no (default deny).

What a request asks for, as IAM sees it (``requested``): DynamoDB's ``TransactWriteItems`` is
authorised item by item (``dynamodb:PutItem``, ``UpdateItem``, ``DeleteItem``, ``ConditionCheckItem`` on
each table), ``TransactGetItems`` as ``GetItem``; a ``Query``/``Scan`` of an index on
``table/NAME/index/INDEX``; SQS's batch actions as their single form (``SendMessageBatch`` needs
``sqs:SendMessage``); SES ``SendEmail`` on ``identity/<sender>`` with ``ses:FromAddress``.

Principals: the access key id of the request's signature (chalicelib/runtime/principals.py maps each
function to its key). An unknown key is the admin principal and is allowed everything: the bootstrap
creating tables and queues, tests' own clients, a developer's AWS CLI.

A refusal is answered as AWS answers it (``AccessDeniedException``: JSON for DynamoDB, JSON with the
``AccessDenied`` query code for SQS, XML ``AccessDenied`` for SES) and listed in ``GET /_ekiosk/faults``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from email.utils import parseaddr
from functools import lru_cache
from typing import Any

from chalicelib.runtime import principals
from chalicelib.runtime.emulator_faults import Call, dynamodb_error, ses_error, sqs_error

ACCOUNT = "123456789012"  # moto's default account


@lru_cache(maxsize=1024)
def _pattern(text: str, ignore_case: bool) -> re.Pattern[str]:
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(expression, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _pattern(pattern, ignore_case).fullmatch(value) is not None


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        negate = "Not" in operator
        base = operator.replace("IfExists", "").replace("Not", "")
        if base not in ("StringEquals", "StringLike", "StringEqualsIgnoreCase"):
            return False  # an operator this evaluator does not know: not satisfied
        for key, expected in tests.items():
            actual = next((v for k, v in context.items() if k.lower() == key.lower()), None)
            if actual is None:
                if operator.endswith("IfExists") or negate:
                    continue
                return False
            if base == "StringLike":
                found = any(matches(e, actual) for e in _listed(expected))
            elif base == "StringEqualsIgnoreCase":
                found = any(e.lower() == actual.lower() for e in _listed(expected))
            else:
                found = actual in _listed(expected)
            if found == negate:
                return False
    return True


def _statement_applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    if "Action" in statement:
        if not any(matches(a, action, ignore_case=True) for a in _listed(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(matches(a, action, ignore_case=True) for a in _listed(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        if not any(matches(r, resource) for r in _listed(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(matches(r, resource) for r in _listed(statement["NotResource"])):
            return False
    else:
        return False
    return _condition_holds(statement.get("Condition") or {}, context)


def evaluate(documents: Iterable[dict[str, Any]], action: str, resource: str,
             context: dict[str, str] | None = None) -> str:  # fmt: skip
    """``"Allow"``, ``"Deny"`` (an explicit Deny) or ``"ImplicitDeny"`` (no statement allows it)."""
    context = context or {}
    allowed = False
    for document in documents:
        statements = document.get("Statement", [])
        for statement in [statements] if isinstance(statements, dict) else statements:
            if not _statement_applies(statement, action, resource, context):
                continue
            if statement.get("Effect") == "Deny":
                return "Deny"
            if statement.get("Effect") == "Allow":
                allowed = True
    return "Allow" if allowed else "ImplicitDeny"


# --- what a request asks for ------------------------------------------------------------------------

_TRANSACT_WRITE = {
    "Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem",
}  # fmt: skip
_SQS_BATCH = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
              "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}  # fmt: skip


def requested(call: Call, region: str, account: str = ACCOUNT) -> list[tuple[str, str, dict[str, str]]]:
    """The (action, resource ARN, condition context) IAM checks for this request, in order."""
    body, action = call.body, call.action or ""
    if call.service == "dynamodb":

        def table(name: str, index: str | None = None) -> str:
            arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
            return f"{arn}/index/{index}" if index else arn

        if action == "TransactWriteItems":
            return [
                (f"dynamodb:{_TRANSACT_WRITE.get(op_type, op_type)}", table(op.get("TableName", "")), {})
                for item in body.get("TransactItems") or []
                for op_type, op in item.items()
            ]
        if action == "TransactGetItems":
            return [("dynamodb:GetItem", table(item.get("Get", {}).get("TableName", "")), {})
                    for item in body.get("TransactItems") or []]  # fmt: skip
        if action in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{action}", table(name), {}) for name in body.get("RequestItems") or {}]
        if "TableName" in body:
            return [(f"dynamodb:{action}", table(body["TableName"], body.get("IndexName")), {})]
        if "ResourceArn" in body:
            return [(f"dynamodb:{action}", body["ResourceArn"], {})]
        return [(f"dynamodb:{action}", "*", {})]
    if call.service == "sqs":
        name = call.queue
        resource = f"arn:aws:sqs:{region}:{account}:{name}" if name else "*"
        return [(f"sqs:{_SQS_BATCH.get(action, action)}", resource, {})]
    if call.service == "ses":
        if action in ("SendEmail", "SendRawEmail", "SendTemplatedEmail", "SendBulkTemplatedEmail"):
            sender = parseaddr(body.get("Source", ""))[1]
            return [(f"ses:{action}", f"arn:aws:ses:{region}:{account}:identity/{sender}", {"ses:FromAddress": sender})]
        return [(f"ses:{action}", "*", {})]
    return [(f"{call.service}:{action}", "*", {})]


class Enforcer:
    """Access key id -> (principal, policy); answers refusals in each service's shape."""

    def __init__(self, policies: dict[str, dict[str, Any]]):
        self.policies = policies  # principal -> policy document
        self.by_key = {principals.access_key(name): name for name in policies}

    @classmethod
    def for_local_stack(cls, stage: str | None = None) -> Enforcer:
        """The policies infra/ deploys, for the local stack's stage."""
        from infra.generate import FUNCTION_POLICIES, function_policy

        stage = stage or os.environ.get("STAGE") or "local"
        return cls({f.name: function_policy(f.name, stage) for f in FUNCTION_POLICIES})

    def describe(self) -> str:
        return ", ".join(f"{key} -> {name}" for key, name in self.by_key.items()) + " (any other key: admin)"

    def check(self, call: Call, access_key: str | None, region: str) -> tuple[dict[str, str], tuple] | None:
        """None when allowed; else (the denial to list, the HTTP answer)."""
        principal = self.by_key.get(access_key or "")
        if principal is None or call.service is None or call.action is None:
            return None  # the admin principal, or not an AWS API request
        for action, resource, context in requested(call, region):
            verdict = evaluate([self.policies[principal]], action, resource, context)
            if verdict != "Allow":
                return {"action": action, "resource": resource, "principal": principal}, access_denied(
                    call.service, principal, action, resource, verdict, region
                )
        return None


def access_denied(service: str, principal: str, action: str, resource: str, verdict: str,
                  region: str) -> tuple[str, list, bytes]:  # fmt: skip
    role = f"arn:aws:sts::{ACCOUNT}:assumed-role/ekiosk-{principal}/{principal}"
    why = "with an explicit deny in an identity-based policy" if verdict == "Deny" else (
        f"because no identity-based policy allows the {action} action")  # fmt: skip
    message = f"User: {role} is not authorized to perform: {action} on resource: {resource} {why}"
    if service == "sqs":
        return sqs_error(403, "com.amazon.coral.service#AccessDeniedException", "AccessDenied", "Sender", message)
    if service == "ses":
        return ses_error(403, "AccessDenied", message, "Sender")
    status, headers, _ = dynamodb_error(400, "com.amazon.coral.service#AccessDeniedException", message)
    return status, headers, json.dumps({"__type": "com.amazon.coral.service#AccessDeniedException",
                                        "Message": message}).encode()  # fmt: skip
