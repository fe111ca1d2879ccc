"""Shared fixtures. Unit tests need none of these; integration and e2e tests use real processes."""

from __future__ import annotations

import os

import pytest

from tests.support.emulator import EmulatorProcess
from tests.support.stack import STAFF_EMAIL, TEST_ENV, iam_denials, launch, stop

# Unit tests must never reach AWS: no credentials, no endpoint unless a fixture sets one.
os.environ.update({k: v for k, v in TEST_ENV.items() if k.startswith("AWS_")})
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    """A real emulator over HTTP, with the stage's tables and queues, bound to the core's adapters."""
    from chalicelib import bootstrap as wiring
    from chalicelib.config import get_settings
    from chalicelib.runtime.bootstrap import bootstrap

    process = EmulatorProcess()
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "EKIOSK_DATA_DIR", "ADMIN_EMAILS", "STAGE")}
    os.environ.update(
        AWS_ENDPOINT_URL=process.url,
        EKIOSK_DATA_DIR=str(tmp_path_factory.mktemp("data")),
        ADMIN_EMAILS=STAFF_EMAIL,
        STAGE="local",
    )
    get_settings.cache_clear()
    wiring.use_services(None)
    bootstrap(get_settings())
    wiring.services()
    yield process
    wiring.use_services(None)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
    process.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The real local stack (emulator, API under gunicorn, worker), shared by the e2e tests."""
    running = launch(tmp_path_factory.mktemp("stack") / "data")
    yield running
    denied = iam_denials(running)
    stop(running)
    assert denied == [], "a process of the stack did something its function's IAM policy does not allow"


@pytest.fixture
def staff(stack):
    return stack.session(STAFF_EMAIL)
