"""EKIOSK_EMULATOR_IAM=enforce: each function's generated policy, checked by the emulator (SPEC §9, §10).

An emulator subprocess enforces the local stage's policies; requests signed with a function's access key
are allowed or refused as on AWS (and listed in /_ekiosk/faults); the app's own code runs under them:
the worker parking a poison message on the dead-letter queue, its periodic jobs, `make redrive`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.config import load_settings
from chalicelib.runtime import principals
from chalicelib.runtime.bootstrap import bootstrap
from tests.support.emulator import ROOT, EmulatorProcess

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
SENDER = load_settings({"STAGE": "local"}).default_from_email
ORDERS, NOTIFICATIONS = "ekiosk-local-orders", "ekiosk-local-notifications"


@pytest.fixture(scope="module")
def emu():
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": "us-east-1", "STAGE": "local"}.items():  # fmt: skip
            mp.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "EKIOSK_EMULATOR_FAULTS"):
            mp.delenv(key, raising=False)
        process = EmulatorProcess(extra_args=("--iam", "enforce"))
        try:
            settings = load_settings({"STAGE": "local", "AWS_ENDPOINT_URL": process.url})
            bootstrap(settings)  # as the admin principal ("testing")
            admin("ses", process).verify_email_identity(EmailAddress=SENDER)
            yield process
        finally:
            process.stop()


@pytest.fixture(autouse=True)
def clean(emu):
    requests.delete(emu.url + "/_ekiosk/faults", timeout=5).raise_for_status()


def admin(service: str, emu):
    return boto3.client(service, endpoint_url=emu.url, region_name="us-east-1", config=NO_RETRIES,
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def as_function(principal: str, service: str, emu):
    return boto3.client(service, endpoint_url=emu.url, region_name="us-east-1", config=NO_RETRIES,
                        aws_access_key_id=principals.access_key(principal),
                        aws_secret_access_key=principals.secret_key(principal))  # fmt: skip


def denied(emu) -> list[dict]:
    document = requests.get(emu.url + "/_ekiosk/faults", timeout=5).json()
    assert document["iam"]["enforced"] is True
    return document["iam"]["denied"]


def queue_url(emu, name: str) -> str:
    return admin("sqs", emu).get_queue_url(QueueName=f"ekiosk-local-{name}")["QueueUrl"]


def drain(emu, url: str) -> None:
    sqs = admin("sqs", emu)
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages"):
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])  # fmt: skip


def refused(call, *args, **kwargs) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as excinfo:
        call(*args, **kwargs)
    error = excinfo.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def email(client, source: str = SENDER):
    return client.send_email(Source=source, Destination={"ToAddresses": ["buyer@example.com"]},
                             Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}})  # fmt: skip


def test_the_api_writes_its_tables_and_enqueues_but_cannot_consume_or_email(emu):
    ddb = as_function("api", "dynamodb", emu)
    ddb.put_item(TableName=ORDERS, Item={"id": {"S": "iam-test"}})
    sqs = as_function("api", "sqs", emu)
    url = sqs.get_queue_url(QueueName=NOTIFICATIONS)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    assert denied(emu) == []

    code, status, message = refused(sqs.receive_message, QueueUrl=url)
    assert (code, status) == ("AccessDenied", 403) and "sqs:ReceiveMessage" in message
    code, status, _ = refused(as_function("api", "ses", emu).send_email, Source=SENDER,
                              Destination={"ToAddresses": ["b@example.com"]},
                              Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}})  # fmt: skip
    assert (code, status) == ("AccessDenied", 403)
    code, status, message = refused(ddb.delete_table, TableName=ORDERS)
    assert (code, status) == ("AccessDeniedException", 400) and "is not authorized to perform" in message
    assert denied(emu) == [
        {"action": "sqs:ReceiveMessage", "resource": f"arn:aws:sqs:us-east-1:123456789012:{NOTIFICATIONS}",
         "principal": "api"},
        {"action": "ses:SendEmail", "resource": f"arn:aws:ses:us-east-1:123456789012:identity/{SENDER}",
         "principal": "api"},
        {"action": "dynamodb:DeleteTable", "resource": f"arn:aws:dynamodb:us-east-1:123456789012:table/{ORDERS}",
         "principal": "api"},
    ]  # fmt: skip
    admin("dynamodb", emu).describe_table(TableName=ORDERS)  # the admin principal may do anything
    drain(emu, url)


def test_the_notifier_consumes_dead_letters_poison_and_emails_only_from_the_sender(emu):
    sqs = as_function("notifier", "sqs", emu)
    main, dlq = queue_url(emu, "notifications"), queue_url(emu, "notifications-dlq")
    sqs.receive_message(QueueUrl=main, WaitTimeSeconds=0)
    sqs.send_message(QueueUrl=dlq, MessageBody="poison")
    ses = as_function("notifier", "ses", emu)
    email(ses)
    assert denied(emu) == []
    assert refused(sqs.receive_message, QueueUrl=dlq)[0] == "AccessDenied"
    assert refused(email, ses, "someone-else@example.com")[0] == "AccessDenied"
    assert refused(as_function("notifier", "dynamodb", emu).get_item, TableName=ORDERS,
                   Key={"id": {"S": "x"}})[0] == "AccessDeniedException"  # fmt: skip
    assert [d["action"] for d in denied(emu)] == ["sqs:ReceiveMessage", "ses:SendEmail", "dynamodb:GetItem"]
    drain(emu, dlq)
    drain(emu, main)


def test_transactions_are_authorised_item_by_item(emu):
    ddb = as_function("authorizer", "dynamodb", emu)
    customers = "ekiosk-local-customers"
    ddb.put_item(TableName=customers, Item={"id": {"S": "c1"}})
    code, _, _ = refused(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": customers, "Item": {"id": {"S": "c2"}}}},
        {"Delete": {"TableName": customers, "Key": {"id": {"S": "c1"}}}},
    ])  # fmt: skip
    assert code == "AccessDeniedException"
    assert denied(emu)[-1]["action"] == "dynamodb:DeleteItem"


def _run(code: str, emu, tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EKIOSK_"))}
    environment.update(STAGE="local", AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=emu.url,
                       EKIOSK_DATA_DIR=str(tmp_path), LOG_LEVEL="WARNING", **env)  # fmt: skip
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


WORKER_POLL = """
from chalicelib.bootstrap import services
from chalicelib.runtime import principals
from chalicelib.runtime.worker import Worker
principals.install_job_credentials()
services()
worker = Worker()
worker.poll_seconds = 1
print(worker.poll_once())
"""


def test_the_worker_parks_a_poison_message_on_the_dead_letter_queue(emu, tmp_path):
    main, dlq = queue_url(emu, "notifications"), queue_url(emu, "notifications-dlq")
    admin("sqs", emu).send_message(QueueUrl=main, MessageBody="this is not a notification")
    result = _run(WORKER_POLL, emu, tmp_path, **principals.credentials_env("notifier"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1" and denied(emu) == [], result.stderr
    bodies = [m["Body"] for m in admin("sqs", emu).receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)
              .get("Messages", [])]  # fmt: skip
    assert bodies == ["this is not a notification"]
    drain(emu, dlq)


def test_signed_as_the_api_the_worker_would_be_refused(emu, tmp_path):
    result = _run(WORKER_POLL, emu, tmp_path, **principals.credentials_env("api"))
    assert result.returncode != 0 and "AccessDenied" in result.stderr
    assert {d["principal"] for d in denied(emu)} == {"api"}


def test_the_workers_jobs_each_sign_as_their_own_function(emu, tmp_path):
    jobs = {name: [principals.access_key(name), principals.secret_key(name)]
            for name in set(principals.JOB_PRINCIPALS.values())}
    code = """
from chalicelib.bootstrap import services
from chalicelib.runtime import principals
from chalicelib.runtime.worker import Worker
principals.install_job_credentials()
services()
Worker().run_due_jobs({})
from chalicelib.services.notifications import sweep_pending
try:
    with principals.acting_as("price_snapshot"):  # the wrong job's credentials
        sweep_pending(services())
except Exception as error:
    print(type(error).__name__)
"""
    result = _run(code, emu, tmp_path, **principals.credentials_env("notifier"),
                  EKIOSK_JOB_CREDENTIALS=json.dumps(jobs))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "periodic job" not in result.stderr, result.stderr  # every job ran without a refusal
    assert result.stdout.strip()  # the sweep signed as price_snapshot was refused
    assert {(d["principal"], d["action"].split(":")[0]) for d in denied(emu)} == {("price_snapshot", "dynamodb")}


def test_make_redrive_works_under_enforcement(emu, tmp_path):
    dlq = queue_url(emu, "notifications-dlq")
    admin("sqs", emu).send_message(QueueUrl=dlq, MessageBody="garbage")
    code = "import os; from chalicelib.runtime.redrive import main; main([]); print(os.environ['AWS_ACCESS_KEY_ID'])"
    result = _run(code, emu, tmp_path,
                  EKIOSK_EMULATOR_IAM="enforce", EKIOSK_EMULATOR_PORT=str(emu.port))  # fmt: skip
    assert result.returncode == 0, result.stderr
    *_, report, key = result.stdout.strip().splitlines()
    assert json.loads(report)["kept"] == 1 and denied(emu) == []
    assert key == principals.access_key("redrive")
    drain(emu, dlq)
