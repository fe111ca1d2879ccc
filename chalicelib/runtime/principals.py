"""Who each process of the local stack is, for the emulator's IAM enforcement (EKIOSK_EMULATOR_IAM=enforce).

On AWS each function runs with its own role (infra/generate.py FUNCTION_POLICIES). Locally `make run`
gives each process the access key of the function it stands for: the API server (which also runs the
authorizer, whose permissions are a subset of the API's) signs as ``api``, the worker as ``notifier``,
and the worker's periodic jobs each as their own function (``sweeper``, ``price_snapshot``, ``hold_expiry``), through
``acting_as`` around the job. `make redrive` signs as ``redrive``. The emulator maps the access key id
back to the function and evaluates that function's policy. Any other key (the bootstrap, tests'
clients, the AWS CLI with ``testing``) is the admin principal: allowed everything.

The access keys are fixed strings, not secrets: the emulator does not check signatures.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from collections.abc import Iterator

ENFORCE_VARIABLE = "EKIOSK_EMULATOR_IAM"
JOB_CREDENTIALS_VARIABLE = "EKIOSK_JOB_CREDENTIALS"  # {"principal": ["key id", "secret"]} for the worker's jobs

# Which function each periodic job (chalicelib/services/jobs.py, by name) stands for. A job missing here runs with
# the worker's own credentials (the notifier's), which its policy will most likely refuse: add it.
JOB_PRINCIPALS = {
    "sweep_pending": "sweeper",
    "snapshot_prices": "price_snapshot",
    "expire_holds": "hold_expiry",
}


def access_key(principal: str) -> str:
    """``api`` -> ``EKIOSKAPI00000000000``: 20 characters, as an AWS access key id."""
    return ("EKIOSK" + principal.upper().replace("_", "")).ljust(20, "0")[:20]


def secret_key(principal: str) -> str:
    return f"ekiosk-local-{principal}-secret"


def credentials_env(principal: str) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": access_key(principal), "AWS_SECRET_ACCESS_KEY": secret_key(principal)}


def enforced(env: dict[str, str] | os._Environ | None = None) -> bool:
    env = os.environ if env is None else env
    return (env.get(ENFORCE_VARIABLE) or "").strip().lower() == "enforce"


# --- per-job credentials inside the worker ---------------------------------------------------------

_acting: contextvars.ContextVar[str | None] = contextvars.ContextVar("ekiosk_principal", default=None)


@contextlib.contextmanager
def acting_as(principal: str | None) -> Iterator[None]:
    """AWS requests made in this block (this thread) are signed as ``principal`` (with install_job_credentials)."""
    token = _acting.set(principal)
    try:
        yield
    finally:
        _acting.reset(token)


def install_job_credentials(env: dict[str, str] | os._Environ | None = None) -> bool:
    """With EKIOSK_JOB_CREDENTIALS set, every botocore client of this process (boto3's and PynamoDB's) signs
    with the credentials of the principal ``acting_as`` names, else with the process's own. Returns whether
    it did anything."""
    env = os.environ if env is None else env
    raw = env.get(JOB_CREDENTIALS_VARIABLE)
    if not raw:
        return False
    import botocore.session
    from botocore.credentials import Credentials, ReadOnlyCredentials

    by_principal = {name: ReadOnlyCredentials(key, secret, None) for name, (key, secret) in json.loads(raw).items()}
    own = ReadOnlyCredentials(env.get("AWS_ACCESS_KEY_ID", ""), env.get("AWS_SECRET_ACCESS_KEY", ""), None)

    class PrincipalCredentials(Credentials):
        """Credentials read at signing time: botocore calls get_frozen_credentials for every request."""

        def __init__(self) -> None:
            super().__init__(own.access_key, own.secret_key, method="ekiosk-principals")

        def get_frozen_credentials(self) -> ReadOnlyCredentials:
            return by_principal.get(_acting.get() or "", own)

    shared = PrincipalCredentials()

    def get_credentials(self: botocore.session.Session) -> Credentials:
        return shared

    botocore.session.Session.get_credentials = get_credentials  # type: ignore[method-assign]
    return True
