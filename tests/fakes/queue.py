"""The notifications queue in memory: a main queue and its dead-letter queue with SQS's visible / in-flight
states and receipt handles, held to the same contract as SqsNotificationQueue (tests/contracts), plus what the
core asked of it for unit tests to inspect (`sent`, `visibility`, `dead_lettered`)."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

from chalicelib.config import Settings
from chalicelib.domain.notifications import message_body


@dataclass
class _Message:
    body: str
    receipt_handle: str | None = None
    visible_at: float = 0.0
    receives: int = 0


class _Queue:
    def __init__(self, clock):
        self.messages: list[_Message] = []
        self._clock = clock

    def counts(self) -> dict[str, int]:
        now = self._clock()
        visible = sum(1 for m in self.messages if m.visible_at <= now)
        return {"visible": visible, "in_flight": len(self.messages) - visible, "delayed": 0}


class InMemoryNotificationQueue:
    dead_letter_name = "notifications-dlq"

    def __init__(self, settings: Settings | None = None, clock=time.monotonic):
        self.sent: list[str] = []
        self.visibility: dict[str, int] = {}
        self.dead_lettered: list[str] = []
        self.fail_sends = False
        self._clock = clock
        self._main = _Queue(clock)
        self._dead = _Queue(clock)
        self._handles = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, notification_ids: list[str]) -> None:
        if self.fail_sends:
            raise RuntimeError("SQS is unavailable")
        with self._lock:
            self.sent.extend(notification_ids)
            self._main.messages.extend(_Message(message_body(nid)) for nid in notification_ids)

    def receive(self, max_messages: int = 10, hide_seconds: int = 30) -> list[dict]:
        """The consumer's ReceiveMessage (not on the port: Lambda and the workers receive for themselves)."""
        with self._lock:
            return self._receive(self._main, max_messages, hide_seconds)

    def change_visibility(self, delays: dict[str, int]) -> list[str]:
        with self._lock:
            self.visibility.update(delays)
            by_handle = {m.receipt_handle: m for m in self._main.messages if m.receipt_handle}
            failed = [handle for handle in delays if handle not in by_handle]
            for handle, seconds in delays.items():
                if handle in by_handle:
                    by_handle[handle].visible_at = self._clock() + int(seconds)
            return failed

    def dead_letter(self, bodies: list[str]) -> None:
        with self._lock:
            self.dead_lettered.extend(bodies)
            self._dead.messages.extend(_Message(body) for body in bodies)

    def receive_dead_letters(self, max_messages: int = 10, hide_seconds: int = 60,
                             wait_seconds: int = 0) -> list[dict]:
        with self._lock:
            return self._receive(self._dead, max_messages, hide_seconds)

    def move_back(self, messages: list[dict]) -> None:
        with self._lock:
            handles = {m["ReceiptHandle"] for m in messages}
            self._main.messages.extend(_Message(m["Body"]) for m in messages)
            self._dead.messages = [m for m in self._dead.messages if m.receipt_handle not in handles]

    def depth(self, dead_letter: bool = False) -> dict[str, int]:
        with self._lock:
            return (self._dead if dead_letter else self._main).counts()

    def _receive(self, queue: _Queue, max_messages: int, hide_seconds: int) -> list[dict]:
        now = self._clock()
        taken = [m for m in queue.messages if m.visible_at <= now][:max_messages]
        for message in taken:
            message.receipt_handle = f"handle-{next(self._handles)}"  # a new handle per receive, as SQS gives
            message.visible_at = now + hide_seconds
            message.receives += 1
        return [{"Body": m.body, "ReceiptHandle": m.receipt_handle,
                 "Attributes": {"ApproximateReceiveCount": str(m.receives)}} for m in taken]
