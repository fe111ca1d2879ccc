"""Benchmark orders: AWS requests per use case, and orders per second over HTTP.

    python bench/orders_bench.py [--quick] [--seconds 10] [--clients 8] [--http-only]
                                 [--compare] [--faults aws] [--iam enforce] [--seed N]

1. Requests per place / approve / cancel: the service calls run in this process against a private
   emulator; a botocore `before-send` hook on every client (boto3's and PynamoDB's) counts each HTTP
   request to DynamoDB and SQS, retries included. Place is measured with 1, 10 and 50 items, after
   a warm-up (the queue URL lookup and the first order-number block are one-time costs), and
   amortized over 100 orders (order numbers come in blocks of NUMBER_BLOCK: one counter update per
   block). Approve and cancel are counted as the PATCH view runs them; the staff-role read of the
   caller's record is reported apart.
2. Orders per second: a private local stack (emulator, gunicorn API, worker: `make run`'s processes)
   and N concurrent HTTP clients, each a customer placing 1–3-item orders in a loop. Then, until every
   order answered 201 has its SMS and email record SENT (at most 60 s), and the worker's visibility
   timeout (WORKER_VISIBILITY_SECONDS=10) + 3 s more for duplicate deliveries: every SMS must be in the
   stack's local sink exactly once.

   Which emulator (bench/emulator_profile.py): by default the faithful one (no faults, IAM not
   enforced). `--faults aws --iam enforce` measures the stack as hostile as AWS (SPEC §10): faults are
   switched on (PUT /_ekiosk/faults/config) after the seeding and sign-ins, and the run counts 503
   `try_again` answers, any other 5xx (must be 0), what GET /_ekiosk/faults reports as injected and the
   IAM denials (must be none). `--compare` (what `make bench` passes) measures both, side by side; the
   seed is drawn unless given, and printed. Exit 1 if the hostile run broke a promise.

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
        from chalicelib.adapters.dynamodb.order_numbers import NUMBER_BLOCK
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
            return orders.place_order(services(), buyer, [(pid, 1) for pid in products[:n]])[0]

        def staff_change(order_id, status):
            staff = caller(STAFF_EMAIL)  # a fresh Caller per request, as the API builds one
            _, role_read = counter.measure(staff.require_staff)
            updated, counts = counter.measure(
                lambda: orders.change_status(services(), staff, orders.get_order(services(), staff, order_id), status))
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

        key_order = orders.place_order(services(), buyer, [(products[0], 1)], "bench-key")[0]
        (_, replayed), counts = counter.measure(
            lambda: orders.place_order(services(), buyer, [(products[0], 1)], "bench-key"))
        assert replayed and key_order
        result["idempotent_replay"] = {"total": sum(counts.values()), "by_operation": counts}
        scarce = seed.product(stock=0)
        from chalicelib.domain.orders import InsufficientStock

        def refused():
            try:
                orders.place_order(services(), buyer, [(scarce, 1)])
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


STACK_SETTINGS = {
    # A duplicate delivery (sqs_duplicate) comes back after the visibility timeout of its receive: 10 s
    # instead of the queue's 60, so that the bench sees it within its settle time (both configurations).
    "WORKER_VISIBILITY_SECONDS": "10",
}
SETTLE_SECONDS = 60  # at most this long for the worker to deliver every notification after the run


def http_throughput(seconds: float, clients: int, configuration=None) -> dict:
    """Orders per second over HTTP; with a hostile `configuration`, the stack's emulator injects faults
    (switched on after the seeding, which is not what is measured) and enforces IAM."""
    from emulator_profile import FAITHFUL, Configuration, FaultControl, fault_report, injected_between

    from tests.support.orders import Seeder, customer_session
    from tests.support.stack import launch, stop

    configuration = configuration or Configuration(FAITHFUL, "", "off", None)
    data_dir = Path(tempfile.mkdtemp(prefix="orders-bench-stack-")) / "data"
    stack = launch(data_dir, **UNLIMITED, **STACK_SETTINGS, EKIOSK_EMULATOR_FAULTS=configuration.faults,
                   EKIOSK_EMULATOR_IAM=configuration.iam)
    control = FaultControl(stack.aws_endpoint)
    try:
        control.configure("")  # seed and sign in without faults: the setup is not what is measured
        seed = Seeder.for_endpoint(stack.aws_endpoint)
        products = [seed.product(stock=10_000_000, price_cents=random.randint(100, 100_000)) for _ in range(20)]
        sessions = [customer_session(stack, seed) for _ in range(clients)]
        control.configure(configuration.faults)
        latencies: list[float] = []
        outcomes: collections.Counter[int] = collections.Counter()
        error_codes: collections.Counter[str] = collections.Counter()
        samples: list[dict] = []  # the first few answers other than 201 and 503 try_again
        placed: set[str] = set()  # every order answered 201, warm-up included
        unanswered: list[str] = []
        lock = threading.Lock()
        start_gate = threading.Barrier(clients + 1)
        stop_at = [0.0]

        def order_body(rng):
            return {"items": [{"product_id": pid, "quantity": rng.randint(1, 3)}
                              for pid in rng.sample(products, rng.randint(1, 3))]}

        def post(session, rng, measured: bool):
            began = time.monotonic()
            try:
                answer = session.post(stack.api + "/orders", json=order_body(rng), timeout=60)
            except Exception as error:  # the bench reports it; the client goes on
                with lock:
                    unanswered.append(f"{type(error).__name__}: {error}"[:300])
                return
            took = time.monotonic() - began
            code = None
            if answer.status_code != 201:
                try:
                    code = answer.json()["error"]["code"]
                except Exception:
                    code = None
            with lock:
                if answer.status_code == 201:
                    placed.add(answer.json()["id"])
                if not measured:
                    return
                outcomes[answer.status_code] += 1
                if answer.status_code == 201:
                    latencies.append(took)
                else:
                    error_codes[f"{answer.status_code} {code}"] += 1
                    if not (answer.status_code == 503 and code == "try_again") and len(samples) < 10:
                        samples.append({"status": answer.status_code, "request_id": answer.headers.get("X-Request-Id"),
                                        "body": answer.text[:500]})

        def client(index: int) -> None:
            rng = random.Random(index)
            session = sessions[index]
            for _ in range(3):  # warm-up: connections, per-process caches, the authorizer's sign-in
                post(session, rng, measured=False)
            start_gate.wait()
            while time.monotonic() < stop_at[0]:
                post(session, rng, measured=True)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        stop_at[0] = time.monotonic() + 3600
        start_gate.wait()
        began = time.monotonic()
        stop_at[0] = began + seconds
        measured_from = control.status()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        measured_to = control.status()
        delivery = settle_notifications(stack, control, placed)
        final = control.status()
        latencies.sort()
        server_errors = {k: v for k, v in error_codes.items() if k.startswith("5")}
        try_again = error_codes.get("503 try_again", 0)
        return {
            "configuration": configuration.label,
            "clients": clients,
            "seconds": round(elapsed, 2),
            "orders": outcomes[201],
            "orders_per_second": round(outcomes[201] / elapsed, 1),
            "errors": sum(v for k, v in outcomes.items() if k != 201) + len(unanswered),
            "status_codes": {str(k): v for k, v in sorted(outcomes.items())},
            "error_codes": dict(sorted(error_codes.items())),
            "try_again_503": try_again,
            "other_5xx": sum(server_errors.values()) - try_again,
            "unanswered": len(unanswered),
            "unanswered_samples": unanswered[:5],
            "error_samples": samples,
            "latency_ms": {
                "p50": round(1000 * statistics.median(latencies), 1) if latencies else None,
                "p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
            },
            # What GET /_ekiosk/faults reported at the end; its config and seed as they were while measuring.
            "emulator": {**fault_report(configuration, {}, {**final, "config": measured_to.get("config", {})}),
                         "injected_while_measured": injected_between(measured_from, measured_to)},
            "notifications": delivery,
            "stack": "emulator + gunicorn (2 workers x 8 threads) + notification worker, as `make run`",
            "stack_log_problems": log_problems(stack.log()),
            "stack_log_warnings": log_warnings(stack.log()),
        }
    finally:
        stop(stack)


def settle_notifications(stack, control, placed: set[str]) -> dict:
    """Waits (faults still on) until the worker has delivered every notification of the orders answered 201,
    lets possible duplicate deliveries come back, then checks with faults off: each order has its SMS and its
    email record, every record is SENT, and every SMS reached the local sink exactly once."""
    import boto3
    from botocore.config import Config

    from chalicelib.adapters.sms import SINK_FILE

    db = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing",
                      config=Config(retries={"mode": "standard", "total_max_attempts": 10}))

    def records() -> list[dict]:
        items, start = [], {}
        while True:
            page = db.scan(TableName="ekiosk-local-notifications", ConsistentRead=True, **start)
            items += [{k: next(iter(v.values())) for k, v in item.items()} for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return items
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    began = time.monotonic()
    settled_after = None
    while time.monotonic() - began < SETTLE_SECONDS:
        try:
            found = records()
        except Exception:  # a fault that outlasted the retries: read again
            time.sleep(0.5)
            continue
        of_placed = [r for r in found if r["order_id"] in placed]
        if len(of_placed) >= 2 * len(placed) and all(r["status"] != "PENDING" for r in found):
            settled_after = round(time.monotonic() - began, 1)
            break
        time.sleep(1)
    time.sleep(int(STACK_SETTINGS["WORKER_VISIBILITY_SECONDS"]) + 3)  # duplicates, if any, come back and go
    control.configure("")
    found = records()
    by_order = collections.defaultdict(set)
    for record in found:
        by_order[record["order_id"]].add((record["event"], record["channel"]))
    expected = {("order_placed", "SMS"), ("order_placed", "EMAIL")}
    missing = sorted(o for o in placed if by_order.get(o, set()) != expected)
    statuses = collections.Counter(f"{r['channel']} {r['status']}" for r in found)
    sink = stack.data_dir / SINK_FILE
    lines = [json.loads(line) for line in sink.read_text().splitlines() if line.strip()] if sink.exists() else []
    per_sms = collections.Counter((line["to"], line["message"]) for line in lines)
    sms = [r for r in found if r["channel"] == "SMS"]
    not_sent = [r["id"] for r in sms if per_sms[(r["recipient"], r["message"])] == 0]
    doubled = [r["id"] for r in sms if per_sms[(r["recipient"], r["message"])] > 1]
    unknown = [r["id"] for r in found if r["order_id"] not in placed]
    return {
        "orders_answered_201": len(placed),
        "records": len(found),
        "records_by_status": dict(sorted(statuses.items())),
        "settled_after_s": settled_after,
        "orders_missing_a_record": len(missing),
        "records_not_sent": sum(1 for r in found if r["status"] != "SENT"),
        "sms_never_sent": len(not_sent),
        "sms_sent_twice_or_more": len(doubled),
        "records_of_orders_not_answered_201": len(unknown),
        "examples": {"missing": missing[:5], "not_sent": not_sent[:5], "doubled": doubled[:5], "unknown": unknown[:5]},
        "exactly_once": not missing and not not_sent and not doubled
                        and all(r["status"] == "SENT" for r in found),
        "emails": "records checked (SENT); the SES side is not counted",
    }


def log_warnings(log: str) -> dict:
    """The stack's WARNING lines (transient faults the app retried), by logger, with a few examples."""
    lines = [line for line in log.splitlines() if '"level":"WARNING"' in line or '"level": "WARNING"' in line]
    by_logger = collections.Counter()
    for line in lines:
        try:
            by_logger[json.loads(line).get("logger", "?")] += 1
        except ValueError:
            by_logger["?"] += 1
    return {"count": len(lines), "by_logger": dict(by_logger), "examples": [line[:400] for line in lines[:5]]}


def log_problems(log: str) -> list[str]:
    """Stack log lines at ERROR (or tracebacks), at most 20: what to read when a run was not clean."""
    wanted = [line for line in log.splitlines()
              if '"level": "ERROR"' in line or '"level":"ERROR"' in line or "Traceback" in line
              or "AccessDenied" in line]
    return [line[:600] for line in wanted[:20]]


# ---- report --------------------------------------------------------------------------------------


def summary_rows(counts: dict, runs: dict) -> list[dict]:
    def row(figure, value, unit="", target=None, meets=None, note=None):
        return {"figure": figure, "value": value, "unit": unit, "target": target, "meets": meets, "note": note}

    place = counts["place"]
    worst = max(entry["total"] for entry in place.values())
    amortized = counts["place_amortized"]
    rows = [
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
    ]
    for key, http in runs.items():
        delivery = http["notifications"]
        notes = (f"p50 {http['latency_ms']['p50']} ms, p95 {http['latency_ms']['p95']} ms, "
                 f"{http['orders']} orders / {http['errors']} errors in {http['seconds']} s; "
                 f"notifications of the {delivery['orders_answered_201']} orders: "
                 f"{'exactly once' if delivery['exactly_once'] else 'NOT exactly once'}")
        if key == "faithful":
            rows.append(row(f"orders placed per second, {http['clients']} HTTP clients (faithful emulator)",
                            http["orders_per_second"], "/s", None, None, "local stack; " + notes))
        else:
            emu = http["emulator"]
            clean = http["other_5xx"] == 0 and not emu["iam_denied"] and delivery["exactly_once"] \
                and http["unanswered"] == 0
            rows.append(row(
                f"orders placed per second, {http['clients']} HTTP clients ({http['configuration']})",
                http["orders_per_second"], "/s", "no 5xx but 503 try_again, no IAM denial, notifications once",
                clean,
                f"seed {emu['seed']}; 503 try_again {http['try_again_503']}, other 5xx {http['other_5xx']}, "
                f"IAM denials {len(emu['iam_denied'])}; injected {_ops(emu['injected'])}; " + notes))
    return rows


def comparison_rows(runs: dict) -> list[dict]:
    """Faithful next to aws, for run_all's side-by-side table."""
    def value(key, read):
        return read(runs[key]) if key in runs else None

    def rowc(figure, read, note=None):
        return {"figure": figure, "faithful": value("faithful", read), "aws": value("aws", read), "note": note}

    return [
        rowc("orders placed per second (HTTP)", lambda h: h["orders_per_second"],
             f"{next(iter(runs.values()))['clients']} clients, {next(iter(runs.values()))['seconds']} s"),
        rowc("latency p50 / p95 (ms)", lambda h: f"{h['latency_ms']['p50']} / {h['latency_ms']['p95']}"),
        rowc("503 try_again", lambda h: h["try_again_503"]),
        rowc("other 5xx (must be 0)", lambda h: h["other_5xx"]),
        rowc("order notifications exactly once", lambda h: h["notifications"]["exactly_once"],
             "every order answered 201 has its SMS and email record SENT; each SMS in the sink once"),
        rowc("IAM denials (must be none)", lambda h: len(h["emulator"]["iam_denied"])),
        rowc("fault seed", lambda h: None if h["emulator"]["seed"] is None else str(h["emulator"]["seed"])),
        rowc("faults injected", lambda h: _ops(h["emulator"]["injected"]) or "none",
             "GET /_ekiosk/faults at the end (warm-up, run and notification delivery)"),
    ]


def markdown(counts: dict, runs: dict) -> str:
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
    labels = [runs[k]["configuration"] for k in runs]
    lines += ["", "| HTTP, local stack | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(runs)]
    for item in comparison_rows(runs):
        cells = [item[k] for k in ("faithful", "aws") if k in runs]
        lines.append(f"| {item['figure']} | " + " | ".join("–" if c is None else str(c) for c in cells) + " |")
    for http in runs.values():
        if http["error_samples"] or http["unanswered_samples"] or http["emulator"]["iam_denied"]:
            lines += ["", f"{http['configuration']}: answers other than 201 and 503 try_again / IAM denials:"]
            lines += [f"    {json.dumps(x)}" for x in http["error_samples"] + http["unanswered_samples"]
                      + http["emulator"]["iam_denied"][:10]]
    return "\n".join(lines)


def _ops(by_operation: dict) -> str:
    return ", ".join(f"{op} x{n}" for op, n in by_operation.items())


def main() -> int:
    from emulator_profile import add_arguments, configurations

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--seconds", type=float, default=None, help="length of each HTTP run (default 10, quick 4)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--http-only", action="store_true", help="skip the request counts")
    add_arguments(parser)
    args = parser.parse_args()
    seconds = args.seconds or (4 if args.quick else 10)
    runs_wanted = configurations(args)
    random.seed(1)
    began = time.time()
    counts = None if args.http_only else requests_per_use_case(args.quick)
    runs = {}
    for configuration in runs_wanted:
        print(f"HTTP run: {configuration.label} ({configuration.describe()})", flush=True)
        runs[configuration.key] = http_throughput(seconds, args.clients, configuration)
    if counts is None:  # keep the last request counts
        counts = json.loads(RESULTS.read_text())["requests"]
    result = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "duration_s": round(time.time() - began, 1),
        "command": " ".join(["bench/orders_bench.py", *sys.argv[1:]]),
        "requests": counts,
        "http": next(iter(runs.values())),
        "http_runs": runs,
        "summary": summary_rows(counts, runs),
        "comparison": comparison_rows(runs),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(counts, runs))
    print(f"\nwrote {RESULTS.relative_to(ROOT)} (1-minute load average {result['load_average_1m']})")
    aws = runs.get("aws")
    if aws and (aws["other_5xx"] or aws["emulator"]["iam_denied"] or not aws["notifications"]["exactly_once"]):
        print("under faults: a 5xx other than 503 try_again, an IAM denial or a notification not delivered exactly "
              "once (see above and the stack log)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
