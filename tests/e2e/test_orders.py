"""Orders over HTTP against the running stack: the flows of SPEC §7 and every 4xx of its routes."""

from __future__ import annotations

import pytest

from tests.support.orders import Seeder, customer_session, unique
from tests.support.stack import eventually


@pytest.fixture(scope="module")
def seed(stack):
    return Seeder.for_endpoint(stack.aws_endpoint)


@pytest.fixture
def buyer(stack, seed):
    return customer_session(stack, seed)


def place(stack, session, items, **headers):
    return session.post(stack.api + "/orders", json={"items": items}, headers=headers, timeout=30)


def error_of(answer, status, code):
    assert answer.status_code == status, (answer.status_code, answer.text)
    body = answer.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


def me(session, stack):
    return session.get(stack.api + "/me", timeout=30).json()["id"]


def test_place_read_list_approve(stack, seed, buyer, staff):
    a = seed.product(stock=5, price_cents=150_000, name="Kettle")
    b = seed.product(stock=3, price_cents=2_500, discount_price_cents=1_999, name="Mug")
    answer = place(stack, buyer, [{"product_id": a, "quantity": 2}, {"product_id": b, "quantity": 3}])
    assert answer.status_code == 201, answer.text
    order = answer.json()
    assert list(order) == ["id", "number", "customer_id", "status", "items", "total_price", "created_at",
                           "updated_at", "history"]
    assert order["status"] == "PENDING" and isinstance(order["number"], int) and order["number"] >= 1
    assert order["items"] == [
        {"product_id": a, "name": "Kettle", "quantity": 2, "price_at_time_of_order": "1500.00",
         "line_total": "3000.00"},
        {"product_id": b, "name": "Mug", "quantity": 3, "price_at_time_of_order": "19.99", "line_total": "59.97"},
    ]
    assert order["total_price"] == "3059.97"
    customer_id = order["customer_id"]
    assert order["history"] == [{"status": "PENDING", "at": order["created_at"], "by": customer_id}]
    assert answer.headers["Location"] == f"/api/v1/orders/{order['id']}"
    assert seed.product_state(a) == {"stock": 5, "reserved": 2, "available": 3}
    assert seed.product_state(b) == {"stock": 3, "reserved": 3, "available": 0}
    events = sorted((n["event"], n["channel"]) for n in seed.notifications_of(order["id"]))
    assert events == [("order_placed", "EMAIL"), ("order_placed", "SMS")]

    assert buyer.get(f"{stack.api}/orders/{order['id']}", timeout=30).json() == order
    assert staff.get(f"{stack.api}/orders/{order['id']}", timeout=30).json() == order
    stranger = customer_session(stack, seed)
    error_of(stranger.get(f"{stack.api}/orders/{order['id']}", timeout=30), 404, "not_found")
    assert stranger.get(stack.api + "/orders", timeout=30).json() == {"items": [], "next_cursor": None}
    # The list reads an index, which may lag the placement (SPEC §4; the realism tier lags it 500 ms).
    listed = eventually(lambda: buyer.get(stack.api + "/orders", timeout=30).json(), lambda page: page["items"])
    assert listed == {"items": [order], "next_cursor": None}

    done = staff.patch(f"{stack.api}/orders/{order['id']}", json={"status": "completed"}, timeout=30)
    assert done.status_code == 200, done.text
    done = done.json()
    assert done["status"] == "COMPLETED" and done["updated_at"] >= order["updated_at"]
    staff_id = me(staff, stack)
    assert done["history"][0] == order["history"][0]
    assert [(h["status"], h["by"]) for h in done["history"]] == [("PENDING", customer_id), ("COMPLETED", staff_id)]
    assert seed.product_state(a) == {"stock": 3, "reserved": 0, "available": 3}
    assert seed.product_state(b) == {"stock": 0, "reserved": 0, "available": 0}
    assert ("order_approved", "SMS") in {(n["event"], n["channel"]) for n in seed.notifications_of(order["id"])}
    assert buyer.get(f"{stack.api}/orders/{order['id']}", timeout=30).json() == done

    for status in ("COMPLETED", "CANCELED", "cancelled", "PENDING"):
        again = staff.patch(f"{stack.api}/orders/{order['id']}", json={"status": status}, timeout=30)
        assert error_of(again, 409, "invalid_transition")["details"] == {
            "from": "COMPLETED", "to": "CANCELED" if status.lower().startswith("cancel") else status}
    assert seed.product_state(a) == {"stock": 3, "reserved": 0, "available": 3}


def test_cancel_releases_and_lists_filter_by_status(stack, seed, buyer, staff):
    product = seed.product(stock=10)
    first = place(stack, buyer, [{"product_id": product, "quantity": 4}]).json()
    second = place(stack, buyer, [{"product_id": product, "quantity": 1}]).json()
    cancelled = staff.patch(f"{stack.api}/orders/{first['id']}", json={"status": "CANCELLED"}, timeout=30)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELED"
    assert seed.product_state(product) == {"stock": 10, "reserved": 1, "available": 9}
    assert ("order_cancelled", "SMS") in {(n["event"], n["channel"]) for n in seed.notifications_of(first["id"])}

    def ids(session, query, until):  # the lists read indexes, which may lag the writes (SPEC §4)
        return eventually(
            lambda: [o["id"] for o in session.get(f"{stack.api}/orders{query}", timeout=30).json()["items"]], until)

    newest_first = [second["id"], first["id"]]
    assert ids(buyer, "", lambda found: found == newest_first) == newest_first
    assert ids(buyer, "?status=pending", lambda found: found == [second["id"]]) == [second["id"]]
    assert ids(buyer, "?status=Cancelled", lambda found: found == [first["id"]]) == [first["id"]]
    assert ids(buyer, "?status=COMPLETED", lambda found: found == []) == []
    assert first["id"] in ids(staff, "?status=CANCELED&limit=100", lambda found: first["id"] in found)
    assert second["id"] in ids(staff, "?limit=100", lambda found: second["id"] in found)
    error_of(buyer.get(stack.api + "/orders?status=SHIPPED", timeout=30), 400, "validation_error")
    error_of(buyer.get(stack.api + "/orders?limit=0", timeout=30), 400, "invalid_input")
    error_of(buyer.get(stack.api + "/orders?cursor=!!", timeout=30), 400, "invalid_cursor")

    page = buyer.get(stack.api + "/orders?limit=1", timeout=30).json()
    assert [o["id"] for o in page["items"]] == [second["id"]] and page["next_cursor"]
    rest = buyer.get(stack.api + "/orders", params={"limit": 1, "cursor": page["next_cursor"]}, timeout=30).json()
    assert [o["id"] for o in rest["items"]] == [first["id"]]


def test_idempotency_key(stack, seed, buyer):
    product = seed.product(stock=10)
    key = unique("idem")
    items = [{"product_id": product, "quantity": 2}]
    first = place(stack, buyer, items, **{"Idempotency-Key": key})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = place(stack, buyer, items, **{"Idempotency-Key": key})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert seed.product_state(product)["reserved"] == 2
    other = place(stack, buyer, [{"product_id": product, "quantity": 3}], **{"Idempotency-Key": key})
    error_of(other, 409, "idempotency_mismatch")
    someone_else = place(stack, customer_session(stack, seed), items, **{"Idempotency-Key": key})
    assert someone_else.status_code == 201 and someone_else.json()["id"] != first.json()["id"]
    assert seed.product_state(product)["reserved"] == 4
    error_of(place(stack, buyer, items, **{"Idempotency-Key": "k" * 256}), 400, "invalid_idempotency_key")
    assert place(stack, buyer, items, **{"Idempotency-Key": "k" * 255}).status_code == 201


def test_insufficient_stock_is_409_with_only_the_short_items(stack, seed, buyer):
    plenty, scarce = seed.product(stock=50), seed.product(stock=1)
    answer = place(stack, buyer, [{"product_id": plenty, "quantity": 5}, {"product_id": scarce, "quantity": 2}])
    assert error_of(answer, 409, "insufficient_stock")["details"] == [
        {"product_id": scarce, "requested": 2, "available": 1}]
    assert seed.product_state(plenty)["reserved"] == 0 and seed.product_state(scarce)["reserved"] == 0
    assert buyer.get(stack.api + "/orders", timeout=30).json()["items"] == []


def test_approval_refused_when_stock_was_cut_changes_nothing(stack, seed, buyer, staff):
    product = seed.product(stock=4)
    order = place(stack, buyer, [{"product_id": product, "quantity": 4}]).json()
    seed.db.update_item(
        TableName=seed.table("products"), Key={"id": {"S": product}},
        UpdateExpression="SET stock = :s, available = :s - reserved", ExpressionAttributeValues={":s": {"N": "1"}},
    )
    answer = staff.patch(f"{stack.api}/orders/{order['id']}", json={"status": "COMPLETED"}, timeout=30)
    assert error_of(answer, 409, "insufficient_stock")["details"] == [
        {"product_id": product, "requested": 4, "available": 1}]
    assert buyer.get(f"{stack.api}/orders/{order['id']}", timeout=30).json() == order


def test_profile_without_phone_is_403(stack, seed):
    product = seed.product(stock=1)
    newcomer = customer_session(stack, seed, phone=None)
    answer = place(stack, newcomer, [{"product_id": product, "quantity": 1}])
    assert error_of(answer, 403, "profile_incomplete")["details"] == {"missing_fields": ["phone_number"]}
    assert seed.product_state(product)["reserved"] == 0


BAD_BODIES = [
    ("not json", "invalid_json"),
    ("[1, 2]", "invalid_json"),
    ('"items"', "invalid_json"),
    ("", "invalid_json"),
    ("{}", "validation_error"),
    ('{"items": []}', "validation_error"),
    ('{"items": {}}', "validation_error"),
    ('{"items": [{"product_id": "P", "quantity": 0}]}', "validation_error"),
    ('{"items": [{"product_id": "P", "quantity": 1001}]}', "validation_error"),
    ('{"items": [{"product_id": "P", "quantity": 1.5}]}', "validation_error"),
    ('{"items": [{"product_id": "P", "quantity": "2"}]}', "validation_error"),
    ('{"items": [{"product_id": "P", "quantity": true}]}', "validation_error"),
    ('{"items": [{"product_id": "P"}]}', "validation_error"),
    ('{"items": [{"product_id": "P", "quantity": 1}, {"product_id": "P", "quantity": 1}]}', "validation_error"),
    ('{"items": [{"product_id": "P", "quantity": 1}], "customer": "someone"}', "validation_error"),
    ('{"items": [{"product_id": "P", "quantity": 1}], "total_price": "0.01"}', "validation_error"),
    ('{"items": [{"product_id": "P", "quantity": 1, "price": "0.01"}]}', "validation_error"),
    ('{"items": [{"product_id": "no-such-product", "quantity": 1}]}', "unknown_product"),
]


@pytest.mark.parametrize(("raw", "code"), BAD_BODIES)
def test_bad_order_bodies_are_400(stack, seed, buyer, raw, code):
    product = seed.product(stock=5)
    raw = raw.replace('"P"', f'"{product}"')
    answer = buyer.post(stack.api + "/orders", data=raw, headers={"Content-Type": "application/json"}, timeout=30)
    error_of(answer, 400, code)
    assert seed.product_state(product)["reserved"] == 0


def test_fifty_items_are_fine_fifty_one_are_not(stack, seed, buyer):
    products = [seed.product(stock=2) for _ in range(51)]
    error_of(place(stack, buyer, [{"product_id": p, "quantity": 1} for p in products]), 400, "validation_error")
    answer = place(stack, buyer, [{"product_id": p, "quantity": 1} for p in products[:50]])
    assert answer.status_code == 201 and len(answer.json()["items"]) == 50
    assert seed.product_state(products[49])["reserved"] == 1 and seed.product_state(products[50])["reserved"] == 0


def test_status_changes_are_staff_only_and_strict(stack, seed, buyer, staff):
    product = seed.product(stock=5)
    order = place(stack, buyer, [{"product_id": product, "quantity": 1}]).json()
    url = f"{stack.api}/orders/{order['id']}"
    error_of(buyer.patch(url, json={"status": "COMPLETED"}, timeout=30), 403, "forbidden")
    for body in ({}, {"status": "SHIPPED"}, {"status": ""}, {"status": 1}, {"status": None}, {"status": ["PENDING"]},
                 {"status": "COMPLETED", "total_price": "0.00"}, {"items": []}):
        error_of(staff.patch(url, json=body, timeout=30), 400, "validation_error")
    error_of(staff.patch(url, data="nope", timeout=30), 400, "invalid_json")
    error_of(staff.patch(url, data="[]", timeout=30), 400, "invalid_json")
    error_of(staff.patch(url, json={"status": "PENDING"}, timeout=30), 409, "invalid_transition")
    assert buyer.get(url, timeout=30).json() == order
    assert seed.product_state(product) == {"stock": 5, "reserved": 1, "available": 4}


def test_unknown_ids_methods_and_tokens(stack, staff, buyer):
    missing = f"{stack.api}/orders/{unique('missing')}"
    error_of(buyer.get(missing, timeout=30), 404, "not_found")
    error_of(staff.get(missing, timeout=30), 404, "not_found")
    error_of(staff.patch(missing, json={"status": "COMPLETED"}, timeout=30), 404, "not_found")
    error_of(staff.patch(missing, json={}, timeout=30), 404, "not_found")
    error_of(staff.get(f"{stack.api}/orders/{'x' * 3000}", timeout=30), 404, "not_found")
    error_of(buyer.get(stack.api + "/orders", params={"cursor": "eyJpZCI6eyJTIjoieCJ9fQ"}, timeout=30), 400,
             "invalid_cursor")
    for method in ("PUT", "DELETE"):
        answer = staff.request(method, missing, json={"status": "COMPLETED"}, timeout=30)
        error_of(answer, 405, "method_not_allowed")
    for method in ("PUT", "DELETE", "PATCH"):
        error_of(staff.request(method, stack.api + "/orders", json={}, timeout=30), 405, "method_not_allowed")
    anonymous = stack.session()
    for method, url in (("GET", stack.api + "/orders"), ("POST", stack.api + "/orders"), ("GET", missing),
                        ("PATCH", missing)):
        assert anonymous.request(method, url, json={}, timeout=30).status_code == 401
