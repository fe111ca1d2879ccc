"""One typed settings object, read from the environment (SPEC §3).

Explicit environment values always win; local defaults apply only on the `local` stage.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
# Any of these set (non-empty) means a real identity provider is configured: the dev issuer is then never trusted.
OIDC_VARIABLES = ("OIDC_ISSUERS", "OIDC_AUDIENCE", "OIDC_JWKS_URL", "OIDC_CLIENT_SECRET", "OIDC_REDIRECT_URI",
                  "OIDC_CLIENT_SECRET_ARN")
# On AWS the two secrets are read at run time from Secrets Manager (adapters/secrets.py): the functions'
# environments carry only these ARNs. A plain OIDC_CLIENT_SECRET / AT_API_KEY wins over them.
OIDC_CLIENT_SECRET_ARN = "OIDC_CLIENT_SECRET_ARN"
AT_API_KEY_SECRET_ARN = "AT_API_KEY_SECRET_ARN"
CURSOR_SIGNING_KEY_SECRET_ARN = "CURSOR_SIGNING_KEY_SECRET_ARN"
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
LOCAL_STAGE = "local"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _regions(value: str | None) -> tuple[str, ...]:
    codes = tuple(part.upper() for part in _csv(value))
    bad = [code for code in codes if not re.fullmatch(r"[A-Z]{2}", code)]
    if bad:
        raise ValueError(f"PHONE_REGIONS: not ISO 3166 alpha-2 region codes: {', '.join(bad)}")
    return codes


def _lower_csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.lower() for part in _csv(value))


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    aws_endpoint_url: str | None
    data_dir: Path
    oidc_issuers: tuple[str, ...]
    oidc_audience: str | None
    oidc_jwks_url: str
    oidc_client_secret: str | None
    oidc_redirect_uri: str | None
    admin_emails: tuple[str, ...]
    admin_notification_emails: tuple[str, ...]
    default_from_email: str
    at_username: str | None
    at_api_key: str | None
    at_sender_id: str | None
    at_base_url: str | None
    # Stock hoarding (SPEC §7): per-customer caps on PENDING orders and their units, and how long a
    # PENDING order may wait for staff before the system cancels it.
    max_pending_orders: int = 5
    max_pending_units: int = 1000
    order_hold_seconds: int = 259200
    oidc_client_secret_arn: str | None = None
    at_api_key_secret_arn: str | None = None
    # PHONE_REGIONS: ISO 3166 codes a profile phone must belong to; empty = any region (SPEC §4 /me).
    phone_regions: tuple[str, ...] = ()
    # SPEC §3's rule, decided from the environment in load_settings (see dev_issuer_allowed).
    dev_issuer_allowed: bool = False
    cursor_signing_key: str | None = None
    cursor_signing_key_secret_arn: str | None = None

    @property
    def is_local(self) -> bool:
        return self.stage == LOCAL_STAGE

    @property
    def uses_dev_issuer(self) -> bool:
        """Whether the local development issuer is trusted (SPEC §3; see dev_issuer_allowed)."""
        return self.dev_issuer_allowed

    @property
    def uses_sms_sink(self) -> bool:
        """Locally, without an Africa's Talking account, SMS go to a file a developer can read."""
        return self.is_local and not self.has_sms_account

    @property
    def has_sms_account(self) -> bool:
        """AT_USERNAME and an API key (plain AT_API_KEY, or AT_API_KEY_SECRET_ARN read when sending)."""
        return bool(self.at_username and (self.at_api_key or self.at_api_key_secret_arn))

    @property
    def cursor_key(self) -> bytes:
        """The HMAC key of list cursors without a secret to read (adapters/secrets.cursor_key reads
        CURSOR_SIGNING_KEY_SECRET_ARN first, as on AWS): CURSOR_SIGNING_KEY, else derived from the stage and
        the plain secrets (OIDC_CLIENT_SECRET, AT_API_KEY; a container). With none of them set (a local stack)
        that is a fixed development key: fine locally, where cursors guard correctness, not secrets."""
        if self.cursor_signing_key:
            return self.cursor_signing_key.encode()
        material = "\n".join(("ekiosk list cursors", self.stage, self.oidc_client_secret or "", self.at_api_key or ""))
        return hashlib.sha256(material.encode()).digest()

    def table_name(self, name: str) -> str:
        return f"ekiosk-{self.stage}-{name}"

    def queue_name(self, name: str) -> str:
        return f"ekiosk-{self.stage}-{name}"


def _positive_int(env, name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


def _set(env, name: str) -> bool:
    return bool((env.get(name) or "").strip())


def dev_issuer_allowed(env) -> bool:
    """SPEC §3: the development issuer is trusted only when ALL of these hold:
    STAGE is explicitly `local` (unset is not enough), AWS_ENDPOINT_URL is set (an emulator), no OIDC_*
    variable is set, and not on Lambda (AWS_LAMBDA_FUNCTION_NAME unset). An empty value counts as unset,
    as everywhere in the settings. Any other combination trusts OIDC_ISSUERS alone."""
    return (
        (env.get("STAGE") or "").strip() == LOCAL_STAGE
        and _set(env, "AWS_ENDPOINT_URL")
        and not any(_set(env, name) for name in OIDC_VARIABLES)
        and not _set(env, "AWS_LAMBDA_FUNCTION_NAME")
    )


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    stage = env.get("STAGE", LOCAL_STAGE)
    admin_emails = _lower_csv(env.get("ADMIN_EMAILS"))
    return Settings(
        stage=stage,
        region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
        aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        data_dir=Path(env.get("EKIOSK_DATA_DIR") or PROJECT_ROOT / ".data"),
        oidc_issuers=_csv(env.get("OIDC_ISSUERS")) or GOOGLE_ISSUERS,
        oidc_audience=env.get("OIDC_AUDIENCE") or None,
        oidc_jwks_url=env.get("OIDC_JWKS_URL") or GOOGLE_JWKS_URL,
        oidc_client_secret=env.get("OIDC_CLIENT_SECRET") or None,
        oidc_redirect_uri=env.get("OIDC_REDIRECT_URI") or None,
        admin_emails=admin_emails,
        admin_notification_emails=_lower_csv(env.get("ADMIN_NOTIFICATION_EMAILS")) or admin_emails,
        default_from_email=env.get("DEFAULT_FROM_EMAIL") or "no-reply@ekiosk.local",
        at_username=env.get("AT_USERNAME") or None,
        at_api_key=env.get("AT_API_KEY") or None,
        at_sender_id=env.get("AT_SENDER_ID") or None,
        at_base_url=env.get("AT_BASE_URL") or None,
        max_pending_orders=_positive_int(env, "MAX_PENDING_ORDERS", 5),
        max_pending_units=_positive_int(env, "MAX_PENDING_UNITS", 1000),
        order_hold_seconds=_positive_int(env, "ORDER_HOLD_SECONDS", 259200),
        oidc_client_secret_arn=env.get(OIDC_CLIENT_SECRET_ARN) or None,
        at_api_key_secret_arn=env.get(AT_API_KEY_SECRET_ARN) or None,
        phone_regions=_regions(env.get("PHONE_REGIONS")),
        dev_issuer_allowed=dev_issuer_allowed(env),
        cursor_signing_key=env.get("CURSOR_SIGNING_KEY") or None,
        cursor_signing_key_secret_arn=env.get(CURSOR_SIGNING_KEY_SECRET_ARN) or None,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
