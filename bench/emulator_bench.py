"""Benchmark the embedded emulator (chalicelib/runtime/emulator.py).

    python bench/emulator_bench.py [--quick]

Starts the emulator twice as a subprocess: with the transaction patch and without it
(--no-transaction-patch, i.e. moto's own TransactWriteItems). For each, it measures:

* the median latency of a 4-item TransactWriteItems when the table holds 0, 1,000, 5,000 and
  20,000 items (seeded with BatchWriteItem). Without the patch, slow sizes are time-boxed, so
  they get fewer samples.
* the "order request mix" rate with 8 concurrent clients and 20,000 items in the table. One
  mix is a BatchGetItem of 3 products, a 4-item TransactWriteItems (3 conditional stock
  decrements and an order Put) and an SQS SendMessage.

It prints a markdown table and writes bench/results/emulator.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from typing import Any

import boto3
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.support.emulator import EmulatorProcess  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results", "emulator.json")
SIZES = (0, 1_000, 5_000, 20_000)
TABLE = "bench_products"
ORDERS = "bench_orders"
CLIENTS = 8
CONFIG = Config(retries={"total_max_attempts": 1}, max_pool_connections=4, read_timeout=300)


def client(url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=CONFIG,
    )


def start_server(patched: bool) -> EmulatorProcess:
    return EmulatorProcess(extra_args=() if patched else ("--no-transaction-patch",))


def create_tables(ddb: Any) -> None:
    for name in (TABLE, ORDERS):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


def seed(ddb: Any, start: int, stop: int) -> None:
    for first in range(start, stop, 25):
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": f"p{i:06d}"},
                        "name": {"S": f"Product {i}"},
                        "price": {"N": "1500.00"},
                        "available": {"N": "1000000"},
                    }
                }
            }
            for i in range(first, min(first + 25, stop))
        ]
        ddb.batch_write_item(RequestItems={TABLE: requests})


def four_item_transaction(keys: list[str], order_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"pk": {"S": key}},
                "UpdateExpression": "SET available = available - :q",
                "ConditionExpression": "available >= :q",
                "ExpressionAttributeValues": {":q": {"N": "1"}},
            }
        }
        for key in keys[:3]
    ]
    items.append({"Put": {"TableName": ORDERS, "Item": {"pk": {"S": order_id}, "lines": {"SS": keys[:3]}}}})
    return items


def transaction_latency(ddb: Any, size: int, reps: int, time_box: float) -> dict[str, Any]:
    hot = ["hot-a", "hot-b", "hot-c"]
    for key in hot:
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": key}, "available": {"N": "1000000"}})
    samples: list[float] = []
    started = time.perf_counter()
    for n in range(reps):
        t0 = time.perf_counter()
        ddb.transact_write_items(TransactItems=four_item_transaction(hot, f"lat-{size}-{n}"))
        samples.append(time.perf_counter() - t0)
        if len(samples) >= 5 and time.perf_counter() - started > time_box:
            break
    for key in hot:
        ddb.delete_item(TableName=TABLE, Key={"pk": {"S": key}})
    return {"items": size, "median_ms": round(statistics.median(samples) * 1000, 2), "samples": len(samples)}


def order_mix(url: str, size: int, seconds: float) -> dict[str, Any]:
    sqs = client(url, "sqs")
    queue_url = sqs.create_queue(QueueName="bench-orders")["QueueUrl"]
    count = [0] * CLIENTS
    errors: list[str] = []
    barrier = threading.Barrier(CLIENTS + 1)
    deadline = [0.0]

    def worker(n: int) -> None:
        rng = random.Random(n)
        ddb, q = client(url, "dynamodb"), client(url, "sqs")
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            keys = [f"p{k:06d}" for k in rng.sample(range(max(size, 3)), 3)]
            try:
                ddb.batch_get_item(RequestItems={TABLE: {"Keys": [{"pk": {"S": k}} for k in keys]}})
                order_id = f"mix-{n}-{count[n]}"
                ddb.transact_write_items(TransactItems=four_item_transaction(keys, order_id))
                q.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"order_id": order_id}))
                count[n] += 1
            except Exception as exc:  # noqa: BLE001 - reported, not fatal to the bench
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + 1.0 + seconds  # the workers check it after the barrier
    barrier.wait()
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {
        "items": size,
        "clients": CLIENTS,
        "seconds": round(elapsed, 2),
        "mixes": sum(count),
        "mixes_per_s": round(sum(count) / elapsed, 1),
        "requests_per_s": round(3 * sum(count) / elapsed, 1),
        "errors": len(errors),
        "first_errors": errors[:3],
    }


def run(patched: bool, reps: int, time_box: float, mix_seconds: float) -> dict[str, Any]:
    server = start_server(patched)
    try:
        ddb = client(server.url, "dynamodb")
        create_tables(ddb)
        latency = []
        seeded = 0
        for size in SIZES:
            seed(ddb, seeded, size)
            seeded = size
            latency.append(transaction_latency(ddb, size, reps, time_box))
            print(f"  {'patched' if patched else 'moto'}: {latency[-1]}", file=sys.stderr, flush=True)
        mix = order_mix(server.url, seeded, mix_seconds)
        print(f"  {'patched' if patched else 'moto'}: {mix}", file=sys.stderr, flush=True)
        return {"transact_write_items_4": latency, "order_mix": mix}
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter mix")
    args = parser.parse_args()
    reps, mix_seconds = (10, 3.0) if args.quick else (30, 10.0)
    started = time.time()
    load_at_start = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    patched = run(True, reps, time_box=30.0, mix_seconds=mix_seconds)
    unpatched = run(False, reps, time_box=6.0, mix_seconds=3.0)

    lines = [
        "| 4-item TransactWriteItems, median | " + " | ".join(f"{s:,} items" for s in SIZES) + " |",
        "|---|" + "---:|" * len(SIZES),
    ]
    for label, result in (("patched (emulator)", patched), ("moto 5.2.5 as is", unpatched)):
        cells = [f"{r['median_ms']:.1f} ms (n={r['samples']})" for r in result["transact_write_items_4"]]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"| order mix, {CLIENTS} clients, {SIZES[-1]:,} items | mixes/s | requests/s | errors |",
        "|---|---:|---:|---:|",
    ]
    for label, result in (("patched (emulator)", patched), ("moto 5.2.5 as is", unpatched)):
        mix = result["order_mix"]
        lines.append(f"| {label} | {mix['mixes_per_s']} | {mix['requests_per_s']} | {mix['errors']} |")
    empty, largest = (patched["transact_write_items_4"][i]["median_ms"] for i in (0, -1))
    ratio = largest / empty
    lines.append("")
    lines.append(f"patched: 20,000-item / empty-table latency ratio = {ratio:.2f} (target <= 2)")
    lines.append(f"load average at start: {load_at_start} on {os.cpu_count()} CPUs")
    print("\n".join(lines))

    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(
            {
                "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average_at_start": load_at_start,
                "duration_s": round(time.time() - started, 1),
                "patched": patched,
                "unpatched": unpatched,
                "ratio_20000_to_empty_patched": round(ratio, 2),
            },
            f,
            indent=2,
        )
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
