"""The local/container worker: deletes only what succeeded, and can handle batches side by side."""

from __future__ import annotations

import threading

from chalicelib.config import load_settings
from chalicelib.runtime import worker as worker_module
from chalicelib.runtime.worker import Worker


class StubSqs:
    def __init__(self, messages):
        self.messages = list(messages)
        self.deleted: list[str] = []
        self.receives: list[dict] = []
        self.lock = threading.Lock()

    def get_queue_url(self, QueueName):
        return {"QueueUrl": f"http://sqs/{QueueName}"}

    def get_queue_attributes(self, QueueUrl, AttributeNames):
        return {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:1:q"}}

    def receive_message(self, **request):
        with self.lock:
            self.receives.append(request)
            size = request["MaxNumberOfMessages"]
            batch, self.messages = self.messages[:size], self.messages[size:]
        return {"Messages": batch}

    def delete_message_batch(self, QueueUrl, Entries):
        self.deleted.extend(entry["ReceiptHandle"] for entry in Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}


def message(n: int) -> dict:
    return {"MessageId": f"m{n}", "ReceiptHandle": f"rh{n}", "Body": "{}", "Attributes": {}}


def make_worker(monkeypatch, sqs, **env) -> Worker:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(worker_module, "client", lambda service, settings: sqs)
    return Worker(load_settings({"STAGE": "local"}))


def test_poll_once_hands_lambda_records_over_and_deletes_only_the_succeeded(monkeypatch):
    sqs = StubSqs([message(n) for n in range(3)])
    seen = []

    def handle(svc, records):
        assert svc == "the services"
        seen.extend(records)
        return ["m1"]

    monkeypatch.setattr("chalicelib.bootstrap.services", lambda: "the services")
    monkeypatch.setattr("chalicelib.adapters.sqs_batch.handle_records", handle)
    worker = make_worker(monkeypatch, sqs, WORKER_VISIBILITY_SECONDS="7")
    assert worker.poll_once() == 3
    assert sqs.deleted == ["rh0", "rh2"]
    assert [r["messageId"] for r in seen] == ["m0", "m1", "m2"]
    assert seen[0]["receiptHandle"] == "rh0" and seen[0]["eventSourceARN"] == "arn:aws:sqs:us-east-1:1:q"
    request = sqs.receives[0]
    assert request["VisibilityTimeout"] == 7 and request["MaxNumberOfMessages"] == 10
    assert request["AttributeNames"] == ["All"]  # ApproximateReceiveCount drives the backoff


def test_worker_batches_runs_that_many_polling_threads(monkeypatch):
    sqs = StubSqs([])
    worker = make_worker(monkeypatch, sqs, WORKER_BATCHES="3")
    threads: set[str] = set()

    def poll_once():
        threads.add(threading.current_thread().name)
        if len(threads) == 3:
            worker.stopping.set()
        worker.stopping.wait(0.01)
        return 0

    worker.poll_once = poll_once
    worker.run_due_jobs = lambda last_run: None
    runner = threading.Thread(target=worker.run)
    runner.start()
    runner.join(10)
    assert not runner.is_alive()
    assert len(threads) == 3


def test_each_batch_logs_under_its_own_correlation_id(monkeypatch):
    from chalicelib.observability import correlation_id

    sqs = StubSqs([message(n) for n in range(4)])
    ids = []

    def handle(svc, records):
        ids.append(correlation_id())
        return []

    monkeypatch.setattr("chalicelib.bootstrap.services", lambda: "the services")
    monkeypatch.setattr("chalicelib.adapters.sqs_batch.handle_records", handle)
    worker = make_worker(monkeypatch, sqs)
    worker.batch_size = 2
    assert worker.poll_once() == 2 and worker.poll_once() == 2
    outside = correlation_id()
    assert len(set(ids)) == 2 and outside not in ids
