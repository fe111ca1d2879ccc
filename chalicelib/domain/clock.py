"""Time as ekiosk records it: ISO 8601 UTC with microseconds and a Z, so that stored times sort as strings."""

from __future__ import annotations

from datetime import UTC, datetime

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def utc_now() -> str:
    return iso(datetime.now(UTC))
