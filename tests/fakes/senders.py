"""The email and SMS senders in memory: they accept, refuse and fail as the adapters do (held to the same
contract as AfricasTalkingSender, LocalSmsSink and SesEmailSender by tests/contracts), plus what the core
asked of them for unit tests to inspect (`calls`, `sent`) and the faults unit tests script (`fail`, `latency`)."""

from __future__ import annotations

import itertools
import re
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from email.utils import parseaddr

from chalicelib.domain.notifications import PermanentDeliveryError, Receipt

_ids = itertools.count(1)
# What the Africa's Talking SDK checks before calling: a "+", a country code and a number.
E164 = re.compile(r"^\+\d{1,3}\d{3,}$")


@dataclass(frozen=True)
class Sent:
    to: str  # as the core gave it: one number, or comma-separated addresses
    message: str
    message_id: str
    addresses: tuple[str, ...]  # whom it reached
    sender: str | None = None  # the SMS sender id (AT_SENDER_ID); None: the provider's default


class FakeSender(ABC):
    """Accepts every well-formed message after `latency` seconds, unless `fail` scripted exceptions for its
    recipient (one per call) or `refuse` refused the recipient for good. Thread-safe: the delivery batch
    fans out to threads."""

    sender: str | None = None

    def __init__(self, provider: str = "fake", latency: float = 0.0):
        self.provider = provider
        self.latency = latency
        self.sent: list[Sent] = []
        self.calls: list[str] = []
        self.script: dict[str, list[Exception]] = {}
        self.refused: dict[str, PermanentDeliveryError] = {}
        self._lock = threading.Lock()

    @abstractmethod
    def _addresses(self, to: str) -> tuple[str, ...]:
        """Whom `to` names; PermanentDeliveryError when the adapter refuses it before calling its provider."""

    def fail(self, recipient: str, *errors: Exception) -> None:
        self.script.setdefault(recipient, []).extend(errors)

    def refuse(self, recipient: str, error: PermanentDeliveryError) -> None:
        self.refused[recipient] = error

    def send(self, to: str, message: str) -> Receipt:
        with self._lock:
            self.calls.append(to)
        addresses = self._addresses(to)
        with self._lock:
            planned = self.script.get(to)
            error = planned.pop(0) if planned else self.refused.get(to)
        if self.latency:
            time.sleep(self.latency)
        if error is not None:
            raise error
        with self._lock:
            message_id = f"{self.provider}-{next(_ids)}"
            self.sent.append(Sent(to, message, message_id, addresses, self.sender))
            return Receipt(self.provider, message_id)

    def sent_to(self, recipient: str) -> list[str]:
        with self._lock:
            return [sent.message for sent in self.sent if sent.to == recipient]


class FakeSmsSender(FakeSender):
    """Africa's Talking's rules: an E.164 number, sent from `sender_id` (None: the provider's default)."""

    def __init__(self, provider: str = "fake", latency: float = 0.0, sender_id: str | None = None):
        super().__init__(provider, latency)
        self.sender = sender_id

    def blacklist(self, number: str) -> None:
        self.refuse(number, PermanentDeliveryError("UserInBlacklist (406)"))

    def _addresses(self, to: str) -> tuple[str, ...]:
        if not E164.match(to):
            raise PermanentDeliveryError(f"InvalidPhoneNumber: Invalid phone number: {to}")
        return (to,)


class FakeEmailSender(FakeSender):
    """SES's rules: one message to every comma-separated address; none, or one without a domain, is refused."""

    def _addresses(self, to: str) -> tuple[str, ...]:
        addresses = tuple(address.strip() for address in to.split(",") if address.strip())
        if not addresses:
            raise PermanentDeliveryError("no email recipient")
        for address in addresses:
            parts = parseaddr(address)[1].split("@")
            if len(parts) != 2 or not parts[1]:
                raise PermanentDeliveryError("SES InvalidParameterValue: Missing domain")
        return addresses
