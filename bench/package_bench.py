"""Deployment package size of the Lambda function, measured offline.

    python bench/package_bench.py [--quick] [--extra PACKAGE ...]

Builds the zip Chalice would upload — app.py, chalicelib/ (no caches, no tests) and every runtime
requirement of requirements.txt with its dependency closure — from the files the local virtualenv has
installed for those distributions (their RECORD), so no network is needed. `chalice package` itself
would download manylinux wheels; the sizes agree to within the platform-specific binaries.
Reports zipped and unzipped sizes against Lambda's limits (50 MB zipped upload, 250 MB unzipped) and
the largest distributions. Writes bench/results/package.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "package.json"
ZIP_LIMIT_MB = 50
UNZIPPED_LIMIT_MB = 250
SKIP_PARTS = {"__pycache__", ".pytest_cache"}
# Requested for the docs page (chalicelib/api/docs.py): counted as if it were in requirements.txt.
DEFAULT_EXTRAS = ["swagger-ui-bundle"]
CHALICE_RUNTIME = {"chalice/__init__.py", "chalice/app.py"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(path: Path) -> list[Requirement]:
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            found.append(Requirement(line))
    return found


def closure(roots: list[Requirement]) -> dict[str, metadata.Distribution]:
    """Installed distributions needed by `roots` (markers evaluated for this interpreter, extras followed)."""
    installed = {_canonical(d.metadata["Name"]): d for d in metadata.distributions()}
    seen: dict[str, metadata.Distribution] = {}
    todo = [(r, set(r.extras)) for r in roots]
    while todo:
        requirement, extras = todo.pop()
        name = _canonical(requirement.name)
        dist = installed.get(name)
        if dist is None:
            raise SystemExit(f"{requirement} is not installed in this environment (run `make install`)")
        first_visit = name not in seen
        seen[name] = dist
        for raw in dist.requires or []:
            dep = Requirement(raw)
            if dep.marker is not None:
                environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
                if not any(dep.marker.evaluate(env) for env in environments):
                    continue
            if first_visit or dep.extras:
                todo.append((dep, set(dep.extras)))
    return seen


def distribution_files(dist: metadata.Distribution) -> list[tuple[Path, str]]:
    """(absolute path, path inside the zip) of the distribution's importable files."""
    files = []
    is_chalice = _canonical(dist.metadata["Name"]) == "chalice"
    for entry in dist.files or []:
        if entry.parts[0] == ".." or SKIP_PARTS & set(entry.parts) or entry.suffix == ".pyc":
            continue  # console scripts live outside site-packages; caches are not shipped
        if is_chalice and str(entry) not in CHALICE_RUNTIME:
            continue  # `chalice package` leaves chalice/ out and adds only its runtime module
        path = Path(dist.locate_file(entry))
        if path.is_file():
            files.append((path, str(entry)))
    return files


def project_files() -> list[tuple[Path, str]]:
    files = [(ROOT / "app.py", "app.py")]
    for path in sorted((ROOT / "chalicelib").rglob("*")):
        if path.is_file() and not SKIP_PARTS & set(path.parts) and path.suffix != ".pyc":
            files.append((path, str(path.relative_to(ROOT))))
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="accepted for run_all.py; the measurement is the same")
    parser.add_argument("--extra", nargs="*", default=DEFAULT_EXTRAS,
                        help="runtime packages to count as if listed in requirements.txt")
    args = parser.parse_args()
    started = time.time()

    roots = requirements(ROOT / "requirements.txt") + [Requirement(name) for name in args.extra]
    dists = closure(roots)
    per_dist = {name: distribution_files(dist) for name, dist in sorted(dists.items())}
    ours = project_files()

    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "deployment.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for path, arcname in ours:
                zf.write(path, arcname)
            for files in per_dist.values():
                for path, arcname in files:
                    zf.write(path, arcname)
        zipped = archive.stat().st_size

    def size(files):
        return sum(path.stat().st_size for path, _ in files)

    unzipped = size(ours) + sum(size(files) for files in per_dist.values())
    # Distributions only there because chalice (the CLI) is listed as a runtime requirement.
    without_chalice = closure([r for r in roots if _canonical(r.name) != "chalice"])
    cli_only = sorted(set(dists) - set(without_chalice) - {"chalice"})
    cli_only_bytes = sum(size(per_dist[name]) for name in cli_only)
    biggest = sorted(((size(files), name) for name, files in per_dist.items()), reverse=True)[:8]
    mb = 1024 * 1024
    result = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "duration_s": round(time.time() - started, 1),
        "method": "app.py + chalicelib + installed files of the requirements.txt closure, zipped (deflate 6)",
        "extras_counted": args.extra,
        "distributions": len(dists),
        "zipped_bytes": zipped,
        "unzipped_bytes": unzipped,
        "project_bytes": size(ours),
        "largest_distributions": [{"name": name, "bytes": b} for b, name in biggest],
        "chalice_cli_only_distributions": cli_only,
        "chalice_cli_only_bytes": cli_only_bytes,
        "summary": [
            {
                "figure": "deployment package (zipped)",
                "value": round(zipped / mb, 1),
                "unit": "MB",
                "target": f"<= {ZIP_LIMIT_MB} MB (Lambda direct upload)",
                "meets": zipped <= ZIP_LIMIT_MB * mb,
                "note": f"{len(dists)} distributions; largest: "
                        + ", ".join(f"{name} {b / mb:.1f} MB" for b, name in biggest[:3]),
            },
            {
                "figure": "deployment package (unzipped)",
                "value": round(unzipped / mb, 1),
                "unit": "MB",
                "target": f"<= {UNZIPPED_LIMIT_MB} MB (Lambda limit)",
                "meets": unzipped <= UNZIPPED_LIMIT_MB * mb,
                "note": f"app.py + chalicelib: {size(ours) / 1024:.0f} KB; {cli_only_bytes / mb:.1f} MB are chalice's "
                        f"CLI dependencies ({', '.join(cli_only)}), never imported on Lambda",
            },
        ],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("| deployment package | size | limit |")
    print("|---|---:|---:|")
    print(f"| zipped | {zipped / mb:.1f} MB | {ZIP_LIMIT_MB} MB |")
    print(f"| unzipped | {unzipped / mb:.1f} MB | {UNZIPPED_LIMIT_MB} MB |")
    print(f"| of which app.py + chalicelib | {size(ours) / 1024:.0f} KB | |")
    print("largest: " + ", ".join(f"{name} {b / mb:.1f} MB" for b, name in biggest))
    print(f"chalice's CLI-only dependencies in the package: {cli_only_bytes / mb:.1f} MB ({', '.join(cli_only)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
