"""Deployment package size of the Lambda function, measured offline.

    python bench/package_bench.py [--quick] [--extra PACKAGE ...]

Builds the zip `make package` ships, as infra/lambda_contents.py defines it (the one definition both
use): app.py and chalicelib/ without chalicelib/runtime/, Chalice's vendored runtime (chalice/app.py),
and the requirements.txt closure without the distributions the Lambda runtime provides (boto3,
botocore, s3transfer and what only they need), from the files the local virtualenv has installed for
those distributions (their RECORD), so no network is needed. `chalice package` itself downloads
manylinux wheels; the sizes agree to within the platform-specific binaries.
Reports zipped and unzipped sizes against issue 14's target (15 MB zipped) and Lambda's limits (50 MB
zipped upload, 250 MB unzipped), the largest distributions and what is left out. Writes
bench/results/package.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import zipfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from packaging.requirements import Requirement  # noqa: E402

from infra.lambda_contents import (  # noqa: E402
    CHALICE_RUNTIME,
    LEFT_OUT_OF_PROJECT,
    SKIP_PARTS,
    canonical,
    project_files,
    requirements,
    split,
)

RESULTS = ROOT / "bench" / "results" / "package.json"
TARGET_ZIPPED_MB = 15  # issue 14
ZIP_LIMIT_MB = 50
UNZIPPED_LIMIT_MB = 250
# Requested for the docs page (chalicelib/api/docs.py): counted as if it were in requirements.txt.
DEFAULT_EXTRAS = ["swagger-ui-bundle"]


def installed() -> dict[str, metadata.Distribution]:
    return {canonical(d.metadata["Name"]): d for d in metadata.distributions()}


def distribution_files(dist: metadata.Distribution, only: tuple[str, ...] | None = None) -> list[tuple[Path, str]]:
    """(absolute path, path inside the zip) of the distribution's importable files (`only`: just these)."""
    files = []
    for entry in dist.files or []:
        if entry.parts[0] == ".." or SKIP_PARTS & set(entry.parts) or entry.suffix == ".pyc":
            continue  # console scripts live outside site-packages; caches are not shipped
        if only is not None and str(entry) not in only:
            continue
        path = Path(dist.locate_file(entry))
        if path.is_file():
            files.append((path, str(entry)))
    return files


def left_out_project_files() -> list[Path]:
    return [path for left in LEFT_OUT_OF_PROJECT for path in (ROOT / left).rglob("*")
            if path.is_file() and not SKIP_PARTS & set(path.parts) and path.suffix != ".pyc"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="accepted for run_all.py; the measurement is the same")
    parser.add_argument("--extra", nargs="*", default=DEFAULT_EXTRAS,
                        help="runtime packages to count as if listed in requirements.txt")
    args = parser.parse_args()
    started = time.time()

    roots = requirements(ROOT / "requirements.txt") + [Requirement(name) for name in args.extra]
    dists = installed()

    def requires_of(name: str) -> list[str] | None:
        return dists[name].requires or [] if name in dists else None

    shipped, left_out = split(roots, requires_of)
    missing = {canonical(r.name) for r in roots} - set(dists)
    if missing:
        raise SystemExit(f"{', '.join(sorted(missing))} not installed in this environment (run `make install`)")
    per_dist = {name: distribution_files(dists[name]) for name in sorted(shipped)}
    if "chalice" not in dists:
        raise SystemExit("chalice is not installed in this environment (run `make install`)")
    per_dist["chalice (runtime only)"] = distribution_files(dists["chalice"], only=CHALICE_RUNTIME)
    ours = project_files(ROOT)

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
    left_out_bytes = sum(size(distribution_files(dists[name])) for name in left_out if name in dists)
    runtime_dir_bytes = sum(path.stat().st_size for path in left_out_project_files())
    biggest = sorted(((size(files), name) for name, files in per_dist.items()), reverse=True)[:8]
    mb = 1024 * 1024
    left_out_names = sorted(left_out)
    result = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "duration_s": round(time.time() - started, 1),
        "method": "what infra/lambda_contents.py ships (app.py, chalicelib without runtime/, chalice's runtime, "
                  "installed files of the requirements.txt closure less the Lambda runtime's), zipped (deflate 6)",
        "extras_counted": args.extra,
        "distributions": len(shipped),
        "zipped_bytes": zipped,
        "unzipped_bytes": unzipped,
        "project_bytes": size(ours),
        "largest_distributions": [{"name": name, "bytes": b} for b, name in biggest],
        "left_out_runtime_provided_distributions": left_out_names,
        "left_out_runtime_provided_bytes": left_out_bytes,
        "left_out_project": list(LEFT_OUT_OF_PROJECT),
        "left_out_project_bytes": runtime_dir_bytes,
        "summary": [
            {
                "figure": "deployment package (zipped)",
                "value": round(zipped / mb, 1),
                "unit": "MB",
                "target": f"<= {TARGET_ZIPPED_MB} MB (issue 14; Lambda direct upload: {ZIP_LIMIT_MB} MB)",
                "meets": zipped <= TARGET_ZIPPED_MB * mb,
                "note": f"{len(shipped)} distributions; largest: "
                        + ", ".join(f"{name} {b / mb:.1f} MB" for b, name in biggest[:3]),
            },
            {
                "figure": "deployment package (unzipped)",
                "value": round(unzipped / mb, 1),
                "unit": "MB",
                "target": f"<= {UNZIPPED_LIMIT_MB} MB (Lambda limit)",
                "meets": unzipped <= UNZIPPED_LIMIT_MB * mb,
                "note": f"app.py + chalicelib: {size(ours) / 1024:.0f} KB; left out: "
                        f"{', '.join(LEFT_OUT_OF_PROJECT)} ({runtime_dir_bytes / 1024:.0f} KB) and what the Lambda "
                        f"runtime provides, {left_out_bytes / mb:.1f} MB ({', '.join(left_out_names)})",
            },
        ],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("| deployment package | size | target / limit |")
    print("|---|---:|---:|")
    print(f"| zipped | {zipped / mb:.1f} MB | {TARGET_ZIPPED_MB} MB / {ZIP_LIMIT_MB} MB |")
    print(f"| unzipped | {unzipped / mb:.1f} MB | {UNZIPPED_LIMIT_MB} MB |")
    print(f"| of which app.py + chalicelib | {size(ours) / 1024:.0f} KB | |")
    print("largest: " + ", ".join(f"{name} {b / mb:.1f} MB" for b, name in biggest))
    print(f"left out: {', '.join(LEFT_OUT_OF_PROJECT)} ({runtime_dir_bytes / 1024:.0f} KB); runtime-provided "
          f"{left_out_bytes / mb:.1f} MB ({', '.join(left_out_names)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
