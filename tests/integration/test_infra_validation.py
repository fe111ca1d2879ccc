"""The offline infrastructure validations of `make validate`, in the test suite: `chalice package` with
infra/ merged in + cfn-lint, `kubectl kustomize` + kubernetes-validate --strict, hadolint, actionlint,
yamllint, and what the packaged template and the rendered manifests must say."""

from __future__ import annotations

import json
import os

import pytest

from infra import validate
from infra.generate import DEPLOY_STAGES, ROOT


def _tool(name: str) -> None:
    try:
        validate.tool(name)
    except validate.ToolMissing:
        if os.environ.get("EKIOSK_REQUIRE_TOOLS") == "1":  # CI: a missing validator is a failure
            raise
        pytest.skip(f"{name} is not installed here")


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> dict:
    paths = validate.package_templates(tmp_path_factory.mktemp("packaged"))
    return {stage: (path, json.loads(path.read_text())) for stage, path in paths.items()}


@pytest.fixture(scope="module")
def rendered() -> dict:
    _tool("kubectl")
    return {overlay: validate.kubernetes_resources(validate.render_overlay(overlay)) for overlay in validate.OVERLAYS}


# --- CloudFormation -------------------------------------------------------------------------------


def test_cfn_lint_passes_on_the_packaged_templates_and_the_pod_roles(packaged):
    validate.cfn_lint([path for path, _ in packaged.values()] + validate.pod_identity_templates())


def test_cfn_lint_fails_on_a_broken_template(tmp_path):
    queue = json.loads((ROOT / "infra" / "cloudformation" / "merge-dev.json").read_text())["Resources"][
        "NotificationsDlqQueue"
    ]
    queue["Properties"]["VisibilityTimeout"] = 999_999
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"Queue": queue}}))
    with pytest.raises(validate.Invalid, match="E3034"):
        validate.cfn_lint([broken])


def _functions(template: dict) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_packaged_sqs_consumers_report_batch_item_failures_within_the_visibility_timeout(packaged, stage):
    _, template = packaged[stage]
    queue = template["Resources"]["NotificationsQueue"]["Properties"]
    consumers = 0
    for name, function in _functions(template).items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            consumers += 1
            assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name
            assert event["Properties"]["Queue"]["Fn::Sub"].endswith(f":{queue['QueueName']}"), name
            assert queue["VisibilityTimeout"] >= 6 * function["Properties"]["Timeout"], name
            assert "NotificationsQueue" in function["DependsOn"], name
    assert consumers >= 1, "no function consumes the notifications queue"


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_packaged_functions_run_with_the_generated_policies(packaged, stage):
    _, template = packaged[stage]
    from chalice.utils import to_cfn_resource_name

    from infra.generate import FUNCTION_POLICIES

    def resource_name(lambda_name: str) -> str:  # as `chalice package` names the function
        return "APIHandler" if lambda_name == "api_handler" else to_cfn_resource_name(lambda_name)

    expected = {
        resource_name(f.lambda_name): json.loads((ROOT / f.path.format(stage=stage)).read_text())
        for f in FUNCTION_POLICIES
        if f.lambda_name
    }
    roles = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    assert set(_functions(template)) == set(expected)
    for name, function in _functions(template).items():
        role = roles[function["Properties"]["Role"]["Fn::GetAtt"][0]]
        documents = [p["PolicyDocument"] for p in role["Properties"]["Policies"]]
        assert documents == [expected[name]], name
        assert role["Properties"].get("ManagedPolicyArns", []) == [], name
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["STAGE"] == stage


SECRET_VARIABLES = ("OIDC_CLIENT_SECRET", "AT_API_KEY", "CURSOR_SIGNING_KEY")


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_packaged_functions_carry_no_secret_only_the_arn_their_function_needs(packaged, stage):
    """SPEC §9: OIDC_CLIENT_SECRET and AT_API_KEY are read at run time, never in an environment or template."""
    from infra.generate import function_ids, runtime_secrets

    _, template = packaged[stage]
    readers: dict[str, dict] = {}
    for secret in runtime_secrets():
        readers.setdefault(function_ids(secret.function)[0], {})[secret.arn_variable] = {"Ref": secret.logical_id}
    for name, function in _functions(template).items():
        variables = function["Properties"]["Environment"]["Variables"]
        for secret in SECRET_VARIABLES:
            assert secret not in variables, name
            assert f"SecretString:{secret}" not in json.dumps(variables), name
        arns = {k: v for k, v in variables.items() if k.endswith("_ARN")}
        assert arns == readers.get(name, {}), name
    text = json.dumps(template)
    for secret in SECRET_VARIABLES:
        assert f"SecretString:{secret}" not in text


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_only_the_reading_functions_role_may_get_its_secret(packaged, stage):
    from infra.generate import function_ids, runtime_secrets

    _, template = packaged[stage]
    resources = template["Resources"]
    grants = []  # (role logical id, resource) of every secretsmanager permission in the template
    for rid, resource in resources.items():
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [(rid, p["PolicyDocument"]) for p in resource["Properties"].get("Policies", [])]
        elif resource["Type"] == "AWS::IAM::Policy":
            documents = [(r["Ref"], resource["Properties"]["PolicyDocument"]) for r in resource["Properties"]["Roles"]]
        for role, document in documents:
            for statement in document["Statement"]:
                if any(a.startswith("secretsmanager:") for a in statement["Action"]):
                    assert statement["Action"] == ["secretsmanager:GetSecretValue"]
                    grants.append((role, json.dumps(statement["Resource"])))
    expected = [(function_ids(s.function)[1], json.dumps({"Ref": s.logical_id})) for s in runtime_secrets()]
    assert sorted(grants) == sorted(expected)
    for role, _ in grants:
        assert resources[role]["Type"] == "AWS::IAM::Role"


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_packaged_functions_have_reserved_concurrency(packaged, stage):
    _, template = packaged[stage]
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage]
    functions = _functions(template)
    assert {"APIHandler", "Bearer", "SendNotifications"} <= set(functions)
    for name, function in functions.items():
        reserved = function["Properties"].get("ReservedConcurrentExecutions")
        assert isinstance(reserved, int) and reserved >= 1, name
    assert functions["APIHandler"]["Properties"]["ReservedConcurrentExecutions"] == (
        config["lambda_functions"]["api_handler"]["reserved_concurrency"])


def _decoded(resource_path: str) -> str:
    """API Gateway's method-setting path (`/~1api~1v1~1x`: the leading `/`, then `/` written `~1`) -> `/api/v1/x`."""
    assert resource_path.startswith("/~1"), resource_path
    return resource_path[1:].replace("~1", "/")


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_packaged_api_stage_throttles_and_the_login_routes_are_throttled_harder(packaged, stage):
    from infra.generate import LOGIN_ROUTES, THROTTLING

    _, template = packaged[stage]
    api = template["Resources"]["RestAPI"]["Properties"]
    throttle = THROTTLING[stage]
    settings = api["MethodSettings"]
    default = [s for s in settings if (s["ResourcePath"], s["HttpMethod"]) == ("/*", "*")]
    assert [(s["ThrottlingRateLimit"], s["ThrottlingBurstLimit"]) for s in default] == [(throttle.rate, throttle.burst)]
    paths = api["DefinitionBody"]["paths"]
    routes = {(_decoded(s["ResourcePath"]), s["HttpMethod"]): s for s in settings if s not in default}
    assert set(routes) == set(LOGIN_ROUTES)
    for (path, method), setting in routes.items():
        assert method.lower() in paths[path], (path, method)  # a real route of the API
        assert "security" not in paths[path][method.lower()]  # unauthenticated
        assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]) == (
            throttle.login_rate, throttle.login_burst)


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_packaged_authorizer_caches_policies_at_most_60_seconds(packaged, stage):
    _, template = packaged[stage]
    definitions = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["securityDefinitions"]
    authorizer = definitions["bearer"]["x-amazon-apigateway-authorizer"]
    assert 0 < authorizer["authorizerResultTtlInSeconds"] <= 60


@pytest.mark.parametrize("stage", sorted(DEPLOY_STAGES))
def test_packaged_api_answers_gateway_errors_with_the_envelope(packaged, stage):
    _, template = packaged[stage]
    api = template["Resources"]["RestAPI"]
    assert api["Type"] == "AWS::Serverless::Api"
    responses = api["Properties"]["GatewayResponses"]
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    assert responses["UNAUTHORIZED"]["StatusCode"] == "401"


# --- Kubernetes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", validate.OVERLAYS)
def test_overlay_passes_strict_kubernetes_validation(rendered, overlay):
    validate.validate_kubernetes(rendered[overlay])


def test_strict_validation_rejects_an_unknown_field(rendered):
    deployment = next(r for r in rendered["prod"] if r["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(validate.Invalid, match="imagePullPolcy"):
        validate.validate_kubernetes([broken])


def _by_kind(resources: list[dict], kind: str) -> dict:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


@pytest.mark.parametrize("overlay", validate.OVERLAYS)
def test_ekiosk_pods_are_non_root_read_only_with_resources(rendered, overlay):
    workloads = {**_by_kind(rendered[overlay], "Deployment"), **_by_kind(rendered[overlay], "Job")}
    ours = {name: w for name, w in workloads.items() if name.startswith("ekiosk")}
    assert {"ekiosk-api", "ekiosk-worker"} <= set(ours)
    for name, workload in ours.items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name
            assert container["image"].startswith(("ekiosk:", "ghcr.io/")), name


@pytest.mark.parametrize("overlay", validate.OVERLAYS)
def test_api_has_health_probes_service_ingress_and_worker_runs_the_worker(rendered, overlay):
    resources = rendered[overlay]
    api = _by_kind(resources, "Deployment")["ekiosk-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["args"] == ["api"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert api[probe]["httpGet"]["path"] == "/api/v1/health"
    worker = _by_kind(resources, "Deployment")["ekiosk-worker"]["spec"]["template"]
    assert worker["spec"]["containers"][0]["args"] == ["worker"]
    assert worker["spec"]["terminationGracePeriodSeconds"] >= 30  # time to finish the batch in flight
    assert "ekiosk-api" in _by_kind(resources, "Service")
    assert ("ekiosk-api" in _by_kind(resources, "Ingress")) is (overlay == "prod")
    config = _by_kind(resources, "ConfigMap")["ekiosk-config"]["data"]
    assert config["STAGE"] == {"local": "local", "prod": "prod"}[overlay]


def test_prod_overlay_has_autoscaling_and_no_static_keys_or_emulator(rendered):
    resources = rendered["prod"]
    assert "ekiosk-api" in _by_kind(resources, "HorizontalPodAutoscaler")
    assert "ekiosk-api" in _by_kind(resources, "PodDisruptionBudget")
    text = json.dumps(resources)
    for forbidden in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "localstack"):
        assert forbidden not in text
    assert not _by_kind(resources, "Secret"), "prod secrets are created outside Git"
    prod_sender = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["prod"]
    sender = prod_sender["environment_variables"]["DEFAULT_FROM_EMAIL"]
    assert _by_kind(resources, "ConfigMap")["ekiosk-config"]["data"]["DEFAULT_FROM_EMAIL"] == sender


@pytest.mark.parametrize("overlay", validate.OVERLAYS)
def test_no_ingress_matches_any_host(rendered, overlay):
    for name, ingress in _by_kind(rendered[overlay], "Ingress").items():
        assert all(rule.get("host") for rule in ingress["spec"]["rules"]), name
        assert "defaultBackend" not in ingress["spec"], name


def test_the_local_overlay_trusting_the_dev_issuer_is_reachable_only_by_port_forward(rendered):
    """It trusts the development issuer (STAGE=local + an emulator, no OIDC_*) and makes ADMIN_EMAILS staff."""
    resources = rendered["local"]
    assert not _by_kind(resources, "Ingress")
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in _by_kind(resources, "Service").values())
    config = _by_kind(resources, "ConfigMap")["ekiosk-config"]["data"]
    assert (config["STAGE"], config["AWS_ENDPOINT_URL"]) == ("local", "http://localstack:4566")


def test_local_overlay_runs_localstack_and_the_bootstrap_job(rendered):
    resources = rendered["local"]
    localstack = _by_kind(resources, "Deployment")["localstack"]
    assert localstack["spec"]["template"]["spec"]["containers"][0]["image"].startswith("localstack/localstack:4.")
    assert "localstack" in _by_kind(resources, "Service")
    job = _by_kind(resources, "Job")["ekiosk-bootstrap"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["bootstrap"]
    config = _by_kind(resources, "ConfigMap")["ekiosk-config"]["data"]
    assert config["AWS_ENDPOINT_URL"] == "http://localstack:4566"


# --- Dockerfile, workflows, YAML --------------------------------------------------------------------


def test_hadolint_passes_on_the_dockerfile():
    validate.hadolint()


def test_hadolint_fails_on_a_bad_dockerfile(tmp_path, monkeypatch):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install -y curl\n")
    monkeypatch.setattr(validate, "DOCKERFILE", bad)
    with pytest.raises(validate.Invalid, match="DL3007"):
        validate.hadolint()


def test_actionlint_passes_on_the_workflows():
    _tool("actionlint")
    validate.actionlint()


def test_yamllint_passes():
    validate.yamllint()
