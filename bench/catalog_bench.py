"""Benchmark the catalog: the cost of the average-price read and of a 10,000-row bulk upload.

    python bench/catalog_bench.py [--quick]

Starts the embedded emulator (a subprocess, one request at a time, as `make run` does), creates the
tables, then for catalogs of 100, 1,000 and 10,000 products (each under its own category tree,
uploaded with the bulk importer; --quick: 100 and 1,000):

* DynamoDB requests per average-price read (at the top of the tree and one level down), counted with
  a botocore hook on every API call the process makes; it must not grow with the catalog;
* the median seconds of that read;
* requests (all, writes, TransactWriteItems) and seconds of the bulk upload that built the catalog,
  of uploading the same file again (nothing changes) and of a file that changes every row.

Target: an upload writes with at most ceil(rows / 25) + a small constant requests (the number of
categories it creates). It prints a markdown table and writes bench/results/catalog.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.support.emulator import EmulatorProcess  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results", "catalog.json")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
DEPARTMENTS, SHELVES = 5, 4  # the tree: root / Dept{d} / Shelf{s} / Bin{b} (3 levels below the root)


class Calls:
    """Every AWS API call of this process (boto3 and PynamoDB both go through botocore)."""

    def __init__(self):
        from botocore.client import BaseClient

        self.names: list[str] = []
        self._lock = threading.Lock()
        original = BaseClient._make_api_call
        calls = self

        def counted(client, operation_name, params):
            with calls._lock:
                calls.names.append(operation_name)
            return original(client, operation_name, params)

        BaseClient._make_api_call = counted

    def measure(self, action) -> tuple[Any, dict]:
        start = len(self.names)
        began = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - began
        made = self.names[start:]
        return result, {
            "requests": len(made),
            "writes": sum(1 for n in made if n in WRITES),
            "transactions": made.count("TransactWriteItems"),
            "reads": sum(1 for n in made if n not in WRITES),
            "seconds": round(seconds, 2),
            "raw_seconds": seconds,
            "by_operation": {n: made.count(n) for n in sorted(set(made))},
        }


def _plain(measured: dict) -> dict:
    return {k: v for k, v in measured.items() if k != "raw_seconds"}


def rows_for(root: str, count: int, price_shift: int = 0) -> str:
    lines = ["name,stock,price,category"]
    for i in range(count):
        d, s, b = i % DEPARTMENTS, i % SHELVES, i % 3
        price = f"{1 + (i * 7919 + price_shift) % 5000}.{i % 100:02d}"
        lines.append(f"product {i:05d},{i % 40},{price},{root}/Dept{d}/Shelf{s}/Bin{b}")
    return "\n".join(lines) + "\n"


def one_catalog(calls: Calls, size: int, reads: int) -> dict:
    from chalicelib.bootstrap import services
    from chalicelib.services import bulk_import
    from chalicelib.services import catalog as service

    root = f"Bench{size}-{int(time.time() * 1000)}"
    upload = rows_for(root, size).encode()
    report, created = calls.measure(lambda: bulk_import.upload(services(), upload, "text/csv"))
    assert report.status == 201 and report.created == size, report.errors
    repo = services().catalog
    top = repo.child_named(None, root.lower())
    dept = repo.child_named(top.id, "dept0")
    figures: dict[str, Any] = {"products": size, "upload": _plain(created)}
    for label, category in (("top", top), ("level 1", dept)):
        samples, counts = [], []
        answer = None
        for _ in range(reads):
            answer, measured = calls.measure(lambda c=category: service.average_price(services(), c.id))
            samples.append(measured["raw_seconds"])
            counts.append(measured["requests"])
        figures[f"average_{label}"] = {
            "requests_per_read": max(counts),
            "requests_min": min(counts),
            "median_ms": round(statistics.median(samples) * 1000, 1),
            "answer": dataclasses.asdict(answer),
        }
    if size == max(SIZES_RUN):
        _, again = calls.measure(lambda: bulk_import.upload(services(), upload, "text/csv"))
        figures["upload_same_file_again"] = _plain(again)
        changed = rows_for(root, size, price_shift=1).encode()
        report, changed_all = calls.measure(lambda: bulk_import.upload(services(), changed, "text/csv"))
        assert report.updated == size, report.errors
        figures["upload_every_row_changed"] = _plain(changed_all)
    categories_created = 1 + DEPARTMENTS + DEPARTMENTS * SHELVES + min(size, DEPARTMENTS * SHELVES * 3)
    figures["categories_created"] = categories_created
    figures["write_target"] = math.ceil(size / 25) + categories_created
    return figures


SIZES_RUN: tuple[int, ...] = (100, 1_000, 10_000)


def main() -> int:
    global SIZES_RUN
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="catalogs of 100 and 1,000 products only")
    args = parser.parse_args()
    SIZES_RUN = (100, 1_000) if args.quick else (100, 1_000, 10_000)

    emulator = EmulatorProcess()
    began = time.time()
    try:
        os.environ.update(
            AWS_ENDPOINT_URL=emulator.url, STAGE="bench", AWS_DEFAULT_REGION="us-east-1",
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", LOG_LEVEL="WARNING",
        )
        from chalicelib.config import get_settings
        from chalicelib.runtime.bootstrap import ensure_tables

        get_settings.cache_clear()
        ensure_tables(get_settings())
        from chalicelib.bootstrap import services

        services()
        calls = Calls()
        catalogs = [one_catalog(calls, size, reads=15) for size in SIZES_RUN]
    finally:
        emulator.stop()

    print("| products | requests per average read (top / level 1) | median read ms | upload requests "
          "(writes, transactions) | write target | upload s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for c in catalogs:
        up = c["upload"]
        print(f"| {c['products']:,} | {c['average_top']['requests_per_read']} / "
              f"{c['average_level 1']['requests_per_read']} | {c['average_top']['median_ms']} | {up['requests']} "
              f"({up['writes']}, {up['transactions']}) | <= {c['write_target']} | {up['seconds']} |")
    biggest = catalogs[-1]
    again = (("upload_same_file_again", "same file again"), ("upload_every_row_changed", "every row changed"))
    for key, label in again:
        if key in biggest:
            m = biggest[key]
            print(f"\n{biggest['products']:,}-row upload, {label}: {m['requests']} requests ({m['writes']} writes), "
                  f"{m['seconds']} s")

    constant = len({c["average_top"]["requests_per_read"] for c in catalogs}) == 1
    big = biggest["upload"]
    summary = [
        {"figure": "DynamoDB requests per average-price read, "
                   + " / ".join(f"{c['products']:,}" for c in catalogs) + " products",
         "value": " / ".join(str(c["average_top"]["requests_per_read"]) for c in catalogs), "unit": "requests",
         "target": "constant", "meets": constant,
         "note": "one GetItem of the category's own aggregates; median "
                 + " / ".join(f"{c['average_top']['median_ms']} ms" for c in catalogs)},
        {"figure": f"{biggest['products']:,}-row bulk upload: write requests", "value": big["writes"],
         "unit": "requests", "target": f"<= ceil(rows/25) + categories = {biggest['write_target']}",
         "meets": big["writes"] <= biggest["write_target"],
         "note": f"{big['transactions'] - biggest['categories_created']} transactions of up to 100 products and "
                 f"their aggregates + {biggest['categories_created']} category creations; {big['reads']} reads"},
        {"figure": f"{biggest['products']:,}-row bulk upload on the embedded emulator", "value": big["seconds"],
         "unit": "s", "target": None, "meets": None,
         "note": "new products in new categories"
                 + (f"; same file again {biggest['upload_same_file_again']['seconds']} s "
                    f"({biggest['upload_same_file_again']['writes']} writes), every row changed "
                    f"{biggest['upload_every_row_changed']['seconds']} s "
                    f"({biggest['upload_every_row_changed']['writes']} writes)"
                    if "upload_same_file_again" in biggest else "")},
    ]
    result = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "quick": args.quick,
        "duration_s": round(time.time() - began, 1),
        "catalogs": catalogs,
        "summary": summary,
    }
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
        handle.write("\n")
    print(f"\nwrote {os.path.relpath(RESULTS, ROOT)}")
    return 0 if constant and big["writes"] <= biggest["write_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
