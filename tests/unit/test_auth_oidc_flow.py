"""The login flow's parts: discovery (cached, Google's defaults as fallback), PKCE, the provider's URL, the
hand-over to the console."""

import base64
import hashlib
import urllib.parse

import pytest

from chalicelib.api.identity import hand_over_location
from chalicelib.auth import oidc_provider
from chalicelib.auth.oidc_provider import GOOGLE_ENDPOINTS, DiscoveryCache, Endpoints, OidcProvider, ProviderUnavailable
from chalicelib.config import load_settings
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.oauth import pkce_challenge
from chalicelib.services import login
from tests.fakes.customers import InMemoryCustomerRepository
from tests.fakes.sign_in import FakeIdTokenVerifier, FakeSignInProvider


class Fetch:
    def __init__(self, document=None, error=None):
        self.document, self.error, self.urls = document, error, []

    def __call__(self, url, timeout):
        self.urls.append((url, timeout))
        if self.error:
            raise self.error
        return self.document


DOCUMENT = {"authorization_endpoint": "https://id.example.test/auth", "token_endpoint": "https://id.example.test/tok"}


def test_discovery_is_read_from_the_issuer_and_cached():
    fetch = Fetch(DOCUMENT)
    cache = DiscoveryCache(fetch=fetch)
    for _ in range(3):
        assert cache.endpoints("https://id.example.test/") == Endpoints(**DOCUMENT)
    assert fetch.urls == [("https://id.example.test/.well-known/openid-configuration", oidc_provider.DISCOVERY_TIMEOUT)]


def test_google_defaults_when_google_discovery_cannot_be_read():
    cache = DiscoveryCache(fetch=Fetch(error=OSError("offline")))
    assert cache.endpoints("https://accounts.google.com") == Endpoints(**GOOGLE_ENDPOINTS)


@pytest.mark.parametrize("document", [{}, {"authorization_endpoint": "javascript:x", "token_endpoint": "ftp://x"}])
def test_other_issuers_without_a_usable_document_are_a_502(document):
    with pytest.raises(ProviderUnavailable) as failed:
        DiscoveryCache(fetch=Fetch(document)).endpoints("https://id.example.test")
    assert failed.value.status == 502


def test_the_login_issuer_is_the_first_url_among_the_accepted_issuers():
    assert oidc_provider.login_issuer(load_settings({})) == "https://accounts.google.com"
    settings = load_settings({"OIDC_ISSUERS": "id.example.test,https://id.example.test"})
    assert oidc_provider.login_issuer(settings) == "https://id.example.test"


def test_pkce_s256_matches_rfc_7636_appendix_b():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # the RFC's example
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_start_keeps_the_query_of_the_authorization_endpoint():
    cache = DiscoveryCache(fetch=Fetch({**DOCUMENT, "authorization_endpoint": "https://id.example.test/a?tenant=x"}))
    settings = load_settings({"OIDC_AUDIENCE": "client", "OIDC_ISSUERS": "https://id.example.test"})
    repo = InMemoryCustomerRepository()
    started = login.start(OidcProvider(settings, cache), repo, "https://shop.example.test/cb")
    url = urllib.parse.urlsplit(started.authorization_url)
    params = dict(urllib.parse.parse_qsl(url.query))
    assert params["tenant"] == "x"
    (stored,) = repo.login_states.values()
    assert stored.key == hashlib.sha256(params["state"].encode()).hexdigest()
    digest = hashlib.sha256(stored.code_verifier.encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert 43 <= len(stored.code_verifier) <= 128
    assert stored.nonce == params["nonce"] and stored.redirect_uri == "https://shop.example.test/cb"
    assert stored.binding == login.binding_hash(started.binding)


def test_start_remembers_only_the_fixed_hand_over_target():
    cache = DiscoveryCache(fetch=Fetch(DOCUMENT))
    settings = load_settings({"OIDC_AUDIENCE": "client", "OIDC_ISSUERS": "https://id.example.test"})
    repo = InMemoryCustomerRepository()
    provider = OidcProvider(settings, cache)
    url = login.start(provider, repo, "https://shop.example.test/cb", next_target="console").authorization_url
    assert "console" not in url  # the provider never sees it
    assert [state.next for state in repo.login_states.values()] == ["console"]
    with pytest.raises(InvalidInput) as refused:
        login.start(provider, repo, "https://shop.example.test/cb", next_target="https://evil.example.test")
    assert (refused.value.status, refused.value.code) == (400, "invalid_next")
    assert len(repo.login_states) == 1


@pytest.mark.parametrize(
    ("redirect_uri", "page"),
    [
        ("http://127.0.0.1:8000/api/v1/oidc/callback", "http://127.0.0.1:8000/console"),
        ("https://abc.execute-api.eu-west-1.amazonaws.com/prod/api/v1/oidc/callback",
         "https://abc.execute-api.eu-west-1.amazonaws.com/prod/console"),
        ("https://shop.example.test/login/done", "https://fallback.example.test/stage/console"),  # not our path
    ],
)
def test_the_hand_over_goes_to_the_console_beside_the_callback(redirect_uri, page):
    location = hand_over_location("console", redirect_uri, "https://fallback.example.test/stage", "a.b-_c")
    assert location == page + "#token=a.b-_c"


def test_the_login_use_case_needs_only_its_ports():
    provider, repo, verifier = FakeSignInProvider(), InMemoryCustomerRepository(), FakeIdTokenVerifier()
    started = login.start(provider, repo, "https://shop.example.test/cb", next_target="console")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(started.authorization_url).query))
    callback = {"state": params["state"], "code": provider.authorize(params, email="ann@example.test")}
    with pytest.raises(InvalidInput) as refused:  # another browser's cookie; the state is used up
        login.finish(provider, repo, verifier, callback, binding="someone-else")
    assert refused.value.code == "invalid_state" and not repo.login_states

    started = login.start(provider, repo, "https://shop.example.test/cb", next_target="console")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(started.authorization_url).query))
    callback = {"state": params["state"], "code": provider.authorize(params, email="ann@example.test")}
    signed_in = login.finish(provider, repo, verifier, callback, binding=started.binding)
    assert (signed_in.claims["email"], signed_in.claims["nonce"]) == ("ann@example.test", params["nonce"])
    assert verifier.verify(signed_in.id_token) == signed_in.claims
    assert (signed_in.hand_over, signed_in.redirect_uri) == ("console", "https://shop.example.test/cb")
    assert provider.redeemed == [(callback["code"], "https://shop.example.test/cb")]
