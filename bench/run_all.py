"""`make bench`: run every bench/*_bench.py, then write one table of all the figures.

    python bench/run_all.py [--quick] [--only NAME ...] [--skip NAME ...] [--summary-only]
                            [--faithful-only] [--seed N]

Each script writes bench/results/<name>.json (name = the script's name without `_bench.py`). This one
then writes bench/results/SUMMARY.md (markdown) and bench/results/summary.json from all of them.

A result file may carry its own rows, which are used as they are:
    "summary": [{"figure": str, "value": number|str, "unit": str, "target": str|null,
                 "meets": true|false|null, "note": str|null}, ...]
For result files without them, the extractors below read the figures their issues named; anything
else falls back to the file's top-level numbers.

The throughput benches (orders, notifications: the scripts that take `--compare`) measure the faithful
emulator and the emulator as hostile as AWS (`EKIOSK_EMULATOR_FAULTS=aws`, `EKIOSK_EMULATOR_IAM=enforce`;
SPEC §10) in the same run; their result files carry
    "comparison": [{"figure": str, "faithful": value, "aws": value, "note": str|null}, ...]
which the second table shows side by side. `--faithful-only` skips the hostile runs.

A script that fails, or leaves no fresh result, is
marked in the table and makes the run exit non-zero (the other scripts still run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
SUMMARY_MD = RESULTS / "SUMMARY.md"
SUMMARY_JSON = RESULTS / "summary.json"
AREAS = {  # result name -> what it measures, for the table's first column
    "emulator": "embedded emulator",
    "catalog": "catalog",
    "orders": "orders",
    "notifications": "notifications",
    "import": "cold start",
    "package": "deployment",
}
ORDER = list(AREAS)


def row(figure: str, value: Any, unit: str = "", target: str | None = None, meets: bool | None = None,
        note: str | None = None) -> dict:
    return {"figure": figure, "value": value, "unit": unit, "target": target, "meets": meets, "note": note}


# ---- extractors for result files without their own "summary" rows ----------------------------


def _emulator(data: dict) -> list[dict]:
    patched = data["patched"]
    latencies = patched["transact_write_items_4"]
    empty, largest = latencies[0], latencies[-1]
    ratio = data.get("ratio_20000_to_empty_patched") or largest["median_ms"] / empty["median_ms"]
    unpatched = data.get("unpatched", {}).get("transact_write_items_4") or []
    before = f"; moto as is: {unpatched[-1]['median_ms']:.0f} ms" if unpatched else ""
    mix = patched["order_mix"]
    return [
        row(f"4-item transaction, {largest['items']:,} items vs empty table", round(ratio, 2), "x", "<= 2",
            ratio <= 2, f"{largest['median_ms']:.1f} ms vs {empty['median_ms']:.1f} ms{before}"),
        row(f"order request mix, {mix['clients']} clients, {mix['items']:,} items", mix["mixes_per_s"], "mixes/s",
            None, None, f"{mix['requests_per_s']} requests/s (read + transaction + enqueue), {mix['errors']} errors"),
    ]


def _notifications(data: dict) -> list[dict]:
    results = data["results"]
    single = next((r for r in results if r.get("concurrency") == 1 and r.get("batch_size") == 1), results[0])
    best = max(results, key=lambda r: r.get("per_second", 0))
    speedup = best.get("speedup_vs_one_at_a_time") or best["per_second"] / single["per_second"]
    latency = data.get("provider_latency_seconds")
    latency_note = f" against a fake provider with {latency * 1000:.0f} ms latency" if latency else ""
    return [
        row("notifications delivered per second (one worker)", best["per_second"], "/s", ">= 10x one-at-a-time",
            speedup >= 10, f"{best.get('mode', '')}{latency_note}: {speedup:.1f}x the one-at-a-time "
                           f"{single['per_second']}/s"),
        row("SQS requests per delivered notification", best.get("sqs_requests_per_notification"), "", None, None,
            best.get("mode")),
    ]


EXTRACTORS = {"emulator": _emulator, "notifications": _notifications}


def _generic(data: dict) -> list[dict]:
    skip = {"cpus", "duration_s", "generated_at", "python"}
    return [row(key, value) for key, value in data.items()
            if isinstance(value, int | float) and not isinstance(value, bool) and key not in skip]


def rows_of(name: str, data: dict) -> tuple[list[dict], str | None]:
    if isinstance(data.get("summary"), list):
        return [row(**{k: item.get(k) for k in ("figure", "value", "unit", "target", "meets", "note")})
                for item in data["summary"]], None
    if name in EXTRACTORS:
        try:
            return EXTRACTORS[name](data), None
        except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as error:
            return _generic(data), f"extractor failed ({type(error).__name__}: {error}); raw numbers shown"
    return _generic(data), None


# ---- running --------------------------------------------------------------------------------


def scripts(only: list[str], skip: list[str]) -> list[Path]:
    found = sorted(BENCH.glob("*_bench.py"), key=lambda p: (ORDER.index(_name(p)) if _name(p) in ORDER else 99,
                                                             p.name))
    return [p for p in found if (not only or _name(p) in only) and _name(p) not in skip]


def _name(script: Path) -> str:
    return script.name.removesuffix("_bench.py")


def _supports_quick(script: Path) -> bool:
    return "--quick" in script.read_text(errors="replace")


def _supports_compare(script: Path) -> bool:
    return "--compare" in script.read_text(errors="replace")


def run(script: Path, quick: bool, timeout: float, compare: bool = True, seed: int | None = None) -> dict:
    name = _name(script)
    command = [sys.executable, str(script)] + (["--quick"] if quick and _supports_quick(script) else [])
    if compare and _supports_compare(script):
        command += ["--compare"] + (["--seed", str(seed)] if seed is not None else [])
    print(f"\n=== {name}: {' '.join(Path(c).name if i < 2 else c for i, c in enumerate(command))}", flush=True)
    started = time.time()
    try:
        rc = subprocess.run(command, cwd=ROOT, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    seconds = round(time.time() - started, 1)
    result = RESULTS / f"{name}.json"
    fresh = result.exists() and result.stat().st_mtime >= started
    print(f"=== {name}: exit {rc} in {seconds} s{'' if fresh else ' (no fresh result)'}", flush=True)
    return {"name": name, "script": str(script.relative_to(ROOT)), "exit": rc, "seconds": seconds, "fresh": fresh}


def machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"python": platform.python_version(), "platform": platform.platform(terse=True), "cpus": os.cpu_count(),
            "load_average_1m": round(load[0], 2) if load else None}


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "–" if value is None else str(value)


def _meets(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "–"}[value]


def summarize(runs: list[dict], quick: bool) -> dict:
    ran = {r["name"]: r for r in runs}
    names = sorted({p.stem for p in RESULTS.glob("*.json") if p.name != SUMMARY_JSON.name} | set(ran),
                   key=lambda n: (ORDER.index(n) if n in ORDER else 99, n))
    table, sources, side_by_side = [], [], []
    for name in names:
        path = RESULTS / f"{name}.json"
        status = ran.get(name)
        entry = {"name": name, "result": str(path.relative_to(ROOT)), **(status or {})}
        if not path.exists():
            entry["problem"] = "no result file"
            table.append({"area": AREAS.get(name, name), **row("(no result)", None, note=entry["problem"])})
            sources.append(entry)
            continue
        data = json.loads(path.read_text())
        entry["generated_at"] = data.get("generated_at") or time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(path.stat().st_mtime))
        rows, problem = rows_of(name, data)
        if status and (status["exit"] != 0 or not status["fresh"]):
            problem = f"the script exited {status['exit']}" + ("" if status["fresh"] else "; result is stale")
        if problem:
            entry["problem"] = problem
        for item in rows:
            table.append({"area": AREAS.get(name, name), **item})
        for item in data.get("comparison") or []:
            side_by_side.append({"area": AREAS.get(name, name), **{k: item.get(k) for k in
                                                                    ("figure", "faithful", "aws", "note")}})
        sources.append(entry)
    return {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "make bench" if len(sys.argv) == 1 else "bench/run_all.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "rows": table,
        "faithful_vs_aws": side_by_side,
        "sources": sources,
    }


def markdown(summary: dict) -> str:
    m = summary["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated {summary['generated_at']} by `{summary['command']}` on Python {m['python']}, {m['cpus']} CPUs "
        f"({m['platform']}; 1-minute load average {m['load_average_1m']} at the end).",
        "Reproduce: `make bench` (all scripts, a few minutes) or `.venv/bin/python bench/run_all.py --quick`.",
        "",
        "| area | figure | value | target | meets | note |",
        "|---|---|---:|---|:---:|---|",
    ]
    for item in summary["rows"]:
        value = _fmt(item["value"]) + (f" {item['unit']}" if item.get("unit") and item["value"] is not None else "")
        note = (item.get("note") or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {item['area']} | {item['figure']} | {value} | {item.get('target') or '–'} | "
                     f"{_meets(item.get('meets'))} | {note} |")
    if summary.get("faithful_vs_aws"):
        lines += [
            "",
            "## Faithful emulator vs. `aws` faults + IAM enforced (SPEC §10)",
            "",
            "Same run, same machine: `faithful` is the emulator as `make run` starts it; `aws` is "
            "`EKIOSK_EMULATOR_FAULTS=aws,seed=N` with `EKIOSK_EMULATOR_IAM=enforce` (each process signs as its "
            "function).",
            "",
            "| area | figure | faithful | aws + IAM enforced | note |",
            "|---|---|---:|---:|---|",
        ]
        for item in summary["faithful_vs_aws"]:
            note = (item.get("note") or "").replace("|", "\\|")
            lines.append(f"| {item['area']} | {item['figure']} | {_fmt(item['faithful'])} | {_fmt(item['aws'])} | "
                         f"{note} |")
    lines += ["", "| result | generated | script run | status |", "|---|---|---|---|"]
    for source in summary["sources"]:
        run_info = (f"exit {source['exit']}, {source['seconds']} s" if "exit" in source else "not run this time")
        lines.append(f"| `{source['result']}` | {source.get('generated_at', '–')} | {run_info} | "
                     f"{source.get('problem', 'ok')} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to the scripts that take it")
    parser.add_argument("--only", nargs="*", default=[], help="run only these (e.g. import package)")
    parser.add_argument("--skip", nargs="*", default=[], help="do not run these")
    parser.add_argument("--summary-only", action="store_true", help="run nothing; rebuild the table from results")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per script")
    parser.add_argument("--faithful-only", action="store_true",
                        help="throughput benches: skip the run with aws faults and IAM enforced")
    parser.add_argument("--seed", type=int, default=None, help="fault seed for the aws runs (default: drawn)")
    args = parser.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = [] if args.summary_only else [run(s, args.quick, args.timeout, not args.faithful_only, args.seed)
                                         for s in scripts(args.only, args.skip)]
    summary = summarize(runs, args.quick)
    SUMMARY_JSON.write_text(json.dumps(summary, indent=2) + "\n")
    text = markdown(summary)
    SUMMARY_MD.write_text(text)
    print("\n" + text)
    print(f"written: {SUMMARY_MD.relative_to(ROOT)}, {SUMMARY_JSON.relative_to(ROOT)}")
    failed = [r["name"] for r in runs if r["exit"] != 0 or not r["fresh"]]
    if failed:
        print("failed or without a fresh result: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
