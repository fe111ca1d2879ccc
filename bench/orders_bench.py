"""Benchmark orders: AWS requests per use case, and orders per second over HTTP.

    python bench/orders_bench.py [--quick] [--seconds 10] [--clients 8]

1. Requests per place / approve / cancel: the service calls run in this process against a private
   emulator; a botocore `before-send` hook on every client (boto3's and PynamoDB's) counts each HTTP
   request to DynamoDB and SQS, retries included. Place is measured with 1, 10 and 50 items, after
   a warm-up (the queue URL lookup and the first order-number block are one-time costs), and
   amortized over 100 orders (order numbers come in blocks of NUMBER_BLOCK: one counter update per
   block). Approve and cancel are counted as the PATCH view runs them; the staff-role read of the
   caller's record is reported apart.
2. Orders per second: a private local stack (emulator, gunicorn API, worker: `make run`'s processes)
   and N concurrent HTTP clients, each a customer placing 1–3-item orders in a loop.

Prints a markdown table and writes bench/results/orders.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "orders.json"
STAFF_EMAIL = "staff@ekiosk.test"
# One bench buyer places hundreds of orders nobody approves: the per-customer pending limits (SPEC §7)
# would refuse all but the first few, so they are lifted here; the counters are still written.
UNLIMITED = {"MAX_PENDING_ORDERS": "1000000000", "MAX_PENDING_UNITS": "1000000000"}


# ---- counting AWS requests -----------------------------------------------------------------------


class RequestCounter:
    """Counts every HTTP request botocore sends, by "service.Operation" (installed before any client)."""

    def __init__(self):
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def install(self) -> None:
        import botocore.session

        original = botocore.session.Session.create_client
        counter = self

        def create_client(session, *args, **kwargs):
            client = original(session, *args, **kwargs)
            client.meta.events.register("before-send", counter._count)
            return client

        botocore.session.Session.create_client = create_client

    def _count(self, event_name: str = "", **_kwargs) -> None:
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            self.counts[f"{service}.{operation}"] += 1

    def measure(self, call) -> tuple[object, dict[str, int]]:
        with self._lock:
            before = collections.Counter(self.counts)
        result = call()
        with self._lock:
            delta = self.counts - before
        return result, dict(sorted(delta.items()))


def requests_per_use_case(quick: bool) -> dict:
    counter = RequestCounter()
    counter.install()  # before anything creates a client

    from tests.support.emulator import EmulatorProcess

    data_dir = tempfile.mkdtemp(prefix="orders-bench-")
    emulator = EmulatorProcess()
    try:
        os.environ.update(
            AWS_ENDPOINT_URL=emulator.url, EKIOSK_DATA_DIR=data_dir, STAGE="local", ADMIN_EMAILS=STAFF_EMAIL,
            AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
            **UNLIMITED,
        )
        from chalicelib.adapters.dynamodb.order_repository import NUMBER_BLOCK
        from chalicelib.api.caller import Caller
        from chalicelib.auth.dev_issuer import subject_for
        from chalicelib.auth.tokens import Identity
        from chalicelib.bootstrap import services
        from chalicelib.config import get_settings
        from chalicelib.runtime.bootstrap import bootstrap
        from chalicelib.services import orders
        from tests.support.orders import Seeder

        get_settings.cache_clear()
        bootstrap(get_settings())
        services()
        seed = Seeder.for_settings(get_settings())

        def caller(email):
            return Caller(Identity(sub=subject_for(email), email=email, name=None, email_verified=True))

        buyer = caller("buyer@bench.test")
        seed.customer("buyer@bench.test", "+254711223344")
        products = [seed.product(stock=1_000_000, price_cents=random.randint(100, 100_000)) for _ in range(50)]

        def place(n):
            return orders.place_order(buyer, [(pid, 1) for pid in products[:n]])[0]

        def staff_change(order_id, status):
            staff = caller(STAFF_EMAIL)  # a fresh Caller per request, as the API builds one
            _, role_read = counter.measure(staff.require_staff)
            updated, counts = counter.measure(
                lambda: orders.change_status(staff, orders.get_order(staff, order_id), status))
            return updated, counts, role_read

        place(1)  # warm-up: queue URL, first number block, connections
        staff_change(place(1).id, "COMPLETED")
        result: dict = {"place": {}, "number_block": NUMBER_BLOCK}
        for n in (1, 10, 50):
            # Start on a fresh block so that this figure is the per-order cost, not a block refill.
            services().orders._numbers._next = services().orders._numbers._end + 1
            place(1)
            order, counts = counter.measure(lambda n=n: place(n))
            result["place"][str(n)] = {"total": sum(counts.values()), "by_operation": counts}

        runs = 40 if quick else 100
        _, counts = counter.measure(lambda: [place(1) for _ in range(runs)])
        result["place_amortized"] = {"orders": runs, "total": sum(counts.values()),
                                     "per_order": round(sum(counts.values()) / runs, 3), "by_operation": counts}

        for status, name in (("COMPLETED", "approve"), ("CANCELED", "cancel")):
            order = place(3)
            _, counts, role_read = staff_change(order.id, status)
            result[name] = {"total": sum(counts.values()), "by_operation": counts,
                            "staff_role_read": sum(role_read.values())}

        key_order = orders.place_order(buyer, [(products[0], 1)], "bench-key")[0]
        (_, replayed), counts = counter.measure(
            lambda: orders.place_order(buyer, [(products[0], 1)], "bench-key"))
        assert replayed and key_order
        result["idempotent_replay"] = {"total": sum(counts.values()), "by_operation": counts}
        scarce = seed.product(stock=0)
        from chalicelib.domain.orders import InsufficientStock

        def refused():
            try:
                orders.place_order(buyer, [(scarce, 1)])
            except InsufficientStock:
                return True
            return False

        ok, counts = counter.measure(refused)
        assert ok
        result["insufficient_stock"] = {"total": sum(counts.values()), "by_operation": counts}
        return result
    finally:
        emulator.stop()


# ---- orders per second over HTTP -----------------------------------------------------------------


def http_throughput(seconds: float, clients: int) -> dict:
    from tests.support.orders import Seeder, customer_session
    from tests.support.stack import launch, stop

    data_dir = Path(tempfile.mkdtemp(prefix="orders-bench-stack-")) / "data"
    stack = launch(data_dir, **UNLIMITED)
    try:
        seed = Seeder.for_endpoint(stack.aws_endpoint)
        products = [seed.product(stock=10_000_000, price_cents=random.randint(100, 100_000)) for _ in range(20)]
        sessions = [customer_session(stack, seed) for _ in range(clients)]
        latencies: list[float] = []
        outcomes: collections.Counter[int] = collections.Counter()
        lock = threading.Lock()
        start_gate = threading.Barrier(clients + 1)
        stop_at = [0.0]

        def order_body(rng):
            return {"items": [{"product_id": pid, "quantity": rng.randint(1, 3)}
                              for pid in rng.sample(products, rng.randint(1, 3))]}

        def client(index: int) -> None:
            rng = random.Random(index)
            session = sessions[index]
            for _ in range(3):  # warm-up: connections, per-process caches, the authorizer's sign-in
                session.post(stack.api + "/orders", json=order_body(rng), timeout=60)
            start_gate.wait()
            while time.monotonic() < stop_at[0]:
                began = time.monotonic()
                answer = session.post(stack.api + "/orders", json=order_body(rng), timeout=60)
                took = time.monotonic() - began
                with lock:
                    outcomes[answer.status_code] += 1
                    if answer.status_code == 201:
                        latencies.append(took)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        stop_at[0] = time.monotonic() + 3600
        start_gate.wait()
        began = time.monotonic()
        stop_at[0] = began + seconds
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        latencies.sort()
        return {
            "clients": clients,
            "seconds": round(elapsed, 2),
            "orders": outcomes[201],
            "orders_per_second": round(outcomes[201] / elapsed, 1),
            "errors": sum(v for k, v in outcomes.items() if k != 201),
            "status_codes": {str(k): v for k, v in sorted(outcomes.items())},
            "latency_ms": {
                "p50": round(1000 * statistics.median(latencies), 1) if latencies else None,
                "p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
            },
            "stack": "emulator + gunicorn (2 workers x 8 threads) + notification worker, as `make run`",
        }
    finally:
        stop(stack)


# ---- report --------------------------------------------------------------------------------------


def summary_rows(counts: dict, http: dict) -> list[dict]:
    def row(figure, value, unit="", target=None, meets=None, note=None):
        return {"figure": figure, "value": value, "unit": unit, "target": target, "meets": meets, "note": note}

    place = counts["place"]
    worst = max(entry["total"] for entry in place.values())
    amortized = counts["place_amortized"]
    return [
        row("AWS requests per place (1 / 10 / 50 items)", " / ".join(str(place[n]["total"]) for n in ("1", "10", "50")),
            "", "<= 3", worst <= 3,
            "BatchGetItem + TransactWriteItems + SendMessageBatch; plus one counter UpdateItem per "
            f"{counts['number_block']} orders per process (amortized {amortized['per_order']} over "
            f"{amortized['orders']} orders)"),
        row("AWS requests per approve", counts["approve"]["total"], "", None, None,
            "GetItem + TransactWriteItems + SendMessageBatch; the HTTP route adds "
            f"{counts['approve']['staff_role_read']} GetItem for the staff check"),
        row("AWS requests per cancel", counts["cancel"]["total"], "", None, None,
            f"same shape as approve (+{counts['cancel']['staff_role_read']} staff check)"),
        row(f"orders placed per second, {http['clients']} HTTP clients", http["orders_per_second"], "/s", None, None,
            f"local stack; p50 {http['latency_ms']['p50']} ms, p95 {http['latency_ms']['p95']} ms, "
            f"{http['errors']} errors in {http['seconds']} s"),
    ]


def markdown(counts: dict, http: dict) -> str:
    lines = ["| use case | AWS requests | by operation |", "|---|---:|---|"]
    for n, entry in counts["place"].items():
        lines.append(f"| place, {n} item(s) | {entry['total']} | {_ops(entry['by_operation'])} |")
    amortized = counts["place_amortized"]
    lines.append(f"| place, amortized over {amortized['orders']} | {amortized['per_order']} | "
                 f"{_ops(amortized['by_operation'])} |")
    for name in ("approve", "cancel"):
        entry = counts[name]
        lines.append(f"| {name} (+{entry['staff_role_read']} staff check) | {entry['total']} | "
                     f"{_ops(entry['by_operation'])} |")
    for name, label in (("idempotent_replay", "idempotent replay"), ("insufficient_stock", "refused (stock short)")):
        lines.append(f"| {label} | {counts[name]['total']} | {_ops(counts[name]['by_operation'])} |")
    lines += [
        "",
        "| HTTP, local stack | value |",
        "|---|---:|",
        f"| concurrent clients | {http['clients']} |",
        f"| orders per second | {http['orders_per_second']} |",
        f"| latency p50 / p95 | {http['latency_ms']['p50']} / {http['latency_ms']['p95']} ms |",
        f"| orders / errors in {http['seconds']} s | {http['orders']} / {http['errors']} |",
    ]
    return "\n".join(lines)


def _ops(by_operation: dict) -> str:
    return ", ".join(f"{op} x{n}" for op, n in by_operation.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--seconds", type=float, default=None, help="length of the HTTP run (default 10, quick 4)")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    seconds = args.seconds or (4 if args.quick else 10)
    random.seed(1)
    began = time.time()
    counts = requests_per_use_case(args.quick)
    http = http_throughput(seconds, args.clients)
    result = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "duration_s": round(time.time() - began, 1),
        "requests": counts,
        "http": http,
        "summary": summary_rows(counts, http),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(counts, http))
    print(f"\nwrote {RESULTS.relative_to(ROOT)} (1-minute load average {result['load_average_1m']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
