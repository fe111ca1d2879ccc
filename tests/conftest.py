"""Shared fixtures. Unit tests need none of these; integration and e2e tests use real processes."""

from __future__ import annotations

import os
import random

import pytest
import requests

from tests.support.emulator import EmulatorProcess
from tests.support.stack import FAULT_KINDS, STAFF_EMAIL, TEST_ENV, TEST_FAULTS, emulator_report, launch, stop

# Unit tests must never reach AWS: no credentials, no endpoint unless a fixture sets one.
os.environ.update({k: v for k, v in TEST_ENV.items() if k.startswith("AWS_")})
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

# The realism tier: one seed for every stack of the run (given, or drawn here), printed so a failure replays.
if os.environ.get(TEST_FAULTS) and "seed=" not in os.environ[TEST_FAULTS]:
    os.environ[TEST_FAULTS] += f",seed={random.randrange(1_000_000)}"
_realism_reports: list[dict] = []
SURE_FAULTS = [
    {"service": "dynamodb", "operation": "TransactWriteItems", "fault": "transaction_conflict"},
    {"service": "dynamodb", "fault": "throttle"},
    {"service": "dynamodb", "operation": "TransactWriteItems", "fault": "internal_error", "after_effect": True},
    {"service": "sqs", "operation": "ReceiveMessage", "fault": "sqs_empty_receive"},
    {"service": "sqs", "operation": "DeleteMessageBatch", "fault": "sqs_duplicate"},
]


def pytest_report_header(config):
    if os.environ.get(TEST_FAULTS):
        return f"realism tier: every stack's emulator runs with EKIOSK_EMULATOR_FAULTS={os.environ[TEST_FAULTS]}"
    return None


def pytest_terminal_summary(terminalreporter):
    for report in _realism_reports:
        terminalreporter.write_line(
            f"realism tier: faults {report['config']} injected {report['injected']}; "
            f"IAM enforced {report['iam']['enforced']}, denied {len(report['iam']['denied'])}"
        )


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
    if os.environ.get(TEST_FAULTS):
        # Each kind strikes at least once whatever the draws (the rare ones could miss a short run by chance).
        requests.post(f"{running.aws_endpoint}/_ekiosk/faults/script", timeout=10, json={"faults": SURE_FAULTS})
    yield running
    report = emulator_report(running)
    stop(running)
    assert report["iam"]["denied"] == [], "a process of the stack did something its function's IAM policy forbids"
    if os.environ.get(TEST_FAULTS):
        _realism_reports.append(report)
        missed = [kind for kind in FAULT_KINDS if not report["injected"].get(kind)]
        assert not missed, f"the realism tier never met these faults: {missed} (injected: {report['injected']})"


@pytest.fixture
def staff(stack):
    return stack.session(STAFF_EMAIL)
