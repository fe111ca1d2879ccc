"""ID token verification: the attack matrix, required claims, and the development issuer's limits."""

import time

import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.tokens import (
    LEEWAY_SECONDS,
    StaticKeys,
    TokenVerifier,
    bearer_token,
    build_verifier,
)
from chalicelib.config import load_settings
from chalicelib.domain.errors import Unauthenticated
from tests.support.oidc import REMOVE, TestIssuer, b64url, make_key
from tests.support.stack import LOCAL_DEV_ENV

ISSUER = "https://issuer.example.test"
AUDIENCE = "client-123"
KEY = make_key("key-1")
OTHER_KEY_SAME_KID = make_key("key-1", index=1)
issuer = TestIssuer(ISSUER, KEY, AUDIENCE)


@pytest.fixture
def verifier():
    return TokenVerifier(StaticKeys({KEY.kid: KEY.public_jwk}), (ISSUER, "issuer.example.test"), AUDIENCE)


def test_a_valid_token_gives_the_identity(verifier):
    found = verifier.identity(issuer.token("Ann@Example.test", name="Ann"))
    assert (found.email, found.name, found.email_verified) == ("ann@example.test", "Ann", True)
    assert found.sub.startswith("sub-")


def test_every_listed_issuer_is_accepted(verifier):
    assert verifier.verify(issuer.token(iss="issuer.example.test"))["iss"] == "issuer.example.test"


now = int(time.time())
ATTACKS = {
    "garbage": lambda: "not-a-jwt",
    "three garbage parts": lambda: "a.b.c",
    "empty": lambda: "",
    "another key with the same kid": lambda: issuer.token(key=OTHER_KEY_SAME_KID, kid=KEY.kid),
    "alg none": lambda: issuer.unsigned(),
    "signature stripped": lambda: issuer.token().rsplit(".", 1)[0] + ".",
    "HS256 with the public key as secret": lambda: issuer.hs256_with_public_key(),
    "expired": lambda: issuer.token(exp=now - LEEWAY_SECONDS - 5, iat=now - 3600),
    "nbf in the future": lambda: issuer.token(nbf=now + 3600),
    "iat in the future": lambda: issuer.token(iat=now + 3600, exp=now + 7200),
    "wrong iss": lambda: issuer.token(iss="https://evil.example.test"),
    "wrong aud": lambda: issuer.token(aud="someone-else"),
    "aud list without us": lambda: issuer.token(aud=["a", "b"]),
    "aud list with us but azp another": lambda: issuer.token(aud=[AUDIENCE, "b"], azp="b"),
    "missing aud": lambda: issuer.token(aud=REMOVE),
    "missing exp": lambda: issuer.token(exp=REMOVE),
    "missing iat": lambda: issuer.token(iat=REMOVE),
    "missing sub": lambda: issuer.token(sub=REMOVE),
    "missing iss": lambda: issuer.token(iss=REMOVE),
    "empty sub": lambda: issuer.token(sub=""),
    "exp as a string": lambda: issuer.token(exp=str(now + 600)),
    "unknown kid": lambda: issuer.token(kid="no-such-kid"),
    "no kid": lambda: issuer.token(headers={"kid": None}),
    "tampered payload": lambda: issuer.tampered(email="admin@example.test"),
    "email_verified false": lambda: issuer.token(email_verified=False),
    "email_verified 'false'": lambda: issuer.token(email_verified="false"),
    "no email": lambda: issuer.token(email=REMOVE),
    "critical header": lambda: issuer.token(headers={"crit": ["exp"]}),
    "huge": lambda: "a" * 20000,
}


# Why each attack must fail (a part of the message, or of the reason jose gave), so none passes by accident.
REASONS = {
    "another key with the same kid": "Signature verification failed",
    "signature stripped": "Signature verification failed",
    "tampered payload": "Signature verification failed",
    "alg none": "unsupported token algorithm",
    "HS256 with the public key as secret": "unsupported token algorithm",
    "expired": "expired",
    "nbf in the future": "nbf",
    "iat in the future": "issued in the future",
    "wrong iss": "Invalid issuer",
    "wrong aud": "Invalid audience",
    "missing aud": 'missing required key "aud"',
    "missing exp": 'missing required key "exp"',
    "missing iat": 'missing required key "iat"',
    "missing sub": 'missing required key "sub"',
    "unknown kid": "unknown signing key",
    "email_verified false": "email not verified",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_matrix_is_refused(verifier, attack):
    with pytest.raises(Unauthenticated) as refused:
        verifier.verify(ATTACKS[attack]())
    said = refused.value.message + " " + str((refused.value.details or {}).get("reason", ""))
    assert REASONS.get(attack, "") in said


def test_the_attack_tokens_are_otherwise_valid(verifier):
    """The forgeries start from tokens this verifier accepts: each differs only in what it attacks."""
    assert verifier.verify(issuer.token())
    assert verifier.verify(issuer.token(aud=[AUDIENCE, "b"], azp=AUDIENCE))


def test_a_tampered_header_is_refused(verifier):
    _, payload, signature = issuer.token().split(".")
    header = b64url(b'{"alg":"RS256","kid":"key-1","typ":"JWT","x":1}')
    with pytest.raises(Unauthenticated):
        verifier.verify(".".join([header, payload, signature]))


def test_a_key_published_for_another_use_or_algorithm_is_not_used():
    for bad in ({"use": "enc"}, {"alg": "RS512"}, {"kty": "EC"}):
        keys = StaticKeys({KEY.kid: {**KEY.public_jwk, **bad}})
        with pytest.raises(Unauthenticated):
            TokenVerifier(keys, (ISSUER,), AUDIENCE).verify(issuer.token())


def test_small_clock_skew_is_tolerated(verifier):
    current = int(time.time())  # not the module's `now`: a slow run must not turn skew into expiry
    assert verifier.verify(issuer.token(exp=current - 5, iat=current - 600))
    assert verifier.verify(issuer.token(iat=current + 5, nbf=current + 5))


def test_missing_email_verified_is_not_false(verifier):
    assert verifier.identity(issuer.token(email_verified=REMOVE)).email_verified is False


def test_nonce_must_match_when_expected(verifier):
    token = issuer.token(nonce="n-1")
    assert verifier.verify(token, nonce="n-1")
    with pytest.raises(Unauthenticated):
        verifier.verify(token, nonce="n-2")
    with pytest.raises(Unauthenticated):
        verifier.verify(issuer.token(), nonce="n-1")


def test_no_audience_configured_refuses_everything():
    verifier = TokenVerifier(StaticKeys({KEY.kid: KEY.public_jwk}), (ISSUER,), None)
    with pytest.raises(Unauthenticated):
        verifier.verify(issuer.token())


@pytest.mark.parametrize("header", ["Bearer tok", "bearer tok", "BEARER tok", "  Bearer   tok  "])
def test_bearer_scheme_is_case_insensitive(header):
    assert bearer_token(header) == "tok"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "tok", "Token tok"])
def test_other_headers_are_no_bearer_token(header):
    with pytest.raises(Unauthenticated):
        bearer_token(header)


# The development issuer ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_data(tmp_path_factory):
    """One data folder (so one generated dev issuer key) for the tests that only use the key."""
    return tmp_path_factory.mktemp("dev-issuer")


def test_dev_issuer_tokens_work_on_a_local_stack_without_oidc_settings(dev_data):
    settings = load_settings({**LOCAL_DEV_ENV, "EKIOSK_DATA_DIR": str(dev_data)})
    token = dev_issuer.mint(settings, "dev@example.test")
    assert build_verifier(settings).identity(token).email == "dev@example.test"


@pytest.mark.parametrize(
    "environ",
    [
        {"STAGE": "dev"},
        {"STAGE": "prod"},
        {**LOCAL_DEV_ENV, "OIDC_AUDIENCE": "real-client"},
        {"STAGE": "dev", "OIDC_AUDIENCE": "real-client"},
    ],
)
def test_dev_issuer_tokens_are_refused_anywhere_else(dev_data, environ):
    local = load_settings({**LOCAL_DEV_ENV, "EKIOSK_DATA_DIR": str(dev_data)})
    token = dev_issuer.mint(local, "dev@example.test")
    settings = load_settings({**environ, "EKIOSK_DATA_DIR": str(dev_data), "OIDC_JWKS_URL": "http://127.0.0.1:9/"})
    assert not dev_issuer.trusted(settings)
    with pytest.raises(Unauthenticated):
        build_verifier(settings).verify(token)


def test_dev_issuer_is_never_trusted_on_lambda(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ekiosk-local")
    assert not dev_issuer.trusted(load_settings({**LOCAL_DEV_ENV, "EKIOSK_DATA_DIR": str(tmp_path)}))


def test_make_token_refuses_outside_a_local_stack(tmp_path, monkeypatch):
    from chalicelib.config import get_settings

    monkeypatch.setenv("STAGE", "dev")
    monkeypatch.setenv("EKIOSK_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("sys.argv", ["dev_issuer", "dev@example.test"])
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exited:
            dev_issuer.main()
    finally:
        get_settings.cache_clear()
    assert "only for a local stack" in str(exited.value)
    assert not (tmp_path / dev_issuer.KEY_FILE).exists()


def test_dev_issuer_keeps_one_key_when_processes_race(tmp_path):
    import threading

    settings = load_settings({**LOCAL_DEV_ENV, "EKIOSK_DATA_DIR": str(tmp_path)})
    keys, barrier = [], threading.Barrier(4)

    def create():
        barrier.wait()
        keys.append(dev_issuer._private_pem(settings))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1
    assert [path.name for path in tmp_path.iterdir()] == [dev_issuer.KEY_FILE]
