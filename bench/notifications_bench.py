"""Benchmark notification delivery: one worker against a fake Africa's Talking with 50 ms latency.

    python bench/notifications_bench.py [--quick] [--count N] [--latency 0.05]
                                        [--compare] [--faults aws] [--iam enforce] [--seed N]

Starts the embedded emulator and the fake Africa's Talking server (each in its own process, as the
real provider is remote; every answer delayed by --latency), writes N PENDING SMS records as the
order transaction does, enqueues them (SendMessageBatch, as the orders service does), then lets ONE
in-process worker
(chalicelib.runtime.worker.Worker.poll_once -> adapters.sqs_batch.handle_records) deliver
them, in three modes:

* one-at-a-time: receive 1 message, send, record, delete (batch size 1, no concurrency);
* batch of 10, sequential: receive 10, send them one after another;
* batch of 10, concurrent: receive 10, send them on 10 threads (the production setting);
* 2 batches of 10 in flight: the same on two polling threads (what WORKER_BATCHES=2 does; on AWS,
  two concurrent Lambda invocations).

Each mode runs three times: the whole local stack (SQS and DynamoDB in the emulator); SQS in the
emulator with the records in the repository's in-memory twin (same rules); and handle_records alone,
fed the batches SQS would deliver (no SQS, records in memory). The last two separate the
delivery engine from the emulator, which serializes every request under one lock and spends
milliseconds of CPU per item (its ReceiveMessage grows with the queue's depth).

It reports notifications delivered per second, the speed-up over one-at-a-time, and the SQS and
DynamoDB requests per delivered notification (counted on the botocore clients; the producer's
SendMessageBatch included). Every record must end SENT and every SMS must reach the fake exactly
once, or the bench fails. Prints markdown; writes bench/results/notifications.json.

Which emulator (bench/emulator_profile.py): by default the faithful one. `--faults aws --iam enforce`
runs the whole-local-stack modes against the emulator as hostile as AWS (SPEC §10): this process signs
as the `notifier` function (the producer side as `api`, setup and checks as the admin), the records and
messages are written with faults off, delivery runs with them on (a poll_once that raises is counted,
and the loop goes on after a second, as the worker's does), and after the timed part the worker keeps
polling until every record is final and its visibility timeout (10 s, as WORKER_VISIBILITY_SECONDS)
+ 3 s more have passed, so a duplicate delivery comes back before the exactly-once check. `--compare`
(what `make bench` passes) measures both, each in a fresh process; exit 1 if the hostile run lost or
doubled a notification or met an IAM denial.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import logging
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
             store: str, hostile=None) -> dict:
    """One mode. `hostile` (a Hostile) when the emulator injects faults: the records and messages are
    written with faults off (the producer is not what is measured), the delivery runs with them on, the
    worker loop survives errors as the real one does, then a drain lets duplicate deliveries come back
    before the exactly-once check (faults off again)."""
    from emulator_profile import injected_between

    from chalicelib import bootstrap as wiring
    from chalicelib.adapters.dynamodb.notification_repository import DynamoNotificationRepository
    from chalicelib.adapters.queue import SqsNotificationQueue
    from chalicelib.adapters.sms import AfricasTalkingSender
    from chalicelib.adapters.sqs_batch import handle_records
    from chalicelib.domain.clock import iso
    from chalicelib.domain.notifications import DeliveryTuning, NotificationDraft, message_body
    from chalicelib.runtime.worker import Worker
    from chalicelib.services.notifications import _now
    from tests.fakes.notifications import InMemoryNotificationRepository
    from tests.fakes.queue import InMemoryNotificationQueue

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
    now = iso(_now())
    if hostile:
        hostile.control.configure("")
    with hostile.acting("api") if hostile else contextlib.nullcontext():  # the API writes and enqueues them
        for draft in drafts:
            repo.add([draft], now)

        counter.clear()
        queue.send([d.id for d in drafts])  # the producer side: one SendMessageBatch per 10
    produced = {k: v for k, v in counter.items() if not k.startswith("dynamodb:")}
    counter.clear()

    worker = Worker(settings)
    worker.poll_seconds = 0
    worker.batch_size = batch
    worker.visibility_timeout = VISIBILITY_SECONDS  # WORKER_VISIBILITY_SECONDS: duplicates come back soon
    worker._queue()  # resolve the queue URL/ARN before timing
    before = len(fake.log()["delivered"])
    poll_errors: collections.Counter[str] = collections.Counter()
    faulty = hostile is not None and name != "warm-up"  # the warm-up runs without faults and drain
    warnings = LogCapture()
    if faulty:
        warnings.install()
        hostile.control.configure(hostile.configuration.faults)
        faults_before = hostile.control.status()
    counter.clear()
    started = time.perf_counter()
    deadline = started + 600
    if store == "engine":  # handle_records alone, fed the batches SQS would deliver
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
            if handle_records(svc, chunk):
                raise RuntimeError(f"{name}: a message failed")
            return True
    else:
        received = [0]
        lock = threading.Lock()
        # Under faults, short polls as in the faithful run, but 50 ms of rest after an empty receive: while a
        # retried message waits out its backoff the queue is empty, and a busy loop would only load the
        # emulator (and draw more faults). Not long polls: the emulator answers an injected empty receive
        # only when the wait time is over (1 s here), which AWS's long polling would not.
        empty_pause = 0.05 if faulty else 0.0

        def step() -> bool:
            try:
                got = worker.poll_once()
            except Exception as error:  # as Worker._poll_loop: log, wait a second, poll again
                if not faulty:
                    raise
                with lock:
                    poll_errors[f"{type(error).__name__}: {str(error)[:160]}"] += 1
                time.sleep(1)
                got = 0
            if got == 0 and empty_pause:
                time.sleep(empty_pause)
            with lock:
                received[0] += got
                enough = received[0] >= count
            more = not enough or len(fake.log()["delivered"]) - before < count
            if not more and not finished:
                finished.append(time.perf_counter())  # not the join: another poller may be in a long poll
            return more

    failures: list[BaseException] = []
    finished: list[float] = []  # when a poller saw the last SMS delivered

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
    elapsed = (finished[0] if finished else time.perf_counter()) - started
    consumed = {k: v for k, v in counter.items() if not k.startswith("dynamodb:")}
    dynamodb = {k.split(":", 1)[1]: v for k, v in counter.items() if k.startswith("dynamodb:")}

    extra: dict = {}
    if faulty:
        drained = drain(worker, repo, drafts, hostile, poll_errors)
        faults_after = hostile.control.status()
        hostile.control.configure("")
        with hostile.acting("admin"):
            statuses = collections.Counter(repo.get(d.id).status for d in drafts)
        warnings.remove()
        extra = {"drain_s": drained, "poll_errors": dict(poll_errors), "warnings": warnings.report(),
                 "injected": injected_between(faults_before, faults_after)}
    else:
        statuses = collections.Counter(repo.get(d.id).status for d in drafts)
    numbers = {d.recipient for d in drafts}
    per_number = collections.Counter(to for to, _ in fake.log()["delivered"][before:] if to in numbers)
    exactly_once = statuses == {"SENT": count} and len(per_number) == count and max(per_number.values()) == 1
    check = {"records_by_status": dict(statuses), "numbers_reached": len(per_number),
             "sms_sent_twice_or_more": sum(1 for n in per_number.values() if n > 1), "exactly_once": exactly_once}
    if not exactly_once and not faulty:
        raise RuntimeError(f"{name}: not exactly once: {statuses}, {len(per_number)} numbers")
    requests = sum(produced.values()) + sum(consumed.values())
    return {
        **check, **extra,
        "mode": name, "store": store, "batch_size": batch, "concurrency": concurrency,
        "batches_in_flight": in_flight, "notifications": count,
        "seconds": round(elapsed, 3), "per_second": round(count / elapsed, 1),
        "sqs_requests": {"producer": produced, "worker": consumed},
        "sqs_requests_per_notification": round(requests / count, 3),
        "dynamodb_requests": dynamodb,
        "dynamodb_requests_per_notification": round(sum(dynamodb.values()) / count, 3),
    }


def drain(worker, repo, drafts, hostile, poll_errors, limit: float = 60) -> float:
    """After the timed part (every SMS reached the fake): keep polling, faults on, until every record is final,
    then VISIBILITY_SECONDS + 3 s more so that a duplicate delivery comes back and is handled."""
    began = time.perf_counter()
    settled_at = None
    next_check = 0.0
    worker.poll_seconds = 1  # long polls: the timed part's busy polling would only load the emulator here
    while time.perf_counter() - began < limit:
        now = time.perf_counter()
        if settled_at is None and now >= next_check:
            next_check = now + 1
            try:
                with hostile.acting("admin"):
                    if all(repo.get(d.id).status != "PENDING" for d in drafts):
                        settled_at = now
            except Exception:  # a read fault that outlasted the retries: check again
                pass
        if settled_at is not None and now - settled_at > VISIBILITY_SECONDS + 3:
            break
        try:
            worker.poll_once()
        except Exception as error:
            poll_errors[f"{type(error).__name__}: {str(error)[:160]}"] += 1
            time.sleep(1)
    return round(time.perf_counter() - began, 1)


class LogCapture(logging.Handler):
    """The app's WARNING and ERROR lines during a run under faults (transient failures it retried)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}"[:300])

    def install(self) -> None:
        logging.getLogger("ekiosk").addHandler(self)

    def remove(self) -> None:
        logging.getLogger("ekiosk").removeHandler(self)

    def report(self) -> dict:
        return {"count": len(self.lines), "errors": sum(1 for line in self.lines if line.startswith("ERROR")),
                "examples": self.lines[:8]}


class Hostile:
    """The emulator's fault control, and who the bench signs as, when IAM is enforced: the worker as
    `notifier` (the process's own key), the producer as `api`, setup and checks as the admin."""

    def __init__(self, configuration, emulator_url: str):
        from emulator_profile import FaultControl

        self.configuration = configuration
        self.control = FaultControl(emulator_url)

    def acting(self, principal: str):
        from chalicelib.runtime import principals

        return principals.acting_as(principal)


LATENCY = 0.05
VISIBILITY_SECONDS = 10
STORE_LABELS = {
    "emulator": "whole local stack: SQS and DynamoDB in the emulator",
    "in-memory": "SQS in the emulator, records in memory",
    "engine": "handle_records alone: no SQS, records in memory",
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


def measure(configuration, count: int) -> dict:
    """Every mode against one emulator configuration, in this process (the IAM credentials are process-wide)."""
    import json as json_module

    from emulator_profile import fault_report

    from tests.support.emulator import EmulatorProcess

    hostile_run = not configuration.faithful
    # STAGE local: the emulator's IAM enforcement knows the policies of .chalice/config.json's stages only.
    env = {"STAGE": "local", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "LOG_LEVEL": "WARNING"}
    os.environ.update(env)  # STAGE before the emulator starts: its IAM policies name the stage's resources
    emulator = EmulatorProcess(extra_args=("--faults", configuration.faults, "--iam", configuration.iam))
    os.environ["AWS_ENDPOINT_URL"] = emulator.url
    for name in ("NOTIFY_BACKOFF_BASE_SECONDS", "NOTIFY_BACKOFF_MAX_SECONDS", "NOTIFY_LEASE_SECONDS"):
        os.environ.pop(name, None)
    hostile = None
    try:
        from chalicelib.runtime import principals

        if configuration.iam == "enforce":  # this process is the worker: it signs as `notifier`
            os.environ.update(principals.credentials_env("notifier"))
            os.environ[principals.JOB_CREDENTIALS_VARIABLE] = json_module.dumps({
                "api": [principals.access_key("api"), principals.secret_key("api")],
                "admin": ["testing", "testing"]})
            principals.install_job_credentials()
        if hostile_run:
            hostile = Hostile(configuration, emulator.url)
            hostile.control.configure("")
        from chalicelib.adapters.aws import client
        from chalicelib.adapters.dynamodb.base import bind_models
        from chalicelib.config import get_settings
        from chalicelib.runtime.bootstrap import bootstrap

        get_settings.cache_clear()
        settings = get_settings()
        with principals.acting_as("admin"):
            bootstrap(settings)
        bind_models(settings)
        counter: collections.Counter = collections.Counter()
        sqs = client("sqs", settings)
        sqs.meta.events.register("before-call.sqs.*", lambda model, **_: counter.update([model.name]))
        from chalicelib.adapters.dynamodb.notifications import NotificationRecord

        NotificationRecord._get_connection().connection.client.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: counter.update(["dynamodb:" + model.name]))
        results = []
        # Under faults only the whole local stack: the engine mode makes no AWS request at all.
        stores = ("emulator",) if hostile_run else STORES
        with RemoteFake(LATENCY) as fake:
            for store in stores:
                run_mode("warm-up", 10, 10, 1, 20, settings, fake, counter, store, hostile)
                runs = [run_mode(name, batch, concurrency, in_flight, count, settings, fake, counter, store, hostile)
                        for name, batch, concurrency, in_flight in MODES]
                for result in runs:
                    result["speedup_vs_one_at_a_time"] = round(result["per_second"] / runs[0]["per_second"], 1)
                results += runs
        report = None
        if hostile_run:
            status = hostile.control.status()
            measured = {}
            for result in results:
                for kind, n in result.get("injected", {}).items():
                    measured[kind] = measured.get(kind, 0) + n
            # GET /_ekiosk/faults as it was at the end; the seed is the run's (the config is "none" by now)
            report = fault_report(configuration, {}, {**status, "config": {"seed": configuration.seed}})
            report["injected_while_measured"] = dict(sorted(measured.items()))
    finally:
        emulator.stop()
    return {"configuration": configuration.label, "key": configuration.key, "results": results, "faults": report}


def comparison(runs: dict) -> list[dict]:
    """Faithful next to aws (whole local stack), for run_all's side-by-side table."""
    def pick(key, mode):
        return next((r for r in runs[key]["results"] if r["store"] == "emulator" and r["mode"] == mode), None) \
            if key in runs else None

    rows = []
    for mode, *_ in MODES:
        cells = {k: (pick(k, mode) or {}).get("per_second") for k in ("faithful", "aws")}
        rows.append({"figure": f"notifications delivered per second, {mode} (whole local stack)", **cells,
                     "note": "one in-process worker, fake provider; under faults the time to deliver every SMS"})

    def every(key, field, how=all):
        return how(r[field] for r in runs[key]["results"] if r["store"] == "emulator") if key in runs else None

    rows.append({"figure": "every record SENT, every SMS exactly once", "faithful": every("faithful", "exactly_once"),
                 "aws": every("aws", "exactly_once"),
                 "note": "checked after a drain of the visibility timeout + 3 s, so duplicate deliveries count"})
    aws = runs.get("aws", {}).get("faults") or {}
    rows.append({"figure": "worker poll errors (exceptions out of poll_once)", "faithful": 0,
                 "aws": sum(sum(r.get("poll_errors", {}).values()) for r in runs["aws"]["results"])
                 if "aws" in runs else None, "note": "the worker logs them and polls again"})
    rows.append({"figure": "IAM denials (must be none)", "faithful": 0,
                 "aws": len(aws.get("iam_denied", [])) if aws else None, "note": None})
    rows.append({"figure": "fault seed", "faithful": None, "aws": str(aws.get("seed")) if aws else None,
                 "note": None})
    rows.append({"figure": "faults injected", "faithful": "none",
                 "aws": _ops(aws.get("injected", {})) if aws else None,
                 "note": "GET /_ekiosk/faults at the end of the run (setup ran with faults off)"})
    return rows


def _ops(counts: dict) -> str:
    return ", ".join(f"{k} x{v}" for k, v in counts.items()) or "none"


def main() -> int:
    global LATENCY
    import tempfile

    from emulator_profile import add_arguments, configurations

    began = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer notifications (40)")
    parser.add_argument("--count", type=int, default=None, help="notifications per mode (default 100)")
    parser.add_argument("--latency", type=float, default=0.05, help="fake provider latency in seconds")
    parser.add_argument("--raw-out", default=None, help=argparse.SUPPRESS)  # one configuration, for --compare
    add_arguments(parser)
    args = parser.parse_args()
    count = args.count or (40 if args.quick else 100)
    LATENCY = args.latency
    wanted = configurations(args)

    if args.raw_out:
        with open(args.raw_out, "w") as out:
            json.dump(measure(wanted[0], count), out)
        return 0
    runs = {}
    for configuration in wanted:
        print(f"run: {configuration.label} ({configuration.describe()})", flush=True)
        if len(wanted) == 1:
            runs[configuration.key] = measure(configuration, count)
            continue
        import subprocess

        with tempfile.NamedTemporaryFile(suffix=".json") as raw:  # a fresh process per configuration
            command = [sys.executable, os.path.abspath(__file__), "--count", str(count), "--latency", str(LATENCY),
                       "--iam", configuration.iam, "--raw-out", raw.name]
            if configuration.faults:
                command += ["--faults", configuration.faults]
            subprocess.run(command, cwd=ROOT, check=True)
            with open(raw.name) as answer:
                runs[configuration.key] = json.load(answer)

    for run in runs.values():
        results = run["results"]
        print(f"\n### Notification delivery ({run['configuration']}): one worker, fake Africa's Talking with "
              f"{LATENCY * 1000:.0f} ms latency, {count} SMS per mode\n")
        print("| records in | mode | batch | threads per batch | batches in flight | delivered/s | speed-up "
              "| SQS req./notification | DynamoDB req./notification | exactly once |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in results:
            print(f"| {r['store']} | {r['mode']} | {r['batch_size']} | {r['concurrency']} | {r['batches_in_flight']} | "
                  f"{r['per_second']} | {r['speedup_vs_one_at_a_time']}x | {r['sqs_requests_per_notification']} | "
                  f"{r['dynamodb_requests_per_notification']} | {r['exactly_once']} |")
        best = results[2]
        print(f"\nRequests for {count} notifications (emulator, batch of 10, concurrent): SQS producer "
              f"{best['sqs_requests']['producer']}, SQS worker {best['sqs_requests']['worker']}, "
              f"DynamoDB {best['dynamodb_requests']}")
        if run["faults"]:
            f = run["faults"]
            print(f"\nfaults: seed {f['seed']}; injected {_ops(f['injected'])}; IAM denials {len(f['iam_denied'])}"
                  + "".join(f"\n    {json.dumps(d)}" for d in f["iam_denied"][:10]))
            for r in results:
                print(f"    {r['mode']}: {r['seconds']} s to deliver, drain {r['drain_s']} s, injected "
                      f"{_ops(r['injected'])}; app warnings {r['warnings']['count']} "
                      f"(errors {r['warnings']['errors']}); poll errors {r['poll_errors'] or 0}")
                for line in r["warnings"]["examples"][:3]:
                    print(f"        {line}")
    rows = comparison(runs)
    if len(runs) > 1:
        print("\n| notifications | faithful | aws + IAM enforced |\n|---|---:|---:|")
        for row in rows:
            print(f"| {row['figure']} | {row['faithful']} | {row['aws']} |")

    first = next(iter(runs.values()))
    summary_rows = summary(first["results"]) if first["key"] == "faithful" else []
    aws = runs.get("aws")
    clean = True
    if aws:
        best = max(aws["results"], key=lambda r: r["per_second"])
        clean = all(r["exactly_once"] for r in aws["results"]) and not aws["faults"]["iam_denied"]
        summary_rows.append({
            "figure": f"notifications delivered per second, one worker, whole local stack ({aws['configuration']})",
            "value": best["per_second"], "unit": "/s", "target": "every SMS exactly once, no IAM denial",
            "meets": clean,
            "note": f"{best['mode']}; seed {aws['faults']['seed']}; injected {_ops(aws['faults']['injected'])}; "
                    f"IAM denials {len(aws['faults']['iam_denied'])}",
        })
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as out:
        json.dump({"benchmark": "notifications", "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "command": " ".join(["bench/notifications_bench.py", *sys.argv[1:]]),
                   "duration_s": round(time.perf_counter() - began, 1), "provider_latency_seconds": LATENCY,
                   "notifications": count, "python": platform.python_version(), "machine": platform.machine(),
                   "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
                   "summary": summary_rows, "results": first["results"],
                   "runs": runs, "comparison": rows}, out, indent=2)
        out.write("\n")
    print(f"\nwritten to {os.path.relpath(RESULTS, ROOT)}")
    if not clean:
        print("under faults: a notification not delivered exactly once or an IAM denial (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
