"""Benchmark notification delivery: one worker against a fake Africa's Talking with 50 ms latency.

    python bench/notifications_bench.py [--quick] [--count N] [--latency 0.05]

Starts the embedded emulator and the fake Africa's Talking server (each in its own process, as the
real provider is remote; every answer delayed by --latency), writes N PENDING SMS records as the
order transaction does, enqueues them (SendMessageBatch, as the orders service does), then lets ONE
in-process worker
(chalicelib.runtime.worker.Worker.poll_once -> services.notifications.process_sqs_records) deliver
them, in three modes:

* one-at-a-time: receive 1 message, send, record, delete (batch size 1, no concurrency);
* batch of 10, sequential: receive 10, send them one after another;
* batch of 10, concurrent: receive 10, send them on 10 threads (the production setting);
* 2 batches of 10 in flight: the same on two polling threads (what WORKER_BATCHES=2 does; on AWS,
  two concurrent Lambda invocations).

Each mode runs three times: the whole local stack (SQS and DynamoDB in the emulator); SQS in the
emulator with the records in the repository's in-memory twin (same rules); and process_sqs_records
alone, fed the batches SQS would deliver (no SQS, records in memory). The last two separate the
delivery engine from the emulator, which serializes every request under one lock and spends
milliseconds of CPU per item (its ReceiveMessage grows with the queue's depth).

It reports notifications delivered per second, the speed-up over one-at-a-time, and the SQS and
DynamoDB requests per delivered notification (counted on the botocore clients; the producer's
SendMessageBatch included). Every record must end SENT and every SMS must reach the fake exactly
once, or the bench fails. Prints markdown; writes bench/results/notifications.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import queue as queue_module
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
RESULTS = os.path.join(ROOT, "bench", "results", "notifications.json")
MODES = (
    ("one-at-a-time", 1, 1, 1),  # (name, batch size, threads per batch, batches in flight)
    ("batch of 10, sequential", 10, 1, 1),
    ("batch of 10, concurrent", 10, 10, 1),
    ("2 batches of 10 in flight", 10, 10, 2),
)


def run_mode(name: str, batch: int, concurrency: int, in_flight: int, count: int, settings, fake, counter,
             store: str) -> dict:
    from chalicelib import bootstrap as wiring
    from chalicelib.adapters.dynamodb.notification_repository import (
        DynamoNotificationRepository,
        InMemoryNotificationRepository,
    )
    from chalicelib.adapters.queue import InMemoryNotificationQueue, SqsNotificationQueue, message_body
    from chalicelib.adapters.sms import AfricasTalkingSender
    from chalicelib.domain.notifications import DeliveryTuning, NotificationDraft
    from chalicelib.runtime.worker import Worker
    from chalicelib.services.notifications import _iso, _now, process_sqs_records

    os.environ["NOTIFY_CONCURRENCY"] = str(concurrency)
    tuning = DeliveryTuning.from_env(os.environ)
    repo = DynamoNotificationRepository(settings) if store == "emulator" else InMemoryNotificationRepository()
    queue = InMemoryNotificationQueue() if store == "engine" else SqsNotificationQueue(settings)
    sms = AfricasTalkingSender("sandbox", "k", sender_id="EKIOSK", base_url=fake.url, tuning=tuning)
    svc = wiring.Services(settings, notifications=repo, queue=queue, sms=sms)
    wiring.use_services(svc)
    run = uuid.uuid4().hex[:8]
    drafts = [NotificationDraft(f"bench-{run}-{i}", "order_placed", "SMS", f"+2547{i:08d}", f"bench {run} {i}")
              for i in range(count)]
    now = _iso(_now())
    for draft in drafts:
        repo.add([draft], now)

    counter.clear()
    queue.send([d.id for d in drafts])  # the producer side: one SendMessageBatch per 10
    produced = {k: v for k, v in counter.items() if not k.startswith("dynamodb:")}
    counter.clear()

    worker = Worker(settings)
    worker.poll_seconds = 0
    worker.batch_size = batch
    worker._queue()  # resolve the queue URL/ARN before timing
    before = len(fake.log()["delivered"])
    counter.clear()
    started = time.perf_counter()
    deadline = started + 600
    if store == "engine":  # process_sqs_records alone, fed the batches SQS would deliver
        records = [{"messageId": d.id, "receiptHandle": d.id, "body": message_body(d.id),
                    "attributes": {"ApproximateReceiveCount": "1"}} for d in drafts]
        batches = queue_module.SimpleQueue()
        for start in range(0, count, batch):
            batches.put(records[start : start + batch])

        def step() -> bool:
            try:
                chunk = batches.get_nowait()
            except queue_module.Empty:
                return False
            if process_sqs_records(chunk):
                raise RuntimeError(f"{name}: a message failed")
            return True
    else:
        received = [0]
        lock = threading.Lock()

        def step() -> bool:
            got = worker.poll_once()
            with lock:
                received[0] += got
                enough = received[0] >= count
            return not enough or len(fake.log()["delivered"]) - before < count

    failures: list[BaseException] = []

    def loop() -> None:
        try:
            while step():
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{name}: only {len(fake.log()['delivered']) - before} of {count} delivered")
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=loop) for _ in range(in_flight)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    elapsed = time.perf_counter() - started
    consumed = {k: v for k, v in counter.items() if not k.startswith("dynamodb:")}
    dynamodb = {k.split(":", 1)[1]: v for k, v in counter.items() if k.startswith("dynamodb:")}

    statuses = collections.Counter(repo.get(d.id).status for d in drafts)
    numbers = {d.recipient for d in drafts}
    per_number = collections.Counter(to for to, _ in fake.log()["delivered"][before:] if to in numbers)
    if statuses != {"SENT": count} or len(per_number) != count or max(per_number.values()) != 1:
        raise RuntimeError(f"{name}: not exactly once: {statuses}, {len(per_number)} numbers")
    requests = sum(produced.values()) + sum(consumed.values())
    return {
        "mode": name, "store": store, "batch_size": batch, "concurrency": concurrency,
        "batches_in_flight": in_flight, "notifications": count,
        "seconds": round(elapsed, 3), "per_second": round(count / elapsed, 1),
        "sqs_requests": {"producer": produced, "worker": consumed},
        "sqs_requests_per_notification": round(requests / count, 3),
        "dynamodb_requests": dynamodb,
        "dynamodb_requests_per_notification": round(sum(dynamodb.values()) / count, 3),
    }


LATENCY = 0.05
STORE_LABELS = {
    "emulator": "whole local stack: SQS and DynamoDB in the emulator",
    "in-memory": "SQS in the emulator, records in memory",
    "engine": "process_sqs_records alone: no SQS, records in memory",
}
STORES = tuple(STORE_LABELS)


class RemoteFake:
    """tests/support/fake_africastalking.py in its own process."""

    def __init__(self, latency: float):
        import subprocess

        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.fake_africastalking", "--latency", str(latency)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("fake africastalking on "):
            raise RuntimeError(f"the fake did not start: {line!r}")
        self.url = line.split(" on ", 1)[1].strip()

    def log(self) -> dict:
        import urllib.request

        with urllib.request.urlopen(self.url + "/_fake/log", timeout=30) as answer:
            return json.load(answer)

    def __enter__(self) -> RemoteFake:
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(10)


def summary(results: list[dict]) -> list[dict]:
    """Rows for bench/run_all.py's table."""
    rows = []
    for store, label in STORE_LABELS.items():
        runs = [r for r in results if r["store"] == store]
        single = runs[0]
        best = max(runs, key=lambda r: r["per_second"])
        rows.append({
            "figure": f"notifications delivered per second, one worker ({label})", "value": best["per_second"],
            "unit": "/s", "target": ">= 10x one-at-a-time", "meets": best["speedup_vs_one_at_a_time"] >= 10,
            "note": f"{best['mode']} (10 threads per batch), fake provider {LATENCY * 1000:.0f} ms: "
                    f"{best['speedup_vs_one_at_a_time']}x the one-at-a-time {single['per_second']}/s",
        })
    best = next(r for r in results if r["store"] == "emulator" and r["mode"] == "batch of 10, concurrent")
    rows.append({"figure": "SQS requests per delivered notification", "value": best["sqs_requests_per_notification"],
                 "unit": "", "target": None, "meets": None,
                 "note": "enqueue + receive + delete, batches of 10 (one-at-a-time: "
                         f"{results[0]['sqs_requests_per_notification']})"})
    rows.append({"figure": "DynamoDB requests per delivered notification",
                 "value": best["dynamodb_requests_per_notification"], "unit": "", "target": None, "meets": None,
                 "note": "one BatchGetItem + one transaction to start a batch, successes recorded together "
                         "(one-at-a-time: 2.0)"})
    return rows


def main() -> int:
    global LATENCY
    began = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer notifications (40)")
    parser.add_argument("--count", type=int, default=None, help="notifications per mode (default 100)")
    parser.add_argument("--latency", type=float, default=0.05, help="fake provider latency in seconds")
    args = parser.parse_args()
    count = args.count or (40 if args.quick else 100)
    LATENCY = args.latency

    from tests.support.emulator import EmulatorProcess
    emulator = EmulatorProcess()
    env = {"STAGE": "bench", "AWS_ENDPOINT_URL": emulator.url, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "LOG_LEVEL": "WARNING"}
    os.environ.update(env)
    for name in ("NOTIFY_BACKOFF_BASE_SECONDS", "NOTIFY_BACKOFF_MAX_SECONDS", "NOTIFY_LEASE_SECONDS"):
        os.environ.pop(name, None)
    try:
        from chalicelib.adapters.aws import client
        from chalicelib.adapters.dynamodb.base import bind_models
        from chalicelib.config import get_settings
        from chalicelib.runtime.bootstrap import bootstrap

        get_settings.cache_clear()
        settings = get_settings()
        bootstrap(settings)
        bind_models(settings)
        counter: collections.Counter = collections.Counter()
        sqs = client("sqs", settings)
        sqs.meta.events.register("before-call.sqs.*", lambda model, **_: counter.update([model.name]))
        from chalicelib.adapters.dynamodb.notifications import NotificationRecord

        NotificationRecord._get_connection().connection.client.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: counter.update(["dynamodb:" + model.name]))
        results = []
        with RemoteFake(LATENCY) as fake:
            for store in STORES:
                run_mode("warm-up", 10, 10, 1, 20, settings, fake, counter, store)
                runs = [run_mode(name, batch, concurrency, in_flight, count, settings, fake, counter, store)
                        for name, batch, concurrency, in_flight in MODES]
                for result in runs:
                    result["speedup_vs_one_at_a_time"] = round(result["per_second"] / runs[0]["per_second"], 1)
                results += runs
    finally:
        emulator.stop()

    print(f"\n### Notification delivery: one worker, fake Africa's Talking with {LATENCY * 1000:.0f} ms latency, "
          f"{count} SMS per mode\n")
    print("| records in | mode | batch | threads per batch | batches in flight | delivered/s | speed-up "
          "| SQS req./notification | DynamoDB req./notification |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['store']} | {r['mode']} | {r['batch_size']} | {r['concurrency']} | {r['batches_in_flight']} | "
              f"{r['per_second']} | {r['speedup_vs_one_at_a_time']}x | {r['sqs_requests_per_notification']} | "
              f"{r['dynamodb_requests_per_notification']} |")
    best = results[2]
    print(f"\nRequests for {count} notifications (emulator, batch of 10, concurrent): SQS producer "
          f"{best['sqs_requests']['producer']}, SQS worker {best['sqs_requests']['worker']}, "
          f"DynamoDB {best['dynamodb_requests']}")
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as out:
        json.dump({"benchmark": "notifications", "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "duration_s": round(time.perf_counter() - began, 1), "provider_latency_seconds": LATENCY,
                   "notifications": count, "python": platform.python_version(), "machine": platform.machine(),
                   "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
                   "summary": summary(results), "results": results}, out, indent=2)
        out.write("\n")
    print(f"\nwritten to {os.path.relpath(RESULTS, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
