"""Lazily created boto3 clients, pointed at the emulator when AWS_ENDPOINT_URL is set.

boto3 is imported on first use, not at import time, to keep the Lambda cold start small.
"""

from __future__ import annotations

import threading
from functools import cache

from chalicelib.config import Settings, get_settings

_lock = threading.Lock()


@cache
def _client(service: str, region: str, endpoint_url: str | None):
    import boto3
    from botocore.config import Config

    from chalicelib.adapters.dynamodb.retry import BOTOCORE_TOTAL_ATTEMPTS

    # botocore's own retries, explicit: "standard" mode (throttling, 5xx, connection errors), a bounded
    # number of attempts; longer backoff is chalicelib/adapters/dynamodb/retry.py's job.
    retries = {"total_max_attempts": BOTOCORE_TOTAL_ATTEMPTS, "mode": "standard"}
    config = Config(connect_timeout=2, read_timeout=25, retries=retries)
    with _lock:  # boto3's default session is not thread-safe while creating clients
        return boto3.session.Session().client(
            service, region_name=region, endpoint_url=endpoint_url, config=config
        )


def client(service: str, settings: Settings | None = None):
    settings = settings or get_settings()
    return _client(service, settings.region, settings.aws_endpoint_url)
