"""The emulator's SQS retention check reads one attribute (moto's computes every attribute of the
queue, walking all its messages, for each message received) and must judge exactly as moto does."""

from __future__ import annotations

import time

import boto3

from chalicelib.runtime import emulator_patches
from chalicelib.runtime.emulator import Emulator


def test_the_retention_check_agrees_with_moto(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    from moto.sqs.models import sqs_backends

    with Emulator() as emulator:
        sqs = boto3.client("sqs", endpoint_url=emulator.url, region_name="us-east-1")
        url = sqs.create_queue(QueueName="retention", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        for body in ("fresh", "old", "expired"):
            sqs.send_message(QueueUrl=url, MessageBody=body)
        backend = sqs_backends["123456789012"]["us-east-1"]
        ages = {"fresh": 0, "old": 55, "expired": 65}
        for message in backend.queues["retention"]._messages:
            message.sent_timestamp = int((time.time() - ages[message.body]) * 1000)
        verdicts = {
            m.body: emulator_patches.is_message_valid_based_on_retention_period(backend, "retention", m)
            for m in backend.queues["retention"]._messages
        }
        assert verdicts == {"fresh": True, "old": True, "expired": False}
        for message in backend.queues["retention"]._messages:
            original = emulator_patches._original_retention_check(backend, "retention", message)
            assert original == verdicts[message.body]
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]] == [
            "fresh", "old"
        ]
