"""The sign-in ports, one contract for each implementation: the provider (ports.SignInProvider: the fake,
OidcProvider against a fake OIDC provider over HTTP, DevProvider) redeems the codes it issued for a login and
refuses others; the verifier (ports.IdTokenVerifier: the fake, TokenVerifier with the provider's JWKS or the
development issuer's key) accepts a provider's tokens and refuses every token a provider would not issue.

Each side pairs a provider with the verifier of its tokens and gives the same verbs: `sign_in` (the browser's
trip to the provider: a code for a login), `token` (a token with these claims, kid and alg), `go_down`.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import replace

import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.dev_provider import DevProvider, authorization_request, callback_with_code
from chalicelib.auth.oidc_provider import DiscoveryCache, OidcProvider
from chalicelib.auth.tokens import build_verifier
from chalicelib.config import load_settings
from chalicelib.domain.customers import LoginState
from chalicelib.domain.errors import DomainError, Unauthenticated
from chalicelib.domain.oauth import pkce_challenge
from tests.contracts.conftest import same_error, uid
from tests.fakes import sign_in as fake_sign_in
from tests.support.oidc import REMOVE, FakeProvider, TestIssuer, TestKey, make_key
from tests.support.stack import LOCAL_DEV_ENV

CALLBACK = "http://127.0.0.1:8000/api/v1/oidc/callback"
DEV_AUTHORIZE = "http://127.0.0.1:8000/api/v1/oidc/dev/authorize"
EMAIL = "ann@example.test"


def login_state(redirect_uri: str = CALLBACK) -> LoginState:
    return LoginState(key=uid("key"), nonce=uid("nonce"), code_verifier=uid("verifier") * 4,
                      redirect_uri=redirect_uri, expires_at=int(time.time()) + 600)


def authorize_params(client_id: str, login: LoginState) -> dict[str, str]:
    """What login.start sends the browser to the provider with, for `login`."""
    return {"response_type": "code", "client_id": client_id, "redirect_uri": login.redirect_uri,
            "scope": "openid email profile", "state": uid("state"), "nonce": login.nonce,
            "code_challenge": pkce_challenge(login.code_verifier), "code_challenge_method": "S256"}


def signed_token(issuer: TestIssuer, kid: str | None, alg: str, claims: dict) -> str:
    """RS256 with the issuer's key (or under another `kid`); any other `alg` is HS256 with a shared secret."""
    if alg == "RS256":
        return issuer.token(kid=kid, **claims)
    from jose import jwt

    return jwt.encode(issuer.claims(**claims), "a shared secret", algorithm="HS256",
                      headers={"kid": kid or issuer.key.kid})


class Fake:
    def __init__(self, client_id: str | None = fake_sign_in.CLIENT_ID):
        self.provider = fake_sign_in.FakeSignInProvider(client_id)
        self.verifier = fake_sign_in.FakeIdTokenVerifier()
        self.issuer = TestIssuer(fake_sign_in.ISSUER, key=None, audience=fake_sign_in.CLIENT_ID)  # its claims only

    def sign_in(self, login: LoginState, email: str = EMAIL) -> str:
        return self.provider.authorize(authorize_params(fake_sign_in.CLIENT_ID, login), email)

    def token(self, kid: str = fake_sign_in.KID, alg: str = "RS256", **claims) -> str:
        return fake_sign_in.fake_token(self.issuer.claims(**claims), kid, alg)

    def go_down(self) -> None:
        self.provider.available = False


class Oidc:
    """OidcProvider and the OIDC_* verifier (its JWKS) against a FakeProvider on a free port."""

    def __init__(self, provider: FakeProvider, **env):
        self.remote = provider
        settings = load_settings(provider.stack_env(**env))
        self.provider = OidcProvider(settings, DiscoveryCache())
        self.verifier = build_verifier(settings)
        self.issuer = provider.issuer

    def sign_in(self, login: LoginState, email: str = EMAIL) -> str:
        self.remote.state.user = replace(self.remote.state.user, email=email)
        status, error, location = self.remote.authorize(authorize_params(self.remote.client_id, login))
        assert status == 302, error
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))["code"]

    def token(self, kid: str | None = None, alg: str = "RS256", **claims) -> str:
        return signed_token(self.issuer, kid, alg, claims)

    def go_down(self) -> None:
        self.provider.authorization_endpoint()  # discovered while it answered: the token endpoint is known
        self.remote.__exit__()  # its port now refuses connections


class Dev:
    """DevProvider and the development issuer's verifier, on a local stack's settings (its own data folder)."""

    def __init__(self, data_dir):
        self.settings = load_settings({**LOCAL_DEV_ENV, "EKIOSK_DATA_DIR": str(data_dir)})
        self.provider = DevProvider(self.settings, DEV_AUTHORIZE)
        self.verifier = build_verifier(self.settings)
        public = dev_issuer.public_key(self.settings)
        private_pem = (data_dir / dev_issuer.KEY_FILE).read_text()
        key = TestKey(public["kid"], private_pem, public_pem="", public_jwk=public)
        self.issuer = TestIssuer(dev_issuer.ISSUER, key, dev_issuer.AUDIENCE)

    def sign_in(self, login: LoginState, email: str = EMAIL) -> str:
        params = {**authorize_params(dev_issuer.AUDIENCE, login), "email": email}
        request = authorization_request(self.settings, params, own_callback=CALLBACK)
        location = callback_with_code(self.settings, request)
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))["code"]

    def token(self, kid: str | None = None, alg: str = "RS256", **claims) -> str:
        return signed_token(self.issuer, kid, alg, claims)


@pytest.fixture(scope="module")
def dev_data(tmp_path_factory):
    return tmp_path_factory.mktemp("dev-issuer")  # one key for the module: generating one is slow


@pytest.fixture
def remote():
    with FakeProvider(make_key("contract-key")) as provider:
        yield provider


def make_side(name: str, request):
    if name == "fake":
        return Fake()
    if name == "oidc":
        return Oidc(request.getfixturevalue("remote"))
    return Dev(request.getfixturevalue("dev_data"))


@pytest.fixture(params=["fake", "oidc", "dev"])
def side(request):
    return make_side(request.param, request)


@pytest.fixture(params=["fake", "oidc"])
def remote_side(request):
    """The providers reached over a network: they can be down, and need a configured client."""
    return make_side(request.param, request)


@pytest.fixture(params=["fake", "oidc"])
def unconfigured(request):
    """A provider side whose sign-in has no client ID."""
    if request.param == "fake":
        return Fake(client_id=None)
    return Oidc(request.getfixturevalue("remote"), OIDC_AUDIENCE="")


# SignInProvider ---------------------------------------------------------------------------------


def test_the_provider_names_its_client_and_an_http_authorization_endpoint(side):
    assert side.provider.client_id()
    assert urllib.parse.urlsplit(side.provider.authorization_endpoint()).scheme in ("http", "https")


def test_a_code_redeemed_for_its_login_gives_an_id_token_for_the_person_who_signed_in(side):
    login = login_state()
    code = side.sign_in(login, "bea@example.test")
    claims = side.verifier.verify(side.provider.redeem(code, login), nonce=login.nonce)
    assert claims["email"] == "bea@example.test"
    assert claims["nonce"] == login.nonce


def code_exchange_failed(raised: pytest.ExceptionInfo) -> None:
    same_error(raised, DomainError, "code_exchange_failed")
    assert raised.value.status == 400
    assert raised.value.details["error"] == "invalid_grant"


def test_an_unknown_code_is_refused(side):
    with pytest.raises(DomainError) as refused:
        side.provider.redeem("not-a-code", login_state())
    code_exchange_failed(refused)


def test_a_code_redeemed_with_another_logins_pkce_verifier_is_refused(side):
    login = login_state()
    code = side.sign_in(login)
    with pytest.raises(DomainError) as refused:
        side.provider.redeem(code, replace(login, code_verifier=uid("other") * 4))
    code_exchange_failed(refused)


def test_a_code_redeemed_for_another_redirect_uri_is_refused(side):
    login = login_state()
    code = side.sign_in(login)
    with pytest.raises(DomainError) as refused:
        side.provider.redeem(code, replace(login, redirect_uri=CALLBACK + "/elsewhere"))
    code_exchange_failed(refused)


def test_a_provider_that_does_not_answer_is_a_502(remote_side):
    login = login_state()
    code = remote_side.sign_in(login)
    remote_side.go_down()
    with pytest.raises(DomainError) as unavailable:
        remote_side.provider.redeem(code, login)
    same_error(unavailable, DomainError, "provider_unavailable")
    assert unavailable.value.status == 502


def test_sign_in_without_a_client_is_a_503_before_any_exchange(unconfigured):
    for call in (unconfigured.provider.client_id, lambda: unconfigured.provider.redeem("a-code", login_state())):
        with pytest.raises(DomainError) as not_configured:
            call()
        same_error(not_configured, DomainError, "login_not_configured")
        assert not_configured.value.status == 503


# IdTokenVerifier --------------------------------------------------------------------------------


def test_a_valid_token_gives_its_claims(side):
    claims = side.verifier.verify(side.token(email=EMAIL, name="Ann"))
    assert (claims["email"], claims["name"], claims["email_verified"]) == (EMAIL, "Ann", True)
    assert claims["sub"] and claims["iss"] == side.issuer.issuer


def test_a_nonce_is_checked_only_when_one_is_required(side):
    token = side.token(nonce="n-1")
    assert side.verifier.verify(token, nonce="n-1")["nonce"] == "n-1"
    assert side.verifier.verify(token)["nonce"] == "n-1"
    for nonce in ("n-2", ""):
        with pytest.raises(Unauthenticated):
            side.verifier.verify(token, nonce=nonce)
    with pytest.raises(Unauthenticated):
        side.verifier.verify(side.token(), nonce="n-1")


now = int(time.time())
OUR_AUDIENCE = object()  # stands for the side's client ID
REFUSED = {
    "missing exp": {"exp": REMOVE},
    "missing iat": {"iat": REMOVE},
    "missing aud": {"aud": REMOVE},
    "missing sub": {"sub": REMOVE},
    "missing iss": {"iss": REMOVE},
    "empty sub": {"sub": " "},
    "no email": {"email": REMOVE},
    "wrong iss": {"iss": "https://evil.example.test"},
    "wrong aud": {"aud": "someone-else"},
    "aud list with us but azp another": {"aud": [OUR_AUDIENCE, "b"], "azp": "b"},
    "expired an hour ago": {"exp": now - 3600, "iat": now - 7200},
    "issued in an hour": {"iat": now + 3600, "exp": now + 7200},
    "exp as a string": {"exp": str(now + 600)},
    "email_verified false": {"email_verified": False},
    "email_verified 'false'": {"email_verified": "false"},
    "unknown kid": {"kid": "no-such-kid"},
    "not RS256": {"alg": "HS256"},
}


def for_side(side, overrides: dict) -> dict:
    def ours(value):
        return [side.issuer.audience if item is OUR_AUDIENCE else item for item in value]

    return {name: ours(value) if isinstance(value, list) else value for name, value in overrides.items()}


@pytest.mark.parametrize("case", REFUSED)
def test_a_token_a_provider_would_not_issue_is_refused(side, case):
    with pytest.raises(Unauthenticated):
        side.verifier.verify(side.token(**for_side(side, REFUSED[case])))
