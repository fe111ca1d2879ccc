"""Secrets read at run time from AWS Secrets Manager (SPEC §9), never from Lambda environment variables.

On AWS a function's environment carries only a secret's ARN (`OIDC_CLIENT_SECRET_ARN` for the API function,
`AT_API_KEY_SECRET_ARN` for the notification function, `CURSOR_SIGNING_KEY_SECRET_ARN` (a value CloudFormation
generates) for the API function; infra/generate.py). The value is fetched with
GetSecretValue when it is first needed (the login's token exchange; sending an SMS), kept in this process
for `SECRET_TTL` seconds (so a rotated value is picked up within that time), and never logged.
A plain value (`OIDC_CLIENT_SECRET`, `AT_API_KEY`) wins over the ARN: explicit values win (local stacks,
the container with a Kubernetes Secret).
"""

from __future__ import annotations

import threading
import time

from chalicelib.config import Settings

SECRET_TTL = 300.0


class SecretUnavailable(Exception):
    """The secret could not be read. The message names the secret id, never a value."""


def _get_secret_value(secret_id: str, settings: Settings) -> str:
    from chalicelib.adapters.aws import client

    answer = client("secretsmanager", settings).get_secret_value(SecretId=secret_id)
    value = answer.get("SecretString")
    if not isinstance(value, str):
        raise SecretUnavailable(f"{secret_id} has no SecretString")
    return value


class SecretCache:
    """secret id -> value, each kept `ttl` seconds; thread-safe; one fetch per id at a time."""

    def __init__(self, fetch=_get_secret_value, ttl: float = SECRET_TTL, clock=time.monotonic):
        self._fetch, self._ttl, self._clock = fetch, ttl, clock
        self._values: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def value(self, secret_id: str, settings: Settings) -> str:
        with self._lock:
            cached = self._values.get(secret_id)
            if cached and cached[0] > self._clock():
                return cached[1]
            try:
                value = self._fetch(secret_id, settings)
            except SecretUnavailable:
                raise
            except Exception as error:  # botocore errors, network: the type only, never the response body
                raise SecretUnavailable(f"{secret_id} could not be read ({type(error).__name__})") from None
            self._values[secret_id] = (self._clock() + self._ttl, value)
            return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


cache = SecretCache()


def resolve(plain: str | None, secret_id: str | None, settings: Settings) -> str | None:
    """The plain value when set, else the secret's current value when an id is set, else None."""
    if plain:
        return plain
    if secret_id:
        return cache.value(secret_id, settings)
    return None


def oidc_client_secret(settings: Settings) -> str | None:
    return resolve(settings.oidc_client_secret, settings.oidc_client_secret_arn, settings)


def at_api_key(settings: Settings) -> str | None:
    return resolve(settings.at_api_key, settings.at_api_key_secret_arn, settings)


def cursor_key(settings: Settings) -> bytes:
    """The list cursors' HMAC key: CURSOR_SIGNING_KEY, else the stack's generated secret (AWS: a random value
    CloudFormation made, never seen by anyone), else the key Settings derives (containers, local stacks)."""
    value = resolve(settings.cursor_signing_key, settings.cursor_signing_key_secret_arn, settings)
    return value.encode() if value else settings.cursor_key
