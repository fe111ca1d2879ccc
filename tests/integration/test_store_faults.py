"""The write paths survive AWS's transient failures, on the real emulator with faults injected into the
client (deterministic, one at a time): conflicts, throttling, unprocessed batch keys and a 500 that came
after the write took effect. SPEC §10: no 5xx but 503 `try_again`, nothing doubled, nothing lost."""

from __future__ import annotations

import pytest

from chalicelib.adapters.dynamodb import retry
from chalicelib.adapters.dynamodb.catalog import CategoryRecord
from chalicelib.adapters.dynamodb.notifications import NotificationRecord
from chalicelib.bootstrap import services
from chalicelib.domain.errors import TryAgain
from chalicelib.services import bulk_import
from chalicelib.services import catalog as service
from tests.support.catalog import csv_text, report_body, unique
from tests.support.faults import StoreFaults, error
from tests.support.notifications import sms_draft


@pytest.fixture
def faults(emulator, monkeypatch):
    pauses: list[float] = []
    monkeypatch.setattr(retry, "sleep", pauses.append)
    from chalicelib.adapters.dynamodb.tables import all_models

    injected = StoreFaults(*(model._get_connection().connection.client for model in all_models()))
    injected.pauses = pauses
    yield injected
    injected.close()
    assert not any(injected.faults.values()), f"faults never met: {dict(injected.faults)}"


def test_a_product_edit_meeting_a_transaction_conflict_is_retried_not_a_500(faults):
    category = service.create_category(services(), unique("edit"), None)
    product = service.create_product(services(), "Pen", 1000, None, 5, category.id)
    faults.calls.clear()
    faults.fail("UpdateItem", error("TransactionConflictException"), error("ThrottlingException"))
    updated = service.update_product(services(), product.id, {"name": "PEN", "stock": 7})  # one plain UpdateItem
    assert (updated.name, updated.stock) == ("PEN", 7)
    assert len(faults.calls["UpdateItem"]) == 3  # two refused, the third applied
    assert service.get_product(services(), product.id).stock == 7


def test_a_fault_outlasting_every_retry_is_try_again(faults):
    category = service.create_category(services(), unique("busy"), None)
    product = service.create_product(services(), "Pen", 1000, None, 5, category.id)
    faults.fail("UpdateItem", *[error("ProvisionedThroughputExceededException")] * retry.MAX_ATTEMPTS)
    with pytest.raises(TryAgain):
        service.update_product(services(), product.id, {"stock": 9})
    assert service.get_product(services(), product.id).stock == 5


def test_a_transaction_repeated_after_an_effective_500_applies_once(faults):
    category = service.create_category(services(), unique("token"), None)
    faults.calls.clear()
    faults.after_effect("TransactWriteItems")
    service.create_product(services(), "Lamp", 2500, None, 3, category.id)
    sent = faults.calls["TransactWriteItems"]
    assert len(sent) == 2 and sent[0]["ClientRequestToken"] == sent[1]["ClientRequestToken"]
    stored = service.get_category(services(), category.id)
    assert stored.product_counts[0] == 1 and stored.price_sums[0] == 2500  # the aggregate counted once


def test_throttled_transactions_mid_upload_are_retried_and_the_report_is_intact(faults):
    top = unique("bulk")
    rows = [(f"item-{i}", 1, "10.00", f"{top}/A") for i in range(5)] + [(f"other-{i}", 2, "20.00", top)
                                                                      for i in range(5)]
    body = csv_text(rows).encode()
    faults.fail("TransactWriteItems",
                error("TransactionCanceledException", reasons=["ThrottlingError", None]),
                error("TransactionCanceledException", reasons=[None, "TransactionConflict"]),
                error("ThrottlingException"))
    report = bulk_import.upload(services(), body, "text/csv")
    assert report_body(report) == {"products_created": 10, "products_updated": 0, "errors": []}, report_body(report)
    again = bulk_import.upload(services(), body, "text/csv")
    assert (again.created, again.updated, again.errors) == (0, 10, {})


def test_unprocessed_batch_keys_are_asked_again(faults):
    categories = [service.create_category(services(), unique("batch"), None) for _ in range(3)]
    faults.calls.clear()
    faults.unprocessed("BatchGetItem").unprocessed("BatchGetItem")
    found = services().catalog.get_categories([c.id for c in categories])
    assert set(found) == {c.id for c in categories}
    assert len(faults.calls["BatchGetItem"]) == 3 and len(faults.pauses) == 2  # backed off each time


def test_price_snapshots_retry_unprocessed_items(faults):
    from chalicelib.domain.catalog import PriceSnapshot

    category = service.create_category(services(), unique("snap"), None)
    snapshot = PriceSnapshot(category_id=category.id, taken_at="2030-01-01T00:00:00Z", price_sum_cents=100,
                             products_count=1, subcategory_count=0)
    faults.calls.clear()
    faults.unprocessed("BatchWriteItem")
    services().catalog.save_snapshots([snapshot])
    assert len(faults.calls["BatchWriteItem"]) == 2 and len(faults.pauses) == 1
    items, _ = services().catalog.list_snapshots(category.id, 10, None)
    assert [s.price_sum_cents for s in items] == [100]


def test_a_lease_taken_by_an_update_repeated_after_an_effective_500_is_ours(faults):
    from chalicelib.adapters.dynamodb.notification_repository import DynamoNotificationRepository

    repo = DynamoNotificationRepository()
    draft = sms_draft()
    repo.add([draft], "2030-01-01T00:00:00.000000Z")
    faults.after_effect("UpdateItem")
    state, notification = repo.begin_attempt(draft.id, "2030-01-01T00:01:00.000000Z", "2030-01-01T00:01:30.000000Z")
    assert state == "started" and notification.lease_until == "2030-01-01T00:01:30.000000Z"
    assert NotificationRecord.get(draft.id).attempts == 1
    # a status change repeated after its 500 reports what it did, not a refusal
    from chalicelib.domain.notifications import Receipt

    faults.after_effect("UpdateItem")
    assert repo.mark_sent(draft.id, Receipt("africastalking", "AT-1"), "2030-01-01T00:01:05.000000Z")
    faults.after_effect("UpdateItem")
    assert not repo.mark_failed(draft.id, "late", "2030-01-01T00:01:06.000000Z")  # really refused: SENT


def test_category_reads_survive_throttling(faults):
    category = service.create_category(services(), unique("read"), None)
    faults.fail("GetItem", error("ThrottlingException"), error("InternalServerError", 500))
    assert service.get_category(services(), category.id).id == category.id
    assert CategoryRecord.get(category.id).name == category.name
