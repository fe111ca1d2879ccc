"""Identity routes in-process, through the WSGI adapter (authorizer included), with fakes behind them."""

import time
import urllib.parse

import pytest

from chalicelib.api import authorizer
from chalicelib.auth import tokens
from chalicelib.auth.jwks import JwksCache
from chalicelib.auth.tokens import TokenVerifier
from chalicelib.bootstrap import Services, use_services
from chalicelib.config import load_settings
from tests.fakes.customers import InMemoryCustomerRepository
from tests.support.identity import WsgiClient
from tests.support.oidc import CLIENT_SECRET, FakeProvider, LoginUser, make_key

BOSS = "boss@example.test"
KEY = make_key("unit-key")


@pytest.fixture(scope="module")
def provider():
    with FakeProvider(KEY) as running:
        yield running


@pytest.fixture(scope="module")
def application():
    from chalicelib.runtime.wsgi import application

    return application


@pytest.fixture
def env(provider, application, monkeypatch, tmp_path):
    """The app trusting the test provider, with in-memory customers."""
    settings = load_settings({
        "STAGE": "local", "EKIOSK_DATA_DIR": str(tmp_path), "ADMIN_EMAILS": BOSS,
        **provider.stack_env(OIDC_REDIRECT_URI="http://127.0.0.1:8000/api/v1/oidc/callback"),
    })
    repo = InMemoryCustomerRepository()
    previous = use_services(Services(settings, customers=repo))
    verifier = TokenVerifier(JwksCache(provider.jwks_url), settings.oidc_issuers, settings.oidc_audience)
    monkeypatch.setattr(tokens, "get_verifier", lambda: verifier)
    monkeypatch.setattr(authorizer, "get_verifier", lambda: verifier)
    monkeypatch.setattr(authorizer, "recent", authorizer.RecentSignIns())
    provider.state.wrong_nonce, provider.state.token_delay = False, 0.0
    yield type("Env", (), {"repo": repo, "settings": settings, "client": WsgiClient(application)})
    use_services(previous)


def user(env, provider, email="ann@example.test", **claims):
    return env.client.as_user(provider.issuer.token(email, **claims))


def error_code(reply):
    return reply.json()["error"]["code"]


# Authentication ---------------------------------------------------------------------------------


def test_no_or_bad_token_is_a_401(env, provider):
    assert env.client.get("/api/v1/me").status == 401
    assert env.client.as_user("garbage").get("/api/v1/me").status == 401
    assert user(env, provider, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200).get("/api/v1/me").status == 401
    reply = env.client.get("/api/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert (reply.status, error_code(reply)) == (401, "unauthorized")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_scheme_word_is_case_insensitive(env, provider, scheme):
    token = provider.issuer.token("ann@example.test")
    assert env.client.get("/api/v1/me", headers={"Authorization": f"{scheme} {token}"}).status == 200


def test_any_authenticated_request_creates_the_customer(env, provider):
    token = provider.issuer.token("new@example.test", name="New Person")
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}",
             "methodArn": "arn:aws:execute-api:us-east-1:123456789012:api/api/GET/api/v1/categories"}
    policy = authorizer.bearer(event, None)
    sub = policy["principalId"]
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert policy["context"] == {"sub": sub, "email": "new@example.test", "name": "New Person",
                                 "email_verified": "true", "role": "customer"}
    assert env.repo.get(sub).email == "new@example.test"


def test_the_authorizer_refuses_with_the_message_api_gateway_needs(env, provider):
    from chalice import UnauthorizedError

    event = {"type": "TOKEN", "authorizationToken": "Bearer x.y.z", "methodArn": "arn:aws:execute-api:r:1:a/s/GET/x"}
    with pytest.raises(UnauthorizedError, match="^Unauthorized$"):
        authorizer.bearer(event, None)


def test_a_store_failure_in_the_authorizer_does_not_refuse_a_valid_token(env, provider, monkeypatch):
    def broken(*_args):
        raise ConnectionError("store down")

    monkeypatch.setattr(env.repo, "get", broken)
    event = {"type": "TOKEN", "authorizationToken": "Bearer " + provider.issuer.token(),
             "methodArn": "arn:aws:execute-api:r:1:a/s/GET/x"}
    assert "role" not in authorizer.bearer(event, None)["context"]
    reply = user(env, provider).get("/api/v1/me")  # the view answers with the envelope
    assert (reply.status, error_code(reply)) == (500, "internal_error")


# Profile ------------------------------------------------------------------------------------------


def test_me_is_the_profile_exactly(env, provider):
    reply = user(env, provider, name="Ann").get("/api/v1/me")
    assert reply.status == 200
    body = reply.json()
    assert set(body) == {"id", "email", "name", "phone_number", "role", "profile_complete", "missing_fields"}
    assert body == {**body, "email": "ann@example.test", "name": "Ann", "phone_number": None, "role": "customer",
                    "profile_complete": False, "missing_fields": ["phone_number"]}


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/update-profile"])
def test_patch_normalizes_the_phone_and_completes_the_profile(env, provider, path):
    ann = user(env, provider)
    reply = ann.patch(path, {"phone_number": "0712 345-678", "name": "Ann B"})
    assert reply.status == 200
    assert reply.json() | {"id": None} == {
        "id": None, "email": "ann@example.test", "name": "Ann B", "phone_number": "+254712345678",
        "role": "customer", "profile_complete": True, "missing_fields": [],
    }
    assert ann.get("/api/v1/me").json() == ann.get("/api/v1/update-profile").json() == reply.json()


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"role": "admin"}, "validation_error", "role"),
        ({"email": "other@example.test"}, "validation_error", "email"),
        ({"phone_number": "0712345678", "nickname": "x"}, "validation_error", "nickname"),
        ({"phone_number": ""}, "invalid_phone_number", "phone_number"),
        ({"phone_number": None}, "invalid_phone_number", "phone_number"),
        ({"phone_number": "12345"}, "invalid_phone_number", "phone_number"),
        ({"phone_number": 712345678}, "invalid_phone_number", "phone_number"),
        ({"phone_number": "+4409098790000"}, "phone_number_not_mobile", "phone_number"),  # UK premium rate
        ({"phone_number": "+44 800 123 4567"}, "phone_number_not_mobile", "phone_number"),  # UK toll free
        ({"name": ""}, "validation_error", "name"),
        ({"name": "x" * 201}, "validation_error", "name"),
    ],
)
def test_patch_refuses_with_400(env, provider, body, code, field):
    ann = user(env, provider)
    before = ann.get("/api/v1/me").json()
    reply = ann.patch("/api/v1/me", body)
    assert (reply.status, error_code(reply)) == (400, code)
    assert field in reply.json()["error"]["details"]
    assert ann.get("/api/v1/me").json() == before


@pytest.mark.parametrize("raw", [b"", b"[]", b'"x"', b"{", b"null"])
def test_patch_needs_a_json_object(env, provider, raw):
    reply = user(env, provider).request("PATCH", "/api/v1/me", raw=raw)
    assert (reply.status, error_code(reply)) == (400, "invalid_json")


# Staff ------------------------------------------------------------------------------------------------


def test_a_role_claim_in_the_token_does_not_make_staff(env, provider):
    forged = user(env, provider, "mallory@example.test", role="admin", roles=["admin"], groups=["admin"],
                  **{"cognito:groups": ["admin"], "custom:role": "admin"})
    reply = forged.get("/api/v1/admin/customers")
    assert (reply.status, error_code(reply)) == (403, "forbidden")
    assert forged.get("/api/v1/me").json()["role"] == "customer"


def test_admin_emails_make_staff(env, provider):
    boss = user(env, provider, BOSS)
    assert boss.get("/api/v1/me").json()["role"] == "admin"
    assert boss.get("/api/v1/admin/customers").status == 200


def test_promotion_and_demotion_apply_from_the_next_request(env, provider):
    boss, ann = user(env, provider, BOSS), user(env, provider)
    ann_id = ann.get("/api/v1/me").json()["id"]
    assert ann.get("/api/v1/admin/customers").status == 403
    reply = boss.patch(f"/api/v1/admin/customers/{ann_id}", {"role": "admin"})
    assert (reply.status, reply.json()["role"], reply.json()["id"]) == (200, "admin", ann_id)
    assert ann.get("/api/v1/admin/customers").status == 200
    assert boss.patch(f"/api/v1/admin/customers/{ann_id}", {"role": "customer"}).json()["role"] == "customer"
    assert ann.get("/api/v1/admin/customers").status == 403


@pytest.mark.parametrize(
    "body", [{"role": "superuser"}, {"role": "ADMIN"}, {"role": None}, {}, {"role": "admin", "x": 1}, {"role": [1]}]
)
def test_role_change_body_is_checked(env, provider, body):
    boss, ann = user(env, provider, BOSS), user(env, provider)
    ann_id = ann.get("/api/v1/me").json()["id"]
    reply = boss.patch(f"/api/v1/admin/customers/{ann_id}", body)
    assert (reply.status, error_code(reply)) == (400, "validation_error")


def test_unknown_customer_is_a_404_and_customers_get_403(env, provider):
    boss, ann = user(env, provider, BOSS), user(env, provider)
    reply = boss.patch("/api/v1/admin/customers/nobody", {"role": "admin"})
    assert (reply.status, error_code(reply)) == (404, "customer_not_found")
    assert boss.get("/api/v1/admin/customers/nobody").status == 404
    assert ann.patch("/api/v1/admin/customers/nobody", {"role": "admin"}).status == 403


def test_admin_emails_staff_cannot_be_demoted_by_hand(env, provider):
    boss = user(env, provider, BOSS)
    boss_id = boss.get("/api/v1/me").json()["id"]
    reply = boss.patch(f"/api/v1/admin/customers/{boss_id}", {"role": "customer"})
    assert (reply.status, error_code(reply)) == (409, "role_set_by_configuration")


def test_the_staff_list_pages_through_profiles(env, provider):
    boss = user(env, provider, BOSS)
    for number in range(5):
        user(env, provider, f"c{number}@example.test").get("/api/v1/me")
    seen, cursor = [], None
    while True:
        reply = boss.get("/api/v1/admin/customers?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert reply.status == 200
        page = reply.json()
        assert set(page) == {"items", "next_cursor"} and len(page["items"]) <= 2
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(item["email"] for item in seen) == sorted([BOSS] + [f"c{n}@example.test" for n in range(5)])
    assert all(set(item) == {"id", "email", "name", "phone_number", "role", "profile_complete", "missing_fields"}
               for item in seen)
    assert boss.get("/api/v1/admin/customers?limit=0").status == 400
    assert boss.get("/api/v1/admin/customers?cursor=garbage").status == 400


# The login flow ---------------------------------------------------------------------------------------


def authorize(env, method="GET"):
    reply = env.client.request(method, "/api/v1/oidc/authenticate")
    assert reply.status == 302
    assert reply.headers["cache-control"] == "no-store"
    return reply.headers["location"]


def login(env, provider, location):
    """The browser's part: the provider's login page redirects back to our callback."""
    import requests

    answer = requests.get(location, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    callback = urllib.parse.urlsplit(answer.headers["Location"])
    return "/api/v1/oidc/callback?" + callback.query


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_authenticate_redirects_with_state_nonce_and_pkce(env, provider, method):
    location = authorize(env, method)
    url = urllib.parse.urlsplit(location)
    params = dict(urllib.parse.parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}{url.path}" == provider.url + "/authorize"
    assert params["response_type"] == "code"
    assert params["client_id"] == provider.client_id
    assert params["redirect_uri"] == "http://127.0.0.1:8000/api/v1/oidc/callback"
    assert set(params["scope"].split()) >= {"openid", "email"}
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    assert len(env.repo.login_states) == 1
    assert params["state"] not in str(env.repo.login_states)  # only a hash of it is stored


def test_two_sign_ins_get_different_state_nonce_and_verifier(env, provider):
    first = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize(env)).query))
    second = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize(env)).query))
    for name in ("state", "nonce", "code_challenge"):
        assert first[name] != second[name]


def test_the_login_flow_end_to_end(env, provider):
    provider.state.user = LoginUser("flow@example.test", name="Flo")
    callback = login(env, provider, authorize(env))
    reply = env.client.get(callback)
    assert reply.status == 200, reply.body
    assert reply.headers["cache-control"] == "no-store"
    body = reply.json()
    assert set(body) == {"id_token", "token_type", "expires_in", "profile_complete", "next"}
    assert body["token_type"] == "Bearer"
    assert 3500 < body["expires_in"] <= 3600
    assert (body["profile_complete"], body["next"]) == (False, "/api/v1/me")
    token_request = provider.state.token_requests[-1]
    assert token_request["client_secret"] == CLIENT_SECRET
    assert token_request["redirect_uri"] == "http://127.0.0.1:8000/api/v1/oidc/callback"
    me = env.client.as_user(body["id_token"])
    profile = me.get("/api/v1/me").json()
    assert (profile["email"], profile["name"], profile["id"]) == ("flow@example.test", "Flo", provider.state.user.sub)

    # the state is single use
    replay = env.client.get(callback)
    assert (replay.status, error_code(replay)) == (400, "invalid_state")

    me.patch("/api/v1/me", {"phone_number": "0712345678"})
    again = env.client.get(login(env, provider, authorize(env))).json()
    assert (again["profile_complete"], again["next"]) == (True, None)


@pytest.mark.parametrize(
    "query", ["code=abc&state=not-a-state", "code=abc", "state=", "", "code=abc&state=" + "x" * 5000]
)
def test_a_wrong_or_missing_state_is_a_400(env, provider, query):
    reply = env.client.get("/api/v1/oidc/callback?" + query)
    assert reply.status == 400
    assert error_code(reply) in ("invalid_state", "invalid_request")


def test_an_expired_state_is_a_400(env, provider, monkeypatch):
    callback = login(env, provider, authorize(env))
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 601)
    reply = env.client.get(callback)
    assert (reply.status, error_code(reply)) == (400, "invalid_state")
    assert reply.json()["error"]["details"] == {"state": ["expired"]}


def test_a_provider_error_is_a_400_and_uses_up_the_state(env, provider):
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize(env)).query))["state"]
    reply = env.client.get(f"/api/v1/oidc/callback?error=access_denied&state={state}")
    assert (reply.status, error_code(reply)) == (400, "provider_error")
    assert env.repo.login_states == {}


def test_a_refused_code_is_a_400(env, provider):
    location = authorize(env)
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))["state"]
    reply = env.client.get(f"/api/v1/oidc/callback?code=made-up&state={state}")
    assert (reply.status, error_code(reply)) == (400, "code_exchange_failed")
    assert reply.json()["error"]["details"] == {"error": "invalid_grant"}


def test_a_wrong_nonce_is_refused(env, provider):
    provider.state.wrong_nonce = True
    reply = env.client.get(login(env, provider, authorize(env)))
    assert (reply.status, error_code(reply)) == (401, "invalid_id_token")


def test_a_slow_token_endpoint_times_out(env, provider, monkeypatch):
    from chalicelib.auth import oidc_provider

    monkeypatch.setattr(oidc_provider, "TOKEN_TIMEOUT", 0.3)
    provider.state.token_delay = 1.0
    started = time.monotonic()
    reply = env.client.get(login(env, provider, authorize(env)))
    assert (reply.status, error_code(reply)) == (502, "provider_unavailable")
    assert time.monotonic() - started < 0.9


def test_without_oidc_settings_the_flow_says_so(env, provider):
    # (A local stack without OIDC_* uses the development issuer instead: tests/unit/test_auth_dev_login.py.)
    use_services(Services(load_settings({"STAGE": "prod"}), customers=env.repo))
    for path in ("/api/v1/oidc/authenticate", "/api/v1/oidc/callback?code=a&state=b"):
        reply = env.client.get(path)
        assert (reply.status, error_code(reply)) == (503, "login_not_configured")


def test_the_redirect_uri_defaults_to_our_own_callback(env, provider):
    settings = load_settings({"STAGE": "local", **provider.stack_env()})
    use_services(Services(settings, customers=env.repo))
    location = env.client.request("GET", "/api/v1/oidc/authenticate",
                                  headers={"Host": "shop.example.test", "X-Forwarded-Proto": "https"}
                                  ).headers["location"]
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert params["redirect_uri"] == "https://shop.example.test/api/v1/oidc/callback"


# The hand-over to the staff console (`next=console`) ------------------------------------------------------


def token_from_fragment(location):
    url = urllib.parse.urlsplit(location)
    return f"{url.scheme}://{url.netloc}{url.path}", dict(urllib.parse.parse_qsl(url.fragment))


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_console_sign_in_hands_the_token_to_the_console_once(env, provider, method):
    provider.state.user = LoginUser("console@example.test", name="Connie")
    reply = env.client.request(method, "/api/v1/oidc/authenticate?next=console")
    assert (reply.status, reply.headers["cache-control"]) == (302, "no-store")
    assert [state.next for state in env.repo.login_states.values()] == ["console"]
    callback = login(env, provider, reply.headers["location"])
    handed = env.client.get(callback)
    assert (handed.status, handed.headers["cache-control"]) == (302, "no-store")
    page, fragment = token_from_fragment(handed.headers["location"])
    assert page == "http://127.0.0.1:8000/console" and set(fragment) == {"token"}
    assert b"eyJ" not in handed.body  # the token is in the fragment only
    profile = env.client.as_user(fragment["token"]).get("/api/v1/me").json()
    assert (profile["email"], profile["id"]) == ("console@example.test", provider.state.user.sub)
    replay = env.client.get(callback)
    assert (replay.status, error_code(replay)) == (400, "invalid_state")


@pytest.mark.parametrize(
    "value",
    ["", "https://evil.example.test/", "//evil.example.test", "/console", "Console", "console ", "me", "x" * 5000],
)
def test_any_other_next_is_a_400_before_any_state_is_stored(env, provider, value):
    reply = env.client.get("/api/v1/oidc/authenticate?" + urllib.parse.urlencode({"next": value}))
    assert (reply.status, error_code(reply)) == (400, "invalid_next")
    assert "location" not in reply.headers and env.repo.login_states == {}


def test_without_next_the_state_remembers_nothing(env, provider):
    authorize(env, "POST")
    assert [state.next for state in env.repo.login_states.values()] == [None]


def test_the_console_is_on_the_origin_of_the_default_callback(env, provider):
    use_services(Services(load_settings({"STAGE": "local", **provider.stack_env()}), customers=env.repo))
    headers = {"Host": "shop.example.test", "X-Forwarded-Proto": "https"}
    location = env.client.request("GET", "/api/v1/oidc/authenticate?next=console", headers=headers).headers["location"]
    handed = env.client.get(login(env, provider, location), headers=headers)
    page, fragment = token_from_fragment(handed.headers["location"])
    assert (handed.status, page) == (302, "https://shop.example.test/console")
    assert provider.state.token_requests[-1]["redirect_uri"] == "https://shop.example.test/api/v1/oidc/callback"


# Login CSRF: the state is bound to the browser that started the sign-in (a cookie) -------------------------

HTTPS = {"Host": "shop.example.test", "X-Forwarded-Proto": "https"}


def cookie_parts(set_cookie):
    pair, *attributes = [part.strip() for part in set_cookie.split(";")]
    name, _, value = pair.partition("=")
    return name, value, {a.split("=")[0].lower(): a.partition("=")[2] for a in attributes}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_authenticate_sets_a_host_only_secure_http_only_lax_cookie_bound_to_the_state(env, provider, method):
    from chalicelib.services.login import binding_hash

    use_services(Services(load_settings({"STAGE": "local", **provider.stack_env()}), customers=env.repo))
    reply = env.client.request(method, "/api/v1/oidc/authenticate", headers=HTTPS)
    name, value, attributes = cookie_parts(reply.headers["set-cookie"])
    assert name == "__Host-ekiosk-login" and len(value) >= 32
    assert set(attributes) == {"max-age", "path", "httponly", "samesite", "secure"}  # no Domain: host only
    assert (attributes["path"], attributes["samesite"], attributes["max-age"]) == ("/", "Lax", "600")
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(reply.headers["location"]).query))["state"]
    assert value != state and value not in str(env.repo.login_states)  # only its hash is stored
    assert [s.binding for s in env.repo.login_states.values()] == [binding_hash(value)]


def test_on_plain_http_to_localhost_the_cookie_has_a_local_name_and_no_secure(env, provider):
    reply = env.client.get("/api/v1/oidc/authenticate")
    name, _, attributes = cookie_parts(reply.headers["set-cookie"])
    assert name == "ekiosk-login-local" and "secure" not in attributes
    assert (attributes["path"], attributes["samesite"], "httponly" in attributes) == ("/", "Lax", True)
    elsewhere = env.client.without_cookies().get("/api/v1/oidc/authenticate",
                                                 headers={"Host": "shop.example.test", "X-Forwarded-Proto": "http"})
    assert cookie_parts(elsewhere.headers["set-cookie"])[0] == "__Host-ekiosk-login"  # http elsewhere: still Secure


def test_a_callback_without_the_login_cookie_is_a_400_and_leaves_the_state(env, provider):
    callback = login(env, provider, authorize(env))
    before = len(provider.state.token_requests)
    refused = env.client.without_cookies().get(callback)
    assert (refused.status, error_code(refused)) == (400, "invalid_state")
    assert "browser" in refused.json()["error"]["message"]
    assert len(provider.state.token_requests) == before  # the code never went to the provider
    assert len(env.repo.login_states) == 1
    assert env.client.get(callback).status == 200  # the browser that started it still can


def test_a_callback_with_another_sign_ins_cookie_is_a_400(env, provider):
    """The login CSRF: an attacker's own state and code, completed in the victim's browser."""
    attacker = env.client.other_browser()
    started = attacker.get("/api/v1/oidc/authenticate")
    callback = login(env, provider, started.headers["location"])
    victim = env.client
    victim.get("/api/v1/oidc/authenticate")  # the victim's own sign-in cookie
    before = len(provider.state.token_requests)
    reply = victim.get(callback)
    assert (reply.status, error_code(reply)) == (400, "invalid_state")
    assert len(provider.state.token_requests) == before
    assert cookie_parts(reply.headers["set-cookie"])[2]["max-age"] == "0"  # cleared at the callback
    forged = env.client.without_cookies().get(callback, headers={"Cookie": "ekiosk-login-local=forged"})
    assert (forged.status, error_code(forged)) == (400, "invalid_state")


def test_the_local_cookie_name_is_not_accepted_over_https(env, provider):
    use_services(Services(load_settings({"STAGE": "local", **provider.stack_env()}), customers=env.repo))
    browser = env.client.other_browser()
    location = browser.get("/api/v1/oidc/authenticate", headers=HTTPS).headers["location"]
    value = browser.cookies["__Host-ekiosk-login"]
    callback = login(env, provider, location)
    plain = env.client.without_cookies()
    reply = plain.get(callback, headers={**HTTPS, "Cookie": f"ekiosk-login-local={value}"})
    assert (reply.status, error_code(reply)) == (400, "invalid_state")


def test_a_successful_callback_clears_the_login_cookie(env, provider):
    reply = env.client.get(login(env, provider, authorize(env)))
    assert reply.status == 200
    name, value, attributes = cookie_parts(reply.headers["set-cookie"])
    assert (name, value, attributes["max-age"]) == ("ekiosk-login-local", "", "0")
    assert env.client.cookies == {}


def test_the_client_secret_is_read_from_its_arn_only_for_the_token_exchange(env, provider, monkeypatch):
    from chalicelib.adapters import secrets

    fetched = []

    def fetch(secret_id, settings):
        fetched.append(secret_id)
        return CLIENT_SECRET

    monkeypatch.setattr(secrets, "cache", secrets.SecretCache(fetch=fetch))
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ekiosk/dev/oidc-client-secret-AbCdEf"
    environ = {k: v for k, v in provider.stack_env().items() if k != "OIDC_CLIENT_SECRET"}
    settings = load_settings({**environ, "STAGE": "dev", "OIDC_CLIENT_SECRET_ARN": arn,
                              "OIDC_REDIRECT_URI": "http://127.0.0.1:8000/api/v1/oidc/callback"})
    assert settings.oidc_client_secret is None
    use_services(Services(settings, customers=env.repo))
    location = authorize(env)
    assert fetched == []  # not needed to start a sign-in
    reply = env.client.get(login(env, provider, location))
    assert reply.status == 200, reply.body
    assert provider.state.token_requests[-1]["client_secret"] == CLIENT_SECRET and fetched == [arn]
