"""Schema-based fuzzing of every documented operation against the running local stack (schemathesis).

For each operation and each role (staff, a customer with a complete profile; public routes anonymously),
schemathesis generates valid (positive) and invalid (negative) requests from the served OpenAPI document.
Every response must: not be a 5xx, have a documented status code, content type and headers, and match the
documented schema; invalid input must be rejected with a 4xx. Some examples reuse ids of real resources
(seeded below) so the answers are not only 404s.

The example counts are bounded (FUZZ_EXAMPLES, default 6 per operation, role and mode) and the generation
is derandomized, so the run is repeatable and stays around a minute.
"""

from __future__ import annotations

import os
import uuid

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.oidc import FakeProvider, make_key
from tests.support.ports import free_port
from tests.support.stack import STAFF_EMAIL, launch, stop

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
CUSTOMER_EMAIL = "fuzz-customer@ekiosk.test"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
MAX_FAILURES_PER_TEST = 3
# The login routes are fuzzed against a private stack that trusts a fake provider (the development issuer's
# tokens are not valid there), except the development sign-in page, which exists only on the shared stack.
LOGIN_PREFIX = "/api/v1/oidc/"
DEV_AUTHORIZE = "/api/v1/oidc/dev/authorize"


def _operations() -> list[tuple[str, str, bool]]:
    """(method, path, public) of the document built in-process, for parametrizing at collection time."""
    from app import app
    from chalicelib.api.openapi import build_document

    document = build_document(app)
    return [
        (method.upper(), path, operation["x-public"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _cases() -> list:
    cases = []
    for method, path, public in _operations():
        for role in (["anonymous"] if public else ["staff", "customer"]):
            cases.append(pytest.param(role, method, path, id=f"{role}-{method} {path}"))
    return cases


@pytest.fixture(scope="module")
def schema(stack):
    served = requests.get(stack.api + "/openapi.json", timeout=10)
    assert served.status_code == 200
    loaded = schemathesis.openapi.from_dict(served.json())
    # The real token is always sent (test_every_protected_operation_needs_a_token covers its absence), and
    # unknown query parameters are ignored by design, so neither is generated as "invalid input".
    loaded.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    return loaded


@pytest.fixture(scope="module")
def login_stack(tmp_path_factory):
    with FakeProvider(make_key("fuzz-key")) as provider:
        port = free_port()
        env = provider.stack_env(OIDC_REDIRECT_URI=f"http://127.0.0.1:{port}/api/v1/oidc/callback")
        running = launch(tmp_path_factory.mktemp("fuzz-login") / "data", api_port=port, **env)
        yield running
        stop(running)


@pytest.fixture(scope="module")
def sessions(stack):
    staff, customer = stack.session(STAFF_EMAIL), stack.session(CUSTOMER_EMAIL)
    assert customer.patch(stack.api + "/me", json={"phone_number": "+254700000123"}, timeout=10).status_code == 200
    return {"staff": staff, "customer": customer, "anonymous": requests.Session()}


@pytest.fixture(scope="module")
def known_ids(stack, sessions):
    """Real resources whose ids the fuzzer may use as path parameters (seeding is best effort)."""
    staff, customer = sessions["staff"], sessions["customer"]
    ids: dict[str, list[str]] = {}
    tag = uuid.uuid4().hex[:8]

    def created(response, key):
        if response.status_code == 201:
            ids.setdefault(key, []).append(response.json()["id"])
            return response.json()["id"]
        return None

    category = created(staff.post(stack.api + "/categories", json={"name": f"fuzz {tag}"}, timeout=10), "category_id")
    if category:
        created(staff.post(stack.api + "/categories", json={"name": f"fuzz sub {tag}", "parent_id": category},
                           timeout=10), "category_id")
        for n in range(2):
            product = staff.post(stack.api + "/products", json={
                "name": f"fuzz product {tag} {n}", "price": "100.00", "stock": 50, "category_id": category,
            }, timeout=10)
            product_id = created(product, "product_id")
            if product_id:
                items = [{"product_id": product_id, "quantity": 1}]
                order = customer.post(stack.api + "/orders", json={"items": items}, timeout=10)
                created(order, "order_id")
    me = customer.get(stack.api + "/me", timeout=10)
    if me.status_code == 200:
        ids["customer_id"] = [me.json()["id"]]
    return ids


def _strategy(operation, mode, known_ids: dict[str, list[str]]):
    names = [p.name for p in operation.path_parameters]
    plain = operation.as_strategy(generation_mode=mode)
    if not names or not all(name in known_ids for name in names):
        return plain
    with_known = st.fixed_dictionaries({name: st.sampled_from(known_ids[name]) for name in names}).flatmap(
        lambda values: operation.as_strategy(generation_mode=mode, path_parameters=values)
    )
    return st.one_of(plain, with_known)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("role", "method", "path"), _cases())
def test_fuzz(request, stack, schema, sessions, known_ids, role, method, path):
    operation = schema[path][method]
    session = sessions[role]
    on_login_stack = path.startswith(LOGIN_PREFIX) and path != DEV_AUTHORIZE
    target = request.getfixturevalue("login_stack") if on_login_stack else stack
    failures: list[str] = []
    seen: set[tuple] = set()
    def run(case):
        if len(failures) >= MAX_FAILURES_PER_TEST:
            return
        try:
            response = case.call(base_url=target.base_url, session=session, timeout=30, allow_redirects=False)
        except (UnicodeEncodeError, ValueError, requests.exceptions.InvalidHeader):
            return  # a value the HTTP client itself refuses to send: not the server's business
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as error:  # schemathesis' Failure / FailureGroup
            kinds = sorted({getattr(f, "title", type(f).__name__) for f in getattr(error, "exceptions", [error])})
            key = (response.status_code, tuple(kinds))
            if key not in seen:
                seen.add(key)
                failures.append(f"{', '.join(kinds)} -> {response.status_code}\n{error}")

    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
        test = settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(given(case=_strategy(operation, mode, known_ids))(run))
        try:
            test()
        except Unsatisfiable:
            if mode is schemathesis.GenerationMode.POSITIVE:
                raise
            # nothing in this operation can be made invalid (no parameters, no body)
    assert not failures, f"{role} {method} {path}:\n" + "\n\n".join(failures)


@pytest.mark.parametrize("token", [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz"])
def test_every_protected_operation_needs_a_token(stack, schema, token):
    """Without a valid token every non-public operation answers 401 with the documented body."""
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.definition.raw.get("x-public"):
            continue
        path = operation.path
        for parameter in operation.path_parameters:
            path = path.replace("{" + parameter.name + "}", "x")
        headers = {"Authorization": token} if token else {}
        response = requests.request(operation.method.upper(), stack.base_url + path, headers=headers, json={},
                                    timeout=10)
        assert response.status_code == 401, f"{operation.method.upper()} {operation.path}: {response.status_code}"
        case = operation.Case(path_parameters={p.name: "x" for p in operation.path_parameters})
        case.validate_response(response, checks=[status_code_conformance, response_schema_conformance])
        checked += 1
    assert checked >= 25
