"""List cursors (SPEC §4): only the very list (route, filters, caller) that gave a cursor out accepts it."""

import json

import pytest
from werkzeug.test import Client

from chalicelib.api import pagination
from chalicelib.auth import dev_issuer
from chalicelib.config import load_settings
from chalicelib.domain.errors import InvalidInput
from tests.support.catalog import memory_catalog
from tests.support.identity import local_application

STAFF = "staff@ekiosk.test"
CUSTOMER = "pager@example.com"
FORGED = "eyJpZCI6IHsiUyI6ICJ4In19"  # base64 of {"id": {"S": "x"}}: a store key a client made up
KEY = b"k" * 32
SCOPE = {"route": "/api/v1/products", "params": {}, "filters": {"category_id": None}, "caller": "sub-1"}


def test_a_signed_position_comes_back_only_in_its_own_scope():
    cursor = pagination.sign("position-1", SCOPE, KEY)
    assert pagination.verify(cursor, SCOPE, KEY) == "position-1"
    assert pagination.sign(None, SCOPE, KEY) is None and pagination.verify(None, SCOPE, KEY) is None
    others = [
        {**SCOPE, "route": "/api/v1/categories"},
        {**SCOPE, "params": {"category_id": "c1"}},
        {**SCOPE, "filters": {"category_id": "c1"}},
        {**SCOPE, "caller": "sub-2"},
    ]
    for scope in others:
        with pytest.raises(InvalidInput) as raised:
            pagination.verify(cursor, scope, KEY)
        assert raised.value.code == "invalid_cursor"
    position, tag = cursor.rsplit(".", 1)
    for bad in (FORGED, "position-2." + tag, position + "." + tag[:-1] + ("A" if tag[-1] != "A" else "B"),
                cursor + "x", "." + tag, cursor * 200):
        with pytest.raises(InvalidInput):
            pagination.verify(bad, SCOPE, KEY)
    with pytest.raises(InvalidInput):  # another deployment's key
        pagination.verify(cursor, SCOPE, b"other")


def test_the_key_comes_from_settings():
    assert load_settings({"CURSOR_SIGNING_KEY": "secret"}).cursor_key == b"secret"
    local = load_settings({})
    assert local.cursor_key == load_settings({}).cursor_key  # a fixed development default
    assert load_settings({"STAGE": "prod", "OIDC_CLIENT_SECRET": "a"}).cursor_key != local.cursor_key
    assert (load_settings({"STAGE": "prod", "OIDC_CLIENT_SECRET": "a"}).cursor_key
            != load_settings({"STAGE": "prod", "OIDC_CLIENT_SECRET": "b"}).cursor_key)


@pytest.fixture(scope="module")
def app_client(tmp_path_factory):
    with local_application(tmp_path_factory.mktemp("data")) as application:
        yield Client(application)


@pytest.fixture
def call(app_client):
    from chalicelib.config import get_settings

    tokens = {email: dev_issuer.mint(get_settings(), email) for email in (STAFF, CUSTOMER)}

    def call(method, path, who=STAFF, body=None, query=None):
        kwargs = {"headers": {"Authorization": f"Bearer {tokens[who]}"}, "query_string": query}
        if body is not None:
            kwargs["data"], kwargs["content_type"] = json.dumps(body), "application/json"
        return app_client.open("/api/v1" + path, method=method, **kwargs)

    with memory_catalog():
        yield call


def invalid_cursor(response):
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "invalid_cursor"
    return True


def test_list_routes_accept_only_their_own_cursors(call):
    top = call("POST", "/categories", body={"name": "Top"}).json
    for name in ("A", "B", "C"):
        call("POST", "/categories", body={"name": name, "parent_id": top["id"]})
        call("POST", "/products", body={"name": name, "price": "1.00", "stock": 1, "category_id": top["id"]})
    first = call("GET", "/products", query={"limit": 1}).json
    cursor = first["next_cursor"]
    second = call("GET", "/products", query={"limit": 1, "cursor": cursor})
    assert second.status_code == 200 and second.json["items"] != first["items"]

    for route in ("/products", "/categories", "/admin/customers", "/notifications", "/orders",
                  f"/categories/{top['id']}/price-history"):
        assert invalid_cursor(call("GET", route, query={"cursor": FORGED}))
        assert invalid_cursor(call("GET", route, query={"cursor": cursor + "0"}))
    assert invalid_cursor(call("GET", "/categories", query={"cursor": cursor}))  # another route
    assert invalid_cursor(call("GET", "/products", query={"cursor": cursor, "category_id": top["id"]}))  # filters
    assert invalid_cursor(call("GET", "/products", who=CUSTOMER, query={"cursor": cursor}))  # another caller

    filtered = call("GET", "/products", query={"limit": 1, "category_id": top["id"]}).json
    assert call("GET", "/products", query={"cursor": filtered["next_cursor"], "category_id": top["id"]}).status_code \
        == 200
    children = call("GET", "/categories", query={"limit": 1, "parent_id": top["id"]}).json
    assert call("GET", "/categories", query={"cursor": children["next_cursor"], "parent_id": top["id"]}) \
        .status_code == 200
    assert invalid_cursor(call("GET", "/categories", query={"cursor": children["next_cursor"]}))
