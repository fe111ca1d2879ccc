"""LocalStack's init hook, run for real (bash + an `awslocal` standing in for LocalStack's) against a
fresh emulator: it creates exactly the tables the PynamoDB models declare and the queues of
chalicelib/resources.py, and running it twice is harmless."""

from __future__ import annotations

import json
import subprocess

import boto3
import pytest

from infra.generate import ROOT
from tests.support.emulator import EmulatorProcess
from tests.support.infra import awslocal_on_path, from_described, model_tables

SCRIPT = ROOT / "localstack" / "ready.d" / "10-ekiosk-resources.sh"


@pytest.fixture(scope="module")
def localstack_like(tmp_path_factory):
    emulator = EmulatorProcess()
    try:
        with awslocal_on_path(emulator.url, tmp_path_factory.mktemp("bin")) as env:
            yield emulator, env
    finally:
        emulator.stop()


def run_hook(env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def test_the_hook_creates_the_models_tables_and_the_queues(localstack_like):
    from chalicelib.resources import NOTIFICATIONS_DLQ, NOTIFICATIONS_QUEUE

    emulator, env = localstack_like
    first = run_hook(env)
    assert first.returncode == 0, first.stderr
    assert "LocalStack resources ready" in first.stdout

    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    dynamodb = session.client("dynamodb", endpoint_url=emulator.url)
    expected = model_tables("local")
    assert sorted(dynamodb.list_tables()["TableNames"]) == sorted(expected)
    for name, shape in expected.items():
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert from_described(table) == shape, name
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName="ekiosk-local-customers")["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "expires_at"

    sqs = session.client("sqs", endpoint_url=emulator.url)
    dlq_url = sqs.get_queue_url(QueueName="ekiosk-local-notifications-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.get_queue_url(QueueName="ekiosk-local-notifications")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["VisibilityTimeout"]) == NOTIFICATIONS_QUEUE.visibility_timeout
    assert int(attributes["MessageRetentionPeriod"]) == NOTIFICATIONS_QUEUE.retention_seconds
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == NOTIFICATIONS_QUEUE.max_receive_count
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["MessageRetentionPeriod"])["Attributes"]
    assert int(dlq["MessageRetentionPeriod"]) == NOTIFICATIONS_DLQ.retention_seconds

    ses = session.client("ses", endpoint_url=emulator.url)
    assert "no-reply@ekiosk.local" in ses.list_identities()["Identities"]

    again = run_hook(env)
    assert again.returncode == 0, again.stderr
    assert "created table" not in again.stdout
