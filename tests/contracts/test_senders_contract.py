"""The sender ports (SmsSender, EmailSender): what a send returns, and which failures are permanent and which
transient (SPEC §8), one contract for the fakes (tests/fakes/senders.py) and the adapters.

SMS: `FakeSmsSender`; `AfricasTalkingSender` against the fake Africa's Talking API (tests/support); and the
local sink (`LocalSmsSink`, chosen when no Africa's Talking account is configured), both built by
`build_sms_sender`. The sink stands in for a phone, not for the provider: it accepts every message, so only
the acceptance tests (`sms`) run on it; the refusals and faults (`sms_provider`) run on the fake and on
Africa's Talking. Email: `FakeEmailSender` and `SesEmailSender` on the session's emulator, whose SES (as in
the SES sandbox) only sends from verified identities: the stack's bootstrap verified DEFAULT_FROM_EMAIL. The
emulator does not model unverified recipients, so only a malformed address stands for a refused one.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from chalicelib.adapters.sms import SINK_FILE, LocalSmsSink, build_sms_sender
from chalicelib.config import load_settings
from chalicelib.domain.notifications import PermanentDeliveryError, Receipt, TransientDeliveryError
from tests.fakes.senders import FakeEmailSender, FakeSmsSender
from tests.support.fake_africastalking import FakeAfricasTalking

SMS_SIDES = ["fake", "africastalking", "local-sink"]
SMS_PROVIDERS = ["fake", "africastalking"]
EMAIL_SIDES = ["fake", "ses"]
PROVIDER_TIMEOUT = "0.3"  # seconds: a hung provider costs a test this long, not production's 5 s
# What a provider may do that is worth another try; Africa's Talking answers each as the fake server can.
SMS_FAULTS = {"HTTP 500": 500, "HTTP 503": 503, "throttled (HTTP 429)": 429, "no answer (timeout)": None}


def phone() -> str:
    """A Kenyan mobile number no other test uses (the Africa's Talking server is shared by the module)."""
    return f"+2547{uuid.uuid4().int % 100_000_000:08d}"


# --- SMS sides ------------------------------------------------------------------------------------------


class AfricasTalking:
    provider = "africastalking"

    def __init__(self, server: FakeAfricasTalking, sender_id: str | None):
        self.server = server
        env = {"STAGE": "contract", "AT_USERNAME": server.username, "AT_API_KEY": server.api_key,
               "AT_BASE_URL": server.url, "AT_SENDER_ID": sender_id or ""}
        self.sender = build_sms_sender(load_settings(env))

    def delivered(self, number: str) -> list[tuple[str, str | None, str | None]]:
        """(message, sender id, message id) of each message the provider accepted for `number`."""
        return [(r.message, r.sender, r.message_id) for r in self.server.delivered_to(number)]

    def blacklist(self, number: str) -> None:
        self.server.blacklist(number)

    def break_next(self, number: str, fault: str) -> None:
        status = SMS_FAULTS[fault]
        if status is None:
            self.server.hang_next(1, seconds=5)
        else:
            self.server.fail_next(1, status)


class Sink:
    provider = "local-sink"

    def __init__(self, data_dir, sender_id: str | None):
        env = {"STAGE": "local", "EKIOSK_DATA_DIR": str(data_dir), "AT_SENDER_ID": sender_id or ""}
        self.sender = build_sms_sender(load_settings(env))
        self.outbox = LocalSmsSink(data_dir / SINK_FILE)  # what a developer reads

    def delivered(self, number: str) -> list[tuple[str, str | None, str | None]]:
        return [(line["message"], line["from"], line["messageId"]) for line in self.outbox.read()
                if line["to"] == number]


class MemorySms:
    provider = "fake"

    def __init__(self, sender_id: str | None):
        self.sender = FakeSmsSender(sender_id=sender_id)

    def delivered(self, number: str) -> list[tuple[str, str | None, str | None]]:
        return [(sent.message, sent.sender, sent.message_id) for sent in self.sender.sent if sent.to == number]

    def blacklist(self, number: str) -> None:
        self.sender.blacklist(number)

    def break_next(self, number: str, fault: str) -> None:
        self.sender.fail(number, TransientDeliveryError(fault))


@pytest.fixture(scope="module")
def africastalking():
    with FakeAfricasTalking(username="sandbox", api_key="k") as server:
        yield server


@pytest.fixture
def sender_id() -> str | None:
    return "EKIOSK"  # AT_SENDER_ID; a test parametrizes it to see the provider's default


def sms_side(name: str, request, sender_id: str | None):
    if name == "fake":
        return MemorySms(sender_id)
    if name == "local-sink":
        return Sink(request.getfixturevalue("tmp_path"), sender_id)
    request.getfixturevalue("monkeypatch").setenv("NOTIFY_PROVIDER_TIMEOUT_SECONDS", PROVIDER_TIMEOUT)
    server = request.getfixturevalue("africastalking")
    server.reset()
    request.addfinalizer(server.release)  # a hung request lets go when its test ends
    return AfricasTalking(server, sender_id)


@pytest.fixture(params=SMS_SIDES)
def sms(request, sender_id):
    return sms_side(request.param, request, sender_id)


@pytest.fixture(params=SMS_PROVIDERS)
def sms_provider(request, sender_id):
    """An SMS sender whose provider can refuse a message or fail."""
    return sms_side(request.param, request, sender_id)


# --- SMS contract ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("sender_id", ["EKIOSK", None])
def test_an_accepted_sms_returns_the_providers_receipt_and_comes_from_the_sender_id(sms, sender_id):
    number = phone()
    first = sms.sender.send(number, "Your order #1 has been placed.")
    second = sms.sender.send(number, "Your order #1 is on its way.")
    assert isinstance(first, Receipt) and first.provider == second.provider == sms.provider
    assert first.message_id and second.message_id and first.message_id != second.message_id
    assert sms.delivered(number) == [("Your order #1 has been placed.", sender_id, first.message_id),
                                     ("Your order #1 is on its way.", sender_id, second.message_id)]


def test_a_blacklisted_number_is_a_permanent_failure_every_time(sms_provider, sender_id):
    number, other = phone(), phone()
    sms_provider.blacklist(number)
    for _ in range(2):
        with pytest.raises(PermanentDeliveryError, match="UserInBlacklist"):
            sms_provider.sender.send(number, "Hello")
    assert sms_provider.delivered(number) == []
    receipt = sms_provider.sender.send(other, "Hello")
    assert sms_provider.delivered(other) == [("Hello", sender_id, receipt.message_id)]


@pytest.mark.parametrize("number", ["0712345678", "254712345678", "+254 712 345 678", "+123", ""])
def test_a_number_not_in_e164_form_is_a_permanent_failure(sms_provider, number):
    with pytest.raises(PermanentDeliveryError, match="InvalidPhoneNumber"):
        sms_provider.sender.send(number, "Hello")
    assert sms_provider.delivered(number) == []


@pytest.mark.parametrize("fault", SMS_FAULTS)
def test_a_provider_fault_is_transient_and_the_next_try_goes_through(sms_provider, sender_id, fault):
    number = phone()
    sms_provider.break_next(number, fault)
    with pytest.raises(TransientDeliveryError):
        sms_provider.sender.send(number, "Hello")
    assert sms_provider.delivered(number) == []
    receipt = sms_provider.sender.send(number, "Hello")
    assert sms_provider.delivered(number) == [("Hello", sender_id, receipt.message_id)]


# --- email sides ----------------------------------------------------------------------------------------


class Ses:
    provider = "ses"

    def __init__(self):
        from chalicelib.adapters.aws import client
        from chalicelib.adapters.email import SesEmailSender
        from chalicelib.config import get_settings

        settings = get_settings()  # the session emulator's
        self.sender = SesEmailSender(settings)
        self._ses = client("ses", settings)
        self._faults = f"{settings.aws_endpoint_url}/_ekiosk/faults/script"

    def reached(self) -> int:
        """How many recipients the provider has sent to (every address of a message counts)."""
        return int(self._ses.get_send_quota()["SentLast24Hours"])

    def break_next(self, recipient: str) -> None:
        """SES's next send answers HTTP 500 InternalFailure (the emulator's only SES fault)."""
        fault = {"service": "ses", "operation": "SendEmail", "fault": "internal_error"}
        requests.post(self._faults, json={"faults": [fault]}, timeout=5).raise_for_status()


class MemoryEmail:
    provider = "fake"

    def __init__(self):
        self.sender = FakeEmailSender()

    def reached(self) -> int:
        return sum(len(sent.addresses) for sent in self.sender.sent)

    def break_next(self, recipient: str) -> None:
        self.sender.fail(recipient, TransientDeliveryError("SES InternalFailure"))


@pytest.fixture(params=EMAIL_SIDES)
def email(request):
    if request.param == "fake":
        return MemoryEmail()
    request.getfixturevalue("emulator")
    return Ses()


# --- email contract -------------------------------------------------------------------------------------


def test_an_accepted_email_returns_the_providers_receipt_and_reaches_every_listed_address(email):
    before = email.reached()
    first = email.sender.send("staff@ekiosk.test", "A new order (#1) requires your attention.")
    second = email.sender.send(" staff@ekiosk.test, boss@ekiosk.test ,", "A new order (#2) requires your attention.")
    assert isinstance(first, Receipt) and first.provider == second.provider == email.provider
    assert first.message_id and second.message_id and first.message_id != second.message_id
    assert email.reached() == before + 3


@pytest.mark.parametrize("recipient", ["", " , ", "staff", "staff@ekiosk.test,boss@"])
def test_no_recipient_or_one_without_a_domain_is_a_permanent_failure_and_nothing_is_sent(email, recipient):
    before = email.reached()
    with pytest.raises(PermanentDeliveryError):
        email.sender.send(recipient, "A new order (#1) requires your attention.")
    assert email.reached() == before


def test_a_provider_fault_is_transient_and_the_next_try_goes_through_for_email(email):
    before = email.reached()
    email.break_next("staff@ekiosk.test")
    with pytest.raises(TransientDeliveryError):
        email.sender.send("staff@ekiosk.test", "A new order (#1) requires your attention.")
    assert email.reached() == before
    email.sender.send("staff@ekiosk.test", "A new order (#1) requires your attention.")
    assert email.reached() == before + 1
