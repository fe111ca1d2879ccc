"""`make run`: the whole local stack in the foreground.

Starts the embedded AWS emulator (unless AWS_ENDPOINT_URL is set), creates tables and queues, then
the API (gunicorn, as in the container) and the notification worker. Ctrl-C or SIGTERM stops every
process it started; if one of them dies, the others are stopped too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from chalicelib.config import PROJECT_ROOT
from chalicelib.runtime import principals

LOCAL_DEFAULTS = {
    "STAGE": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
STARTUP_TIMEOUT = 90


def _log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def api_command(host: str, port: int, workers: int = 2) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn",
        "--config", "python:chalicelib.runtime.gunicorn_conf",
        "--bind", f"{host}:{port}",
        "--workers", str(workers),
        "chalicelib.runtime.wsgi:application",
    ]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "chalicelib.runtime.worker"]


def emulator_command(port: int, data_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "chalicelib.runtime.emulator",
        "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
    ]


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


class Stack:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.stopping = False

    def spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env={**self.env, **(env or {})})
        self.processes.append((name, process))
        _log(f"started {name} (pid {process.pid})")
        return process

    def stop(self, timeout: float = 10) -> None:
        self.stopping = True
        for name, process in reversed(self.processes):  # API and worker first, the emulator (which saves) last
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    _log(f"{name} did not stop in {timeout} s; killing it")
                    process.kill()
                    process.wait()

    def start(self) -> None:
        env = self.env
        data_dir = Path(env.get("EKIOSK_DATA_DIR") or PROJECT_ROOT / ".data")
        env["EKIOSK_DATA_DIR"] = str(data_dir)
        enforce = not env.get("AWS_ENDPOINT_URL") and principals.enforced(env)
        if not env.get("AWS_ENDPOINT_URL"):
            port = int(env.get("EKIOSK_EMULATOR_PORT", "4566"))
            emulator = self.spawn("emulator", emulator_command(port, data_dir / "emulator"))
            env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
            wait_for_http(env["AWS_ENDPOINT_URL"] + "/moto-api/", STARTUP_TIMEOUT, emulator)
        else:
            for name in ("EKIOSK_EMULATOR_FAULTS", "EKIOSK_EMULATOR_IAM"):
                if env.get(name):
                    _log(f"{name} is ignored: AWS_ENDPOINT_URL points at {env['AWS_ENDPOINT_URL']}")
        subprocess.run([sys.executable, "-m", "chalicelib.runtime.bootstrap"], cwd=PROJECT_ROOT, env=env, check=True)
        port = int(env.get("PORT", "8000"))
        # With IAM enforced, each process signs as the function it stands for (the bootstrap above is admin).
        api_env = principals.credentials_env("api") if enforce else None
        worker_env = None
        if enforce:
            jobs = {name: [principals.access_key(name), principals.secret_key(name)]
                    for name in set(principals.JOB_PRINCIPALS.values())}  # fmt: skip
            worker_env = principals.credentials_env("notifier")
            worker_env[principals.JOB_CREDENTIALS_VARIABLE] = json.dumps(jobs)
        api = self.spawn("api", api_command("127.0.0.1", port), api_env)
        self.spawn("worker", worker_command(), worker_env)
        wait_for_http(f"http://127.0.0.1:{port}/api/v1/health", STARTUP_TIMEOUT, api)
        _log(f"ekiosk is ready on http://127.0.0.1:{port}/api/v1 (AWS endpoint {env['AWS_ENDPOINT_URL']})")

    def supervise(self) -> int:
        while not self.stopping:
            for name, process in self.processes:
                if process.poll() is not None:
                    _log(f"{name} exited with code {process.returncode}; stopping the stack")
                    self.stop()
                    return 1
            time.sleep(0.5)
        return 0


def main() -> int:
    env = {**LOCAL_DEFAULTS, **os.environ}
    stack = Stack(env)

    def on_signal(signum, _frame):
        _log(f"signal {signum}: stopping")
        stack.stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stack.start()
        code = stack.supervise()
    except (RuntimeError, subprocess.CalledProcessError) as error:
        _log(f"could not start: {error}")
        code = 1
    stack.stop()
    _log("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
