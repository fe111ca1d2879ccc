"""infra/generate.py: the generated files are current, and they say what SPEC §9 and the models say."""

from __future__ import annotations

import json
import re
import sys

import pytest

from infra import generate
from infra.generate import DEPLOY_STAGES, ROOT
from tests.support.infra import from_create_table, localstack_table_definitions, model_tables


def merge(stage: str) -> dict:
    return json.loads((ROOT / "infra" / "cloudformation" / f"merge-{stage}.json").read_text())


def policy(name: str) -> dict:
    return json.loads((ROOT / ".chalice" / name).read_text())


def resources_of(template: dict, kind: str) -> dict:
    return {key: value for key, value in template["Resources"].items() if value.get("Type") == kind}


def test_generated_files_are_up_to_date():
    stale = [str(path.relative_to(ROOT)) for path in generate.stale_files()]
    assert not stale, f"run `python -m infra.generate` and commit: {stale}"


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_infra_tables_match_the_models(stage):
    tables = resources_of(merge(stage), "AWS::DynamoDB::Table")
    found = {t["Properties"]["TableName"]: from_create_table(t["Properties"]) for t in tables.values()}
    assert found == model_tables(stage)


def test_localstack_init_creates_the_models_tables():
    script = (ROOT / "localstack" / "ready.d" / "10-ekiosk-resources.sh").read_text()
    found = {d["TableName"]: from_create_table(d) for d in localstack_table_definitions(script)}
    assert found == model_tables("local")


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_tables_are_on_demand_with_point_in_time_recovery(stage):
    for table in resources_of(merge(stage), "AWS::DynamoDB::Table").values():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_prod_tables_are_protected_and_dev_tables_are_not():
    for table in resources_of(merge("prod"), "AWS::DynamoDB::Table").values():
        assert table["Properties"]["DeletionProtectionEnabled"] is True
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    for table in resources_of(merge("dev"), "AWS::DynamoDB::Table").values():
        assert table["Properties"]["DeletionProtectionEnabled"] is False
        assert table["DeletionPolicy"] == "Delete"


def test_tables_with_a_ttl_attribute_get_ttl():
    from chalicelib.adapters.dynamodb.tables import TABLE_MODELS

    tables = resources_of(merge("prod"), "AWS::DynamoDB::Table")
    for name in TABLE_MODELS:
        ttl = getattr(TABLE_MODELS[name].Meta, "ttl_attribute", None)
        spec = tables[generate.table_id(name)]["Properties"].get("TimeToLiveSpecification")
        assert spec == ({"AttributeName": ttl, "Enabled": True} if ttl else None), name


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_notifications_queue_has_dead_letter_queue_and_long_enough_visibility(stage):
    from chalicelib.resources import NOTIFICATIONS_DLQ, NOTIFICATIONS_QUEUE, NOTIFIER_TIMEOUT_SECONDS

    queues = resources_of(merge(stage), "AWS::SQS::Queue")
    queue = queues[generate.queue_id(NOTIFICATIONS_QUEUE.name)]["Properties"]
    dlq_id = generate.queue_id(NOTIFICATIONS_DLQ.name)
    assert queue["QueueName"] == f"ekiosk-{stage}-notifications"
    assert queue["VisibilityTimeout"] >= 6 * NOTIFIER_TIMEOUT_SECONDS
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": NOTIFICATIONS_QUEUE.max_receive_count,
    }
    assert queues[dlq_id]["Properties"]["QueueName"] == f"ekiosk-{stage}-notifications-dlq"
    assert queues[dlq_id]["Properties"]["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_ses_identity_is_the_stages_sender(stage):
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    sender = config["stages"][stage]["environment_variables"]["DEFAULT_FROM_EMAIL"]
    identities = resources_of(merge(stage), "AWS::SES::EmailIdentity")
    assert [i["Properties"]["EmailIdentity"] for i in identities.values()] == [sender]
    notifier = policy(f"policy-notifier-{stage}.json")
    statement = next(s for s in notifier["Statement"] if s["Sid"] == "EmailFromTheSender")
    assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": sender}}
    assert statement["Resource"][0] == f"arn:aws:ses:*:*:identity/{sender}"


def test_gateway_responses_use_the_error_envelope_of_the_local_adapter():
    from chalicelib.runtime import wsgi

    responses = merge("prod")["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]

    def body(kind):
        return json.loads(responses[kind]["ResponseTemplates"]["application/json"])

    assert responses["UNAUTHORIZED"]["StatusCode"] == "401"
    assert body("UNAUTHORIZED") == wsgi.UNAUTHORIZED_BODY
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"  # API Gateway's "no such route"
    assert body("MISSING_AUTHENTICATION_TOKEN") == wsgi.NOT_FOUND_BODY
    assert responses["ACCESS_DENIED"]["StatusCode"] == "403"
    assert body("ACCESS_DENIED")["error"]["code"] == "forbidden"
    for kind, response in responses.items():
        template = response["ResponseTemplates"]["application/json"]
        rendered = template.replace("$context.error.messageString", '"A message"')
        error = json.loads(rendered)["error"]
        assert re.fullmatch(r"[a-z_]+", error["code"]) and error["message"] and error["details"] is None, kind


def test_every_sqs_consumer_reports_batch_item_failures():
    consumers = generate.sqs_consumers()
    assert consumers, "the notifications consumer (@on_sqs_message) is missing from the app"
    for stage in DEPLOY_STAGES:
        resources = merge(stage)["Resources"]
        for function_id, event_id in consumers:
            event = resources[function_id]["Properties"]["Events"][event_id]["Properties"]
            assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
            assert "NotificationsQueue" in resources[function_id]["DependsOn"]


ALLOWED_SERVICES = {"logs", "dynamodb", "sqs", "ses"}


def _statements(document: dict) -> list[dict]:
    assert document["Version"] == "2012-10-17"
    return document["Statement"]


def _generated(path: str) -> dict:
    return json.loads((ROOT / path).read_text())


def _actions_on(document: dict, fragment: str) -> set[str]:
    """Every action the document allows on a resource whose ARN ends with ``fragment``."""
    return {
        action
        for statement in document["Statement"]
        for resource in statement["Resource"]
        if resource.endswith(fragment)
        for action in statement["Action"]
    }


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
@pytest.mark.parametrize("function", [f.name for f in generate.FUNCTION_POLICIES])
def test_every_function_policy_is_least_privilege(stage, function):
    other = next(s for s in DEPLOY_STAGES if s != stage)
    spec = next(f for f in generate.FUNCTION_POLICIES if f.name == function)
    document = _generated(spec.path.format(stage=stage))
    for statement in _statements(document):
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            service, _, verb = action.partition(":")
            assert service in ALLOWED_SERVICES and "*" not in verb, action
        for resource in statement["Resource"]:
            assert resource != "*" and f"ekiosk-{other}-" not in resource, resource
    text = json.dumps(document)
    assert "dynamodb:DeleteTable" not in text and "dynamodb:CreateTable" not in text


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_the_api_cannot_send_email_or_take_messages_off_a_queue(stage):
    document = policy(f"policy-{stage}.json")
    text = json.dumps(document)
    for table in model_tables(stage):
        assert f"table/{table}\"" in text and f"table/{table}/index/*" in text
    assert f"ekiosk-{stage}-notifications-dlq" not in text  # only the consumer and operators touch it
    assert "ses:" not in text
    assert _actions_on(document, f":ekiosk-{stage}-notifications") == {"sqs:GetQueueUrl", "sqs:SendMessage"}


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_the_notifier_consumes_its_queue_and_dead_letters_poison(stage):
    document = policy(f"policy-notifier-{stage}.json")
    assert _actions_on(document, f":ekiosk-{stage}-notifications") == {
        "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
    }  # fmt: skip
    assert _actions_on(document, f":ekiosk-{stage}-notifications-dlq") == {"sqs:GetQueueUrl", "sqs:SendMessage"}
    assert _actions_on(document, f"table/ekiosk-{stage}-notifications") >= {"dynamodb:UpdateItem"}
    assert not _actions_on(document, f"table/ekiosk-{stage}-orders")  # its records carry what it sends


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_the_redrive_operator_moves_dead_letters_back(stage):
    document = _generated(f"infra/iam/policy-redrive-{stage}.json")
    assert _actions_on(document, f":ekiosk-{stage}-notifications-dlq") >= {"sqs:ReceiveMessage", "sqs:DeleteMessage"}
    assert _actions_on(document, f":ekiosk-{stage}-notifications") == {"sqs:GetQueueUrl", "sqs:SendMessage"}


def test_every_lambda_policy_names_a_function_of_the_app():
    from chalice.app import ScheduledEventConfig, SQSEventConfig

    sys.path.insert(0, str(ROOT))
    try:
        from app import app
    finally:
        sys.path.remove(str(ROOT))
    names = {"api_handler", generate.AUTHORIZER_FUNCTION} | {
        source.name for source in app.event_sources if isinstance(source, (ScheduledEventConfig, SQSEventConfig))
    }
    lambdas = {f.lambda_name for f in generate.FUNCTION_POLICIES if f.lambda_name}
    assert lambdas == names, "every Lambda of the app has its own policy, and no policy is for a missing one"


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_authorizer_policy_reaches_only_the_customers_table(stage):
    document = policy(f"policy-authorizer-{stage}.json")
    data = [s for s in _statements(document) if s["Sid"] != "WriteOwnLogs"]
    assert data == [
        {
            "Sid": "SignCustomersIn",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Resource": [f"arn:aws:dynamodb:*:*:table/ekiosk-{stage}-customers"],
        }
    ]


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_chalice_config_uses_the_generated_policies_and_no_plain_secrets(stage):
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage]
    assert config["autogen_policy"] is False
    assert config["iam_policy_file"] == f"policy-{stage}.json"
    for function in generate.FUNCTION_POLICIES:
        if function.lambda_name and function.lambda_name != "api_handler":
            entry = config["lambda_functions"][function.lambda_name]
            assert {k: v for k, v in entry.items() if k != "reserved_concurrency"} == {
                "autogen_policy": False,
                "iam_policy_file": function.path.format(stage=stage).removeprefix(".chalice/"),
            }
    text = json.dumps(config)
    for secret in ("OIDC_CLIENT_SECRET", "AT_API_KEY"):  # read at run time from their own secrets (SPEC §9)
        assert f'"{secret}"' not in text and f":{secret}}}}}" not in text


def test_pod_identity_role_has_the_functions_permissions_for_its_own_account():
    template = json.loads((ROOT / "infra" / "cloudformation" / "pod-identity-prod.json").read_text())
    role = template["Resources"]["PodRole"]["Properties"]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    functions = [
        (generate.camel(name) + s["Sid"], s["Action"])
        for name in ("api", *generate.WORKER_FUNCTIONS)
        for s in generate.function_policy(name, "prod")["Statement"]
        if s["Sid"] != "WriteOwnLogs"
    ]
    assert [(s["Sid"], s["Action"]) for s in statements] == functions
    for statement in statements:
        for resource in statement["Resource"]:
            assert "${AWS::AccountId}" in resource["Fn::Sub"]
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    association = template["Resources"]["PodIdentity"]["Properties"]
    assert (association["Namespace"], association["ServiceAccount"]) == ("ekiosk", "ekiosk")


def test_localstack_hook_creates_the_queues_and_verifies_the_local_sender():
    from chalicelib.config import load_settings
    from chalicelib.resources import QUEUES

    script = (ROOT / "localstack" / "ready.d" / "10-ekiosk-resources.sh").read_text()
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    for spec in QUEUES:
        assert f"--queue-name ekiosk-local-{spec.name} " in script
    assert f"--email-address {load_settings({}).default_from_email}" in script
    assert (ROOT / "localstack" / "ready.d" / "10-ekiosk-resources.sh").stat().st_mode & 0o111


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_each_runtime_secret_is_its_own_secret_readable_by_exactly_its_function(stage):
    template = merge(stage)
    resources = template["Resources"]
    secrets = {s.logical_id: s for s in generate.runtime_secrets()}
    assert {s.variable for s in secrets.values()} == {"OIDC_CLIENT_SECRET", "AT_API_KEY", "CURSOR_SIGNING_KEY"}
    assert {(s.function, s.arn_variable) for s in secrets.values()} == {
        ("api_handler", "OIDC_CLIENT_SECRET_ARN"), ("send_notifications", "AT_API_KEY_SECRET_ARN"),
        ("api_handler", "CURSOR_SIGNING_KEY_SECRET_ARN")}
    for logical_id, secret in secrets.items():
        resource = resources[logical_id]
        assert resource["Type"] == "AWS::SecretsManager::Secret"
        assert resource["Properties"]["Name"] == f"ekiosk/{stage}/{secret.name}"
        assert "SecretString" not in resource["Properties"]  # no value in Git
        if secret.generated:  # the cursor key: random, made by CloudFormation, seen by nobody
            assert resource["Properties"]["GenerateSecretString"] == {"PasswordLength": 48,
                                                                       "ExcludePunctuation": True}
        else:  # set by an operator after the first deploy
            assert "GenerateSecretString" not in resource["Properties"]
        function_id, role_id = generate.function_ids(secret.function)
        readers = [r for r in resources.values() if r.get("Type") == "AWS::IAM::Policy"
                   and logical_id in json.dumps(r["Properties"]["PolicyDocument"])]
        assert len(readers) == 1
        assert readers[0]["Properties"]["Roles"] == [{"Ref": role_id}]
        assert readers[0]["Properties"]["PolicyDocument"]["Statement"] == [{
            "Sid": "Read" + logical_id, "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
            "Resource": {"Ref": logical_id}}]
        variables = resources[function_id]["Properties"]["Environment"]["Variables"]
        assert variables == {s.arn_variable: {"Ref": s.logical_id} for s in secrets.values()
                             if s.function == secret.function}
    text = json.dumps(template)
    assert "resolve:secretsmanager" not in text and "secretsmanager:*" not in text


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_the_api_stage_is_throttled_and_the_login_routes_more(stage):
    settings = merge(stage)["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    throttle = generate.THROTTLING[stage]
    assert settings[0] == {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": throttle.rate,
                           "ThrottlingBurstLimit": throttle.burst}
    login = {(s["ResourcePath"], s["HttpMethod"]): (s["ThrottlingRateLimit"], s["ThrottlingBurstLimit"])
             for s in settings[1:]}
    limits = (throttle.login_rate, throttle.login_burst)
    assert login == {
        ("/~1api~1v1~1oidc~1authenticate", "GET"): limits,
        ("/~1api~1v1~1oidc~1authenticate", "POST"): limits,
        ("/~1api~1v1~1oidc~1callback", "GET"): limits,
        ("/~1api~1v1~1oidc~1dev~1authorize", "GET"): limits,
    }
    assert 0 < throttle.login_rate < throttle.rate and 0 < throttle.login_burst < throttle.burst
    assert throttle.rate <= throttle.burst <= 5000  # API Gateway's account-level burst


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_every_function_has_reserved_concurrency_for_the_stage(stage):
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage]
    assert config["reserved_concurrency"] >= 1  # every function without its own value (schedules: no overlap)
    functions = config["lambda_functions"]
    for name in ("api_handler", generate.AUTHORIZER_FUNCTION):
        assert functions[name]["reserved_concurrency"] > config["reserved_concurrency"], name
    for _, event_id in generate.sqs_consumers():  # below 5, SQS polling would be throttled into the DLQ
        consumer = next(n for n in functions if generate.camel(n) + "SqsEventSource" == event_id)
        assert functions[consumer]["reserved_concurrency"] >= 5


def test_a_stage_the_chalice_config_does_not_name_has_the_shared_environment_and_policies():
    # e.g. a local stack started with STAGE=bench and EKIOSK_EMULATOR_IAM=enforce
    assert generate.stage_environment("bench") == generate.chalice_config()["environment_variables"]
    assert generate.function_policy("api", "bench")["Statement"]
