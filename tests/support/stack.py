"""Starting the real local stack (`make run`'s processes) for end-to-end tests, and talking to it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
STAFF_EMAIL = "staff@ekiosk.test"
TEST_ENV = {
    "STAGE": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "ADMIN_EMAILS": STAFF_EMAIL,
    "LOG_LEVEL": "WARNING",
    # Every process signs as its function and the emulator enforces the generated IAM policies (SPEC §9).
    "EKIOSK_EMULATOR_IAM": "enforce",
}
# For unit tests that trust the development issuer in-process (SPEC §3 wants an emulator endpoint): a
# local address nothing listens on, so an accidental AWS call fails at once instead of reaching AWS.
UNREACHABLE_ENDPOINT = "http://127.0.0.1:9"
LOCAL_DEV_ENV = {"STAGE": "local", "AWS_ENDPOINT_URL": UNREACHABLE_ENDPOINT}
# The realism tier (`make test`'s second run): every stack the tests start runs its emulator with these
# faults (SPEC §10), e.g. "aws"; tests/conftest.py fixes a seed for the whole run and prints it.
TEST_FAULTS = "EKIOSK_TEST_FAULTS"
FAULT_KINDS = ("transaction_conflict", "throttle", "internal_error", "index_lag_ms", "sqs_empty_receive",
               "sqs_duplicate")
# Variables of the developer's shell that would change what the stack under test does.
ISOLATED = ("AWS_ENDPOINT_URL", "OIDC_ISSUERS", "OIDC_AUDIENCE", "OIDC_JWKS_URL", "AT_USERNAME", "AT_API_KEY",
            "AT_SENDER_ID", "AT_BASE_URL", "ADMIN_NOTIFICATION_EMAILS", "AWS_PROFILE", "EKIOSK_EMULATOR_FAULTS",
            "EKIOSK_EMULATOR_IAM")


@dataclass
class RunningStack:
    process: subprocess.Popen
    base_url: str
    api_port: int
    emulator_port: int
    data_dir: Path
    env: dict
    log_path: Path
    _tokens: dict = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.base_url + "/api/v1"

    @property
    def aws_endpoint(self) -> str:
        return self.env.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{self.emulator_port}"

    @property
    def process_env(self) -> dict:
        """The environment `make run` gives its own processes (it sets AWS_ENDPOINT_URL for them)."""
        return {**self.env, "AWS_ENDPOINT_URL": self.aws_endpoint}

    def token(self, email: str, name: str | None = None) -> str:
        """A development-issuer token, minted as `make token` does."""
        if email not in self._tokens:
            out = subprocess.run(
                [sys.executable, "-m", "chalicelib.auth.dev_issuer", email, *(["--name", name] if name else [])],
                cwd=ROOT, env=self.process_env, capture_output=True, text=True, check=True,
            )
            self._tokens[email] = out.stdout.strip()
        return self._tokens[email]

    def session(self, email: str | None = None) -> requests.Session:
        session = requests.Session()
        if email:
            session.headers["Authorization"] = f"Bearer {self.token(email)}"
        return session

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def stack_env(data_dir: Path, api_port: int, emulator_port: int, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED}
    env.update(TEST_ENV)
    if os.environ.get(TEST_FAULTS):
        env["EKIOSK_EMULATOR_FAULTS"] = os.environ[TEST_FAULTS]
    env.update(PORT=str(api_port), EKIOSK_EMULATOR_PORT=str(emulator_port), EKIOSK_DATA_DIR=str(data_dir))
    env.update(extra)
    return env


def launch(data_dir: Path, api_port: int | None = None, emulator_port: int | None = None, **extra) -> RunningStack:
    api_port = api_port or free_port()
    emulator_port = emulator_port or free_port()
    env = stack_env(data_dir, api_port, emulator_port, **extra)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"stack-{api_port}.log"
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.runtime.stack"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    stack = RunningStack(process, f"http://127.0.0.1:{api_port}", api_port, emulator_port, data_dir, env, log_path)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the stack exited with {process.returncode}:\n{stack.log()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(stack.api + "/health", timeout=1).status_code == 200:
                return stack
        time.sleep(0.2)
    stop(stack)
    raise RuntimeError(f"the stack did not become healthy:\n{stack.log()}")


# SPEC §4: a list reads an index, which may lag a write by up to a second (the realism tier's emulator: 0.5 s).
LIST_LAG = 1.0


def eventually(read, until, timeout: float = 3 * LIST_LAG):
    """`read()` again until `until(value)` holds or `timeout` passes; the last value, for the caller to assert on.
    For a list read right after a write: what the list shows may lag, and that is no bug."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if until(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def settle_indexes() -> None:
    """Waits out the index lag the stacks' emulators were given (nothing outside the realism tier): for a
    test that reads lists after a burst of writes, as a client that wants to see them must (SPEC §4)."""
    from chalicelib.runtime.emulator_faults import parse_faults

    lag_ms = parse_faults(os.environ.get(TEST_FAULTS)).get("index_lag_ms", 0)
    if lag_ms:
        time.sleep(lag_ms / 1000 + 0.2)


def emulator_report(stack: RunningStack) -> dict:
    """GET /_ekiosk/faults: the faults configured and injected so far, and what IAM enforcement refused."""
    return requests.get(f"http://127.0.0.1:{stack.emulator_port}/_ekiosk/faults", timeout=10).json()


def iam_denials(stack: RunningStack) -> list[dict]:
    """What the emulator's IAM enforcement refused so far: a stack keeps this empty."""
    return emulator_report(stack)["iam"]["denied"]


def observed(client):
    """`client` (boto3) marked as the test harness: the emulator never answers its requests with a fault.
    Seeding and inspecting must not perturb what the realism tier observes; the app never sends the mark."""
    from chalicelib.runtime.emulator_faults import OBSERVER_HEADER

    def mark(request, **_):
        request.headers[OBSERVER_HEADER] = "true"

    client.meta.events.register("before-sign", mark)
    return client


def stop(stack: RunningStack, timeout: float = 20) -> int:
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGTERM)
        try:
            stack.process.wait(timeout)
        except subprocess.TimeoutExpired:
            stack.process.kill()
            stack.process.wait()
    return stack.process.returncode


@contextlib.contextmanager
def running_stack(data_dir: Path, **extra):
    stack = launch(data_dir, **extra)
    try:
        yield stack
    finally:
        stop(stack)
