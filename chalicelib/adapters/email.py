"""Staff email through Amazon SES (the emulator's SES on a local stack).

Every call has a timeout: the SES client is built with a short connect/read timeout and no retry of
its own (the queue retries, with backoff), so one send takes at most 3 + NOTIFY_PROVIDER_TIMEOUT_SECONDS
seconds, inside the notifier Lambda's 10 s budget (the shared clients of adapters/aws.py wait up to
25 s, three times).
Failures are sorted into transient (retried through the queue) and permanent (recorded FAILED).
"""

from __future__ import annotations

import logging
import os
from functools import cache

from chalicelib.adapters import aws
from chalicelib.config import Settings
from chalicelib.domain.messages import email_subject
from chalicelib.domain.notifications import (
    DeliveryTuning,
    PermanentDeliveryError,
    Receipt,
    TransientDeliveryError,
)

logger = logging.getLogger("ekiosk.email")
PROVIDER = "ses"

# SES error codes that will never succeed as sent (a new try needs a fix first: recorded FAILED at once).
PERMANENT_CODES = frozenset(
    {
        "MessageRejected",  # e.g. "Email address not verified"
        "MailFromDomainNotVerifiedException",
        "MailFromDomainNotVerified",
        "ConfigurationSetDoesNotExist",
        "ConfigurationSetSendingPausedException",
        "InvalidParameterValue",
        "ValidationError",
    }
)
TRANSIENT_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "ServiceUnavailable", "InternalFailure",
     "RequestTimeout", "AccountSendingPausedException", "LimitExceededException"}
)


@cache
def _ses_client(region: str, endpoint_url: str | None, connect_timeout: float, read_timeout: float):
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=connect_timeout, read_timeout=read_timeout,
                    retries={"total_max_attempts": 1, "mode": "standard"})
    with aws._lock:  # boto3 sessions are not thread-safe while creating clients
        return boto3.session.Session().client("ses", region_name=region, endpoint_url=endpoint_url, config=config)


def classify_client_error(error: Exception) -> Exception:
    """botocore's ClientError -> our transient or permanent delivery error."""
    response = getattr(error, "response", {}) or {}
    code = response.get("Error", {}).get("Code", "")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    text = f"SES {code or status}: {response.get('Error', {}).get('Message', str(error))}"
    if code in TRANSIENT_CODES or status >= 500 or status == 429:
        return TransientDeliveryError(text)
    if code in PERMANENT_CODES or 400 <= status < 500:
        return PermanentDeliveryError(text)
    return TransientDeliveryError(text)


class SesEmailSender:
    def __init__(self, settings: Settings, *, tuning: DeliveryTuning | None = None):
        self._settings = settings
        self._tuning = tuning or DeliveryTuning.from_env(os.environ)
        # The emulator (like an SES sandbox) only sends from verified identities: the sender identity is
        # part of infra/ on AWS and of the bootstrap locally (the notifier's policy may only send email).

    @property
    def client(self):
        return _ses_client(self._settings.region, self._settings.aws_endpoint_url,
                           self._tuning.connect_timeout, self._tuning.provider_timeout)

    def send(self, recipient: str, message: str) -> Receipt:
        """`recipient`: one address or several, comma-separated (ADMIN_NOTIFICATION_EMAILS)."""
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

        to = [address.strip() for address in recipient.split(",") if address.strip()]
        if not to:
            raise PermanentDeliveryError("no email recipient")
        try:
            answer = self.client.send_email(
                Source=self._settings.default_from_email,
                Destination={"ToAddresses": to},
                Message={
                    "Subject": {"Data": email_subject(message), "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": message, "Charset": "UTF-8"}},
                },
            )
        except ClientError as error:
            raise classify_client_error(error) from None
        except (ConnectionError, HTTPClientError) as error:  # timeouts, refused or dropped connections
            raise TransientDeliveryError(f"SES unreachable: {type(error).__name__}: {error}") from None
        return Receipt(PROVIDER, answer["MessageId"])
