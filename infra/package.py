"""`make package`: the deployable SAM/CloudFormation template of a stage, with infra/ merged in.

    python -m infra.package --stage dev [--out build/dev] [--no-dependencies]

Runs `chalice package --merge-template infra/cloudformation/merge-<stage>.json` on a copy of the
project in build/chalice-<stage>/ (so that Chalice's dependency cache stays under build/), after
regenerating infra's files. Output: <out>/sam.json and <out>/deployment.zip, ready for
`aws cloudformation package` + `aws cloudformation deploy` (README). What the zip holds is
infra/lambda_contents.py's: the copy has no chalicelib/runtime/, and the distributions the Lambda
runtime provides (boto3, botocore, ...) are taken out of the zip Chalice built.

--no-dependencies packages the app without its requirements: the same template, offline and in a
second; the tests use it to validate the template (a real deployment never does).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.generate import DEPLOY_STAGES, ROOT, write_files
from infra.lambda_contents import copy_project_files, requirements, strip_runtime_provided

BUILD = ROOT / "build"
PROJECT_FILES = ("app.py", "requirements.txt")


def prepare_project(project: Path, dependencies: bool = True) -> Path:
    """A copy of what Chalice deploys (app.py, chalicelib/ without runtime/, .chalice/ config and policies)."""
    project.mkdir(parents=True, exist_ok=True)
    copy_project_files(project)
    if dependencies:
        shutil.copy2(ROOT / "requirements.txt", project / "requirements.txt")
    else:
        (project / "requirements.txt").write_text("")
    config = project / ".chalice"
    config.mkdir(exist_ok=True)
    for source in (ROOT / ".chalice").glob("*.json"):
        shutil.copy2(source, config / source.name)
    return project


def package(stage: str, out: Path | None = None, dependencies: bool = True, generate: bool = True) -> Path:
    """Runs `chalice package`; returns the path of the SAM template it wrote."""
    if stage not in DEPLOY_STAGES:
        raise SystemExit(f"unknown stage {stage!r}: one of {', '.join(DEPLOY_STAGES)}")
    if generate:
        write_files()
    out = (out or BUILD / stage).resolve()
    BUILD.mkdir(exist_ok=True)
    if dependencies:  # kept: Chalice reuses its dependency bundle from .chalice/deployments/ next time
        project = prepare_project(BUILD / f"chalice-{stage}")
    else:  # private to this call: concurrent runs must not share it
        project = prepare_project(Path(tempfile.mkdtemp(prefix=f"chalice-{stage}-", dir=BUILD)), dependencies=False)
    shutil.rmtree(out, ignore_errors=True)
    merge = ROOT / "infra" / "cloudformation" / f"merge-{stage}.json"
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "AWS_PROFILE")}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # Chalice wants one; the template uses ${AWS::Region}
    chalice = Path(sys.executable).with_name("chalice")
    command = [str(chalice) if chalice.exists() else "chalice", "--project-dir", str(project), "package",
               "--stage", stage, "--merge-template", str(merge), str(out)]  # fmt: skip
    try:
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    finally:
        if not dependencies:
            shutil.rmtree(project, ignore_errors=True)
    if dependencies:  # the cache is keyed on the app's files too: keep only the newest bundle
        bundles = sorted((project / ".chalice" / "deployments").glob("*.zip"), key=lambda p: p.stat().st_mtime)
        for stale in bundles[:-1]:
            stale.unlink()
    if result.returncode != 0:
        raise RuntimeError(f"chalice package failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    if dependencies:
        removed = strip_runtime_provided(out / "deployment.zip", requirements(ROOT / "requirements.txt"))
        print(f"left out of deployment.zip (the Lambda runtime provides them): {', '.join(removed) or 'nothing'}")
    return out / "sam.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev", choices=sorted(DEPLOY_STAGES))
    parser.add_argument("--out", type=Path, default=None, help="output directory (default build/<stage>)")
    parser.add_argument("--no-dependencies", action="store_true", help="template only: skip the requirements")
    args = parser.parse_args(argv)
    try:
        template = package(args.stage, args.out, dependencies=not args.no_dependencies)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"wrote {template.relative_to(ROOT) if template.is_relative_to(ROOT) else template}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
