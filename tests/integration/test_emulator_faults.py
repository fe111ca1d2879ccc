"""EKIOSK_EMULATOR_FAULTS (SPEC §10): each fault in AWS's shape with AWS's side-effect rule, over HTTP
against an emulator subprocess; the control routes and the /_ekiosk/faults document."""

from __future__ import annotations

import time
import uuid

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.emulator import EmulatorProcess

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
DDB = "com.amazonaws.dynamodb.v20120810#"


@pytest.fixture(scope="module", autouse=True)
def credentials():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            mp.delenv(key, raising=False)
        yield


@pytest.fixture(scope="module")
def emu():
    process = EmulatorProcess(extra_args=("--faults", "seed=1"))
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def clean(emu):
    configure(emu, "seed=1")
    requests.delete(emu.url + "/_ekiosk/faults", timeout=5).raise_for_status()
    yield


def configure(emu, faults: str) -> dict:
    response = requests.put(emu.url + "/_ekiosk/faults/config", json={"faults": faults}, timeout=5)
    response.raise_for_status()
    return response.json()


def script(emu, *faults: dict) -> None:
    requests.post(emu.url + "/_ekiosk/faults/script", json={"faults": list(faults)}, timeout=5).raise_for_status()


def status(emu) -> dict:
    return requests.get(emu.url + "/_ekiosk/faults", timeout=5).json()


def ddb(emu, config=NO_RETRIES):
    return boto3.client("dynamodb", endpoint_url=emu.url, config=config)


def sqs(emu, config=NO_RETRIES):
    return boto3.client("sqs", endpoint_url=emu.url, config=config)


def new_table(emu, with_index=False) -> str:
    name = f"faults_{uuid.uuid4().hex[:8]}"
    extra = {}
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    if with_index:
        attributes.append({"AttributeName": "status", "AttributeType": "S"})
        extra["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "by_status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    ddb(emu).create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], AttributeDefinitions=attributes,
        BillingMode="PAY_PER_REQUEST", **extra,
    )  # fmt: skip
    return name


def item(pk: str, **attrs: str) -> dict:
    return {"pk": {"S": pk}, **{k: {"S": v} for k, v in attrs.items()}}


def get(emu, table: str, pk: str) -> dict | None:
    return ddb(emu).get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")


def error_of(excinfo) -> tuple[str, int, dict]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response


def test_the_status_document_has_the_documented_shape(emu):
    configure(emu, "aws,seed=5")
    document = status(emu)
    assert set(document) == {"config", "injected", "iam"}
    assert document["config"] == {
        "transaction_conflict": 0.05, "throttle": 0.02, "internal_error": 0.01, "index_lag_ms": 500,
        "sqs_empty_receive": 0.3, "sqs_duplicate": 0.02, "seed": 5,
    }  # fmt: skip
    assert document["injected"] == dict.fromkeys(
        ["transaction_conflict", "throttle", "internal_error", "sqs_empty_receive", "sqs_duplicate", "index_lag_ms"], 0
    )
    assert document["iam"] == {"enforced": False, "denied": []}


def test_a_bad_setting_is_refused(emu):
    response = requests.put(emu.url + "/_ekiosk/faults/config", json={"faults": "throttle=2"}, timeout=5)
    assert response.status_code == 400 and "between 0 and 1" in response.json()["message"]
    response = requests.post(emu.url + "/_ekiosk/faults/script", json={"faults": [{"service": "s3", "fault": "x"}]})
    assert response.status_code == 400


def test_transaction_conflict_on_a_single_write_changes_nothing(emu):
    table = new_table(emu)
    script(emu, {"service": "dynamodb", "operation": "PutItem", "fault": "transaction_conflict"})
    with pytest.raises(ClientError) as excinfo:
        ddb(emu).put_item(TableName=table, Item=item("a", v="1"))
    code, http, response = error_of(excinfo)
    assert (code, http) == ("TransactionConflictException", 400)
    assert get(emu, table, "a") is None
    ddb(emu).put_item(TableName=table, Item=item("a", v="1"))  # exactly one request was scripted
    assert get(emu, table, "a") == item("a", v="1")
    assert status(emu)["injected"]["transaction_conflict"] == 1


def test_transaction_conflict_cancels_a_transaction_with_reasons(emu):
    table = new_table(emu)
    script(emu, {"service": "dynamodb", "operation": "TransactWriteItems", "fault": "transaction_conflict",
                 "table": table})  # fmt: skip
    items = [{"Put": {"TableName": table, "Item": item(pk)}} for pk in ("a", "b", "c")]
    with pytest.raises(ClientError) as excinfo:
        ddb(emu).transact_write_items(TransactItems=items)
    code, http, response = error_of(excinfo)
    assert (code, http) == ("TransactionCanceledException", 400)
    reasons = [r["Code"] for r in response["CancellationReasons"]]
    assert len(reasons) == 3 and "TransactionConflict" in reasons and set(reasons) <= {"TransactionConflict", "None"}
    assert all(get(emu, table, pk) is None for pk in ("a", "b", "c"))


def test_a_scripted_fault_waits_for_its_table(emu):
    table, other = new_table(emu), new_table(emu)
    script(emu, {"service": "dynamodb", "operation": "PutItem", "fault": "throttle", "table": table})
    ddb(emu).put_item(TableName=other, Item=item("x"))  # not the scripted table
    with pytest.raises(ClientError) as excinfo:
        ddb(emu).put_item(TableName=table, Item=item("x"))
    code, http, _ = error_of(excinfo)
    assert code in ("ThrottlingException", "ProvisionedThroughputExceededException") and http == 400
    assert get(emu, table, "x") is None and get(emu, other, "x") is not None


def test_throttle_cancels_a_transaction_with_throttling_error(emu):
    table = new_table(emu)
    script(emu, {"service": "dynamodb", "operation": "TransactWriteItems", "fault": "throttle"})
    with pytest.raises(ClientError) as excinfo:
        ddb(emu).transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": item("a")}}])
    code, _, response = error_of(excinfo)
    assert code == "TransactionCanceledException"
    assert [r["Code"] for r in response["CancellationReasons"]] == ["ThrottlingError"]


def test_the_sdk_retries_a_throttled_request_by_itself(emu):
    table = new_table(emu)
    script(emu, {"service": "dynamodb", "operation": "PutItem", "fault": "throttle", "times": 2})
    retrying = ddb(emu, Config(retries={"max_attempts": 3, "mode": "standard"}))
    response = retrying.put_item(TableName=table, Item=item("a"))
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert get(emu, table, "a") is not None


def test_a_throttled_batch_may_come_back_in_part_as_unprocessed(emu):
    table = new_table(emu)
    script(emu, {"service": "dynamodb", "operation": "BatchWriteItem", "fault": "throttle", "partial": True})
    requests_ = [{"PutRequest": {"Item": item(str(i))}} for i in range(6)]
    response = ddb(emu).batch_write_item(RequestItems={table: requests_})
    unprocessed = response["UnprocessedItems"].get(table, [])
    assert 1 <= len(unprocessed) <= 5
    left = {r["PutRequest"]["Item"]["pk"]["S"] for r in unprocessed}
    for i in range(6):
        assert (get(emu, table, str(i)) is None) == (str(i) in left)
    script(emu, {"service": "dynamodb", "operation": "BatchGetItem", "fault": "throttle", "partial": True})
    keys = [{"pk": {"S": str(i)}} for i in range(6)]
    response = ddb(emu).batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
    got = len(response["Responses"][table])
    pending = response["UnprocessedKeys"][table]
    assert len(pending["Keys"]) >= 1 and pending["ConsistentRead"] is True
    assert got <= 6 - len(left) and got + len(pending["Keys"]) <= 6


def test_internal_error_before_and_after_the_effect(emu):
    table = new_table(emu)
    script(emu, {"service": "dynamodb", "operation": "PutItem", "fault": "internal_error", "after_effect": False})
    with pytest.raises(ClientError) as excinfo:
        ddb(emu).put_item(TableName=table, Item=item("before"))
    code, http, _ = error_of(excinfo)
    assert (code, http) == ("InternalServerError", 500)
    assert get(emu, table, "before") is None
    script(emu, {"service": "dynamodb", "operation": "PutItem", "fault": "internal_error", "after_effect": True})
    with pytest.raises(ClientError) as excinfo:
        ddb(emu).put_item(TableName=table, Item=item("after"))
    assert error_of(excinfo)[:2] == ("InternalServerError", 500)
    assert get(emu, table, "after") is not None  # it took effect; the caller could not tell
    assert status(emu)["injected"]["internal_error"] == 2


def test_sqs_internal_error_after_the_send_took_effect(emu):
    client = sqs(emu)
    url = client.create_queue(QueueName=f"faults-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    script(emu, {"service": "sqs", "operation": "SendMessage", "fault": "internal_error", "after_effect": True})
    with pytest.raises(ClientError) as excinfo:
        client.send_message(QueueUrl=url, MessageBody="hello")
    code, http, _ = error_of(excinfo)
    assert http == 500 and code == "InternalError"
    messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in messages] == ["hello"]


def test_ses_internal_error_comes_before_sending(emu):
    ses = boto3.client("ses", endpoint_url=emu.url, config=NO_RETRIES)
    ses.verify_email_identity(EmailAddress="from@example.com")
    sent_before = ses.get_send_quota()["SentLast24Hours"]
    script(emu, {"service": "ses", "operation": "SendEmail", "fault": "internal_error"})
    message = {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}
    with pytest.raises(ClientError) as excinfo:
        ses.send_email(Source="from@example.com", Destination={"ToAddresses": ["to@example.com"]}, Message=message)
    code, http, _ = error_of(excinfo)
    assert (code, http) == ("InternalFailure", 500)
    assert ses.get_send_quota()["SentLast24Hours"] == sent_before  # nothing was sent
    ses.send_email(Source="from@example.com", Destination={"ToAddresses": ["to@example.com"]}, Message=message)
    assert ses.get_send_quota()["SentLast24Hours"] == sent_before + 1


def test_random_draws_follow_the_seed(emu):
    def run() -> list[str]:
        table = new_table(emu)
        configure(emu, "throttle=0.5,seed=42")
        outcomes = []
        for i in range(20):
            try:
                ddb(emu).put_item(TableName=table, Item=item(str(i)))
                outcomes.append("ok")
            except ClientError as error:
                outcomes.append(error.response["Error"]["Code"])
        configure(emu, "seed=1")
        return outcomes

    first, second = run(), run()
    assert first == second
    assert "ok" in first and len(set(first)) > 1


def test_index_lag_hides_a_fresh_write_from_a_gsi_query(emu):
    table = new_table(emu, with_index=True)
    configure(emu, "index_lag_ms=700,seed=1")
    client = ddb(emu)

    def by_status(value: str) -> list[str]:
        response = client.query(TableName=table, IndexName="by_status", KeyConditionExpression="#s = :s",
                                ExpressionAttributeNames={"#s": "status"},
                                ExpressionAttributeValues={":s": {"S": value}})  # fmt: skip
        return sorted(i["pk"]["S"] for i in response["Items"])

    client.put_item(TableName=table, Item=item("a", status="HELD"))
    written = time.monotonic()
    assert by_status("HELD") == []  # new: not in the index yet
    assert get(emu, table, "a") is not None  # the table itself is up to date
    while time.monotonic() - written < 0.75:
        time.sleep(0.05)
    assert by_status("HELD") == ["a"]
    client.update_item(TableName=table, Key={"pk": {"S": "a"}}, UpdateExpression="SET #s = :s",
                       ExpressionAttributeNames={"#s": "status"},
                       ExpressionAttributeValues={":s": {"S": "CONFIRMED"}})  # fmt: skip
    changed = time.monotonic()
    assert by_status("HELD") == ["a"] and by_status("CONFIRMED") == []  # the old version
    while time.monotonic() - changed < 0.75:
        time.sleep(0.05)
    assert by_status("HELD") == [] and by_status("CONFIRMED") == ["a"]
    assert status(emu)["injected"]["index_lag_ms"] >= 3


def test_sqs_empty_receive_returns_nothing_although_messages_wait(emu):
    client = sqs(emu)
    url = client.create_queue(QueueName=f"faults-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="m")
    script(emu, {"service": "sqs", "operation": "ReceiveMessage", "fault": "sqs_empty_receive"})
    assert client.receive_message(QueueUrl=url).get("Messages", []) == []
    assert [m["Body"] for m in client.receive_message(QueueUrl=url)["Messages"]] == ["m"]
    assert status(emu)["injected"]["sqs_empty_receive"] == 1


def test_sqs_duplicate_delivers_a_deleted_message_once_more(emu):
    client = sqs(emu)
    url = client.create_queue(QueueName=f"faults-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="once")
    first = client.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"][0]
    script(emu, {"service": "sqs", "operation": "DeleteMessage", "fault": "sqs_duplicate"})
    client.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    again = client.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
    assert [(m["MessageId"], m["Body"]) for m in again] == [(first["MessageId"], "once")]
    client.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])
    assert client.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", []) == []
    assert status(emu)["injected"]["sqs_duplicate"] == 1


def test_control_plane_calls_are_never_faulted(emu):
    configure(emu, "throttle=1,internal_error=1,seed=3")
    new_table(emu)  # CreateTable, DescribeTable
    sqs(emu).create_queue(QueueName=f"faults-{uuid.uuid4().hex[:8]}")


def test_the_launcher_refuses_a_bad_setting():
    with pytest.raises(RuntimeError, match="unknown fault"):
        EmulatorProcess(extra_args=("--faults", "nonsense=1"))


def test_the_test_harness_marked_as_observer_is_never_faulted(emu):
    from tests.support.stack import observed

    table = new_table(emu)
    configure(emu, "transaction_conflict=1,throttle=1,internal_error=1,seed=1")
    watcher = observed(ddb(emu))
    for n in range(20):  # every draw would strike an unmarked request
        watcher.put_item(TableName=table, Item={"pk": {"S": f"seen-{n}"}})
    assert len(watcher.scan(TableName=table)["Items"]) == 20
    with pytest.raises(ClientError):  # the same request unmarked: faulted
        ddb(emu).put_item(TableName=table, Item={"pk": {"S": "app"}})
    assert sum(status(emu)["injected"].values()) == 1
    configure(emu, "sqs_empty_receive=1,sqs_duplicate=1,seed=1")
    queues = observed(sqs(emu))
    url = queues.create_queue(QueueName=f"faults-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queues.send_message(QueueUrl=url, MessageBody="m")
    [message] = queues.receive_message(QueueUrl=url)["Messages"]  # never an injected empty receive
    queues.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])  # never a duplicate
    assert status(emu)["injected"]["sqs_empty_receive"] == status(emu)["injected"]["sqs_duplicate"] == 0


def test_an_injected_empty_receive_answers_at_once_even_when_long_polling(emu):
    client = sqs(emu)
    url = client.create_queue(QueueName=f"faults-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="m")
    script(emu, {"service": "sqs", "operation": "ReceiveMessage", "fault": "sqs_empty_receive"})
    started = time.monotonic()
    assert client.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", []) == []
    assert time.monotonic() - started < 2  # as a short poll answers, not after the whole wait
    assert [m["Body"] for m in client.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]] == ["m"]
