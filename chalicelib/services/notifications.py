"""Notification delivery use cases (SPEC §8)."""

from __future__ import annotations


def process_sqs_records(records: list[dict]) -> list[str]:
    """Handles a batch of SQS records (Lambda event shape); returns the messageIds that failed."""
    return []
