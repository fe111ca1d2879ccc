"""Order numbers: handed out from blocks reserved with one atomic counter update each."""

from __future__ import annotations

import threading
from collections.abc import Callable

NUMBER_BLOCK = 20
NUMBER_COUNTER_ID = "counter#order-number"  # order ids never contain '#'


class NumberBlocks:
    """Hands out numbers from blocks reserved with one atomic counter update each (thread-safe)."""

    def __init__(self, reserve_block: Callable[[int], int], size: int = NUMBER_BLOCK):
        self._reserve_block = reserve_block  # adds `size` to the counter, returns the new value
        self._size = size
        self._next = 1
        self._end = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            if self._next > self._end:
                self._end = self._reserve_block(self._size)
                self._next = self._end - self._size + 1
            number = self._next
            self._next += 1
            return number
