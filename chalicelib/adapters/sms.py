"""Customer SMS through Africa's Talking, or a local file when no account is configured.

`build_sms_sender(settings)` picks one:
- Africa's Talking through the official `africastalking` SDK (it builds the request: URL, `apiKey`
  header, form fields `username`, `to`, `message`, `from`, `bulkSMSMode`). Two things are ours:
  the API origin (`AT_BASE_URL`, so `{AT_BASE_URL}/version1/messaging` is called exactly as the real
  API; unset = the real one, sandbox when AT_USERNAME is `sandbox`), and the transport: the SDK's
  `_make_request` is replaced by one pooled `requests.Session` call with an explicit (connect, read)
  timeout that returns the HTTP response itself, so failures can be sorted by status code
  (the SDK would raise one exception type with only the body text).
- A local sink on a local stack without AT_USERNAME/AT_API_KEY: one JSON line per SMS appended to
  `<EKIOSK_DATA_DIR>/sms-outbox.jsonl`; the record's provider is `local-sink` and its
  provider_message_id starts with `local-sink-`.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from chalicelib.config import Settings
from chalicelib.domain.notifications import (
    DeliveryTuning,
    PermanentDeliveryError,
    Receipt,
    TransientDeliveryError,
)

PROVIDER = "africastalking"
SINK_PROVIDER = "local-sink"
SINK_FILE = "sms-outbox.jsonl"

# Africa's Talking per-recipient statusCode values inside an HTTP 200.
ACCEPTED_CODES = frozenset({100, 101, 102})  # Processed, Sent, Queued
PERMANENT_CODES = frozenset({401, 402, 403, 404, 406, 407, 409})
# 401 RiskHold, 402 InvalidSenderId, 403 InvalidPhoneNumber, 404 UnsupportedNumberType,
# 406 UserInBlacklist, 407 CouldNotRoute, 409 DoNotDisturbRejection. Everything else that is not
# accepted (405 InsufficientBalance, 500 InternalServerError, 501 GatewayError, 502 RejectedByGateway,
# unknown codes) is retried: it may succeed later and nothing was sent.
PERMANENT_HTTP = frozenset({400, 404, 405, 413, 415, 422})  # our request is wrong; other 4xx (auth, 429) retry


class AfricasTalkingSender:
    """`api_key`: the key, or a function giving the current key (read from Secrets Manager when sending)."""

    def __init__(self, username: str, api_key, *, sender_id: str | None = None, base_url: str | None = None,
                 tuning: DeliveryTuning | None = None):
        import requests
        from requests.adapters import HTTPAdapter

        self._tuning = tuning or DeliveryTuning.from_env(os.environ)
        self._sender_id = sender_id
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(10, self._tuning.concurrency), max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._username, self._base_url = username, base_url
        self._api_key = api_key if callable(api_key) else (lambda: api_key)
        self._sdk, self._sdk_key = None, None
        self._sdk_lock = threading.Lock()

    def _service(self):
        """The SDK service for the current key (built again when the key changes, e.g. rotated)."""
        from chalicelib.adapters.secrets import SecretUnavailable

        try:
            key = self._api_key()
        except SecretUnavailable as error:
            raise TransientDeliveryError(f"the Africa's Talking API key is unavailable: {error}") from None
        if not key:
            raise TransientDeliveryError("Africa's Talking is not configured (no API key)")
        with self._sdk_lock:
            if self._sdk is None or key != self._sdk_key:
                self._sdk, self._sdk_key = _sdk_service(self._username, key, self._base_url, self._session), key
            return self._sdk

    @property
    def endpoint(self) -> str:
        return self._service()._make_url("/messaging")

    @property
    def timeout(self) -> tuple[float, float]:
        return (self._tuning.connect_timeout, self._tuning.provider_timeout)

    def send(self, to: str, message: str) -> Receipt:
        import requests

        service = self._service()
        try:
            response = service.send(message, [to], sender_id=self._sender_id, timeout=self.timeout)
        except ValueError as error:  # the SDK checks the number's shape before calling
            raise PermanentDeliveryError(f"InvalidPhoneNumber: {error}") from None
        except requests.Timeout as error:
            raise TransientDeliveryError(f"Africa's Talking timed out: {error}") from None
        except requests.RequestException as error:
            raise TransientDeliveryError(f"Africa's Talking unreachable: {type(error).__name__}: {error}") from None
        return parse_response(response.status_code, response.text, to)


def parse_response(status: int, text: str, to: str) -> Receipt:
    """Africa's Talking's answer -> a Receipt, or a transient/permanent delivery error."""
    snippet = " ".join(text.split())[:200]
    if status >= 300:
        error = f"Africa's Talking HTTP {status}: {snippet}"
        raise (PermanentDeliveryError if status in PERMANENT_HTTP else TransientDeliveryError)(error)
    try:
        data = json.loads(text)["SMSMessageData"]
        recipients = data.get("Recipients") or []
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TransientDeliveryError(f"Africa's Talking answered something unexpected: {snippet}") from None
    if not recipients:  # the whole request was refused, e.g. "InvalidSenderId"
        raise PermanentDeliveryError(f"Africa's Talking sent nothing: {data.get('Message') or snippet}")
    recipient = next((r for r in recipients if isinstance(r, dict) and r.get("number") == to), recipients[0])
    try:
        code = int(recipient.get("statusCode"))
    except (TypeError, ValueError, AttributeError):
        raise TransientDeliveryError(f"Africa's Talking answered something unexpected: {snippet}") from None
    status_text = recipient.get("status") or str(code)
    if code in ACCEPTED_CODES:
        message_id = recipient.get("messageId")
        if not message_id or message_id == "None":
            raise TransientDeliveryError(f"Africa's Talking gave no messageId: {snippet}")
        return Receipt(PROVIDER, str(message_id))
    error = f"{status_text} ({code})"
    raise (PermanentDeliveryError if code in PERMANENT_CODES else TransientDeliveryError)(error)


def _sdk_service(username: str, api_key: str, base_url: str | None, session):
    from africastalking.SMS import SMSService

    class PointedSMSService(SMSService):
        """The SDK's SMS service with our origin and our transport (see the module docstring)."""

        def _init_service(self):
            super()._init_service()
            if base_url:
                self._baseUrl = base_url.rstrip("/") + "/version1"
                self._contentUrl = self._baseUrl

        def _make_request(self, url, method, headers, data, params, callback=None, timeout=None):
            if timeout is None:
                raise ValueError("every Africa's Talking call needs a timeout")
            return session.request(method, url, headers=headers, data=data, params=params, timeout=timeout)

    return PointedSMSService(username, api_key)


class LocalSmsSink:
    """Appends each SMS as a JSON line to a file a developer can read (`tail -f .data/sms-outbox.jsonl`)."""

    def __init__(self, path: Path, sender_id: str | None = None):
        self.path = Path(path)
        self._sender_id = sender_id
        self._lock = threading.Lock()

    def send(self, to: str, message: str) -> Receipt:
        message_id = f"{SINK_PROVIDER}-{uuid.uuid4().hex}"
        line = json.dumps({"messageId": message_id, "to": to, "from": self._sender_id, "message": message,
                           "at": datetime.now(UTC).isoformat().replace("+00:00", "Z")}, ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as outbox:
                outbox.write(line + "\n")
        return Receipt(SINK_PROVIDER, message_id)

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]


class UnconfiguredSmsSender:
    """Outside a local stack without AT_USERNAME/AT_API_KEY: every SMS waits (retried, then dead-lettered)."""

    def send(self, to: str, message: str) -> Receipt:
        raise TransientDeliveryError("Africa's Talking is not configured (AT_USERNAME, AT_API_KEY)")


def build_sms_sender(settings: Settings):
    if settings.uses_sms_sink:
        return LocalSmsSink(settings.data_dir / SINK_FILE, settings.at_sender_id)
    if not settings.has_sms_account:
        return UnconfiguredSmsSender()
    from chalicelib.adapters import secrets

    return AfricasTalkingSender(settings.at_username, lambda: secrets.at_api_key(settings),
                                sender_id=settings.at_sender_id, base_url=settings.at_base_url)
