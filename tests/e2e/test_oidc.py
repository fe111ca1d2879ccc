"""OIDC over HTTP against a private stack that trusts a test issuer (a fake provider with its own JWKS).

One stack for the whole module: the attack matrix, roles, the JWKS cache and the login flow.
"""

from __future__ import annotations

import time
import urllib.parse
import uuid

import pytest
import requests

from tests.support.identity import dev_token
from tests.support.oidc import REMOVE, FakeProvider, LoginUser, make_key
from tests.support.ports import free_port
from tests.support.stack import STAFF_EMAIL, launch, stop

API_WORKERS = 2  # gunicorn processes of the stack (chalicelib/runtime/stack.py): each has its own JWKS cache
COOLDOWN = 1.0
KEY = make_key("e2e-key-1")
ROTATED = make_key("e2e-key-2", index=1)


@pytest.fixture(scope="module")
def provider():
    with FakeProvider(KEY) as running:
        yield running


@pytest.fixture(scope="module")
def oidc_stack(provider, tmp_path_factory):
    port = free_port()
    env = provider.stack_env(
        OIDC_REDIRECT_URI=f"http://127.0.0.1:{port}/api/v1/oidc/callback",
        OIDC_JWKS_REFETCH_COOLDOWN=str(COOLDOWN),
    )
    running = launch(tmp_path_factory.mktemp("oidc-stack") / "data", api_port=port, **env)
    yield running
    stop(running)


def email(prefix="user"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.test"


def get_me(stack, token, scheme="Bearer"):
    return requests.get(stack.api + "/me", headers={"Authorization": f"{scheme} {token}"}, timeout=10)


def session(stack, token):
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    return http


# The attack matrix ------------------------------------------------------------------------------------


def test_a_valid_token_is_accepted(oidc_stack, provider):
    address = email()
    response = get_me(oidc_stack, provider.issuer.token(address))
    assert response.status_code == 200
    assert (response.json()["email"], response.json()["role"]) == (address, "customer")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER"])
def test_the_scheme_word_is_case_insensitive(oidc_stack, provider, scheme):
    assert get_me(oidc_stack, provider.issuer.token(email()), scheme).status_code == 200


def attacks(issuer):
    now = int(time.time())
    other_key = make_key(KEY.kid, index=2)
    return {
        "garbage": "garbage",
        "signed by another key with the same kid": issuer.token(key=other_key, kid=KEY.kid),
        "alg none": issuer.unsigned(),
        "HS256 with the public key as the secret": issuer.hs256_with_public_key(),
        "expired": issuer.token(iat=now - 7200, exp=now - 3600),
        "nbf in the future": issuer.token(nbf=now + 3600),
        "wrong iss": issuer.token(iss="https://accounts.google.com"),
        "wrong aud": issuer.token(aud="another-client"),
        "missing aud": issuer.token(aud=REMOVE),
        "missing exp": issuer.token(exp=REMOVE),
        "missing iat": issuer.token(iat=REMOVE),
        "missing sub": issuer.token(sub=REMOVE),
        "unknown kid": issuer.token(kid="not-published"),
        "tampered payload": issuer.tampered(email=STAFF_EMAIL),
        "email_verified false": issuer.token(email_verified=False),
    }


def test_attack_matrix_each_is_a_401(oidc_stack, provider):
    assert requests.get(oidc_stack.api + "/me", timeout=10).status_code == 401  # no header at all
    results = {name: get_me(oidc_stack, token).status_code for name, token in attacks(provider.issuer).items()}
    assert results == dict.fromkeys(results, 401)


def test_the_401_comes_before_any_route_logic(oidc_stack, provider):
    for method, path in (("PATCH", "/me"), ("GET", "/admin/customers"), ("PATCH", "/admin/customers/x")):
        response = requests.request(method, oidc_stack.api + path, json={"role": "admin"}, timeout=10,
                                    headers={"Authorization": "Bearer " + provider.issuer.unsigned()})
        assert response.status_code == 401


def test_development_issuer_tokens_are_not_trusted_here(oidc_stack):
    assert get_me(oidc_stack, dev_token(oidc_stack, email())).status_code == 401


# Roles ------------------------------------------------------------------------------------------------


def test_a_role_claim_in_a_customers_token_grants_nothing(oidc_stack, provider):
    token = provider.issuer.token(email("mallory"), role="admin", roles=["admin"], groups=["staff"],
                                  **{"cognito:groups": ["admin"]})
    response = session(oidc_stack, token).get(oidc_stack.api + "/admin/customers", timeout=10)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
    assert get_me(oidc_stack, token).json()["role"] == "customer"


def test_an_email_in_admin_emails_is_staff(oidc_stack, provider):
    staff = session(oidc_stack, provider.issuer.token(STAFF_EMAIL))
    assert staff.get(oidc_stack.api + "/me", timeout=10).json()["role"] == "admin"
    assert staff.get(oidc_stack.api + "/admin/customers", timeout=10).status_code == 200


def test_admin_emails_need_a_verified_email(oidc_stack, provider):
    token = provider.issuer.token(STAFF_EMAIL, sub="unverified-staff-" + uuid.uuid4().hex[:6], email_verified=REMOVE)
    assert session(oidc_stack, token).get(oidc_stack.api + "/admin/customers", timeout=10).status_code == 403


def test_a_promotion_through_the_admin_route_grants_staff(oidc_stack, provider):
    staff = session(oidc_stack, provider.issuer.token(STAFF_EMAIL))
    person = session(oidc_stack, provider.issuer.token(email("promoted")))
    person_id = person.get(oidc_stack.api + "/me", timeout=10).json()["id"]
    assert person.get(oidc_stack.api + "/admin/customers", timeout=10).status_code == 403
    assert staff.patch(oidc_stack.api + f"/admin/customers/{person_id}", json={"role": "admin"},
                       timeout=10).status_code == 200
    assert person.get(oidc_stack.api + "/admin/customers", timeout=10).status_code == 200


# The JWKS cache ---------------------------------------------------------------------------------------


def test_many_requests_cause_one_jwks_fetch_per_process(oidc_stack, provider):
    token = provider.issuer.token(email())
    get_me(oidc_stack, token)
    before = provider.jwks_fetches
    http = session(oidc_stack, token)
    for _ in range(20):
        assert http.get(oidc_stack.api + "/me", timeout=10).status_code == 200
    for _ in range(10):  # new connections too, so that every API process serves some
        assert get_me(oidc_stack, token).status_code == 200
    assert provider.jwks_fetches - before <= API_WORKERS


def test_a_flood_of_unknown_kids_is_limited_by_the_cooldown(oidc_stack, provider):
    before, started = provider.jwks_fetches, time.monotonic()
    for number in range(40):
        assert get_me(oidc_stack, provider.issuer.token(kid=f"made-up-{number}")).status_code == 401
    elapsed = time.monotonic() - started
    allowed = API_WORKERS * (int(elapsed / COOLDOWN) + 1)
    assert provider.jwks_fetches - before <= allowed < 40


def test_a_rotated_key_is_picked_up_without_a_restart(oidc_stack, provider):
    old_token = provider.issuer.token(email("before-rotation"))
    assert get_me(oidc_stack, old_token).status_code == 200
    provider.publish(KEY, ROTATED)  # the provider publishes a new key and starts signing with it
    try:
        time.sleep(COOLDOWN + 0.2)
        new_token = provider.issuer.token(email("after-rotation"), key=ROTATED)
        for _ in range(3 * API_WORKERS):
            assert get_me(oidc_stack, new_token).status_code == 200
        assert get_me(oidc_stack, old_token).status_code == 200
    finally:
        provider.publish(KEY)


# The login flow ---------------------------------------------------------------------------------------


def start_login(stack, method="GET", browser=None):
    """`browser` (a requests.Session) keeps the login cookie, as the browser that started the sign-in does."""
    response = (browser or requests).request(method, stack.api + "/oidc/authenticate", allow_redirects=False,
                                             timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def provider_login(location):
    """The user signs in at the provider, which sends the browser back to our callback."""
    response = requests.get(location, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_authenticate_redirects_to_the_provider_with_state_nonce_and_pkce(oidc_stack, provider, method):
    location = start_login(oidc_stack, method)
    url = urllib.parse.urlsplit(location)
    params = dict(urllib.parse.parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}{url.path}" == provider.url + "/authorize"  # from the discovery document
    assert params["response_type"] == "code"
    assert params["client_id"] == provider.client_id
    assert params["redirect_uri"] == oidc_stack.api + "/oidc/callback"
    assert "openid" in params["scope"].split()
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["state"] and params["nonce"] and params["state"] != params["nonce"]


def test_login_end_to_end_with_the_right_state_and_then_a_replay(oidc_stack, provider):
    provider.state.user = LoginUser(email("login"), name="Achieng Otieno")
    browser = requests.Session()
    callback = provider_login(start_login(oidc_stack, browser=browser))
    assert callback.startswith(oidc_stack.api + "/oidc/callback?")
    assert browser.cookies.get("ekiosk-login-local")  # plain http to 127.0.0.1: the local cookie name

    elsewhere = requests.get(callback, timeout=10)  # another browser (no login cookie): login CSRF refused
    assert (elsewhere.status_code, elsewhere.json()["error"]["code"]) == (400, "invalid_state")
    response = browser.get(callback, timeout=20)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 3600
    assert (body["profile_complete"], body["next"]) == (False, "/api/v1/me")

    token_request = provider.state.token_requests[-1]
    authorize_request = provider.state.authorize_requests[-1]
    assert token_request["client_secret"] == provider.client_secret
    assert token_request["code_verifier"] and token_request["code_verifier"] != authorize_request["code_challenge"]

    me = session(oidc_stack, body["id_token"])
    profile = me.get(oidc_stack.api + "/me", timeout=10).json()
    assert (profile["email"], profile["name"], profile["id"]) == (
        provider.state.user.email, "Achieng Otieno", provider.state.user.sub)

    assert not browser.cookies.get("ekiosk-login-local")  # cleared by the callback
    replay = browser.get(callback, timeout=10)
    assert (replay.status_code, replay.json()["error"]["code"]) == (400, "invalid_state")

    assert me.patch(oidc_stack.api + "/me", json={"phone_number": "0722 000 000"}, timeout=10).status_code == 200
    again = browser.get(provider_login(start_login(oidc_stack, browser=browser)), timeout=20).json()
    assert (again["profile_complete"], again["next"]) == (True, None)


@pytest.mark.parametrize("query", ["code=anything&state=wrong", "code=anything", "state=wrong"])
def test_the_callback_with_a_wrong_or_missing_state_is_a_400(oidc_stack, provider, query):
    before = len(provider.state.token_requests)
    response = requests.get(oidc_stack.api + "/oidc/callback?" + query, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_state"
    assert len(provider.state.token_requests) == before  # the code was never sent to the provider


def test_a_state_from_another_login_cannot_carry_this_code(oidc_stack, provider):
    browser = requests.Session()
    first = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
        provider_login(start_login(oidc_stack, browser=browser))).query))
    second = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
        provider_login(start_login(oidc_stack, browser=browser))).query))
    mixed = urllib.parse.urlencode({"code": first["code"], "state": second["state"]})
    response = browser.get(oidc_stack.api + "/oidc/callback?" + mixed, timeout=10)
    assert response.status_code == 400  # the provider refuses: PKCE verifier of the other login
    assert response.json()["error"]["code"] == "code_exchange_failed"


def test_a_console_sign_in_lands_on_the_console_with_the_token_in_the_fragment(oidc_stack, provider):
    refused = requests.get(oidc_stack.api + "/oidc/authenticate", params={"next": "https://evil.example.test/"},
                           allow_redirects=False, timeout=10)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_next")
    assert "Location" not in refused.headers

    provider.state.user = LoginUser(email("console"))
    browser = requests.Session()
    started = browser.get(oidc_stack.api + "/oidc/authenticate?next=console", allow_redirects=False, timeout=10)
    assert started.status_code == 302
    callback = provider_login(started.headers["Location"])
    handed = browser.get(callback, allow_redirects=False, timeout=20)
    assert (handed.status_code, handed.headers["Cache-Control"]) == (302, "no-store")
    page, _, fragment = handed.headers["Location"].partition("#")
    assert page == oidc_stack.base_url + "/console"
    token = dict(urllib.parse.parse_qsl(fragment))["token"]
    assert get_me(oidc_stack, token).json()["email"] == provider.state.user.email
    assert requests.get(page, timeout=10).status_code == 200  # the console page is really there

    replay = browser.get(callback, allow_redirects=False, timeout=10)
    assert (replay.status_code, replay.json()["error"]["code"]) == (400, "invalid_state")
