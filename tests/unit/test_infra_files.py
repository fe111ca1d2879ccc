"""What the container, compose and workflow files must say (the tools check their syntax; these check
the decisions): a slim pinned non-root image without dev dependencies, compose wired to LocalStack by
AWS_ENDPOINT_URL, deployments behind environments with OIDC credentials and commit-tagged images."""

from __future__ import annotations

import importlib.util
import re

import pytest
import yaml

from infra.generate import ROOT

CONTAINER = ROOT / "infra" / "container"


def load_yaml(path):
    return yaml.safe_load(path.read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (CONTAINER / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_dockerfile_is_multi_stage_slim_pinned_and_non_root():
    instructions = dockerfile_instructions()
    base = next(value for op, value in instructions if op == "ARG" and value.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+", base)
    stages = [value for op, value in instructions if op == "FROM"]
    assert stages == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]
    runtime = instructions[[i for i, (op, _) in enumerate(instructions) if op == "FROM"][1]:]
    users = [value for op, value in runtime if op == "USER"]
    assert users == ["10001:10001"]
    assert any(op == "HEALTHCHECK" and "ekiosk-healthcheck" in value for op, value in runtime)
    assert ("ENTRYPOINT", '["ekiosk"]') in runtime and ("CMD", '["api"]') in runtime
    copied = " ".join(value for op, value in instructions if op == "COPY")
    assert "requirements-dev" not in copied and "requirements-local" not in copied and "tests" not in copied


def test_container_requirements_are_pinned_as_in_requirements_local():
    def pins(path):
        found = {}
        for line in path.read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9_.\-\[\],]+)==(\S+)", line.strip())
            if match:
                found[match.group(1).split("[")[0].lower()] = match.group(2)
        return found

    container = pins(CONTAINER / "requirements.txt")
    local = pins(ROOT / "requirements-local.txt")
    assert set(container) == {"boto3", "chalice", "gunicorn"}
    assert all(local[name] == version for name, version in container.items())


def test_dockerignore_lets_in_only_what_the_image_copies():
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert allowed == {
        "app.py", "chalicelib/", "requirements.txt", "infra/container/requirements.txt",
        "infra/container/entrypoint.sh", "infra/container/healthcheck.py",
    }  # fmt: skip


def test_entrypoint_knows_the_three_roles_and_uses_the_production_gunicorn_config():
    script = (CONTAINER / "entrypoint.sh").read_text()
    assert "--config python:chalicelib.runtime.gunicorn_conf" in script
    assert "exec gunicorn" in script and "chalicelib.runtime.wsgi:application" in script
    assert '--bind "${HOST:-0.0.0.0}:${PORT:-8000}"' in script
    assert "exec python -m chalicelib.runtime.worker" in script
    assert "exec python -m chalicelib.runtime.bootstrap" in script
    for name in ("entrypoint.sh", "healthcheck.py"):
        assert (CONTAINER / name).stat().st_mode & 0o111, f"{name} must be executable"


@pytest.fixture(scope="module")
def healthcheck():
    spec = importlib.util.spec_from_file_location("ekiosk_healthcheck", CONTAINER / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "cmdline, role",
    [
        (b"/opt/venv/bin/python\0/opt/venv/bin/gunicorn\0--config\0python:chalicelib.runtime.gunicorn_conf\0", "api"),
        (b"python\0-m\0chalicelib.runtime.worker\0", "worker"),
    ],
)
def test_healthcheck_reads_the_role_from_the_main_process(healthcheck, tmp_path, cmdline, role):
    path = tmp_path / "cmdline"
    path.write_bytes(cmdline)
    assert healthcheck.detect_role(str(path)) == role


def test_healthcheck_fails_when_nothing_answers(healthcheck, monkeypatch):
    from tests.support.ports import free_port

    monkeypatch.setenv("PORT", str(free_port()))
    assert healthcheck.main(["ekiosk-healthcheck", "api"]) == 1


def test_compose_runs_localstack_api_and_worker_wired_by_the_endpoint():
    compose = load_yaml(ROOT / "docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"localstack", "api", "worker"}
    localstack = services["localstack"]
    assert re.fullmatch(r"localstack/localstack:\d+\.\d+\.\d+", localstack["image"])
    assert "./localstack/ready.d:/etc/localstack/init/ready.d:ro" in localstack["volumes"]
    assert "/_localstack/init/ready" in " ".join(localstack["healthcheck"]["test"])
    for name, role in (("api", "api"), ("worker", "worker")):
        service = services[name]
        assert service["build"]["dockerfile"] == "infra/container/Dockerfile"
        assert service["command"] == [role]
        assert service["environment"]["AWS_ENDPOINT_URL"] == "http://localstack:4566"
        assert service["environment"]["STAGE"] == "local"
        assert service["depends_on"]["localstack"] == {"condition": "service_healthy"}


def workflows() -> dict:
    return {path.name: load_yaml(path) for path in sorted((ROOT / ".github" / "workflows").glob("*.yml"))}


def _triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True


def test_ci_workflow_lints_tests_and_validates_on_pull_requests_and_pushes():
    ci = workflows()["ci.yml"]
    assert {"pull_request", "push", "workflow_call"} <= set(_triggers(ci))
    runs = [step.get("run", "") for job in ci["jobs"].values() for step in job["steps"]]
    assert "make lint" in runs and "make test" in runs and "make validate" in runs
    assert ci["permissions"] == {"contents": "read"}


def test_deploy_workflow_builds_a_commit_tagged_image_and_deploys_behind_environments():
    deploy = workflows()["deploy.yml"]
    assert _triggers(deploy)["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml"
    assert jobs["image"]["needs"] == "test"
    assert "${GITHUB_SHA}" in " ".join(step.get("run", "") for step in jobs["image"]["steps"])
    build = next(s for s in jobs["image"]["steps"] if s.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["file"] == "infra/container/Dockerfile" and build["with"]["push"] is True
    for name in ("aws", "cluster"):
        job = jobs[name]
        assert job["environment"], name
        assert job["permissions"]["id-token"] == "write", name  # OIDC: no long-lived AWS keys
        credentials = next(s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-cred"))
        assert "role-to-assume" in credentials["with"], name
    aws_script = " ".join(step.get("run", "") for step in jobs["aws"]["steps"])
    assert "aws cloudformation deploy" in aws_script and "build/prod/packaged.yaml" in aws_script
    cluster_script = " ".join(step.get("run", "") for step in jobs["cluster"]["steps"])
    assert set(jobs["cluster"]["needs"]) == {"image", "aws"}
    assert "kubectl apply -k infra/k8s/overlays/prod" in cluster_script
    assert "kustomize edit set image" in cluster_script and "pod-identity-prod.json" in cluster_script
    for job in jobs.values():
        for step in job.get("steps", []):
            assert "${{ secrets." not in step.get("run", ""), "secrets reach scripts through env only"


def test_packaging_runs_in_a_job_without_credentials_and_the_deploy_job_only_uses_its_output():
    jobs = workflows()["deploy.yml"]["jobs"]
    package = jobs["package"]
    runs = " ".join(step.get("run", "") for step in package["steps"])
    assert "make package DEPLOY_STAGE=prod" in runs
    assert package["permissions"] == {"contents": "read"} and "environment" not in package  # no OIDC token
    assert not [s for s in package["steps"] if "credentials" in s.get("uses", "") or "secrets." in str(s)]
    upload = next(s for s in package["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    aws = jobs["aws"]
    assert aws["needs"] == "package"
    assert "make " not in " ".join(step.get("run", "") for step in aws["steps"])  # nothing built with credentials
    steps = [s.get("uses", "").split("@")[0] for s in aws["steps"]]
    assert steps.index("actions/download-artifact") < steps.index("aws-actions/configure-aws-credentials")
    download = aws["steps"][steps.index("actions/download-artifact")]
    assert download["with"]["name"] == upload["with"]["name"] and download["with"]["path"] == "build/prod"


def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version():
    import re

    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        for line in path.read_text().splitlines():
            match = re.search(r"uses:\s*(\S+)(.*)$", line)
            if not match or match.group(1).startswith("./"):
                continue
            action, comment = match.groups()
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), (path.name, line)
            assert re.fullmatch(r"\s+# v\d+(\.\d+)*", comment), (path.name, line)


def test_makefile_has_package_and_validate_targets():
    makefile = (ROOT / "Makefile").read_text()
    assert "\npackage: install\n\t$(PY) -m infra.package --stage $(DEPLOY_STAGE)\n" in makefile
    assert "\nvalidate: install\n\t$(PY) -m infra.validate\n" in makefile
