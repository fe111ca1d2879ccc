"""The login flow on a local stack without OIDC_*: the development issuer is the provider (in-process)."""

import urllib.parse

import pytest

from chalicelib.api import authorizer
from chalicelib.auth import dev_issuer, tokens
from chalicelib.auth.tokens import build_verifier
from chalicelib.bootstrap import Services, use_services
from chalicelib.config import load_settings
from tests.fakes.customers import InMemoryCustomerRepository
from tests.support.identity import WsgiClient
from tests.support.stack import LOCAL_DEV_ENV

AUTHORIZE = "http://127.0.0.1:8000/api/v1/oidc/dev/authorize"
CALLBACK = "http://127.0.0.1:8000/api/v1/oidc/callback"


@pytest.fixture(scope="module")
def application():
    from chalicelib.runtime.wsgi import application

    return application


def _use(settings, monkeypatch):
    repo = InMemoryCustomerRepository()
    use_services(Services(settings, customers=repo))
    verifier = build_verifier(settings)
    monkeypatch.setattr(tokens, "get_verifier", lambda: verifier)
    monkeypatch.setattr(authorizer, "get_verifier", lambda: verifier)
    monkeypatch.setattr(authorizer, "recent", authorizer.RecentSignIns())
    return repo


@pytest.fixture
def env(application, monkeypatch, tmp_path):
    from chalicelib.bootstrap import services

    previous = services()
    settings = load_settings({**LOCAL_DEV_ENV, "EKIOSK_DATA_DIR": str(tmp_path)})
    assert dev_issuer.trusted(settings)
    repo = _use(settings, monkeypatch)
    yield type("Env", (), {"repo": repo, "settings": settings, "client": WsgiClient(application),
                           "use": lambda s: _use(s, monkeypatch)})
    use_services(previous)


def query_of(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def local(url):
    parts = urllib.parse.urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def authorize(env, path="/api/v1/oidc/authenticate"):
    reply = env.client.get(path)
    assert reply.status == 302, reply.body
    location = reply.headers["location"]
    assert location.split("?")[0] == AUTHORIZE
    return location


def sign_in(env, email="dev.login@example.test", path="/api/v1/oidc/authenticate", **extra):
    """authenticate → the form → submitting it; returns the callback URL the browser is sent to."""
    location = authorize(env, path)
    form = env.client.get(local(location))
    assert form.status == 200 and form.headers["content-type"].startswith("text/html")
    assert b'name="email"' in form.body and b"<form" in form.body
    reply = env.client.get(local(location) + "&" + urllib.parse.urlencode({"email": email, **extra}))
    assert reply.status == 302, reply.body
    callback = reply.headers["location"]
    assert callback.split("?")[0] == CALLBACK
    assert query_of(callback)["state"] == query_of(location)["state"]
    return callback


def test_authenticate_redirects_to_the_dev_provider_with_state_nonce_and_pkce(env):
    params = query_of(authorize(env))
    assert params["response_type"] == "code" and params["client_id"] == dev_issuer.AUDIENCE
    assert params["redirect_uri"] == CALLBACK and params["scope"] == "openid email profile"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["state"] and params["nonce"] and params["state"] != params["nonce"]


def test_the_dev_login_end_to_end(env):
    callback = sign_in(env, name="Dev Login")
    reply = env.client.get(local(callback))
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["token_type"] == "Bearer" and 3500 < body["expires_in"] <= 3600
    assert body["profile_complete"] is False and body["next"] == "/api/v1/me"
    me = env.client.as_user(body["id_token"]).get("/api/v1/me")
    assert me.status == 200 and me.json()["email"] == "dev.login@example.test" and me.json()["name"] == "Dev Login"
    # Same email, same subject as `make token`: the same customer.
    again = env.client.as_user(dev_issuer.mint(env.settings, "dev.login@example.test")).get("/api/v1/me")
    assert again.json()["id"] == me.json()["id"]
    # The ID token carries the login's nonce; the code itself is no Bearer token.
    from jose import jwt

    claims = jwt.get_unverified_claims(body["id_token"])
    assert claims["nonce"] and claims["aud"] == dev_issuer.AUDIENCE
    code = query_of(callback)["code"]
    assert env.client.as_user(code).get("/api/v1/me").status == 401
    # Replaying the callback: the state is gone.
    replay = env.client.get(local(callback))
    assert (replay.status, replay.json()["error"]["code"]) == (400, "invalid_state")


def test_login_hint_works_like_email_and_next_console_hands_over(env):
    location = authorize(env, "/api/v1/oidc/authenticate?next=console")
    reply = env.client.get(local(location) + "&login_hint=hint%40example.test")
    final = env.client.get(local(reply.headers["location"]))
    assert final.status == 302
    target, fragment = final.headers["location"].split("#")
    assert target == "http://127.0.0.1:8000/console"
    token = dict(urllib.parse.parse_qsl(fragment))["token"]
    assert env.client.as_user(token).get("/api/v1/me").json()["email"] == "hint@example.test"


def test_a_code_for_another_login_is_refused(env):
    """A code only completes the state it was issued for (nonce, PKCE challenge)."""
    first, second = sign_in(env, "one@example.test"), sign_in(env, "two@example.test")
    swapped = f"/api/v1/oidc/callback?code={query_of(first)['code']}&state={query_of(second)['state']}"
    reply = env.client.get(swapped)
    assert (reply.status, reply.json()["error"]["code"]) == (400, "code_exchange_failed")


def test_a_wrong_code_verifier_is_refused(env):
    import dataclasses

    from chalicelib.services.login import state_key

    callback = sign_in(env)
    key = state_key(query_of(callback)["state"])
    env.repo.login_states[key] = dataclasses.replace(env.repo.login_states[key], code_verifier="x" * 64)
    reply = env.client.get(local(callback))
    assert (reply.status, reply.json()["error"]["code"]) == (400, "code_exchange_failed")
    assert "code_challenge" in reply.json()["error"]["details"]["error_description"]


@pytest.mark.parametrize("tamper", ["flip", "foreign", "expired", "redirect"])
def test_a_tampered_code_is_refused(env, tamper):
    callback = sign_in(env)
    params = query_of(callback)
    code = params["code"]
    if tamper == "flip":
        head, payload, signature = code.split(".")
        code = f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    else:
        from jose import jwt

        claims = jwt.get_unverified_claims(code)
        if tamper == "expired":
            claims["exp"] = claims["iat"] - 1
        if tamper == "redirect":
            claims["redirect_uri"] = "http://evil.example.test/api/v1/oidc/callback"
        other = env.settings if tamper != "foreign" else load_settings(
            {**LOCAL_DEV_ENV, "EKIOSK_DATA_DIR": str(env.settings.data_dir / "other")})
        code = dev_issuer._sign(other, claims)
    reply = env.client.get("/api/v1/oidc/callback?" + urllib.parse.urlencode({"code": code, "state": params["state"]}))
    assert (reply.status, reply.json()["error"]["code"]) == (400, "code_exchange_failed"), reply.body


@pytest.mark.parametrize(("change", "code"), [
    ({"response_type": "token"}, "invalid_request"),
    ({"client_id": "someone-else"}, "invalid_client"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": "short"}, "invalid_request"),
    ({"redirect_uri": "https://evil.example.test/steal"}, "invalid_redirect_uri"),
    ({"state": ""}, "invalid_request"),
    ({"email": "not an email"}, "invalid_email"),
])
def test_bad_authorize_requests_are_400(env, change, code):
    params = {**query_of(authorize(env)), "email": "a@example.test", **change}
    reply = env.client.get("/api/v1/oidc/dev/authorize?" + urllib.parse.urlencode(params))
    assert (reply.status, reply.json()["error"]["code"]) == (400, code)


def test_the_form_escapes_what_it_echoes(env):
    params = {**query_of(authorize(env)), "state": '"><script>alert(1)</script>'}
    reply = env.client.get("/api/v1/oidc/dev/authorize?" + urllib.parse.urlencode(params))
    assert reply.status == 200 and b"<script>" not in reply.body
    assert "default-src 'none'" in reply.headers["content-security-policy"]


@pytest.mark.parametrize("environ", [
    {"STAGE": "prod"},
    {**LOCAL_DEV_ENV, "OIDC_AUDIENCE": "client.apps.example.test"},
])
def test_the_dev_provider_exists_only_on_a_local_stack_without_oidc(env, environ):
    params = {**query_of(authorize(env)), "email": "a@example.test"}
    env.use(load_settings({**environ, "EKIOSK_DATA_DIR": str(env.settings.data_dir)}))
    reply = env.client.get("/api/v1/oidc/dev/authorize?" + urllib.parse.urlencode(params))
    assert (reply.status, reply.json()["error"]["code"]) == (404, "not_found")


def test_on_lambda_the_dev_provider_does_not_exist(env, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ekiosk-local")
    reply = env.client.get("/api/v1/oidc/dev/authorize?response_type=code")
    assert (reply.status, reply.json()["error"]["code"]) == (404, "not_found")
    authenticate = env.client.get("/api/v1/oidc/authenticate")
    assert (authenticate.status, authenticate.json()["error"]["code"]) == (503, "login_not_configured")


@pytest.mark.parametrize("redirect_uri", [
    "http://evil.example.test/api/v1/oidc/callback",  # another host, the same path
    "http://127.0.0.1:8001/api/v1/oidc/callback",  # another port
    "https://127.0.0.1:8000/api/v1/oidc/callback",  # another scheme
    "http://127.0.0.1:8000/x/api/v1/oidc/callback",  # another prefix
    "http://127.0.0.1:8000/api/v1/oidc/callback/",
    "http://127.0.0.1:8000/api/v1/oidc/callback?next=x",
    "http://127.0.0.1:8000/api/v1/oidc/callback\r\nSet-Cookie: x=y",
    "http://127.0.0.1:8000/api/v1/oidc/callback\n",
])
def test_the_dev_provider_redirects_only_to_this_apis_own_callback(env, redirect_uri):
    params = {**query_of(authorize(env)), "redirect_uri": redirect_uri, "email": "a@example.test"}
    reply = env.client.get("/api/v1/oidc/dev/authorize?" + urllib.parse.urlencode(params))
    assert reply.status == 400 and "location" not in reply.headers
    assert reply.json()["error"]["code"] in ("invalid_redirect_uri", "invalid_request")


@pytest.mark.parametrize("field", ["state", "nonce", "email", "name"])
def test_cr_or_lf_in_any_dev_authorize_parameter_is_a_400(env, field):
    params = {**query_of(authorize(env)), "email": "a@example.test"}
    params[field] = (params.get(field) or "x") + "\r\nLocation: http://evil.example.test/"
    reply = env.client.get("/api/v1/oidc/dev/authorize?" + urllib.parse.urlencode(params))
    assert (reply.status, reply.json()["error"]["code"]) == (400, "invalid_request")
    assert field in reply.json()["error"]["details"]


def test_the_dev_login_needs_the_login_cookie_of_this_browser(env):
    callback = sign_in(env)
    refused = env.client.without_cookies().get(local(callback))
    assert (refused.status, refused.json()["error"]["code"]) == (400, "invalid_state")
    assert env.client.get(local(callback)).status == 200
