"""The JWKS cache: one fetch for many requests, max-age, rotation without restart, unknown-kid cooldown."""

import threading

import pytest

from chalicelib.auth.jwks import (
    DEFAULT_MAX_AGE,
    FAILURE_RETRY,
    MAX_MAX_AGE,
    JwksCache,
    cooldown_from_environment,
    http_fetch,
    max_age_of,
)
from chalicelib.auth.tokens import TokenVerifier
from tests.support.oidc import FakeProvider, TestIssuer, make_key

KEY_A = make_key("kid-a")
KEY_B = make_key("kid-b", index=1)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class CountingFetch:
    def __init__(self, *keys, max_age=300):
        self.keys, self.max_age, self.calls, self.fail = list(keys), max_age, 0, False

    def __call__(self):
        self.calls += 1
        if self.fail:
            raise OSError("connection refused")
        return {"keys": [key.public_jwk for key in self.keys]}, self.max_age


@pytest.fixture
def clock():
    return Clock()


def test_many_lookups_one_fetch(clock):
    fetch = CountingFetch(KEY_A)
    cache = JwksCache("u", clock=clock, fetch=fetch)
    for _ in range(100):
        assert cache.key_for("kid-a")["kid"] == "kid-a"
        clock.now += 1
    assert fetch.calls == 1


def test_the_key_set_is_fetched_again_after_max_age(clock):
    fetch = CountingFetch(KEY_A, max_age=60)
    cache = JwksCache("u", clock=clock, fetch=fetch)
    cache.key_for("kid-a")
    clock.now += 59
    cache.key_for("kid-a")
    assert fetch.calls == 1
    clock.now += 2
    cache.key_for("kid-a")
    assert fetch.calls == 2


def test_a_rotated_key_is_picked_up_without_a_restart(clock):
    fetch = CountingFetch(KEY_A)
    cache = JwksCache("u", clock=clock, fetch=fetch, cooldown=30)
    assert cache.key_for("kid-a")
    fetch.keys = [KEY_A, KEY_B]  # the provider publishes a new key and starts signing with it
    clock.now += 31
    assert cache.key_for("kid-b")["kid"] == "kid-b"
    assert fetch.calls == 2
    assert cache.key_for("kid-a")  # the old key still verifies tokens issued before the rotation


def test_unknown_kids_refetch_at_most_once_per_cooldown(clock):
    fetch = CountingFetch(KEY_A)
    cache = JwksCache("u", clock=clock, fetch=fetch, cooldown=30)
    cache.key_for("kid-a")
    clock.now += 31
    for number in range(1000):  # a flood of made-up kids within one cooldown
        assert cache.key_for(f"made-up-{number}") is None
        clock.now += 0.01
    assert fetch.calls == 2  # the first unknown kid caused one refetch; the rest waited
    clock.now += 30
    cache.key_for("made-up-again")
    assert fetch.calls == 3


def test_a_failed_fetch_keeps_the_keys_and_waits_before_trying_again(clock):
    fetch = CountingFetch(KEY_A, max_age=10)
    cache = JwksCache("u", clock=clock, fetch=fetch)
    cache.key_for("kid-a")
    fetch.fail = True
    clock.now += 11
    assert cache.key_for("kid-a")  # expired, the refresh failed: still served
    calls = fetch.calls
    clock.now += FAILURE_RETRY - 1
    assert cache.key_for("kid-a")
    assert fetch.calls == calls
    fetch.fail = False
    clock.now += 2
    cache.key_for("kid-a")
    assert fetch.calls == calls + 1


def test_a_malformed_document_changes_nothing(clock):
    cache = JwksCache("u", clock=clock, fetch=lambda: ({"nokeys": []}, 300))
    assert cache.key_for("kid-a") is None


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("public, max-age=19204, must-revalidate, no-transform", 19204),
        ("max-age=0", 0),
        ("private, s-maxage=5", DEFAULT_MAX_AGE),
        ("no-store", 0),
        ("no-cache, max-age=600", 0),
        ("", DEFAULT_MAX_AGE),
        (None, DEFAULT_MAX_AGE),
        ("max-age=99999999", MAX_MAX_AGE),
    ],
)
def test_cache_control_max_age(header, seconds):
    assert max_age_of(header) == seconds


def test_cooldown_can_be_configured(monkeypatch):
    monkeypatch.setenv("OIDC_JWKS_REFETCH_COOLDOWN", "2.5")
    assert cooldown_from_environment() == 2.5
    monkeypatch.setenv("OIDC_JWKS_REFETCH_COOLDOWN", "0")
    assert cooldown_from_environment() == 1.0
    monkeypatch.setenv("OIDC_JWKS_REFETCH_COOLDOWN", "soon")
    assert cooldown_from_environment() == 30.0


# Over HTTP, against the test provider's JWKS endpoint ---------------------------------------------


@pytest.fixture
def provider():
    with FakeProvider(KEY_A) as running:
        yield running


def test_http_fetch_reads_keys_and_cache_control(provider):
    provider.state.cache_control = "public, max-age=1234"
    document, max_age = http_fetch(provider.jwks_url)
    assert [key["kid"] for key in document["keys"]] == ["kid-a"]
    assert max_age == 1234


def test_n_concurrent_verifications_cause_one_fetch(provider):
    verifier = TokenVerifier(JwksCache(provider.jwks_url), (provider.url,), provider.client_id)
    token = provider.issuer.token("ann@example.test")
    failures, barrier = [], threading.Barrier(16)

    def verify():
        barrier.wait()
        for _ in range(10):
            try:
                verifier.verify(token)
            except Exception as error:  # collected: asserted below
                failures.append(error)

    threads = [threading.Thread(target=verify) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert provider.jwks_fetches == 1


def test_rotation_over_http(provider):
    clock = Clock()
    cache = JwksCache(provider.jwks_url, clock=clock, cooldown=30)
    verifier = TokenVerifier(cache, (provider.url,), provider.client_id)
    assert verifier.verify(provider.issuer.token())
    provider.publish(KEY_A, KEY_B)
    clock.now += 31
    assert verifier.verify(provider.issuer.token(key=KEY_B))
    assert provider.jwks_fetches == 2


def test_an_unreachable_jwks_endpoint_refuses_tokens_without_hanging():
    from chalicelib.domain.errors import Unauthenticated
    from tests.support.ports import free_port

    verifier = TokenVerifier(JwksCache(f"http://127.0.0.1:{free_port()}/jwks"), ("i",), "a")
    with pytest.raises(Unauthenticated):
        verifier.verify(TestIssuer("i", KEY_A, "a").token())
