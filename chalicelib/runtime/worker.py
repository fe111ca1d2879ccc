"""The notification worker for the local stack and the container: long-polls SQS and hands each batch to
the same consumer as the `on_sqs_message` Lambda (chalicelib/adapters/sqs_batch.py), deleting only the
messages that succeeded (the failed ones already carry their backoff delay as visibility timeout); also
runs the periodic jobs.
SIGTERM/SIGINT finish the batch in flight, then exit.

Environment: WORKER_BATCHES (default 1) batches handled side by side, each on its own polling thread
with its own provider-call threads (as concurrent Lambda invocations would; worth raising when the
provider's latency, not the store, is the limit). For tests: WORKER_VISIBILITY_SECONDS overrides the
queue's visibility timeout for the messages this worker receives (how soon a crashed worker's batch
comes back); NOTIFY_SWEEP_INTERVAL_SECONDS how often the notification sweeper runs (default 60 s).
The order hold expiry runs every 10 s here (services/jobs.py: its local_period), every minute on AWS.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from chalicelib.adapters.aws import client
from chalicelib.config import get_settings
from chalicelib.observability import correlation
from chalicelib.resources import NOTIFICATIONS_QUEUE
from chalicelib.runtime import principals

logger = logging.getLogger("ekiosk.worker")
POLL_SECONDS = 2  # short enough that a stop request is honoured quickly


class Worker:
    def __init__(self, settings=None):
        self.settings = settings or get_settings()
        self.sqs = client("sqs", self.settings)
        self.stopping = threading.Event()
        self._queue_url = None
        self._queue_arn = None
        self.poll_seconds = POLL_SECONDS
        self.batch_size = 10  # the Lambda event source's batch size
        self.batches = max(1, int(os.environ.get("WORKER_BATCHES") or 1))  # batches handled side by side
        visibility = os.environ.get("WORKER_VISIBILITY_SECONDS")
        self.visibility_timeout = int(visibility) if visibility else None

    def _queue(self) -> tuple[str, str]:
        if self._queue_url is None:
            url = self.sqs.get_queue_url(QueueName=self.settings.queue_name(NOTIFICATIONS_QUEUE.name))["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self._queue_url, self._queue_arn = url, arn
        return self._queue_url, self._queue_arn

    def poll_once(self) -> int:
        """Receives and handles one batch; returns how many messages it received."""
        from chalicelib.adapters.sqs_batch import handle_records, to_lambda_record
        from chalicelib.bootstrap import services

        url, arn = self._queue()
        request = dict(QueueUrl=url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=self.poll_seconds,
                       AttributeNames=["All"], MessageAttributeNames=["All"])
        if self.visibility_timeout is not None:
            request["VisibilityTimeout"] = self.visibility_timeout
        messages = self.sqs.receive_message(**request).get("Messages", [])
        if not messages:
            return 0
        records = [to_lambda_record(message, arn) for message in messages]
        with correlation():  # one id for every log line of this batch, as a Lambda invocation has
            failed = set(handle_records(services(), records))
        done = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(messages)
            if m["MessageId"] not in failed
        ]
        if done:
            result = self.sqs.delete_message_batch(QueueUrl=url, Entries=done)
            for entry in result.get("Failed", []):  # it comes back; its record is final, so nothing is re-sent
                logger.warning("could not delete message %s: %s", entry.get("Id"), entry.get("Message"))
        return len(messages)

    def run_due_jobs(self, last_run: dict) -> None:
        from chalicelib.bootstrap import services
        from chalicelib.services.jobs import PERIODIC_JOBS, SWEEP_PENDING

        now = time.monotonic()
        for job in PERIODIC_JOBS:
            period = job.local_period or job.period
            if job is SWEEP_PENDING:
                period = services().delivery.sweep_interval
            if now - last_run.get(job.name, float("-inf")) >= period:
                last_run[job.name] = now
                with correlation(), principals.acting_as(principals.JOB_PRINCIPALS.get(job.name)):
                    try:
                        job.run(services())
                    except Exception:
                        logger.exception("periodic job %s failed", job.name)

    def _poll_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception:
                logger.exception("worker poll error; retrying shortly")
                self.stopping.wait(1)

    def run(self) -> None:
        last_run: dict = {}
        extra = [threading.Thread(target=self._poll_loop, name=f"poller-{n}") for n in range(1, self.batches)]
        for thread in extra:
            thread.start()
        logger.info("worker started (%s batch%s in flight)", self.batches, "es" if self.batches > 1 else "")
        while not self.stopping.is_set():
            try:
                self.run_due_jobs(last_run)
                self.poll_once()
            except Exception:
                logger.exception("worker loop error; retrying shortly")
                self.stopping.wait(1)
        for thread in extra:
            thread.join()
        logger.info("worker stopped")


def main() -> None:
    from chalicelib.bootstrap import services
    from chalicelib.observability import configure_logging

    configure_logging()
    principals.install_job_credentials()  # with EKIOSK_EMULATOR_IAM=enforce: each job signs as its function
    services()  # binds the table models to the stage
    worker = Worker()

    def stop(signum, _frame):
        logger.info("signal %s: finishing the batch in flight", signum)
        worker.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()


if __name__ == "__main__":
    main()
