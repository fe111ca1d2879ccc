"""Creates the stage's tables, queues and email sender identity if missing (safe to run any number of times)."""

from __future__ import annotations

import json

from chalicelib.adapters.aws import client
from chalicelib.config import Settings, get_settings
from chalicelib.resources import QUEUES, table_definitions


def ensure_tables(settings: Settings) -> list[str]:
    dynamodb = client("dynamodb", settings)
    existing = set()
    for page in dynamodb.get_paginator("list_tables").paginate():
        existing.update(page["TableNames"])
    created = []
    for definition in table_definitions(settings):
        if definition["TableName"] in existing:
            continue
        try:
            dynamodb.create_table(**definition)
            created.append(definition["TableName"])
        except dynamodb.exceptions.ResourceInUseException:
            pass  # created concurrently by another bootstrap
    for name in created:
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
    return created


def ensure_queues(settings: Settings) -> dict[str, str]:
    """Returns the queue URLs by logical name."""
    sqs = client("sqs", settings)
    urls: dict[str, str] = {}
    for spec in QUEUES:
        attributes = {
            "VisibilityTimeout": str(spec.visibility_timeout),
            "MessageRetentionPeriod": str(spec.retention_seconds),
        }
        if spec.dead_letter:
            dlq_arn = sqs.get_queue_attributes(
                QueueUrl=urls[spec.dead_letter], AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
            )
        urls[spec.name] = sqs.create_queue(
            QueueName=settings.queue_name(spec.name), Attributes=attributes
        )["QueueUrl"]
    return urls


def ensure_sender(settings: Settings) -> None:
    """The SES identity email is sent from, on an emulator (infra/ creates it on AWS, the hook in LocalStack)."""
    if settings.aws_endpoint_url is None:
        return  # real SES would mail a verification link: the identity is infra/'s
    client("ses", settings).verify_email_identity(EmailAddress=settings.default_from_email)


def bootstrap(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    ensure_tables(settings)
    ensure_queues(settings)
    ensure_sender(settings)


if __name__ == "__main__":
    bootstrap()
    print("tables and queues ready")
