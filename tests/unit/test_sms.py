"""The SMS adapters: Africa's Talking (through the SDK, against the fake AT server on loopback) and the local sink."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib.adapters.sms import (
    AfricasTalkingSender,
    LocalSmsSink,
    UnconfiguredSmsSender,
    build_sms_sender,
    parse_response,
)
from chalicelib.config import load_settings
from chalicelib.domain.notifications import DeliveryTuning, PermanentDeliveryError, TransientDeliveryError
from tests.support.fake_africastalking import FakeAfricasTalking

PHONE = "+254711223344"


@pytest.fixture(scope="module")
def fake():
    with FakeAfricasTalking(username="sandbox", api_key="k") as server:
        yield server


@pytest.fixture
def at(fake):
    fake.reset()
    return AfricasTalkingSender("sandbox", "k", sender_id="EKIOSK", base_url=fake.url,
                                tuning=DeliveryTuning(provider_timeout=0.5))


def test_requests_go_to_the_messaging_endpoint_under_at_base_url_as_to_the_real_api(fake, at):
    receipt = at.send(PHONE, "Hello there")
    assert at.endpoint == fake.url + "/version1/messaging"
    [received] = fake.delivered
    assert (received.username, received.to, received.message, received.sender, received.api_key) == (
        "sandbox", PHONE, "Hello there", "EKIOSK", "k")
    assert receipt.provider == "africastalking" and receipt.message_id == received.message_id


def test_without_a_sender_id_no_from_is_sent(fake):
    fake.reset()
    AfricasTalkingSender("sandbox", "k", base_url=fake.url + "/").send(PHONE, "x")
    assert fake.delivered[0].sender is None


def test_without_at_base_url_the_sdk_targets_the_real_api():
    assert AfricasTalkingSender("sandbox", "k").endpoint == "https://api.sandbox.africastalking.com/version1/messaging"
    assert AfricasTalkingSender("acme", "k").endpoint == "https://api.africastalking.com/version1/messaging"


def test_http_500_is_transient(fake, at):
    fake.fail_next(1, 500)
    with pytest.raises(TransientDeliveryError, match="HTTP 500"):
        at.send(PHONE, "x")
    assert at.send(PHONE, "x").message_id  # recovered


def test_throttling_and_bad_credentials_are_transient_but_a_bad_request_is_not(fake, at):
    fake.fail_next(1, 429)
    with pytest.raises(TransientDeliveryError):
        at.send(PHONE, "x")
    with pytest.raises(TransientDeliveryError, match="HTTP 401"):
        AfricasTalkingSender("sandbox", "wrong", base_url=fake.url).send(PHONE, "x")
    fake.fail_next(1, 400)
    with pytest.raises(PermanentDeliveryError):
        at.send(PHONE, "x")


def test_a_hanging_provider_times_out_as_a_transient_failure(fake, at):
    fake.hang_next(1, seconds=5)
    started = time.monotonic()
    with pytest.raises(TransientDeliveryError, match="timed out"):
        at.send(PHONE, "x")
    assert time.monotonic() - started < 2
    fake.release()
    assert fake.delivered == []


def test_an_unreachable_provider_is_transient():
    sender = AfricasTalkingSender("sandbox", "k", base_url="http://127.0.0.1:9", tuning=DeliveryTuning(
        provider_timeout=0.5))
    with pytest.raises(TransientDeliveryError, match="unreachable"):
        sender.send(PHONE, "x")


@pytest.mark.parametrize(("mark", "status"), [("blacklist", "UserInBlacklist"), ("invalid", "InvalidPhoneNumber")])
def test_recipient_failures_inside_http_200_are_permanent(fake, at, mark, status):
    getattr(fake, mark)(PHONE)
    with pytest.raises(PermanentDeliveryError, match=status):
        at.send(PHONE, "x")
    assert fake.delivered == []


def test_a_malformed_number_is_refused_before_any_call(fake, at):
    with pytest.raises(PermanentDeliveryError, match="InvalidPhoneNumber"):
        at.send("0711", "x")
    assert fake.requests == []


def _body(*recipients, message="Sent"):
    return json.dumps({"SMSMessageData": {"Message": message, "Recipients": list(recipients)}})


def test_parse_response_sorts_every_answer():
    ok = {"statusCode": 101, "number": PHONE, "status": "Success", "messageId": "ATXid_1"}
    assert parse_response(201, _body(ok), PHONE).message_id == "ATXid_1"
    assert parse_response(200, _body(dict(ok, statusCode=102, status="Queued")), PHONE).message_id == "ATXid_1"
    for code, name in ((405, "InsufficientBalance"), (500, "InternalServerError"), (501, "GatewayError")):
        with pytest.raises(TransientDeliveryError, match=name):
            parse_response(200, _body({"statusCode": code, "number": PHONE, "status": name}), PHONE)
    for code, name in ((406, "UserInBlacklist"), (403, "InvalidPhoneNumber"), (402, "InvalidSenderId")):
        with pytest.raises(PermanentDeliveryError, match=name):
            parse_response(200, _body({"statusCode": code, "number": PHONE, "status": name}), PHONE)
    with pytest.raises(PermanentDeliveryError, match="InvalidSenderId"):
        parse_response(200, _body(message="InvalidSenderId"), PHONE)
    with pytest.raises(TransientDeliveryError):
        parse_response(200, "<html>gateway</html>", PHONE)
    with pytest.raises(TransientDeliveryError):
        parse_response(502, "Bad Gateway", PHONE)
    with pytest.raises(TransientDeliveryError):
        parse_response(200, _body(dict(ok, messageId="None")), PHONE)


def test_the_local_sink_appends_json_lines_a_developer_can_read(tmp_path):
    sink = LocalSmsSink(tmp_path / "sms-outbox.jsonl", "EKIOSK")
    first = sink.send(PHONE, "Hello")
    sink.send("+254700000001", "Bye")
    assert first.provider == "local-sink" and first.message_id.startswith("local-sink-")
    lines = [json.loads(line) for line in (tmp_path / "sms-outbox.jsonl").read_text().splitlines()]
    assert [(x["to"], x["message"], x["from"]) for x in lines] == [(PHONE, "Hello", "EKIOSK"),
                                                                   ("+254700000001", "Bye", "EKIOSK")]
    assert lines[0]["messageId"] == first.message_id and sink.read() == lines


def test_build_sms_sender_picks_the_sink_only_on_a_local_stack_without_an_account(tmp_path):
    local = load_settings({"STAGE": "local", "EKIOSK_DATA_DIR": str(tmp_path)})
    sink = build_sms_sender(local)
    assert isinstance(sink, LocalSmsSink) and sink.path == tmp_path / "sms-outbox.jsonl"
    configured = load_settings({"STAGE": "local", "AT_USERNAME": "sandbox", "AT_API_KEY": "k",
                                "AT_BASE_URL": "http://127.0.0.1:1", "AT_SENDER_ID": "EKIOSK"})
    sender = build_sms_sender(configured)
    assert isinstance(sender, AfricasTalkingSender) and sender.endpoint == "http://127.0.0.1:1/version1/messaging"
    unconfigured = build_sms_sender(load_settings({"STAGE": "prod"}))
    assert isinstance(unconfigured, UnconfiguredSmsSender)
    with pytest.raises(TransientDeliveryError, match="not configured"):
        unconfigured.send(PHONE, "x")
