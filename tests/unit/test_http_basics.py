"""The app behind the WSGI adapter, as API Gateway would serve it (no AWS needed for these routes)."""

import pytest
from werkzeug.test import Client

from chalicelib.auth import dev_issuer
from chalicelib.config import load_settings
from tests.support.identity import local_application
from tests.support.stack import LOCAL_DEV_ENV


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with local_application(tmp_path_factory.mktemp("data")) as application:
        yield Client(application)


def test_health_is_public(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_unknown_route_answers_404_with_the_envelope(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_unsupported_method_answers_405_with_the_envelope(client):
    response = client.delete("/api/v1/health")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET"


@pytest.fixture(scope="module")
def guarded_client(client):
    """A small app with one route declared through `endpoint`, as every area declares its routes."""
    from chalice import Blueprint, Chalice

    from chalicelib.api import authorizer
    from chalicelib.api.responses import json_response
    from chalicelib.api.routing import API_PREFIX, endpoint
    from chalicelib.domain.errors import Conflict
    from chalicelib.runtime.wsgi import ChaliceWSGI

    bp = Blueprint("probe")

    @endpoint(bp, "/probe/{thing}", ["GET"])
    def probe(caller, thing):
        if thing == "conflict":
            raise Conflict("already done", details={"thing": thing}, code="already_done")
        if thing == "boom":
            raise RuntimeError("a bug")
        return json_response({"sub": caller.id, "thing": thing})

    app = Chalice("probe")
    app.register_blueprint(authorizer.bp)
    app.register_blueprint(bp, url_prefix=API_PREFIX)
    return Client(ChaliceWSGI(app))


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer not-a-jwt"])
def test_protected_routes_need_a_valid_bearer_token(guarded_client, header):
    headers = {"Authorization": header} if header is not None else {}
    response = guarded_client.get("/api/v1/probe/x", headers=headers)
    assert response.status_code == 401
    assert response.json["message"] == "Unauthorized"


def test_domain_errors_and_bugs_become_the_envelope(guarded_client):
    from chalicelib.config import get_settings

    headers = {"Authorization": "Bearer " + dev_issuer.mint(get_settings(), "probe@example.com")}
    ok = guarded_client.get("/api/v1/probe/x", headers=headers)
    assert ok.status_code == 200
    assert ok.json == {"sub": dev_issuer.subject_for("probe@example.com"), "thing": "x"}
    conflict = guarded_client.get("/api/v1/probe/conflict", headers=headers)
    assert conflict.status_code == 409
    assert conflict.json == {
        "error": {"code": "already_done", "message": "already done", "details": {"thing": "conflict"}}
    }
    bug = guarded_client.get("/api/v1/probe/boom", headers=headers)
    assert bug.status_code == 500
    assert bug.json["error"]["code"] == "internal_error"


def test_dev_issuer_token_is_verified_with_any_scheme_case(tmp_path):
    from chalicelib.auth.tokens import bearer_token, build_verifier

    settings = load_settings({**LOCAL_DEV_ENV, "EKIOSK_DATA_DIR": str(tmp_path)})
    token = dev_issuer.mint(settings, "Someone@Example.com")
    identity = build_verifier(settings).identity(bearer_token(f"bEaReR {token}"))
    assert identity.email == "someone@example.com"
    assert identity.sub == dev_issuer.subject_for("someone@example.com")


def test_dev_issuer_is_not_trusted_outside_a_local_stack(tmp_path):
    from chalicelib.auth.tokens import build_verifier
    from chalicelib.domain.errors import Unauthenticated

    token = dev_issuer.mint(load_settings({**LOCAL_DEV_ENV, "EKIOSK_DATA_DIR": str(tmp_path)}), "a@b.c")
    verifier = build_verifier(
        load_settings({"STAGE": "dev", "EKIOSK_DATA_DIR": str(tmp_path), "OIDC_JWKS_URL": "http://127.0.0.1:9/"})
    )
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


def test_an_over_long_url_answers_414_with_the_envelope(client):
    response = client.get("/api/v1/health?pad=" + "x" * 10240)
    assert response.status_code == 414
    assert response.json["error"]["code"] == "uri_too_long"
    assert client.get("/api/v1/health?pad=" + "x" * 8000).status_code == 200


def test_the_authorizer_policy_is_cached_at_most_60_seconds():
    """API Gateway honours a cached allow policy until its TTL ends, even past the token's `exp`."""
    from app import app
    from chalicelib.api import authorizer

    (bearer,) = [h for h in app.builtin_auth_handlers if h.name == "bearer"]
    assert 0 < bearer.ttl_seconds <= 60
    assert authorizer.RecentSignIns()._ttl <= 60
