"""Secrets read at run time (SPEC §9): a plain value wins, else the ARN's value from Secrets Manager, fetched
only when needed, cached with a TTL, never logged."""

from __future__ import annotations

import logging

import pytest

from chalicelib.adapters import secrets
from chalicelib.adapters.secrets import SecretCache, SecretUnavailable
from chalicelib.adapters.sms import AfricasTalkingSender, build_sms_sender
from chalicelib.config import load_settings
from chalicelib.domain.notifications import DeliveryTuning, TransientDeliveryError
from tests.support.fake_africastalking import FakeAfricasTalking

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ekiosk/dev/at-api-key-AbCdEf"
PHONE = "+254711223344"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Store:
    """A fake GetSecretValue: counts calls; values can change (rotation) or fail."""

    def __init__(self, **values):
        self.values, self.calls, self.fail = dict(values), [], None

    def __call__(self, secret_id, settings):
        self.calls.append(secret_id)
        if self.fail:
            raise self.fail
        return self.values[secret_id]


@pytest.fixture
def store(monkeypatch):
    fake, clock = Store(**{ARN: "key-1"}), Clock()
    monkeypatch.setattr(secrets, "cache", SecretCache(fetch=fake, ttl=300, clock=clock))
    fake.clock = clock
    return fake


def test_a_plain_value_wins_and_nothing_is_fetched(store):
    settings = load_settings({"STAGE": "dev", "AT_API_KEY": "plain", "AT_API_KEY_SECRET_ARN": ARN})
    assert secrets.at_api_key(settings) == "plain"
    assert store.calls == []
    assert secrets.at_api_key(load_settings({"STAGE": "dev"})) is None


def test_the_arns_value_is_fetched_once_and_kept_for_the_ttl(store):
    settings = load_settings({"STAGE": "dev", "AT_API_KEY_SECRET_ARN": ARN})
    assert [secrets.at_api_key(settings) for _ in range(3)] == ["key-1"] * 3
    assert store.calls == [ARN]
    store.values[ARN] = "key-2"  # rotated
    store.clock.now += 299
    assert secrets.at_api_key(settings) == "key-1"
    store.clock.now += 2
    assert secrets.at_api_key(settings) == "key-2" and store.calls == [ARN, ARN]


def test_a_failure_names_the_secret_never_a_value_and_is_not_cached(store, caplog):
    settings = load_settings({"STAGE": "dev", "OIDC_CLIENT_SECRET_ARN": ARN})
    store.fail = RuntimeError("AccessDenied for key-1")
    with caplog.at_level(logging.DEBUG), pytest.raises(SecretUnavailable) as caught:
        secrets.oidc_client_secret(settings)
    assert ARN in str(caught.value) and "key-1" not in str(caught.value) and "key-1" not in caplog.text
    store.fail = None
    assert secrets.oidc_client_secret(settings) == "key-1"


def test_get_secret_value_reads_secrets_manager(monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        import boto3

        from chalicelib.adapters import aws

        aws._client.cache_clear()
        try:
            created = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
                Name="ekiosk/dev/oidc-client-secret", SecretString="s3cr3t")
            settings = load_settings({"STAGE": "dev", "AWS_DEFAULT_REGION": "us-east-1"})
            assert secrets._get_secret_value(created["ARN"], settings) == "s3cr3t"
            with pytest.raises(SecretUnavailable):
                SecretCache().value(created["ARN"] + "-missing", settings)
        finally:
            aws._client.cache_clear()


# The Africa's Talking key: read when sending, not when the sender is built ---------------------------------


@pytest.fixture(scope="module")
def fake_at():
    with FakeAfricasTalking(username="sandbox", api_key="key-1") as server:
        yield server


def test_the_sms_sender_reads_the_key_only_when_sending_and_follows_rotation(store, fake_at, caplog):
    fake_at.reset()
    settings = load_settings({"STAGE": "dev", "AT_USERNAME": "sandbox", "AT_API_KEY_SECRET_ARN": ARN,
                              "AT_BASE_URL": fake_at.url})
    assert settings.has_sms_account and not settings.uses_sms_sink
    sender = build_sms_sender(settings)
    assert isinstance(sender, AfricasTalkingSender) and store.calls == []  # lazy
    sender._tuning = DeliveryTuning(provider_timeout=2)
    with caplog.at_level(logging.DEBUG):
        sender.send(PHONE, "Hello")
    assert [r.api_key for r in fake_at.delivered] == ["key-1"] and store.calls == [ARN]
    assert "key-1" not in caplog.text
    store.values[ARN] = "key-2"
    store.clock.now += 301
    fake_at.reset()
    fake_at.api_key = "key-2"
    try:
        sender.send(PHONE, "Again")
    finally:
        fake_at.api_key = "key-1"
    assert [r.api_key for r in fake_at.delivered] == ["key-2"]


def test_an_unreadable_key_is_a_transient_failure(store):
    settings = load_settings({"STAGE": "dev", "AT_USERNAME": "sandbox", "AT_API_KEY_SECRET_ARN": ARN,
                              "AT_BASE_URL": "http://127.0.0.1:9"})
    store.fail = RuntimeError("AccessDeniedException")
    with pytest.raises(TransientDeliveryError, match="unavailable"):
        build_sms_sender(settings).send(PHONE, "Hello")


CURSOR_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ekiosk/dev/cursor-signing-key-XyZ"


def test_the_cursor_key_is_the_plain_value_else_the_generated_secret_else_derived(store):
    store.values[CURSOR_ARN] = "generated-by-cloudformation"
    plain = load_settings({"STAGE": "dev", "CURSOR_SIGNING_KEY": "plain", "CURSOR_SIGNING_KEY_SECRET_ARN": CURSOR_ARN})
    assert secrets.cursor_key(plain) == b"plain" and store.calls == []
    on_aws = load_settings({"STAGE": "dev", "CURSOR_SIGNING_KEY_SECRET_ARN": CURSOR_ARN})
    assert secrets.cursor_key(on_aws) == b"generated-by-cloudformation"
    assert secrets.cursor_key(on_aws) != load_settings({"STAGE": "dev"}).cursor_key  # not guessable from STAGE
    assert store.calls == [CURSOR_ARN]
    local = load_settings({"STAGE": "local"})
    assert secrets.cursor_key(local) == local.cursor_key and store.calls == [CURSOR_ARN]
