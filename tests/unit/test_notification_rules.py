"""Notification rules without I/O: texts, ids, the retry schedule and the tuning knobs (SPEC §8)."""

import dataclasses

import pytest

from chalicelib.domain import messages
from chalicelib.domain.notifications import (
    EMAIL,
    FAILED,
    ORDER_APPROVED,
    ORDER_CANCELLED,
    ORDER_PLACED,
    SENT,
    SMS,
    DeliveryTuning,
    Notification,
    backoff_delay,
    drafts_for,
)
from chalicelib.resources import NOTIFICATIONS_QUEUE


def retry_schedule(max_receives: int) -> list[int]:
    """The delays between the attempts of a message that fails every time until the redrive limit."""
    return [backoff_delay(n) for n in range(1, max_receives)]


def test_placing_an_order_notifies_staff_by_email_and_the_customer_by_sms_with_the_exact_texts():
    drafts = drafts_for(ORDER_PLACED, order_id="o1", number=123, customer_email="john@example.com",
                        customer_phone="+254711223344", staff_emails=("a@x.test", "b@x.test"))
    assert [(d.id, d.channel, d.recipient, d.message) for d in drafts] == [
        ("o1:order_placed:EMAIL", EMAIL, "a@x.test,b@x.test",
         "A new order (#123) placed for john@example.com requires your attention."),
        ("o1:order_placed:SMS", SMS, "+254711223344",
         "Hello +254711223344 your order #123 has been placed successfully."),
    ]


@pytest.mark.parametrize(("event", "text"), [
    (ORDER_APPROVED, "Good news, +254711223344! Your order #7 has been approved."),
    (ORDER_CANCELLED, "Sorry, +254711223344. Your order #7 has been cancelled."),
])
def test_approval_and_cancellation_text_the_customer_only(event, text):
    drafts = drafts_for(event, order_id="o", number=7, customer_email="j@x.test", customer_phone="+254711223344",
                        staff_emails=("staff@x.test",))
    assert [(d.channel, d.message) for d in drafts] == [(SMS, text)]


def test_the_email_subject_carries_the_order_number():
    assert messages.email_subject(messages.new_order_for_staff(42, "a@b.test")) == (
        "ekiosk: new order #42 requires your attention")
    assert messages.email_subject("anything else") == messages.EMAIL_SUBJECT


def test_production_backoff_retries_for_more_than_three_minutes_never_waiting_over_a_minute():
    schedule = retry_schedule(NOTIFICATIONS_QUEUE.max_receive_count)
    assert schedule == [5, 10, 20, 40, 60, 60, 60, 60]
    assert sum(schedule) >= 180
    assert max(schedule) <= 60
    # a crashed consumer's message comes back after the visibility timeout: also within a minute
    assert NOTIFICATIONS_QUEUE.visibility_timeout <= 60


def test_backoff_is_whole_seconds_capped_and_monotonic():
    delays = [backoff_delay(n, 0.3, 2) for n in range(1, 12)]
    assert all(isinstance(d, int) for d in delays)
    assert delays == sorted(delays) and max(delays) == 2 and min(delays) >= 1
    assert backoff_delay(1000) == 60


def test_tuning_defaults_are_production_values_and_the_environment_can_shorten_them():
    assert DeliveryTuning.from_env({}) == DeliveryTuning()
    assert DeliveryTuning().backoff_max == 60 and DeliveryTuning().sweep_age >= 60
    tuned = DeliveryTuning.from_env({"NOTIFY_BACKOFF_BASE_SECONDS": "1", "NOTIFY_BACKOFF_MAX_SECONDS": "2",
                                     "NOTIFY_CONCURRENCY": "0", "NOTIFY_PROVIDER_TIMEOUT_SECONDS": "0.5"})
    assert (tuned.backoff_base, tuned.backoff_max, tuned.concurrency) == (1, 2, 1)
    assert tuned.connect_timeout == 0.5
    with pytest.raises(ValueError):
        DeliveryTuning.from_env({"NOTIFY_LEASE_SECONDS": "-1"})


def test_the_lease_rule_an_attempt_starts_on_a_pending_record_whose_lease_has_ended():
    now = "2030-01-01T00:00:10.000000Z"
    pending = Notification("o:order_placed:SMS", "o", "order_placed", "SMS", "+254700000000", "hi")
    assert pending.may_start(now)
    assert dataclasses.replace(pending, lease_until="2030-01-01T00:00:09.999999Z").may_start(now)
    assert not dataclasses.replace(pending, lease_until=now).may_start(now)
    assert not dataclasses.replace(pending, lease_until="2030-01-01T00:00:40.000000Z").may_start(now)
    assert not dataclasses.replace(pending, status=SENT).may_start(now)
    assert not dataclasses.replace(pending, status=FAILED).may_start(now)


def test_the_delivery_knobs_carry_the_queues_max_receive_count():
    from chalicelib.bootstrap import delivery_tuning

    assert delivery_tuning().max_receives == NOTIFICATIONS_QUEUE.max_receive_count
    assert DeliveryTuning().max_receives == NOTIFICATIONS_QUEUE.max_receive_count  # the unit tests' knobs
