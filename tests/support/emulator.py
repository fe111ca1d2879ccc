"""An embedded emulator in a subprocess on a free port, for integration tests and benchmarks over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


class EmulatorProcess:
    def __init__(self, data_dir: Path | None = None, port: int | None = None, extra_args: tuple[str, ...] = ()):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "chalicelib.runtime.emulator", "--host", "127.0.0.1", "--port", str(self.port)]
        if data_dir:
            command += ["--data-dir", str(data_dir)]
        command += extra_args
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.process.stderr.read().decode(errors="replace"))
            try:
                requests.get(self.url + "/moto-api/", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the emulator did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
