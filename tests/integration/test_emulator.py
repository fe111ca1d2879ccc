"""The embedded AWS emulator over HTTP: atomicity under concurrency, transaction semantics
through the patched path (and, for comparison, moto's own), and SQS long polls.

Persistence is tested in test_emulator_persistence.py.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.runtime import emulator_patches
from chalicelib.runtime.emulator import Emulator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# No retries: a 500 (or anything else) must reach the test instead of being retried away.
NO_RETRY = Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=60)
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module", autouse=True)
def dummy_credentials():
    with pytest.MonkeyPatch.context() as mp:
        for key, value in DUMMY_ENV.items():
            mp.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"):
            mp.delenv(key, raising=False)
        yield


def client(url: str, service: str) -> Any:
    # One session per client: boto3's default session is not thread-safe.
    return boto3.session.Session(region_name="us-east-1").client(service, endpoint_url=url, config=NO_RETRY)


class EmulatorProcess:
    """``python -m chalicelib.runtime.emulator`` in a subprocess, on a free port."""

    def __init__(self, *extra: str):
        cmd = [sys.executable, "-m", "chalicelib.runtime.emulator", "--host", "127.0.0.1", "--port", "0", *extra]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout], daemon=True).start()
        self.stderr: list[str] = []
        self._stderr_reader = threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True)
        self._stderr_reader.start()
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError(f"emulator did not start: {''.join(self.stderr)}") from None
        assert line.startswith("emulator ready on http://127.0.0.1:"), line
        self.url = line.split()[-1]

    def terminate(self, signum: int = signal.SIGTERM) -> tuple[int, float]:
        t0 = time.monotonic()
        self.proc.send_signal(signum)
        rc = self.proc.wait(timeout=10)
        took = time.monotonic() - t0
        self._stderr_reader.join(timeout=5)
        return rc, took


@pytest.fixture(scope="module")
def server():
    emu = EmulatorProcess()
    yield emu
    rc, took = emu.terminate()
    assert rc == 0 and took < 3, (rc, took, "".join(emu.stderr))


def create_table(url: str, name: str, range_key: bool = False) -> None:
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "S"})
    client(url, "dynamodb").create_table(
        TableName=name, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST"
    )


def S(value: str) -> dict[str, str]:
    return {"S": value}


def N(value: int) -> dict[str, str]:
    return {"N": str(value)}


# --- concurrency -------------------------------------------------------------------------------


def test_conditional_transactions_race_is_exact(server):
    """40 clients race for 10 units of each of three products, 10 times: never oversold, no 500s."""
    products, orders = "race_products", "race_orders"
    create_table(server.url, products)
    create_table(server.url, orders)
    clients = [client(server.url, "dynamodb") for _ in range(40)]
    admin = clients[0]
    for round_no in range(10):
        skus = [f"r{round_no}-{name}" for name in "ABC"]
        for sku in skus:
            admin.put_item(TableName=products, Item={"pk": S(sku), "available": N(10)})
        rng = random.Random(round_no)
        # Even rounds: everyone wants one of each (exactly 10 win); odd rounds: 1-3 units each.
        wants = [[1 if round_no % 2 == 0 else rng.randint(1, 3) for _ in skus] for _ in clients]
        barrier = threading.Barrier(len(clients))

        def buy(n: int, skus: list[str], wants: list[list[int]], round_no: int, barrier: Any) -> tuple[str, Any]:
            items: list[dict[str, Any]] = [
                {
                    "Update": {
                        "TableName": products,
                        "Key": {"pk": S(sku)},
                        "UpdateExpression": "SET available = available - :q",
                        "ConditionExpression": "available >= :q",
                        "ExpressionAttributeValues": {":q": N(q)},
                    }
                }
                for sku, q in zip(skus, wants[n], strict=True)
            ]
            order_id = f"r{round_no}-order-{n}"
            items.append(
                {
                    "Put": {
                        "TableName": orders,
                        "Item": {"pk": S(order_id), "client": N(n)},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
            barrier.wait()
            try:
                clients[n].transact_write_items(TransactItems=items)
                return "ok", None
            except ClientError as exc:
                return exc.response["Error"]["Code"], exc.response

        with ThreadPoolExecutor(len(clients)) as pool:
            results = list(
                pool.map(partial(buy, skus=skus, wants=wants, round_no=round_no, barrier=barrier), range(40))
            )

        codes = Counter(code for code, _ in results)
        assert set(codes) <= {"ok", "TransactionCanceledException"}, codes
        for code, response in results:
            if code != "ok":
                reasons = [r["Code"] for r in response["CancellationReasons"]]
                assert len(reasons) == 4 and "ConditionalCheckFailed" in reasons[:3], reasons
                assert reasons[3] == "None", reasons
        winners = [n for n, (code, _) in enumerate(results) if code == "ok"]
        stock = {
            sku: int(
                admin.get_item(TableName=products, Key={"pk": S(sku)}, ConsistentRead=True)["Item"]["available"]["N"]
            )
            for sku in skus
        }
        for i, sku in enumerate(skus):
            sold = sum(wants[n][i] for n in winners)
            assert stock[sku] == 10 - sold >= 0, (round_no, sku, stock, sold)
        if round_no % 2 == 0:
            assert len(winners) == 10 and set(stock.values()) == {0}, (codes, stock)
        else:
            # Nobody who lost could have been served from what was left.
            for n, (code, _) in enumerate(results):
                if code != "ok":
                    assert any(wants[n][i] > stock[sku] for i, sku in enumerate(skus)), (n, wants[n], stock)
        recorded = admin.scan(
            TableName=orders,
            FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": S(f"r{round_no}-")},
        )["Items"]
        assert sorted(int(item["client"]["N"]) for item in recorded) == winners


def test_unconditional_transaction_counters_are_exact(server):
    """8 clients x 25 four-item increment transactions: every increment is counted once."""
    table = "race_counters"
    create_table(server.url, table)
    counters = [f"c{i}" for i in range(6)]
    plans = [[random.Random(n * 100 + k).sample(counters, 4) for k in range(25)] for n in range(8)]
    expected = Counter(key for plan in plans for keys in plan for key in keys)
    barrier = threading.Barrier(8)

    def run(n: int) -> list[str]:
        ddb = client(server.url, "dynamodb")
        errors = []
        barrier.wait()
        for keys in plans[n]:
            try:
                ddb.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": table,
                                "Key": {"pk": S(key)},
                                "UpdateExpression": "SET n = if_not_exists(n, :zero) + :one",
                                "ExpressionAttributeValues": {":zero": N(0), ":one": N(1)},
                            }
                        }
                        for key in keys
                    ]
                )
            except ClientError as exc:
                errors.append(f"{exc.response['ResponseMetadata']['HTTPStatusCode']} {exc}")
        return errors

    with ThreadPoolExecutor(8) as pool:
        errors = [e for result in pool.map(run, range(8)) for e in result]
    assert errors == []
    ddb = client(server.url, "dynamodb")
    totals = {item["pk"]["S"]: int(item["n"]["N"]) for item in ddb.scan(TableName=table)["Items"]}
    assert totals == dict(expected)


# --- SQS long polls ----------------------------------------------------------------------------


def test_long_poll_does_not_block_other_clients(server):
    sqs = client(server.url, "sqs")
    queue_url = sqs.create_queue(QueueName=f"idle-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    table = "longpoll_puts"
    create_table(server.url, table)
    polled: dict[str, Any] = {}

    def long_poll(n: int) -> None:
        t0 = time.monotonic()
        response = client(server.url, "sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=5)
        polled[f"took{n}"] = time.monotonic() - t0
        polled[f"messages{n}"] = response.get("Messages", [])

    pollers = [threading.Thread(target=long_poll, args=(n,)) for n in range(4)]
    for t in pollers:
        t.start()
    time.sleep(0.5)  # the long polls are now waiting
    ddb = client(server.url, "dynamodb")
    t0 = time.monotonic()
    for i in range(20):
        ddb.put_item(TableName=table, Item={"pk": S(f"item-{i}")})
    puts_took = time.monotonic() - t0
    for t in pollers:
        t.join()
    assert puts_took < 3.0, puts_took  # a blocked emulator would take the whole 5 s poll
    assert ddb.scan(TableName=table, Select="COUNT")["Count"] == 20
    for n in range(4):
        assert polled[f"messages{n}"] == []
        assert 4.5 <= polled[f"took{n}"] < 8, polled


def test_long_poll_returns_message_sent_during_wait(server):
    sqs = client(server.url, "sqs")
    queue_url = sqs.create_queue(QueueName=f"wake-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    result: dict[str, Any] = {}

    def long_poll() -> None:
        t0 = time.monotonic()
        result["response"] = client(server.url, "sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=10)
        result["took"] = time.monotonic() - t0

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(1.0)
    sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
    poller.join()
    assert [m["Body"] for m in result["response"]["Messages"]] == ["hello"]
    assert 0.9 <= result["took"] < 4, result["took"]  # not the full 10 s


def test_queue_default_wait_time_is_a_long_poll_too(server):
    sqs = client(server.url, "sqs")
    queue_url = sqs.create_queue(
        QueueName=f"default-wait-{uuid.uuid4().hex[:8]}", Attributes={"ReceiveMessageWaitTimeSeconds": "2"}
    )["QueueUrl"]
    result: dict[str, float] = {}

    def long_poll() -> None:
        t0 = time.monotonic()
        client(server.url, "sqs").receive_message(QueueUrl=queue_url)
        result["took"] = time.monotonic() - t0

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    sqs.list_queues()
    assert time.monotonic() - t0 < 1.0  # not stuck behind the 2 s poll
    poller.join()
    assert 1.8 <= result["took"] < 4, result


def test_receive_short_poll_and_invalid_wait(server):
    sqs = client(server.url, "sqs")
    queue_url = sqs.create_queue(QueueName=f"short-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    t0 = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)
    with pytest.raises(ClientError):
        sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=25)
    assert time.monotonic() - t0 < 2
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    got = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["x"]


def test_other_services_answer(server):
    ses = client(server.url, "ses")
    ses.verify_email_identity(EmailAddress="shop@example.com")
    ses.send_email(
        Source="shop@example.com",
        Destination={"ToAddresses": ["staff@example.com"]},
        Message={"Subject": {"Data": "New order"}, "Body": {"Text": {"Data": "Order 1"}}},
    )
    assert client(server.url, "sts").get_caller_identity()["Account"]
    other_region = boto3.session.Session(region_name="eu-west-1").client(
        "dynamodb", endpoint_url=server.url, config=NO_RETRY
    )
    assert "TableNames" in other_region.list_tables()


# --- transaction semantics (patched path, and moto's own for comparison) -----------------------


@pytest.fixture(scope="module", params=["patched", "moto"])
def emu(request):
    with Emulator(port=0, patch_transactions=request.param == "patched") as emulator:
        assert emulator.url == f"http://127.0.0.1:{emulator.port}" and emulator.port > 0
        assert emulator_patches.installed() == (request.param == "patched")
        emulator.mode = request.param
        yield emulator
    emulator_patches.install()


@pytest.fixture
def tables(emu):
    suffix = uuid.uuid4().hex[:8]
    names = {"t": f"tx_{suffix}", "r": f"txr_{suffix}"}
    create_table(emu.url, names["t"])
    create_table(emu.url, names["r"], range_key=True)
    return names


def put(ddb, table: str, pk: str, **attrs: Any) -> None:
    item = {"pk": S(pk)}
    item.update({k: (N(v) if isinstance(v, int) else S(v)) for k, v in attrs.items()})
    ddb.put_item(TableName=table, Item=item)


def dump(ddb, *tables: str) -> dict[str, list[dict[str, Any]]]:
    return {t: sorted(ddb.scan(TableName=t)["Items"], key=repr) for t in tables}


def cancel(ddb, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with pytest.raises(ClientError) as info:
        ddb.transact_write_items(TransactItems=items)
    assert info.value.response["Error"]["Code"] == "TransactionCanceledException", info.value.response
    return info.value.response["CancellationReasons"]


def test_patched_path_is_used(emu, tables, monkeypatch):
    calls = []
    original = emulator_patches._Undo.snapshot
    monkeypatch.setattr(emulator_patches._Undo, "snapshot", lambda *a: (calls.append(a[2]), original(*a))[1])
    ddb = client(emu.url, "dynamodb")
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": tables["t"], "Item": {"pk": S("a")}}}])
    assert calls == ([tables["t"]] if emu.mode == "patched" else [])


def test_failed_condition_changes_nothing(emu, tables):
    ddb = client(emu.url, "dynamodb")
    t, r = tables["t"], tables["r"]
    put(ddb, t, "x", n=1)
    put(ddb, t, "y", n=5)
    ddb.put_item(TableName=r, Item={"pk": S("h"), "sk": S("1"), "v": N(1)})
    before = dump(ddb, t, r)
    reasons = cancel(
        ddb,
        [
            {"Update": {"TableName": t, "Key": {"pk": S("x")}, "UpdateExpression": "SET n = :v",
                        "ExpressionAttributeValues": {":v": N(100)}}},
            {"Put": {"TableName": t, "Item": {"pk": S("new"), "n": N(1)}}},
            {"Delete": {"TableName": t, "Key": {"pk": S("y")}}},
            {"Update": {"TableName": r, "Key": {"pk": S("h"), "sk": S("2")}, "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": N(7)}}},
            {"Put": {"TableName": r, "Item": {"pk": S("h"), "sk": S("1"), "v": N(9)}}},
            {"ConditionCheck": {"TableName": t, "Key": {"pk": S("missing")},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ],
    )  # fmt: skip
    assert [x["Code"] for x in reasons] == ["None"] * 5 + ["ConditionalCheckFailed"]
    assert dump(ddb, t, r) == before
    assert "Item" not in ddb.get_item(TableName=r, Key={"pk": S("h"), "sk": S("2")})


def test_cancellation_reasons_in_order_with_all_old(emu, tables):
    ddb = client(emu.url, "dynamodb")
    t = tables["t"]
    put(ddb, t, "a", n=1, label="first")
    put(ddb, t, "b", n=2)
    put(ddb, t, "c", n=3)
    before = dump(ddb, t)
    reasons = cancel(
        ddb,
        [
            {"ConditionCheck": {"TableName": t, "Key": {"pk": S("a")}, "ConditionExpression": "n > :v",
                                "ExpressionAttributeValues": {":v": N(5)},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Update": {"TableName": t, "Key": {"pk": S("b")}, "UpdateExpression": "SET n = :v",
                        "ExpressionAttributeValues": {":v": N(20)}}},
            {"Delete": {"TableName": t, "Key": {"pk": S("c")}, "ConditionExpression": "n = :v",
                        "ExpressionAttributeValues": {":v": N(4)}}},
        ],
    )  # fmt: skip
    assert [x["Code"] for x in reasons] == ["ConditionalCheckFailed", "None", "ConditionalCheckFailed"]
    assert reasons[0]["Item"] == {"pk": S("a"), "n": N(1), "label": S("first")}
    assert "Item" not in reasons[2]  # not asked for
    assert dump(ddb, t) == before


def test_successful_mix_applies_everything(emu, tables):
    ddb = client(emu.url, "dynamodb")
    t, r = tables["t"], tables["r"]
    put(ddb, t, "stock", available=5)
    put(ddb, t, "gone")
    put(ddb, t, "guard", open=1)
    ddb.transact_write_items(
        TransactItems=[
            {"Update": {"TableName": t, "Key": {"pk": S("stock")}, "UpdateExpression": "SET available = available - :q",
                        "ConditionExpression": "available >= :q", "ExpressionAttributeValues": {":q": N(2)}}},
            {"Put": {"TableName": r, "Item": {"pk": S("order"), "sk": S("line-1"), "q": N(2)},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Delete": {"TableName": t, "Key": {"pk": S("gone")}, "ConditionExpression": "attribute_exists(pk)"}},
            {"ConditionCheck": {"TableName": t, "Key": {"pk": S("guard")}, "ConditionExpression": "#o = :one",
                                "ExpressionAttributeNames": {"#o": "open"},
                                "ExpressionAttributeValues": {":one": N(1)}}},
        ]
    )  # fmt: skip
    assert ddb.get_item(TableName=t, Key={"pk": S("stock")})["Item"]["available"] == N(3)
    assert ddb.get_item(TableName=r, Key={"pk": S("order"), "sk": S("line-1")})["Item"]["q"] == N(2)
    assert "Item" not in ddb.get_item(TableName=t, Key={"pk": S("gone")})
    assert ddb.get_item(TableName=t, Key={"pk": S("guard")})["Item"] == {"pk": S("guard"), "open": N(1)}


def test_same_item_twice_is_a_validation_error(emu, tables):
    ddb = client(emu.url, "dynamodb")
    t = tables["t"]
    put(ddb, t, "a", n=1)
    put(ddb, t, "b", n=1)
    before = dump(ddb, t)
    with pytest.raises(ClientError) as info:
        ddb.transact_write_items(
            TransactItems=[
                {"Update": {"TableName": t, "Key": {"pk": S("b")}, "UpdateExpression": "SET n = :v",
                            "ExpressionAttributeValues": {":v": N(9)}}},
                {"Update": {"TableName": t, "Key": {"pk": S("a")}, "UpdateExpression": "SET n = :v",
                            "ExpressionAttributeValues": {":v": N(9)}}},
                {"ConditionCheck": {"TableName": t, "Key": {"pk": S("a")},
                                    "ConditionExpression": "attribute_exists(pk)"}},
            ]
        )  # fmt: skip
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert dump(ddb, t) == before


def test_failing_update_expression_is_rolled_back(emu, tables):
    ddb = client(emu.url, "dynamodb")
    t = tables["t"]
    put(ddb, t, "a", n=1)
    put(ddb, t, "s", text="not a number")
    before = dump(ddb, t)
    with pytest.raises(ClientError) as info:
        ddb.transact_write_items(
            TransactItems=[
                {"Update": {"TableName": t, "Key": {"pk": S("a")}, "UpdateExpression": "SET n = :v",
                            "ExpressionAttributeValues": {":v": N(50)}}},
                {"Update": {"TableName": t, "Key": {"pk": S("s")}, "UpdateExpression": "SET other = :v ADD #t :one",
                            "ExpressionAttributeNames": {"#t": "text"},
                            "ExpressionAttributeValues": {":v": N(1), ":one": N(1)}}},
            ]
        )  # fmt: skip
    assert info.value.response["Error"]["Code"] in {"ValidationException", "TransactionCanceledException"}
    assert dump(ddb, t) == before


def test_missing_table_cancels_the_transaction(emu, tables):
    ddb = client(emu.url, "dynamodb")
    t = tables["t"]
    put(ddb, t, "a", n=1)
    before = dump(ddb, t)
    with pytest.raises(ClientError) as info:
        ddb.transact_write_items(
            TransactItems=[
                {"Update": {"TableName": t, "Key": {"pk": S("a")}, "UpdateExpression": "SET n = :v",
                            "ExpressionAttributeValues": {":v": N(2)}}},
                {"Put": {"TableName": "no_such_table", "Item": {"pk": S("x")}}},
            ]
        )  # fmt: skip
    assert info.value.response["Error"]["Code"] in {"TransactionCanceledException", "ResourceNotFoundException"}
    assert dump(ddb, t) == before


def test_client_request_token_is_idempotent(emu, tables):
    if emu.mode != "patched":
        pytest.skip("moto 5.2.5 ignores ClientRequestToken; the patch implements it")
    ddb = client(emu.url, "dynamodb")
    t = tables["t"]
    put(ddb, t, "count", n=0)
    increment = [
        {"Update": {"TableName": t, "Key": {"pk": S("count")}, "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": N(1)}}}
    ]  # fmt: skip
    token = uuid.uuid4().hex
    ddb.transact_write_items(TransactItems=increment, ClientRequestToken=token)
    ddb.transact_write_items(TransactItems=increment, ClientRequestToken=token)
    assert ddb.get_item(TableName=t, Key={"pk": S("count")})["Item"]["n"] == N(1)
    with pytest.raises(ClientError) as info:
        ddb.transact_write_items(
            TransactItems=[{"Put": {"TableName": t, "Item": {"pk": S("other")}}}], ClientRequestToken=token
        )
    assert info.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    ddb.transact_write_items(TransactItems=increment, ClientRequestToken=uuid.uuid4().hex)
    assert ddb.get_item(TableName=t, Key={"pk": S("count")})["Item"]["n"] == N(2)
    # A cancelled transaction does not use up its token.
    guarded = [dict(increment[0]["Update"], ConditionExpression="n > :big")]
    guarded[0]["ExpressionAttributeValues"] = {":one": N(1), ":big": N(100)}
    token = uuid.uuid4().hex
    cancel_items = [{"Update": guarded[0]}]
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=cancel_items, ClientRequestToken=token)
    ddb.put_item(TableName=t, Item={"pk": S("count"), "n": N(200)})
    ddb.transact_write_items(TransactItems=cancel_items, ClientRequestToken=token)
    assert ddb.get_item(TableName=t, Key={"pk": S("count")})["Item"]["n"] == N(201)
