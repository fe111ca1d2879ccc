"""`make validate`: every offline check of the infrastructure, without AWS, Docker or a cluster.

    python -m infra.validate

1. the generated files (infra/cloudformation, .chalice/policy-*, localstack/ready.d) are up to date;
2. `chalice package` of each stage with infra/ merged in, then cfn-lint (informational checks too)
   on those templates and on the pods' IAM templates;
3. `kubectl kustomize` of each overlay, then kubernetes-validate --strict on every rendered resource;
4. hadolint on the Dockerfile; 5. actionlint on the workflows; 6. yamllint on our YAML.

A tool that is not installed is reported as skipped; set EKIOSK_REQUIRE_TOOLS=1 (CI does) to make
that a failure. The tests in tests/unit/test_infra*.py run the same functions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from infra.generate import DEPLOY_STAGES, ROOT

BIN = Path(sys.executable).parent
OVERLAYS = ("local", "prod")
KUBERNETES_VERSIONS = ("1.30.0", "1.34.0")  # the oldest and a recent version we support
DOCKERFILE = ROOT / "infra" / "container" / "Dockerfile"
WORKFLOWS = ROOT / ".github" / "workflows"
YAMLLINT_CONFIG = ROOT / "infra" / "yamllint.yaml"


class ToolMissing(RuntimeError):
    """A validator is not installed here."""


class Invalid(AssertionError):
    """A validator found problems; the message says which."""


def tool(name: str) -> str:
    """The executable `name`: from this virtual environment first, else from PATH."""
    local = BIN / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise ToolMissing(f"{name} is not installed")
    return found


def run(command: list[str], cwd: Path = ROOT) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise Invalid(f"{Path(command[0]).name} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


# --- checks ---------------------------------------------------------------------------------------


def check_generated() -> None:
    from infra.generate import stale_files

    stale = stale_files()
    if stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        raise Invalid(f"stale generated files (run `python -m infra.generate`): {names}")


def package_templates(out_dir: Path) -> dict[str, Path]:
    """The SAM template of every deployed stage (packaged without dependencies: same template)."""
    from infra.package import package

    return {stage: package(stage, out_dir / stage, dependencies=False, generate=False) for stage in DEPLOY_STAGES}


def pod_identity_templates() -> list[Path]:
    return [ROOT / "infra" / "cloudformation" / f"pod-identity-{stage}.json" for stage in DEPLOY_STAGES]


def cfn_lint(templates: list[Path]) -> None:
    run([tool("cfn-lint"), "--include-checks", "I", "--", *map(str, templates)])


def render_overlay(overlay: str) -> str:
    return run([tool("kubectl"), "kustomize", str(ROOT / "infra" / "k8s" / "overlays" / overlay)])


def kubernetes_resources(rendered: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def validate_kubernetes(resources: list[dict], versions: tuple[str, ...] = KUBERNETES_VERSIONS) -> None:
    import kubernetes_validate

    problems = []
    for version in versions:
        for resource in resources:
            name = f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{name} (Kubernetes {version}): {error.message} at {list(error.path)}")
            except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as error:
                problems.append(f"{name} (Kubernetes {version}): {error}")
    if problems:
        raise Invalid("kubernetes-validate --strict:\n" + "\n".join(problems))


def hadolint() -> None:
    run([tool("hadolint"), str(DOCKERFILE)])


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def actionlint() -> None:
    run([tool("actionlint"), "-no-color", *map(str, workflow_files())])


def yaml_files() -> list[Path]:
    return [ROOT / "docker-compose.yml", *sorted((ROOT / "infra" / "k8s").rglob("*.yaml")), *workflow_files()]


def yamllint() -> None:
    run([tool("yamllint"), "--strict", "-c", str(YAMLLINT_CONFIG), *map(str, yaml_files())])


# --- main -----------------------------------------------------------------------------------------


def main() -> int:
    require_all = os.environ.get("EKIOSK_REQUIRE_TOOLS") == "1"
    failed = False

    def step(name: str, check) -> None:
        nonlocal failed
        try:
            check()
        except ToolMissing as missing:
            print(f"{'FAIL' if require_all else 'skip'}  {name}: {missing}")
            failed = failed or require_all
        except Invalid as error:
            print(f"FAIL  {name}\n{error}")
            failed = True
        else:
            print(f"ok    {name}")

    step("generated files are up to date", check_generated)
    with tempfile.TemporaryDirectory(prefix="validate-", dir=_build_dir()) as scratch:
        templates: dict[str, Path] = {}

        def package_all() -> None:
            try:
                templates.update(package_templates(Path(scratch)))
            except RuntimeError as error:
                raise Invalid(str(error)) from None

        step(f"chalice package ({', '.join(DEPLOY_STAGES)}) with infra merged in", package_all)
        step("cfn-lint", lambda: cfn_lint([*templates.values(), *pod_identity_templates()]))
    for overlay in OVERLAYS:
        step(
            f"kustomize overlays/{overlay} + kubernetes-validate --strict",
            lambda overlay=overlay: validate_kubernetes(kubernetes_resources(render_overlay(overlay))),
        )
    step("hadolint infra/container/Dockerfile", hadolint)
    step("actionlint .github/workflows", actionlint)
    step("yamllint", yamllint)
    return 1 if failed else 0


def _build_dir() -> Path:
    build = ROOT / "build"
    build.mkdir(exist_ok=True)
    return build


if __name__ == "__main__":
    sys.exit(main())
