from chalicelib.config import load_settings
from chalicelib.resources import NOTIFICATIONS_QUEUE, NOTIFIER_TIMEOUT_SECONDS, QUEUES, table_definitions


def test_every_table_is_defined_once_per_stage():
    definitions = table_definitions(load_settings({"STAGE": "dev"}))
    names = [d["TableName"] for d in definitions]
    assert names == sorted(
        f"ekiosk-dev-{n}" for n in ("categories", "customers", "notifications", "orders", "products")
    )


def test_indexes_serve_the_access_patterns():
    definitions = {d["TableName"].rsplit("-", 1)[1]: d for d in table_definitions(load_settings({}))}
    indexes = {name: {i["IndexName"]: i["KeySchema"] for i in d.get("GlobalSecondaryIndexes", [])}
               for name, d in definitions.items()}
    assert indexes["orders"]["by-customer"][0] == {"AttributeName": "customer_id", "KeyType": "HASH"}
    assert indexes["orders"]["by-status"][1] == {"AttributeName": "created_at", "KeyType": "RANGE"}
    assert "by-order" in indexes["notifications"]
    assert "by-parent" in indexes["categories"]
    assert {"by-category", "by-path"} <= set(indexes["products"])
    for definition in definitions.values():
        declared = {a["AttributeName"] for a in definition["AttributeDefinitions"]}
        used = {k["AttributeName"] for k in definition["KeySchema"]}
        for index in definition.get("GlobalSecondaryIndexes", []):
            used |= {k["AttributeName"] for k in index["KeySchema"]}
        assert declared == used  # DynamoDB rejects attribute definitions that no key uses


def test_notifications_queue_has_a_dead_letter_queue_and_room_for_the_lambda():
    assert NOTIFICATIONS_QUEUE.dead_letter in {q.name for q in QUEUES}
    assert QUEUES.index(NOTIFICATIONS_QUEUE) > [q.name for q in QUEUES].index(NOTIFICATIONS_QUEUE.dead_letter)
    assert NOTIFICATIONS_QUEUE.visibility_timeout >= 6 * NOTIFIER_TIMEOUT_SECONDS
    assert NOTIFICATIONS_QUEUE.max_receive_count > 1
