"""Cold import time of the Lambda entry point `app.py` against a bare `import boto3, chalice`.

    python bench/import_bench.py [--quick] [--runs N]

Each sample is a fresh interpreter (as a Lambda cold start is) that times the import alone with
perf_counter; both are measured alternately in the same run, after one discarded warm-up each (so both
read compiled .pyc files from a warm disk cache). Reports the medians, the difference, and the modules
that cost `app` the most (python -X importtime). Writes bench/results/import.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results", "import.json")
SUBJECTS = {
    "baseline": "import boto3, chalice",
    "app": "import app",
}
# Issue 14: `import app` may cost at most 1.3x the bare SDK + framework import. app.py imports chalice,
# powertools and our routes; pydantic, PynamoDB/botocore, jose and phonenumbers load on first use.
TARGET_RATIO = 1.3


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT", "PYTHONPROFILE"))}
    env.update(PYTHONDONTWRITEBYTECODE="0", PYTHONPATH=ROOT, STAGE=env.get("STAGE", "local"))
    env.pop("PYTHONSTARTUP", None)
    return env


def sample(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1]) * 1000


def heaviest_imports(statement: str, top: int = 8) -> list[dict]:
    """Where `statement` spends its import time: -X importtime's own (self) time summed per top-level package."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, check=True)
    totals: dict[str, int] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, _cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if own.isdigit():
            package = name.split(".")[0]
            totals[package] = totals.get(package, 0) + int(own)
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    return [{"module": name, "self_ms": round(us / 1000, 1)} for name, us in ranked[:top]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 samples each instead of 15")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args()
    runs = args.runs or (5 if args.quick else 15)
    started = time.time()

    for statement in SUBJECTS.values():  # warm-up: compile .pyc files, warm the page cache
        sample(statement)
    samples: dict[str, list[float]] = {name: [] for name in SUBJECTS}
    for _ in range(runs):
        for name, statement in SUBJECTS.items():
            samples[name].append(sample(statement))

    medians = {name: statistics.median(values) for name, values in samples.items()}
    extra = medians["app"] - medians["baseline"]
    heaviest = heaviest_imports(SUBJECTS["app"])
    result = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "duration_s": None,
        "runs": runs,
        "baseline_statement": SUBJECTS["baseline"],
        "baseline_median_ms": round(medians["baseline"], 1),
        "app_median_ms": round(medians["app"], 1),
        "app_minus_baseline_ms": round(extra, 1),
        "app_over_baseline": round(medians["app"] / medians["baseline"], 2),
        "samples_ms": {name: [round(v, 1) for v in values] for name, values in samples.items()},
        "heaviest_imports_of_app": heaviest,
        "target": f"app import <= {TARGET_RATIO:g}x baseline",
        "summary": [
            {
                "figure": "cold import of app.py (median)",
                "value": round(medians["app"], 1),
                "unit": "ms",
                "target": f"<= {TARGET_RATIO:g}x baseline",
                "meets": medians["app"] <= TARGET_RATIO * medians["baseline"],
                "note": f"baseline `{SUBJECTS['baseline']}` {medians['baseline']:.0f} ms in the same run "
                        f"({medians['app'] / medians['baseline']:.2f}x); {runs} fresh interpreters each; heaviest "
                        f"packages (one -X importtime run): "
                        + ", ".join(f"{row['module']} {row['self_ms']:.0f} ms" for row in heaviest[:4]),
            },
            {
                "figure": "cold import of `import boto3, chalice` (median, baseline)",
                "value": round(medians["baseline"], 1),
                "unit": "ms",
                "target": None,
                "meets": None,
                "note": "measured alternately with app.py",
            },
        ],
    }
    result["duration_s"] = round(time.time() - started, 1)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")

    print(f"| import ({runs} fresh interpreters) | median |")
    print("|---|---:|")
    print(f"| `{SUBJECTS['baseline']}` | {medians['baseline']:.1f} ms |")
    print(f"| `import app` | {medians['app']:.1f} ms |")
    print(f"\napp - baseline = {extra:+.1f} ms ({medians['app'] / medians['baseline']:.2f}x); "
          f"target <= {TARGET_RATIO:g}x")
    print("heaviest imports of app: " + ", ".join(
        f"{row['module']} {row['self_ms']} ms" for row in result["heaviest_imports_of_app"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
