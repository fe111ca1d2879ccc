"""Deterministic DynamoDB faults for tests, injected into a botocore client (no emulator support needed).

`StoreFaults(client).fail("UpdateItem", error("TransactionConflictException"))` makes the next UpdateItem
answer that error without reaching the store; `after_effect("TransactWriteItems")` lets the next one
take effect and then answers HTTP 500 (as AWS may); `unprocessed("BatchGetItem")` answers the next batch
with every key unprocessed. Each fault is used once; `calls` records every operation's parameters.
"""

from __future__ import annotations

import copy
from collections import defaultdict

from botocore.awsrequest import AWSResponse


def error(code: str, status: int = 400, reasons: list[str | None] | None = None) -> tuple[int, dict]:
    parsed: dict = {"Error": {"Code": code, "Message": f"injected {code}"},
                    "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}}}
    if reasons is not None:
        parsed["CancellationReasons"] = [{"Code": r or "None"} for r in reasons]
    return status, parsed


class StoreFaults:
    def __init__(self, *clients):
        self.clients = list(dict.fromkeys(clients))  # PynamoDB gives each model its own client
        self.faults: dict[str, list] = defaultdict(list)
        self.calls: dict[str, list[dict]] = defaultdict(list)
        self._params: dict[str, dict] = {}
        for client in self.clients:
            client.meta.events.register_first("provide-client-params.dynamodb.*", self._remember)
            client.meta.events.register_first("before-call.dynamodb.*", self._answer)

    def close(self) -> None:
        for client in self.clients:
            client.meta.events.unregister("provide-client-params.dynamodb.*", self._remember)
            client.meta.events.unregister("before-call.dynamodb.*", self._answer)

    def fail(self, operation: str, *answers: tuple[int, dict]) -> StoreFaults:
        self.faults[operation].extend(("error", answer) for answer in answers)
        return self

    def after_effect(self, operation: str) -> StoreFaults:
        self.faults[operation].append(("after", None))
        return self

    def unprocessed(self, operation: str) -> StoreFaults:
        self.faults[operation].append(("unprocessed", None))
        return self

    def _remember(self, params, model, **_):
        self._params[model.name] = copy.deepcopy(params)
        self.calls[model.name].append(copy.deepcopy(params))

    def _answer(self, model, **_):
        pending = self.faults.get(model.name)
        if not pending:
            return None
        kind, answer = pending.pop(0)
        params = self._params[model.name]
        if kind == "after":  # the request takes effect (through a clean client), the caller sees a 500
            self._clean_client()._make_api_call(model.name, params)
            answer = error("InternalServerError", 500)
        elif kind == "unprocessed":
            if model.name == "BatchGetItem":
                parsed = {"Responses": {t: [] for t in params["RequestItems"]},
                          "UnprocessedKeys": params["RequestItems"]}
            else:
                parsed = {"UnprocessedItems": params["RequestItems"]}
            answer = (200, {**parsed, "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}}})
        status, parsed = answer
        return AWSResponse("http://injected", status, {}, None), copy.deepcopy(parsed)

    def _clean_client(self):
        import boto3

        meta = self.clients[0].meta
        return boto3.session.Session().client(
            "dynamodb", region_name=meta.region_name, endpoint_url=meta.endpoint_url)
