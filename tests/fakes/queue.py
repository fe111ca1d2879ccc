"""The notifications queue in memory: records what the core asked of it."""

from __future__ import annotations

from chalicelib.config import Settings


class InMemoryNotificationQueue:
    """Records what the core asked of the queue (unit tests)."""

    def __init__(self, settings: Settings | None = None):
        self.sent: list[str] = []
        self.visibility: dict[str, int] = {}
        self.dead_lettered: list[str] = []
        self.fail_sends = False

    def send(self, notification_ids: list[str]) -> None:
        if self.fail_sends:
            raise RuntimeError("SQS is unavailable")
        self.sent.extend(notification_ids)

    def change_visibility(self, delays: dict[str, int]) -> list[str]:
        self.visibility.update(delays)
        return []

    def dead_letter(self, bodies: list[str]) -> None:
        self.dead_lettered.extend(bodies)
