#!/usr/bin/env python3
"""The image's HEALTHCHECK (and the worker's Kubernetes liveness probe): exit 0 when healthy.

    ekiosk-healthcheck [api|worker]

Without an argument the role is read from the container's main process (PID 1): gunicorn is the
API, `chalicelib.runtime.worker` the worker. The API must answer GET /api/v1/health with 200; the
worker must reach its queue (endpoint, credentials and queue all in order).
"""

from __future__ import annotations

import os
import sys
import urllib.request

TIMEOUT = 4


def detect_role(cmdline_path: str = "/proc/1/cmdline") -> str:
    try:
        with open(cmdline_path, "rb") as handle:
            command = handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "api"
    return "worker" if "chalicelib.runtime.worker" in command else "api"


def check_api() -> None:
    host = os.environ.get("HEALTHCHECK_HOST", "127.0.0.1")
    url = f"http://{host}:{os.environ.get('PORT', '8000')}/api/v1/health"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - our own loopback URL
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")


def check_worker() -> None:
    import boto3
    from botocore.config import Config

    from chalicelib.config import get_settings
    from chalicelib.resources import NOTIFICATIONS_QUEUE

    settings = get_settings()
    quick = Config(connect_timeout=2, read_timeout=TIMEOUT, retries={"max_attempts": 1})
    sqs = boto3.client("sqs", region_name=settings.region, endpoint_url=settings.aws_endpoint_url, config=quick)
    sqs.get_queue_url(QueueName=settings.queue_name(NOTIFICATIONS_QUEUE.name))


def main(argv: list[str]) -> int:
    role = argv[1] if len(argv) > 1 else detect_role()
    try:
        check_worker() if role == "worker" else check_api()
    except Exception as error:  # noqa: BLE001 - any failure means unhealthy
        print(f"unhealthy ({role}): {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
