"""The container variant without Docker: the image's entrypoint (infra/container/entrypoint.sh) started
as plain processes — `bootstrap`, then `api` (gunicorn with the production config) and `worker` —
against the embedded emulator, then the order-to-SMS flow through them over HTTP, the image's health
check, and a graceful stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.support.emulator import EmulatorProcess
from tests.support.ports import free_port
from tests.support.stack import ISOLATED, ROOT, STAFF_EMAIL, TEST_ENV

ENTRYPOINT = ROOT / "infra" / "container" / "entrypoint.sh"
HEALTHCHECK = ROOT / "infra" / "container" / "healthcheck.py"
STARTUP_SECONDS = 90


class Container:
    """The processes one container image would run, sharing an environment like a compose project."""

    def __init__(self, tmp: Path, emulator: EmulatorProcess):
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api/v1"
        self.logs = tmp
        venv_bin = str(Path(sys.executable).parent)
        self.env = {k: v for k, v in os.environ.items() if k not in ISOLATED}
        self.env.update(TEST_ENV)
        self.env.update(
            PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}",  # the image puts its venv first too
            AWS_ENDPOINT_URL=emulator.url,
            EKIOSK_DATA_DIR=str(tmp / "data"),
            HOST="127.0.0.1",
            PORT=str(self.port),
            PYTHONPATH=str(ROOT),  # as the image's ENV (PYTHONPATH=/app)
            WEB_CONCURRENCY="2",  # as the image's ENV
            LOG_LEVEL="INFO",  # as the ConfigMap
            GUNICORN_TMP_DIR=str(tmp),
        )
        self.processes: dict[str, subprocess.Popen] = {}
        self._tokens: dict[str, str] = {}

    def run(self, role: str, **extra) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", str(ENTRYPOINT), role], cwd=ROOT, env={**self.env, **extra},
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    def start(self, role: str) -> subprocess.Popen:
        log = open(self.logs / f"{role}.log", "ab")  # noqa: SIM115 - the child keeps its own copy
        with log:
            process = subprocess.Popen(["sh", str(ENTRYPOINT), role], cwd=ROOT, env=self.env,
                                       stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        self.processes[role] = process
        return process

    def log(self, role: str) -> str:
        path = self.logs / f"{role}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            for role, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{role} exited with {process.returncode}:\n{self.log(role)}")
            try:
                if requests.get(self.api + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API did not become healthy:\n{self.log('api')}")

    def healthcheck(self, role: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(HEALTHCHECK), role], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=30)  # fmt: skip

    def session(self, email: str) -> requests.Session:
        if email not in self._tokens:
            minted = subprocess.run([sys.executable, "-m", "chalicelib.auth.dev_issuer", email], cwd=ROOT,
                                    env=self.env, capture_output=True, text=True, check=True)  # fmt: skip
            self._tokens[email] = minted.stdout.strip()
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self._tokens[email]}"
        return session

    def stop(self, role: str, timeout: float = 30) -> int:
        process = self.processes[role]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode


@pytest.fixture(scope="module")
def container(tmp_path_factory):
    emulator = EmulatorProcess()
    box = Container(tmp_path_factory.mktemp("container"), emulator)
    try:
        bootstrap = box.run("bootstrap")
        assert bootstrap.returncode == 0, bootstrap.stdout + bootstrap.stderr
        box.start("api")
        box.start("worker")
        box.wait_healthy()
        yield box
    finally:
        for role in list(box.processes):
            box.stop(role)
        emulator.stop()


def test_api_answers_health_and_the_image_healthcheck_passes_for_both_roles(container):
    answer = requests.get(container.api + "/health", timeout=10)
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    for role in ("api", "worker"):
        check = container.healthcheck(role)
        assert check.returncode == 0, check.stderr


def test_gunicorn_runs_with_the_production_config(container):
    log = container.log("api")
    assert "Using worker: gthread" in log
    assert log.count("Booting worker with pid") >= 2  # WEB_CONCURRENCY


def test_a_request_without_a_token_is_a_401_with_the_envelope(container):
    answer = requests.get(container.api + "/me", timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    missing = requests.get(container.api + "/no-such-route", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_entrypoint_refuses_to_start_without_a_stage(container):
    env = {k: v for k, v in container.env.items() if k != "STAGE"}
    result = subprocess.run(["sh", str(ENTRYPOINT), "api"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=30)  # fmt: skip
    assert result.returncode == 64 and "set STAGE" in result.stderr


def _records(staff: requests.Session, api: str, order_id: str) -> dict:
    answer = staff.get(api + "/notifications", params={"order_id": order_id}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {(n["event"], n["channel"]): n for n in answer.json()["items"]}


def _wait_for(predicate, timeout: float = 45.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_an_order_placed_and_approved_over_http_ends_in_sent_sms(container):
    api, staff = container.api, container.session(STAFF_EMAIL)
    tag = uuid.uuid4().hex[:10]
    category = staff.post(api + "/categories", json={"name": f"Container {tag}"}, timeout=10)
    assert category.status_code == 201, category.text
    product = staff.post(
        api + "/products",
        json={"name": f"Kettle {tag}", "price": "1500.00", "stock": 5, "category_id": category.json()["id"]},
        timeout=10,
    )
    assert product.status_code == 201, product.text

    customer = container.session(f"container-{tag}@ekiosk.test")
    profile = customer.patch(api + "/me", json={"phone_number": "+254711223344"}, timeout=10)
    assert profile.status_code == 200, profile.text
    placed = customer.post(api + "/orders", json={"items": [{"product_id": product.json()["id"], "quantity": 2}]},
                           timeout=10)  # fmt: skip
    assert placed.status_code == 201, placed.text
    order = placed.json()

    def placed_sent():
        records = _records(staff, api, order["id"])
        sms, email = records.get(("order_placed", "SMS")), records.get(("order_placed", "EMAIL"))
        return records if sms and email and sms["status"] == email["status"] == "SENT" else None

    records = _wait_for(placed_sent)
    assert records, f"{_records(staff, api, order['id'])}\n{container.log('worker')[-3000:]}"
    sms = records[("order_placed", "SMS")]
    assert sms["recipient"] == "+254711223344"
    assert sms["message"] == f"Hello +254711223344 your order #{order['number']} has been placed successfully."

    approved = staff.patch(api + f"/orders/{order['id']}", json={"status": "COMPLETED"}, timeout=10)
    assert approved.status_code == 200, approved.text

    def approved_sent():
        record = _records(staff, api, order["id"]).get(("order_approved", "SMS"))
        return record if record and record["status"] == "SENT" else None

    record = _wait_for(approved_sent)
    assert record, container.log("worker")[-3000:]
    assert record["message"] == f"Good news, +254711223344! Your order #{order['number']} has been approved."
    outbox = Path(container.env["EKIOSK_DATA_DIR"]) / "sms-outbox.jsonl"
    assert outbox.exists() and order["number"] and f"#{order['number']}" in outbox.read_text()


def test_sigterm_stops_worker_and_api_gracefully(container):
    assert container.stop("worker") == 0, container.log("worker")[-2000:]
    assert "worker stopped" in container.log("worker")
    assert container.stop("api") == 0, container.log("api")[-2000:]
