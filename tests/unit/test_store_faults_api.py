"""The API's side of the retry policy: a store fault that outlasts every retry is a 503 `try_again`
with the error envelope (never a 500), and a fault that a retry gets past is invisible to the client."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb import retry
from tests.unit import test_catalog_routes as routes
from tests.unit.test_catalog_routes import CUSTOMER, make_category, make_product

app_client, api = routes.app_client, routes.api  # the catalog routes' fixtures (in-memory repositories)


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, "UpdateItem")


@pytest.fixture
def no_sleep(monkeypatch):
    pauses: list[float] = []
    monkeypatch.setattr(retry, "sleep", pauses.append)
    return pauses


def test_a_write_that_stays_throttled_answers_503_try_again(api, monkeypatch, no_sleep):
    product = make_product(api, make_category(api, "Busy")["id"])

    def always_throttled(writes, delta):
        return retry.call(lambda: (_ for _ in ()).throw(throttled()), "UpdateItem product")

    monkeypatch.setattr(api.repo, "write", always_throttled)
    response = api.call("PATCH", f"/products/{product['id']}", body={"stock": 9})
    assert response.status_code == 503
    assert response.json["error"]["code"] == "try_again" and response.json["error"]["message"]
    assert len(no_sleep) == retry.MAX_ATTEMPTS - 1


def test_a_write_throttled_once_succeeds(api, monkeypatch, no_sleep):
    product = make_product(api, make_category(api, "Once")["id"])
    real_write, failures = api.repo.write, [throttled()]

    def once(writes, delta):
        def attempt():
            if failures:
                raise failures.pop()
            return real_write(writes, delta)
        return retry.call(attempt)

    monkeypatch.setattr(api.repo, "write", once)
    response = api.call("PATCH", f"/products/{product['id']}", body={"stock": 9})
    assert response.status_code == 200 and response.json["stock"] == 9


def test_a_transient_read_failure_escaping_the_repository_is_503_not_500(api, monkeypatch):
    product = make_product(api, make_category(api, "Read")["id"])

    def failing_read(product_id):
        raise throttled()

    monkeypatch.setattr(api.repo, "get_product", failing_read)
    response = api.call("GET", f"/products/{product['id']}", who=CUSTOMER)
    assert response.status_code == 503 and response.json["error"]["code"] == "try_again"
