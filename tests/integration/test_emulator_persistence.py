"""The embedded emulator keeps its state in --data-dir: across restarts, after kill -9 (up to the
last periodic save), and starting empty when the file is missing or corrupt."""

from __future__ import annotations

import json
import os
import signal
import time

from chalicelib.runtime.emulator import Emulator
from chalicelib.runtime.emulator_state import STATE_FILE
from tests.integration.test_emulator import EmulatorProcess as _EmulatorProcess
from tests.integration.test_emulator import N, S, client, dummy_credentials  # noqa: F401 - fixture


class EmulatorProcess(_EmulatorProcess):
    def __init__(self, data_dir: str, save_interval: float = 60.0):
        super().__init__("--data-dir", str(data_dir), "--save-interval", str(save_interval))
        self.state = os.path.join(data_dir, STATE_FILE)

    def stop_ok(self, signum: int = signal.SIGTERM) -> None:
        rc, took = self.terminate(signum)
        assert rc == 0 and took < 3, (rc, took, "".join(self.stderr))


def create_catalog(url: str) -> None:
    ddb = client(url, "dynamodb")
    ddb.create_table(
        TableName="products",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "category", "AttributeType": "S"},
            {"AttributeName": "name", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_category",
                "KeySchema": [
                    {"AttributeName": "category", "KeyType": "HASH"},
                    {"AttributeName": "name", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for first in range(0, 60, 25):
        ddb.batch_write_item(
            RequestItems={
                "products": [
                    {
                        "PutRequest": {
                            "Item": {
                                "pk": S(f"p{i:03d}"),
                                "category": S("tea" if i % 3 == 0 else "coffee"),
                                "name": S(f"Product {i:03d}"),
                                "available": N(i),
                            }
                        }
                    }
                    for i in range(first, min(first + 25, 60))
                ]
            }
        )


def test_state_survives_a_restart(tmp_path):
    first = EmulatorProcess(tmp_path)
    create_catalog(first.url)
    sqs = client(first.url, "sqs")
    dlq_url = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
    queue_url = sqs.create_queue(QueueName="orders", Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "300"})[
        "QueueUrl"
    ]
    for n in range(3):
        sqs.send_message(QueueUrl=queue_url, MessageBody=f"order-{n}", MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "order.placed"}})  # fmt: skip
    in_flight = sqs.receive_message(QueueUrl=queue_url)["Messages"]  # invisible for 300 s
    assert len(in_flight) == 1
    client(first.url, "ses").verify_email_identity(EmailAddress="shop@example.com")
    first.stop_ok(signal.SIGINT)
    assert os.path.exists(first.state)

    second = EmulatorProcess(tmp_path)
    try:
        ddb = client(second.url, "dynamodb")
        table = ddb.describe_table(TableName="products")["Table"]
        assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by_category"]
        assert ddb.scan(TableName="products", Select="COUNT")["Count"] == 60
        tea = ddb.query(
            TableName="products",
            IndexName="by_category",
            KeyConditionExpression="category = :c",
            ExpressionAttributeValues={":c": S("tea")},
        )["Items"]
        assert [item["name"]["S"] for item in tea] == [f"Product {i:03d}" for i in range(0, 60, 3)]

        sqs = client(second.url, "sqs")
        queue_url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        assert json.loads(attrs["RedrivePolicy"]) == json.loads(redrive) | {"maxReceiveCount": 3}
        assert attrs["VisibilityTimeout"] == "300"
        bodies = []
        for _ in range(5):
            got = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
            ).get("Messages", [])
            bodies += [(m["Body"], m["MessageAttributes"]["kind"]["StringValue"]) for m in got]
            if len(bodies) == 3:
                break
        assert sorted(bodies) == [(f"order-{n}", "order.placed") for n in range(3)]
        assert "shop@example.com" in client(second.url, "ses").list_identities()["Identities"]
    finally:
        second.stop_ok()
    assert "loaded state" in "".join(second.stderr) and "2 queues (3 messages)" in "".join(second.stderr)


def test_corrupt_state_file_starts_empty(tmp_path):
    state = tmp_path / STATE_FILE
    state.write_bytes(b"\x00garbage, not a state file")
    emu = EmulatorProcess(tmp_path)
    try:
        assert client(emu.url, "dynamodb").list_tables()["TableNames"] == []
        client(emu.url, "sqs").create_queue(QueueName="after-corruption")
    finally:
        emu.stop_ok()
    stderr = "".join(emu.stderr)
    assert "starting empty" in stderr, stderr
    assert [p.name for p in tmp_path.iterdir() if ".unreadable-" in p.name], list(tmp_path.iterdir())
    # The next start reads what the previous one saved.
    emu = EmulatorProcess(tmp_path)
    try:
        assert client(emu.url, "sqs").get_queue_url(QueueName="after-corruption")["QueueUrl"]
    finally:
        emu.stop_ok()


def test_kill_9_keeps_what_was_saved_and_saves_only_changes(tmp_path):
    emu = EmulatorProcess(tmp_path, save_interval=0.5)
    create_catalog(emu.url)
    ddb = client(emu.url, "dynamodb")
    ddb.put_item(TableName="products", Item={"pk": S("late"), "available": N(1)})
    put_at = time.time_ns()
    # Wait until a save newer than the put has landed and no further save follows it.
    deadline = time.monotonic() + 20
    saved_at = -1
    while time.monotonic() < deadline:
        mtime = os.stat(emu.state).st_mtime_ns if os.path.exists(emu.state) else -1
        if mtime == saved_at and mtime > put_at:
            break
        saved_at = mtime
        time.sleep(1.0)
    assert saved_at > put_at, "no periodic save after the last write"
    ddb.get_item(TableName="products", Key={"pk": S("late")})
    ddb.scan(TableName="products")
    time.sleep(1.2)
    assert os.stat(emu.state).st_mtime_ns == saved_at, "reads must not trigger a save"
    emu.proc.send_signal(signal.SIGKILL)
    emu.proc.wait(timeout=10)

    again = EmulatorProcess(tmp_path)
    try:
        ddb = client(again.url, "dynamodb")
        assert ddb.get_item(TableName="products", Key={"pk": S("late")})["Item"]["available"] == N(1)
        assert ddb.scan(TableName="products", Select="COUNT")["Count"] == 61
    finally:
        again.stop_ok()


def test_python_interface_saves_on_stop_and_loads_on_start(tmp_path):
    one, other = tmp_path / "one", tmp_path / "other"
    with Emulator(port=0, data_dir=one) as emu:
        assert emu.url.startswith("http://127.0.0.1:")
        client(emu.url, "sqs").create_queue(QueueName="kept")
    assert (one / STATE_FILE).exists()
    with Emulator(port=0, data_dir=other) as emu:  # a different data dir: starts empty
        assert client(emu.url, "sqs").list_queues().get("QueueUrls", []) == []
    with Emulator(port=0, data_dir=one) as emu:
        assert client(emu.url, "sqs").get_queue_url(QueueName="kept")["QueueUrl"].endswith("/kept")
        second = Emulator(port=0, data_dir=one)
        second.lock_wait = 0.3
        try:
            second.start()
        except RuntimeError as exc:
            assert "another emulator" in str(exc)
        else:
            raise AssertionError("a second emulator on the same data dir must be refused")
