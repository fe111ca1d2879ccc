"""The one definition of ekiosk's tables and queues.

Tables come from the PynamoDB models; queues are declared here. The local bootstrap, the LocalStack
init hook and the CloudFormation in infra/ are all generated from these functions, so they cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.config import Settings

# Lambda timeout of the SQS consumer (seconds); the queue's visibility timeout must be >= 6x it.
NOTIFIER_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class QueueSpec:
    name: str
    visibility_timeout: int = 60
    retention_seconds: int = 4 * 24 * 3600
    dead_letter: str | None = None
    max_receive_count: int = 0


# Transient failures are retried with growing delays (5, 10, 20, 40, 60, 60, 60 s...) for more than
# three minutes before the message's ninth receive moves it to the dead-letter queue.
NOTIFICATIONS_DLQ = QueueSpec(name="notifications-dlq", retention_seconds=14 * 24 * 3600)
NOTIFICATIONS_QUEUE = QueueSpec(
    name="notifications",
    visibility_timeout=6 * NOTIFIER_TIMEOUT_SECONDS,
    dead_letter=NOTIFICATIONS_DLQ.name,
    max_receive_count=9,
)
QUEUES = (NOTIFICATIONS_DLQ, NOTIFICATIONS_QUEUE)  # dead-letter queues first: others point at them


def table_definition(logical_name: str, physical_name: str) -> dict:
    """CreateTable arguments (boto3 / CloudFormation shape) for one table, from its model."""
    # Not at module level: the Lambda handlers import this module for the queue names only, and the
    # models would load PynamoDB and botocore at cold start.
    from chalicelib.adapters.dynamodb.tables import TABLE_MODELS

    schema = TABLE_MODELS[logical_name]._get_schema()
    attributes = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
    indexes = []
    for index in schema["global_secondary_indexes"]:
        for attribute in index["attribute_definitions"]:
            attributes[attribute["AttributeName"]] = attribute["AttributeType"]
        indexes.append(
            {
                "IndexName": index["index_name"],
                "KeySchema": sorted(index["key_schema"], key=lambda k: k["KeyType"] != "HASH"),
                "Projection": index["projection"],
            }
        )
    definition = {
        "TableName": physical_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind} for name, kind in sorted(attributes.items())
        ],
        "KeySchema": sorted(schema["key_schema"], key=lambda k: k["KeyType"] != "HASH"),
    }
    if indexes:
        definition["GlobalSecondaryIndexes"] = sorted(indexes, key=lambda i: i["IndexName"])
    return definition


def table_definitions(settings: Settings) -> list[dict]:
    from chalicelib.adapters.dynamodb.tables import TABLE_MODELS  # see table_definition

    return [table_definition(name, settings.table_name(name)) for name in sorted(TABLE_MODELS)]
