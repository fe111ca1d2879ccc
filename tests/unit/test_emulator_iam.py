"""The emulator's IAM policy evaluator and what each request asks IAM for (no emulator running)."""

from __future__ import annotations

from chalicelib.runtime import principals
from chalicelib.runtime.emulator_faults import Call
from chalicelib.runtime.emulator_iam import Enforcer, evaluate, matches, requested
from infra.generate import function_policy

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/ekiosk-local-orders"


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource, **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_wildcards():
    assert matches("dynamodb:*", "DynamoDB:PutItem", ignore_case=True)
    assert matches("arn:aws:dynamodb:*:*:table/t/index/*", "arn:aws:dynamodb:us-east-1:1:table/t/index/by_x")
    assert not matches("arn:aws:dynamodb:*:*:table/t", "arn:aws:dynamodb:us-east-1:1:table/t/index/by_x")
    assert matches("sqs:?etQueueUrl", "sqs:GetQueueUrl", ignore_case=True)
    assert not matches("arn:aws:sqs:*:*:q", "arn:aws:sqs:us-east-1:1:q-dlq")


def test_default_deny_allow_and_explicit_deny_wins():
    policy = doc(allow("dynamodb:*Item", ["arn:aws:dynamodb:*:*:table/ekiosk-local-*"]))
    assert evaluate([policy], "dynamodb:PutItem", TABLE) == "Allow"
    assert evaluate([policy], "dynamodb:DeleteTable", TABLE) == "ImplicitDeny"
    deny = doc({"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"})
    assert evaluate([policy, deny], "dynamodb:DeleteItem", TABLE) == "Deny"
    assert evaluate([policy, deny], "dynamodb:GetItem", TABLE) == "Allow"
    not_action = doc({"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": "*"})
    assert evaluate([not_action], "dynamodb:GetItem", TABLE) == "Allow"
    assert evaluate([not_action], "dynamodb:DeleteItem", TABLE) == "ImplicitDeny"


def test_conditions():
    policy = doc(allow("ses:SendEmail", "*", Condition={"StringEquals": {"ses:FromAddress": "a@x.com"}}))
    assert evaluate([policy], "ses:SendEmail", "x", {"ses:FromAddress": "a@x.com"}) == "Allow"
    assert evaluate([policy], "ses:SendEmail", "x", {"ses:FromAddress": "b@x.com"}) == "ImplicitDeny"
    assert evaluate([policy], "ses:SendEmail", "x", {}) == "ImplicitDeny"
    like = doc(allow("ses:SendEmail", "*", Condition={"StringLike": {"ses:FromAddress": "*@x.com"}}))
    assert evaluate([like], "ses:SendEmail", "x", {"ses:FromAddress": "b@x.com"}) == "Allow"


def test_what_requests_ask_for():
    transact = Call("dynamodb", "TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "a"}}, {"ConditionCheck": {"TableName": "b"}}, {"Update": {"TableName": "a"}}]})
    assert [a for a, _, _ in requested(transact, "eu-west-1")] == [
        "dynamodb:PutItem", "dynamodb:ConditionCheckItem", "dynamodb:UpdateItem"]
    query = Call("dynamodb", "Query", {"TableName": "t", "IndexName": "by_status"})
    assert requested(query, "eu-west-1") == [
        ("dynamodb:Query", "arn:aws:dynamodb:eu-west-1:123456789012:table/t/index/by_status", {})]
    batch = Call("sqs", "DeleteMessageBatch", {"QueueUrl": "http://localhost:4566/123456789012/q"})
    assert requested(batch, "us-east-1") == [("sqs:DeleteMessage", "arn:aws:sqs:us-east-1:123456789012:q", {})]
    mail = Call("ses", "SendEmail", {"Source": "Shop <shop@x.com>"})
    assert requested(mail, "us-east-1") == [
        ("ses:SendEmail", "arn:aws:ses:us-east-1:123456789012:identity/shop@x.com", {"ses:FromAddress": "shop@x.com"})]


def test_the_generated_policies_say_what_spec_9_says():
    enforcer = Enforcer.for_local_stack("local")

    def allowed(principal, service, action, body):
        return enforcer.check(Call(service, action, body), principals.access_key(principal), "us-east-1") is None

    queue = {"QueueUrl": "http://h/123456789012/ekiosk-local-notifications"}
    dlq = {"QueueUrl": "http://h/123456789012/ekiosk-local-notifications-dlq"}
    sender = {"Source": function_policy("notifier", "local")["Statement"][-1]["Condition"]["StringEquals"][
        "ses:FromAddress"]}
    assert allowed("api", "sqs", "SendMessageBatch", queue)
    for action in ("ReceiveMessage", "DeleteMessage", "ChangeMessageVisibilityBatch"):
        assert not allowed("api", "sqs", action, queue) and allowed("notifier", "sqs", action, queue)
    assert not allowed("api", "ses", "SendEmail", sender) and allowed("notifier", "ses", "SendEmail", sender)
    assert allowed("notifier", "sqs", "SendMessage", dlq) and not allowed("api", "sqs", "SendMessage", dlq)
    assert allowed("redrive", "sqs", "ReceiveMessage", dlq) and allowed("redrive", "sqs", "SendMessage", queue)
    assert not allowed("redrive", "sqs", "ReceiveMessage", queue)
    assert enforcer.check(Call("dynamodb", "DeleteTable", {"TableName": "x"}), "testing", "us-east-1") is None


def test_every_periodic_job_signs_as_a_function_with_a_policy():
    from chalicelib.services.jobs import PERIODIC_JOBS

    for job in PERIODIC_JOBS:
        principal = principals.JOB_PRINCIPALS[job.name]
        assert function_policy(principal, "local")["Statement"], job.name
