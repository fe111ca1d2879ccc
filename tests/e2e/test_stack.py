"""`make run`'s processes, started for real: health over HTTP, idempotent bootstrap, clean shutdown."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import requests

from tests.support.emulator import EmulatorProcess
from tests.support.stack import ROOT, launch, stop


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _started_pids(stack) -> dict[str, int]:
    return {name: int(pid) for name, pid in re.findall(r"started (\w+) \(pid (\d+)\)", stack.log())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes: it listens to nothing and runs nothing.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0] != "Z"


def test_health_over_http(stack):
    response = requests.get(stack.api + "/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_sigterm_stops_every_process_it_started(tmp_path):
    stack = launch(tmp_path / "data")
    pids = _started_pids(stack)
    assert set(pids) == {"emulator", "api", "worker"}
    assert all(_alive(pid) for pid in pids.values())
    assert stop(stack) == 0
    assert not any(_alive(pid) for pid in pids.values())
    assert not _listening(stack.api_port)
    assert not _listening(stack.emulator_port)


def test_bootstrap_is_idempotent_and_a_second_stack_reuses_a_running_emulator(tmp_path):
    emulator = EmulatorProcess()
    try:
        env = {**os.environ, "AWS_ENDPOINT_URL": emulator.url, "STAGE": "local",
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        for _ in range(2):
            subprocess.run([sys.executable, "-m", "chalicelib.runtime.bootstrap"], cwd=ROOT, env=env, check=True)
        first = launch(tmp_path / "one", AWS_ENDPOINT_URL=emulator.url)
        assert "emulator" not in _started_pids(first)
        stop(first)
        second = launch(tmp_path / "two", AWS_ENDPOINT_URL=emulator.url)
        try:
            assert requests.get(second.api + "/health", timeout=5).status_code == 200
        finally:
            stop(second)
        assert _listening(int(emulator.url.rsplit(":", 1)[1]))  # not ours to stop
    finally:
        emulator.stop()


def test_the_stack_starts_under_the_aws_fault_profile_with_iam_enforced(tmp_path):
    stack = launch(tmp_path / "data", EKIOSK_EMULATOR_FAULTS="aws,seed=11")
    try:
        assert requests.get(stack.api + "/health", timeout=5).status_code == 200
        document = requests.get(f"http://127.0.0.1:{stack.emulator_port}/_ekiosk/faults", timeout=5).json()
        assert document["config"]["seed"] == 11 and document["config"]["index_lag_ms"] == 500
        assert document["iam"] == {"enforced": True, "denied": []}
        assert "(seed 11)" in stack.log()
    finally:
        assert stop(stack) == 0
