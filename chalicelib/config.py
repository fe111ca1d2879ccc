"""One typed settings object, read from the environment (SPEC §3).

Explicit environment values always win; local defaults apply only on the `local` stage.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
LOCAL_STAGE = "local"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


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
    cursor_signing_key: str | None = None

    @property
    def is_local(self) -> bool:
        return self.stage == LOCAL_STAGE

    @property
    def uses_dev_issuer(self) -> bool:
        """The local development issuer is trusted only on a local stack with no OIDC_* set."""
        return self.is_local and self.oidc_audience is None

    @property
    def uses_sms_sink(self) -> bool:
        """Locally, without an Africa's Talking account, SMS go to a file a developer can read."""
        return self.is_local and not (self.at_username and self.at_api_key)

    @property
    def cursor_key(self) -> bytes:
        """The HMAC key of list cursors (api/pagination.py): CURSOR_SIGNING_KEY, else derived from the stage
        and the deployment's secrets (OIDC_CLIENT_SECRET, AT_API_KEY). With none of them set (a local stack)
        that is a fixed development key: fine locally, where cursors guard correctness, not secrets."""
        if self.cursor_signing_key:
            return self.cursor_signing_key.encode()
        material = "\n".join(("ekiosk list cursors", self.stage, self.oidc_client_secret or "", self.at_api_key or ""))
        return hashlib.sha256(material.encode()).digest()

    def table_name(self, name: str) -> str:
        return f"ekiosk-{self.stage}-{name}"

    def queue_name(self, name: str) -> str:
        return f"ekiosk-{self.stage}-{name}"


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
        cursor_signing_key=env.get("CURSOR_SIGNING_KEY") or None,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
