"""What the Lambda package holds (infra/lambda_contents.py): no local runtime, no Chalice CLI, nothing
the Lambda runtime provides, and an app.py that imports without any of them and without its heavy
libraries (cold start)."""

import os
import subprocess
import sys
import textwrap
import zipfile

from packaging.requirements import Requirement

from infra.lambda_contents import (
    LEFT_OUT_OF_PROJECT,
    ROOT,
    project_files,
    requirements,
    ships,
    split,
    strip_runtime_provided,
)
from infra.package import prepare_project

# Modules only the local stack uses: the Lambda package has none of them.
LOCAL_ONLY = ("chalicelib.runtime", "moto", "gunicorn", "werkzeug")
# Loaded on first use, never by `import app` (issue 14: cold start).
NOT_AT_COLD_START = ("pydantic", "pynamodb", "botocore.client", "jose", "phonenumbers")


def test_the_packaged_project_has_no_local_runtime():
    shipped = [relative for _, relative in project_files()]
    assert "app.py" in shipped and "chalicelib/api/routing.py" in shipped
    assert not [path for path in shipped if path.startswith("chalicelib/runtime")]
    assert not [path for path in shipped if "__pycache__" in path or path.endswith(".pyc")]
    assert LEFT_OUT_OF_PROJECT == ("chalicelib/runtime",)
    assert not ships("chalicelib/runtime/emulator.py") and ships("chalicelib/runtimes.py")


def test_deployed_requirements_have_no_chalice_and_nothing_the_lambda_runtime_provides():
    names = {r.name.lower() for r in requirements(ROOT / "requirements.txt")}
    assert not names & {"chalice", "boto3", "botocore", "moto", "gunicorn", "phonenumbers"}
    assert "phonenumberslite" in names


def test_app_imports_from_the_packaged_copy_without_local_modules_or_heavy_libraries(tmp_path):
    project = prepare_project(tmp_path / "project", dependencies=False)
    assert (project / "chalicelib" / "api").is_dir() and not (project / "chalicelib" / "runtime").exists()
    script = textwrap.dedent(f"""
        import sys

        BLOCKED = {LOCAL_ONLY!r}

        class Block:
            def find_spec(self, name, path=None, target=None):
                if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                    raise ImportError(f"{{name}} is not in the Lambda package")
                return None

        sys.meta_path.insert(0, Block())
        import app

        assert app.app.routes, "no routes"
        print(",".join(m for m in {NOT_AT_COLD_START!r} if m in sys.modules))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env["STAGE"] = "local"
    result = subprocess.run([sys.executable, "-c", script], cwd=project, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"loaded at import: {result.stdout.strip()}"


GRAPH = {  # name: Requires-Dist, shaped like the real ones
    "pynamodb": ["botocore>=1.12.54"],
    "botocore": ["jmespath<2.0.0,>=0.7.1", "python-dateutil<3.0.0,>=2.1", "urllib3!=2.2.0,<3,>=1.25.4"],
    "boto3": ["botocore", "jmespath", "s3transfer"],
    "s3transfer": ["botocore"],
    "jmespath": [],
    "python-dateutil": ["six>=1.5"],
    "six": [],
    "urllib3": ['brotli>=1.0.9; extra == "brotli"'],
    "requests": ["urllib3<3,>=1.21.1", 'PySocks!=1.5.7,>=1.5.6; extra == "socks"'],
    "ecdsa": ["six>=1.9.0"],
}


def test_split_leaves_out_the_runtime_provided_and_what_only_they_need():
    roots = [Requirement("pynamodb==6.1.0"), Requirement("requests"), Requirement("ecdsa")]
    shipped, left_out = split(roots, GRAPH.get)
    assert shipped == {"pynamodb", "requests", "urllib3", "ecdsa", "six"}
    assert left_out == {"botocore", "jmespath", "python-dateutil"}
    shipped, left_out = split([Requirement("boto3")], GRAPH.get)
    assert shipped == set() and left_out == {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil",
                                             "six", "urllib3"}


def _wheel_files(name: str, version: str = "1.0") -> dict[str, str]:
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {raw}\n" for raw in GRAPH[name])
    files = {f"{module}/__init__.py": "", f"{module}/data/big.json": "{}", f"{info}/METADATA": metadata}
    files[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{info}/RECORD"])
    return files


def test_strip_runtime_provided_rewrites_the_zip_chalice_built(tmp_path):
    package = tmp_path / "deployment.zip"
    with zipfile.ZipFile(package, "w") as zf:
        for name in ("pynamodb", "botocore", "jmespath", "python-dateutil", "six", "urllib3", "requests", "ecdsa"):
            for path, text in _wheel_files(name).items():
                zf.writestr(path, text)
        zf.writestr("app.py", "")
        zf.writestr("chalice/app.py", "")
        zf.writestr("chalicelib/__init__.py", "")
    removed = strip_runtime_provided(package, [Requirement("pynamodb"), Requirement("requests"),
                                               Requirement("ecdsa")])
    assert removed == ["botocore", "jmespath", "python-dateutil"]
    with zipfile.ZipFile(package) as zf:
        names = set(zf.namelist())
    tops = {name.split("/")[0] for name in names}
    assert not tops & {"botocore", "jmespath", "python_dateutil", "botocore-1.0.dist-info"}
    assert {"pynamodb", "six", "urllib3", "requests", "ecdsa", "app.py", "chalice", "chalicelib"} <= tops
    assert "six-1.0.dist-info/RECORD" in names
    assert strip_runtime_provided(package, [Requirement("pynamodb")]) == []  # nothing left to remove
