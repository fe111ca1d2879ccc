"""Identity over HTTP on the shared local stack (development issuer): profile, staff roles, 401s."""

import uuid

import pytest
import requests

from tests.support.identity import dev_session, dev_token

PROFILE_KEYS = {"id", "email", "name", "phone_number", "role", "profile_complete", "missing_fields"}


def email(prefix="user"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.test"


def code_of(response):
    return response.json()["error"]["code"]


@pytest.fixture
def customer(stack):
    return dev_session(stack, email())


def test_no_or_invalid_token_is_a_401(stack):
    assert requests.get(stack.api + "/me", timeout=10).status_code == 401
    for header in ("Bearer garbage", "Basic dXNlcjpwYXNz", "Bearer", "bearer a.b.c"):
        response = requests.get(stack.api + "/me", headers={"Authorization": header}, timeout=10)
        assert response.status_code == 401, header


def test_the_scheme_word_is_case_insensitive(stack):
    token = dev_token(stack, email())
    for scheme in ("Bearer", "bearer", "BEARER"):
        response = requests.get(stack.api + "/me", headers={"Authorization": f"{scheme} {token}"}, timeout=10)
        assert response.status_code == 200, scheme


def test_first_request_creates_the_profile(stack):
    address = email("new")
    response = stack.session(address).get(stack.api + "/me", timeout=10)
    assert response.status_code == 200
    profile = response.json()
    assert set(profile) == PROFILE_KEYS
    assert (profile["email"], profile["role"], profile["phone_number"]) == (address, "customer", None)
    assert (profile["profile_complete"], profile["missing_fields"]) == (False, ["phone_number"])
    assert profile["name"] == address.split("@")[0]


@pytest.mark.parametrize("path", ["/me", "/update-profile"])
def test_patch_normalizes_and_completes_the_profile(stack, customer, path):
    response = customer.patch(stack.api + path, json={"phone_number": "0712 345-678", "name": "Wanjiku"}, timeout=10)
    assert response.status_code == 200, response.text
    profile = response.json()
    assert (profile["phone_number"], profile["name"]) == ("+254712345678", "Wanjiku")
    assert (profile["profile_complete"], profile["missing_fields"]) == (True, [])
    assert customer.get(stack.api + "/update-profile", timeout=10).json() == profile
    assert customer.get(stack.api + "/me", timeout=10).json() == profile


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"role": "admin"}, "validation_error"),
        ({"email": "someone@else.test"}, "validation_error"),
        ({"phone_number": "0712345678", "favourite": "tea"}, "validation_error"),
        ({"phone_number": ""}, "invalid_phone_number"),
        ({"phone_number": "   "}, "invalid_phone_number"),
        ({"phone_number": "0712"}, "invalid_phone_number"),
        ({"phone_number": "call me"}, "invalid_phone_number"),
        ({"name": ""}, "validation_error"),
        ({"name": "n" * 201}, "validation_error"),
    ],
)
def test_patch_refusals_are_400_with_the_envelope(stack, customer, body, code):
    before = customer.get(stack.api + "/me", timeout=10).json()
    response = customer.patch(stack.api + "/me", json=body, timeout=10)
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert code_of(response) == code
    assert customer.get(stack.api + "/me", timeout=10).json() == before


@pytest.mark.parametrize("raw", ["", "[]", "not json", "null", '"phone"'])
def test_patch_needs_a_json_object(stack, customer, raw):
    response = customer.patch(stack.api + "/me", data=raw, headers={"Content-Type": "application/json"}, timeout=10)
    assert (response.status_code, code_of(response)) == (400, "invalid_json")


def test_admin_emails_make_staff_and_customers_get_403(stack, staff, customer):
    assert staff.get(stack.api + "/me", timeout=10).json()["role"] == "admin"
    assert staff.get(stack.api + "/admin/customers", timeout=10).status_code == 200
    for method, path in (("GET", "/admin/customers"), ("PATCH", "/admin/customers/x"), ("GET", "/admin/customers/x")):
        response = customer.request(method, stack.api + path, json={"role": "admin"}, timeout=10)
        assert (response.status_code, code_of(response)) == (403, "forbidden")


def test_a_promotion_applies_from_the_next_request_and_so_does_a_demotion(stack, staff):
    address = email("promoted")
    person = dev_session(stack, address)
    person_id = person.get(stack.api + "/me", timeout=10).json()["id"]
    assert person.get(stack.api + "/admin/customers", timeout=10).status_code == 403

    response = staff.patch(stack.api + f"/admin/customers/{person_id}", json={"role": "admin"}, timeout=10)
    assert response.status_code == 200
    assert set(response.json()) == PROFILE_KEYS
    assert (response.json()["id"], response.json()["email"], response.json()["role"]) == (person_id, address, "admin")
    assert person.get(stack.api + "/admin/customers", timeout=10).status_code == 200
    assert person.get(stack.api + "/me", timeout=10).json()["role"] == "admin"

    staff.patch(stack.api + f"/admin/customers/{person_id}", json={"role": "customer"}, timeout=10)
    assert person.get(stack.api + "/admin/customers", timeout=10).status_code == 403


@pytest.mark.parametrize("body", [{"role": "root"}, {"role": "Admin"}, {}, {"role": "admin", "email": "x@y.z"}])
def test_role_changes_accept_customer_or_admin_only(stack, staff, customer, body):
    person_id = customer.get(stack.api + "/me", timeout=10).json()["id"]
    response = staff.patch(stack.api + f"/admin/customers/{person_id}", json=body, timeout=10)
    assert (response.status_code, code_of(response)) == (400, "validation_error")


def test_unknown_customer_is_a_404(stack, staff):
    for method in ("GET", "PATCH"):
        response = staff.request(method, stack.api + "/admin/customers/no-such-id", json={"role": "admin"}, timeout=10)
        assert (response.status_code, code_of(response)) == (404, "customer_not_found")


def test_the_same_id_everywhere(stack, staff):
    address = email("same")
    me = dev_session(stack, address).get(stack.api + "/me", timeout=10).json()
    assert staff.get(stack.api + f"/admin/customers/{me['id']}", timeout=10).json() == me
    found, cursor = None, None
    while found is None:
        page = staff.get(stack.api + "/admin/customers", params={"limit": 100, "cursor": cursor}, timeout=10).json()
        found = next((item for item in page["items"] if item["id"] == me["id"]), None)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert found == me


def test_the_staff_list_pages(stack, staff):
    for _ in range(3):
        dev_session(stack, email("listed")).get(stack.api + "/me", timeout=10)
    first = staff.get(stack.api + "/admin/customers", params={"limit": 2}, timeout=10).json()
    assert set(first) == {"items", "next_cursor"} and len(first["items"]) == 2 and first["next_cursor"]
    second = staff.get(stack.api + "/admin/customers", params={"limit": 2, "cursor": first["next_cursor"]},
                       timeout=10).json()
    assert {item["id"] for item in first["items"]}.isdisjoint(item["id"] for item in second["items"])
    for params in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"cursor": "garbage"}):
        response = staff.get(stack.api + "/admin/customers", params=params, timeout=10)
        assert response.status_code == 400, params


def test_the_login_flow_uses_the_development_issuer(stack):
    """Without OIDC_*, /oidc/authenticate sends the browser to the development sign-in page (SPEC §3, §4)."""
    import urllib.parse

    def query(url):
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))

    browser = requests.Session()
    start = browser.get(stack.api + "/oidc/authenticate", allow_redirects=False, timeout=10)
    assert start.status_code == 302
    authorize = start.headers["Location"]
    params = query(authorize)
    assert authorize.split("?")[0] == stack.api + "/oidc/dev/authorize"
    assert params["code_challenge_method"] == "S256" and params["state"] and params["nonce"]
    assert params["redirect_uri"] == stack.api + "/oidc/callback"
    form = browser.get(authorize, timeout=10)
    assert form.status_code == 200 and form.headers["Content-Type"].startswith("text/html")
    assert 'name="email"' in form.text
    address = email("oidc-dev")
    submitted = browser.get(authorize, params={"email": address}, allow_redirects=False, timeout=10)
    assert submitted.status_code == 302
    callback = submitted.headers["Location"]
    assert callback.split("?")[0] == stack.api + "/oidc/callback" and query(callback)["state"] == params["state"]
    signed_in = browser.get(callback, timeout=10)
    assert signed_in.status_code == 200, signed_in.text
    body = signed_in.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and body["profile_complete"] is False
    me = requests.get(stack.api + "/me", headers={"Authorization": f"Bearer {body['id_token']}"}, timeout=10)
    assert me.status_code == 200 and me.json()["email"] == address
    replay = browser.get(callback, timeout=10)
    assert (replay.status_code, code_of(replay)) == (400, "invalid_state")
