"""What the Lambda deployment package holds: one definition, used by `make package` (infra/package.py)
and by the size bench (bench/package_bench.py).

* Our code: app.py and chalicelib/, without `LEFT_OUT_OF_PROJECT` (chalicelib/runtime/: the local
  emulator, moto patches, WSGI server and worker, never imported on Lambda), caches and bytecode.
* Chalice's runtime, `CHALICE_RUNTIME`: `chalice package` adds it itself (chalice is not a requirement).
* The dependency closure of requirements.txt, except the distributions the Lambda Python runtime
  provides (`RUNTIME_PROVIDED`) and those only they need (`left_out`): botocore comes in as PynamoDB's
  dependency, and with it s3transfer's and botocore's own. A dependency that something we ship also
  needs stays (jmespath for aws-lambda-powertools, urllib3 for requests).

Why boto3/botocore may be left out: the Lambda python3.11 runtime ships boto3 and botocore (a recent
release, updated by AWS); PynamoDB 6.1 needs botocore>=1.12.54 and our boto3 clients need nothing newer
than retry mode "standard" (botocore 1.15). The app already used the runtime's boto3 (never a
requirement), and shipping PynamoDB's botocore beside it mixed two botocore versions in one process.
To pin a botocore of our own instead, remove it from RUNTIME_PROVIDED (README, Deployment).
"""

from __future__ import annotations

import email.parser
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
LEFT_OUT_OF_PROJECT = ("chalicelib/runtime",)
CHALICE_RUNTIME = ("chalice/__init__.py", "chalice/app.py")
SKIP_PARTS = frozenset({"__pycache__", ".pytest_cache"})


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(path: Path) -> list[Requirement]:
    """The requirements a requirements file lists (options and includes skipped)."""
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            found.append(Requirement(line))
    return found


# --- our code


def ships(relative: str) -> bool:
    """Whether the project file at `relative` (posix path from the project root) goes into the package."""
    parts = relative.split("/")
    if SKIP_PARTS & set(parts) or relative.endswith(".pyc"):
        return False
    return not any(relative == left or relative.startswith(left + "/") for left in LEFT_OUT_OF_PROJECT)


def project_files(root: Path = ROOT) -> list[tuple[Path, str]]:
    """(absolute path, path in the package) of app.py and the chalicelib/ files that ship."""
    files = [(root / "app.py", "app.py")]
    for path in sorted((root / "chalicelib").rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and ships(relative):
            files.append((path, relative))
    return files


def copy_project_files(destination: Path, root: Path = ROOT) -> None:
    """Copies what ships of app.py and chalicelib/ to `destination` (a fresh chalicelib/)."""
    shutil.rmtree(destination / "chalicelib", ignore_errors=True)
    for path, relative in project_files(root):
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


# --- distributions


def closure(
    roots: Iterable[Requirement],
    requires_of: Callable[[str], list[str] | None],
    stop: Iterable[str] = (),
) -> tuple[set[str], set[str]]:
    """(found, missing): canonical names of the distributions `roots` need, markers evaluated for this
    interpreter and extras followed. `requires_of(name)` gives a distribution's Requires-Dist, or None if
    it is absent. The distributions in `stop` are found but their own requirements are not followed."""
    stop = {canonical(name) for name in stop}
    done: dict[str, set[str]] = {}
    missing: set[str] = set()
    todo = [(canonical(r.name), set(r.extras)) for r in roots]
    while todo:
        name, extras = todo.pop()
        if name in done and extras <= done[name]:
            continue
        requires = requires_of(name)
        if requires is None:
            missing.add(name)
            continue
        done.setdefault(name, set()).update(extras)
        if name in stop:
            continue
        environments = [{"extra": ""}] + [{"extra": extra} for extra in sorted(extras)]
        for raw in requires:
            dep = Requirement(raw)
            if dep.marker is None or any(dep.marker.evaluate(env) for env in environments):
                todo.append((canonical(dep.name), set(dep.extras)))
    return set(done), missing


def split(roots: list[Requirement], requires_of: Callable[[str], list[str] | None]) -> tuple[set[str], set[str]]:
    """(shipped, left_out): the closure of `roots` without the runtime-provided distributions and what only
    they need, and those left out."""
    everything, _ = closure(roots, requires_of)
    reachable, _ = closure(roots, requires_of, stop=RUNTIME_PROVIDED)
    shipped = reachable - RUNTIME_PROVIDED
    return shipped, everything - shipped


def _zip_distributions(archive: zipfile.ZipFile) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (its .dist-info directory, its Requires-Dist)} of the wheels unpacked in a zip."""
    found = {}
    for name in archive.namelist():
        parts = name.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
            message = email.parser.Parser().parsestr(archive.read(name).decode("utf-8", "replace"))
            found[canonical(message["Name"])] = (parts[0], message.get_all("Requires-Dist") or [])
    return found


def strip_runtime_provided(package: Path, roots: list[Requirement]) -> list[str]:
    """Rewrites the deployment zip `chalice package` built without the distributions `split` leaves out
    (every file their RECORD lists, and their .dist-info). Returns the names of those removed."""
    with zipfile.ZipFile(package) as archive:
        dists = _zip_distributions(archive)
        _, left_out = split(roots, lambda name: dists[name][1] if name in dists else None)
        removed = sorted(name for name in left_out if name in dists)
        drop: set[str] = set()
        for name in removed:
            info_dir = dists[name][0]
            record = archive.read(f"{info_dir}/RECORD").decode("utf-8") if f"{info_dir}/RECORD" in archive.namelist() \
                else ""
            drop.update(line.split(",", 1)[0] for line in record.splitlines() if line.strip())
            drop.update(entry for entry in archive.namelist() if entry.startswith(info_dir + "/"))
        if not drop:
            return []
        rewritten = package.with_suffix(".tmp.zip")
        with zipfile.ZipFile(rewritten, "w", compression=zipfile.ZIP_DEFLATED) as out:
            for info in archive.infolist():
                if info.filename not in drop:
                    out.writestr(info, archive.read(info))
    rewritten.replace(package)
    return removed
