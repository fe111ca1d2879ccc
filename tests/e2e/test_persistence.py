"""Stopping and starting the local stack keeps every table and queue; `make reset` starts clean."""

from __future__ import annotations

import json
import subprocess

import boto3
import requests

from tests.support.stack import ROOT, STAFF_EMAIL, launch, stop

CUSTOMER_EMAIL = "persistent-customer@example.com"


def _sqs(stack):
    return boto3.client(
        "sqs", endpoint_url=stack.aws_endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


def _dead_letter_url(stack) -> str:
    return _sqs(stack).get_queue_url(QueueName="ekiosk-local-notifications-dlq")["QueueUrl"]


def _fill(stack) -> dict:
    staff, customer = stack.session(STAFF_EMAIL), stack.session(CUSTOMER_EMAIL)
    assert customer.patch(stack.api + "/me", json={"phone_number": "0711223344"}).status_code == 200
    category = staff.post(stack.api + "/categories", json={"name": "Kept"}).json()
    product = staff.post(
        stack.api + "/products",
        json={"name": "Kept lamp", "price": "10.00", "stock": 5, "category_id": category["id"]},
    ).json()
    order = customer.post(stack.api + "/orders", json={"items": [{"product_id": product["id"], "quantity": 2}]})
    assert order.status_code == 201, order.text
    # A message waiting in the dead-letter queue: nothing consumes it, so it must survive the restart.
    _sqs(stack).send_message(QueueUrl=_dead_letter_url(stack), MessageBody=json.dumps({"kept": True}))
    return {"category": category, "product": product, "order": order.json()}


def _dead_letters(stack) -> list[str]:
    messages = _sqs(stack).receive_message(QueueUrl=_dead_letter_url(stack), MaxNumberOfMessages=10)
    return [m["Body"] for m in messages.get("Messages", [])]


def test_a_restart_keeps_everything_and_reset_forgets_it(tmp_path):
    data_dir = tmp_path / "data"
    first = launch(data_dir)
    try:
        saved = _fill(first)
    finally:
        assert stop(first) == 0

    second = launch(data_dir)
    try:
        staff, customer = second.session(STAFF_EMAIL), second.session(CUSTOMER_EMAIL)
        assert staff.get(f"{second.api}/categories/{saved['category']['id']}").json()["name"] == "Kept"
        product = staff.get(f"{second.api}/products/{saved['product']['id']}").json()
        assert (product["stock"], product["reserved"], product["available"]) == (5, 2, 3)
        me = customer.get(second.api + "/me").json()
        assert me["phone_number"] == "+254711223344"
        order = customer.get(f"{second.api}/orders/{saved['order']['id']}").json()
        assert order["number"] == saved["order"]["number"] and order["status"] == "PENDING"
        records = staff.get(second.api + "/notifications", params={"order_id": order["id"]}).json()["items"]
        assert {r["channel"] for r in records} == {"SMS", "EMAIL"}
        assert _dead_letters(second) == [json.dumps({"kept": True})]
    finally:
        assert stop(second) == 0

    subprocess.run(["make", "-s", "reset", f"EKIOSK_DATA_DIR={data_dir}"], cwd=ROOT, check=True)
    third = launch(data_dir)
    try:
        staff = third.session(STAFF_EMAIL)
        assert requests.get(f"{third.api}/categories/{saved['category']['id']}",
                            headers=staff.headers, timeout=10).status_code == 404
        assert staff.get(third.api + "/orders").json()["items"] == []
        assert _dead_letters(third) == []
    finally:
        stop(third)
