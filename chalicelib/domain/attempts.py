"""Bounded, jittered retry loops: the one shape of "try again" in ekiosk.

The use cases loop with it when a read-then-conditional-write met a concurrent write (the store refused
it as CHANGED or BUSY: read again, decide again); the DynamoDB adapter loops with it around a request
that failed transiently (adapters/dynamodb/retry.py, which injects its own sleep, clock and jitter).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator

BASE = 0.02  # seconds: the first pause is at most 2 * BASE
CAP = 0.5  # seconds: no single pause is longer
DEADLINE = 5.0  # seconds: no new attempt starts after this much time in one operation


def jitter_bound(attempt: int) -> float:
    """The longest pause after the `attempt`-th try (counting from 1): min(CAP, BASE * 2**attempt)."""
    return min(CAP, BASE * 2 ** min(attempt, 20))


def full_jitter_pause(attempt: int) -> float:
    """Sleeps a random time in [0, jitter_bound(attempt)] (full jitter); returns it."""
    delay = random.uniform(0, jitter_bound(attempt))
    time.sleep(delay)
    return delay


class Attempts:
    """A bounded, backed-off loop for callers with their own retry condition:

        for attempt in Attempts("bulk batch", 8):
            ...; if done: break
        else: ...  (exhausted)

    Yields 1, 2, … with `pause(n)` between attempts, until `max_attempts` or `deadline` seconds."""

    def __init__(self, what: str, max_attempts: int, deadline: float = DEADLINE, *,
                 pause: Callable[[int], float] = full_jitter_pause,
                 clock: Callable[[], float] = time.monotonic):
        self.what, self.max_attempts, self.deadline = what, max_attempts, deadline
        self.pause, self.clock = pause, clock

    def __iter__(self) -> Iterator[int]:
        started = self.clock()
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                if self.clock() - started >= self.deadline:
                    return
                self.pause(attempt - 1)
            yield attempt
