"""The notifications port (DynamoNotificationRepository / InMemoryNotificationRepository): records, leases,
status changes and lists, one contract for both implementations."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.notifications import (
    BUSY,
    FAILED,
    FINISHED,
    MISSING,
    PENDING,
    SENT,
    STARTED,
    Notification,
    NotificationDraft,
    Receipt,
)
from tests.contracts.conftest import same_error, uid
from tests.fakes.notifications import InMemoryNotificationRepository

T0, T1, T2, T3 = (f"2026-03-01T00:00:0{i}.000000Z" for i in range(4))


@pytest.fixture
def repo(impl, settings):
    from chalicelib.adapters.dynamodb.notification_repository import DynamoNotificationRepository

    return InMemoryNotificationRepository(settings) if impl == "fake" else DynamoNotificationRepository(settings)


def draft(order_id: str | None = None, event: str = "order_placed", channel: str = "SMS") -> NotificationDraft:
    return NotificationDraft(order_id or uid("o"), event, channel, "+254700000001", "Hello")


def stored(repo, now: str = T0) -> NotificationDraft:
    d = draft()
    assert repo.add([d], now) == [d.id]
    return d


def test_add_stores_pending_records_once(repo):
    d = draft()
    assert repo.add([d], T0) == [d.id]
    assert repo.add([d, (other := draft())], T1) == [other.id]
    assert repo.get(d.id) == Notification.from_draft(d, T0)
    assert repo.get(uid("n")) is None


def test_a_lease_admits_one_attempt_at_a_time(repo):
    d = stored(repo)
    outcome, started = repo.begin_attempt(d.id, T1, T2)
    assert outcome == STARTED and (started.attempts, started.lease_until, started.updated_at) == (1, T2, T1)
    assert repo.get(d.id) == started
    # our own lease, asked again (a repeat after a 500 that took effect): still ours
    assert repo.begin_attempt(d.id, T1, T2) == (STARTED, started)
    outcome, current = repo.begin_attempt(d.id, T1, T3)  # another attempt while the lease runs
    assert outcome == BUSY and current == started
    outcome, again = repo.begin_attempt(d.id, T3, "2026-03-01T00:00:09.000000Z")  # the lease ran out
    assert outcome == STARTED and again.attempts == 2
    assert repo.begin_attempt(uid("n"), T1, T2) == (MISSING, None)


def test_sent_is_final_and_a_repeat_of_it_is_recognized(repo):
    d = stored(repo)
    repo.begin_attempt(d.id, T1, T2)
    repo.release(d.id, "timeout", T1)
    repo.begin_attempt(d.id, T1, T2)
    receipt = Receipt("fake", "m-1")
    assert repo.mark_sent(d.id, receipt, T2) is True
    sent = repo.get(d.id)
    assert (sent.status, sent.provider, sent.provider_message_id, sent.sent_at, sent.lease_until, sent.error) == \
        (SENT, "fake", "m-1", T2, None, None)
    assert repo.mark_sent(d.id, receipt, T2) is True  # the same write again (after a 500 that took effect)
    assert repo.mark_sent(d.id, Receipt("fake", "m-2"), T3) is False
    assert repo.mark_failed(d.id, "late", T3) is False
    assert repo.release(d.id, "late", T3) is False
    assert repo.begin_attempt(d.id, T3, T3)[0] == FINISHED
    assert repo.get(d.id) == sent


def test_release_keeps_the_record_pending_with_its_error(repo):
    d = stored(repo)
    repo.begin_attempt(d.id, T1, T3)
    assert repo.release(d.id, "timeout", T2) is True
    released = repo.get(d.id)
    assert (released.status, released.lease_until, released.error, released.attempts) == (PENDING, None, "timeout", 1)
    assert repo.begin_attempt(d.id, T2, T3)[0] == STARTED  # free at once
    assert repo.release(uid("n"), "x", T2) is False


def test_failed_then_reset_for_a_redrive(repo):
    d = stored(repo)
    repo.begin_attempt(d.id, T1, T2)
    assert repo.mark_failed(d.id, "rejected", T1) is True
    failed = repo.get(d.id)
    assert (failed.status, failed.error, failed.lease_until, failed.attempts) == (FAILED, "rejected", None, 1)
    assert repo.mark_failed(d.id, "rejected", T1) is True  # its own repeat
    assert repo.mark_failed(d.id, "other", T2) is False
    assert repo.begin_attempt(d.id, T2, T3)[0] == FINISHED

    assert repo.reset_failed(d.id, T2) is True
    reset = repo.get(d.id)
    assert (reset.status, reset.error, reset.attempts, reset.updated_at) == (PENDING, "rejected", 1, T2)
    assert repo.reset_failed(d.id, T2) is True  # its own repeat
    assert repo.reset_failed(d.id, T3) is False  # PENDING: nothing to reset
    assert repo.reset_failed(uid("n"), T3) is False


def test_touch_only_what_the_sweeper_saw(repo):
    d = stored(repo)
    assert repo.touch(d.id, T0, T1) is True
    assert repo.touch(d.id, T1, T1) is True  # its own repeat
    assert repo.touch(d.id, T0, T2) is False  # changed since it was read
    assert repo.get(d.id).updated_at == T1
    assert repo.touch(uid("n"), T0, T1) is False


def test_stale_pending_lists_old_untouched_pending_records(repo):
    era = "1980-01-01T00:00:0{}.000000Z"  # older than every other record of the session
    old = [stored(repo, era.format(i)) for i in (2, 1, 3, 4)]
    repo.touch(old[2].id, era.format(3), "2030-01-01T00:00:00.000000Z")  # re-enqueued since
    repo.begin_attempt(old[3].id, era.format(5), era.format(6))
    repo.mark_failed(old[3].id, "x", era.format(5))
    found = repo.stale_pending("1980-01-01T00:00:09.000000Z")
    assert [n.id for n in found] == [old[1].id, old[0].id]


def test_list_by_order_is_newest_first_page_by_page(repo):
    order_id = uid("o")
    ds = [draft(order_id, "order_placed", "SMS"), draft(order_id, "order_placed", "EMAIL"),
          draft(order_id, "order_completed", "SMS")]  # a record's id is order:event:channel
    for i, d in enumerate(ds):
        repo.add([d], f"2026-03-02T00:00:0{i}.000000Z")
    stored(repo)  # another order's
    first, cursor = repo.list(order_id, 2, None)
    assert [n.id for n in first] == [ds[2].id, ds[1].id] and cursor
    rest, cursor = repo.list(order_id, 2, cursor)
    assert [n.id for n in rest] == [ds[0].id] and cursor is None
    assert repo.list(uid("o"), 2, None) == ([], None)


def test_a_cursor_from_elsewhere_is_invalid_input(repo):
    with pytest.raises(InvalidInput) as raised:
        repo.list(uid("o"), 2, "not a cursor")
    same_error(raised, InvalidInput, "invalid_input", {"cursor": ["not a cursor this API gave out"]})


def test_batch_attempts_and_sends(repo):
    a, b, done = stored(repo), stored(repo), stored(repo)
    repo.begin_attempt(done.id, T0, T1)
    repo.mark_sent(done.id, Receipt("fake", "m-0"), T0)
    missing = uid("n")
    outcomes = repo.begin_attempts([a.id, b.id, done.id, missing], T1, T2)
    assert {nid: outcome for nid, (outcome, _) in outcomes.items()} == \
        {a.id: STARTED, b.id: STARTED, done.id: FINISHED, missing: MISSING}
    assert outcomes[a.id][1] == repo.get(a.id)
    assert repo.mark_sent_many({a.id: Receipt("fake", "m-a"), b.id: Receipt("fake", "m-b")}, T2) == {a.id, b.id}
    repo.reset_failed(a.id, T3)  # SENT: not reset
    c = stored(repo)
    assert repo.mark_sent_many({a.id: Receipt("fake", "m-x"), c.id: Receipt("fake", "m-c")}, T3) == {c.id}
    assert repo.get(a.id).provider_message_id == "m-a"
