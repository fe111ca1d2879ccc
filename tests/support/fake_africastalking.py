"""A fake Africa's Talking SMS API on a free loopback port, for tests and the bench.

    POST /version1/messaging   form: username, to (comma-separated), message, [from], [bulkSMSMode]
                               header: apiKey
    -> 201/200 application/json {"SMSMessageData": {"Message": "...", "Recipients": [
           {"statusCode": 101, "number": "+2547…", "status": "Success", "cost": "KES 0.8000",
            "messageId": "ATXid_…"}]}}

Switchable faults: `fail_next(n, status)` answers HTTP errors; `hang_next(n)` holds requests without
answering (until `release()`, or `hang_seconds`, then drops the connection); `blacklist(number)` and
`invalid(number)` give per-recipient UserInBlacklist (406) / InvalidPhoneNumber (403) inside a 200;
`latency` delays every answer. `requests` logs every request received; `delivered` only the messages
answered with Success (what a phone would receive).

Standalone (the bench runs it in its own process, as the real provider is remote):
    python -m tests.support.fake_africastalking [--latency 0.05]
prints `fake africastalking on http://127.0.0.1:PORT`; GET /_fake/log answers
{"requests": n, "delivered": [[to, messageId], ...]}.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

from tests.support.http_server import LoopbackServer

PATH = "/version1/messaging"


@dataclass
class Received:
    username: str
    to: str
    message: str
    sender: str | None
    api_key: str | None
    at: float = field(default_factory=time.monotonic)
    outcome: str = ""  # "delivered" | "http <status>" | "hung" | status name
    message_id: str | None = None


class FakeAfricasTalking:
    def __init__(self, username: str = "sandbox", api_key: str = "k", latency: float = 0.0):
        self.username = username
        self.api_key = api_key
        self.latency = latency
        self.hang_seconds = 30.0
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._failures: list[int] = []
        self._hangs = 0
        self._released = threading.Event()
        self._statuses: dict[str, tuple[int, str]] = {}
        self._server = LoopbackServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-at", daemon=True)

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> FakeAfricasTalking:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAfricasTalking:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- faults ----------------------------------------------------------------------------------
    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def hang_next(self, count: int, seconds: float | None = None) -> None:
        with self._lock:
            self._hangs += count
            if seconds is not None:
                self.hang_seconds = seconds
            self._released.clear()

    def release(self) -> None:
        """Lets hung requests go (their connections are dropped without an answer)."""
        self._released.set()

    def blacklist(self, number: str) -> None:
        self._statuses[number] = (406, "UserInBlacklist")

    def invalid(self, number: str) -> None:
        self._statuses[number] = (403, "InvalidPhoneNumber")

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
            self._hangs = 0
            self._statuses.clear()
            self.requests.clear()
            self.latency = 0.0
        self._released.set()

    # -- what it saw -----------------------------------------------------------------------------
    @property
    def delivered(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.outcome == "delivered"]

    def delivered_to(self, number: str) -> list[Received]:
        return [r for r in self.delivered if r.to == number]

    def received_for(self, number: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if number in r.to.split(",")]

    # -- HTTP ------------------------------------------------------------------------------------
    def _take_fault(self) -> tuple[str, int | None]:
        with self._lock:
            if self._failures:
                return "fail", self._failures.pop(0)
            if self._hangs:
                self._hangs -= 1
                return "hang", None
        return "", None

    def _answer(self, form: dict[str, str], api_key: str | None) -> tuple[int, dict | str, Received | None]:
        if api_key != self.api_key or form.get("username") != self.username:
            return 401, "The supplied authentication is invalid", None
        if not form.get("to") or not form.get("message"):
            return 400, "Request is missing required form field 'to' or 'message'", None
        received = Received(form["username"], form["to"], form["message"], form.get("from"), api_key)
        with self._lock:
            self.requests.append(received)
        fault, status = self._take_fault()
        if fault == "fail":
            received.outcome = f"http {status}"
            return status, "Internal Server Error", received
        if fault == "hang":
            received.outcome = "hung"
            self._released.wait(self.hang_seconds)
            return 0, "", received
        if self.latency:
            time.sleep(self.latency)
        recipients = []
        for number in form["to"].split(","):
            code, name = self._statuses.get(number, (101, "Success"))
            if code == 101:
                message_id = f"ATXid_{uuid.uuid4().hex}"
                recipients.append({"statusCode": 101, "number": number, "status": "Success",
                                   "cost": "KES 0.8000", "messageId": message_id})
                received.outcome, received.message_id = "delivered", message_id
            else:
                recipients.append({"statusCode": code, "number": number, "status": name, "cost": "0",
                                   "messageId": "None"})
                received.outcome = name
        sent = sum(1 for r in recipients if r["statusCode"] == 101)
        summary = f"Sent to {sent}/{len(recipients)} Total Cost: KES {0.8 * sent:.4f}"
        return 201, {"SMSMessageData": {"Message": summary, "Recipients": recipients}}, received

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body, written apart, wait for a delayed ACK (40 ms)

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                if self.path.split("?")[0] != "/_fake/log":
                    return self._send(404, "Not Found")
                delivered = [[r.to, r.message_id] for r in fake.delivered]
                return self._send(200, {"requests": len(fake.requests), "delivered": delivered})

            def do_POST(self):
                if self.path.split("?")[0] != PATH:
                    return self._send(404, "Not Found")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}
                status, body, _ = fake._answer(form, self.headers.get("apiKey"))
                if status == 0:  # hung: drop the connection without an answer
                    self.close_connection = True
                    return
                self._send(status, body)

            def _send(self, status: int, body) -> None:
                is_json = isinstance(body, dict)
                data = (json.dumps(body) if is_json else body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json" if is_json else "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up

        return Handler


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="a fake Africa's Talking SMS API")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--username", default="sandbox")
    parser.add_argument("--api-key", default="k")
    args = parser.parse_args()
    fake = FakeAfricasTalking(args.username, args.api_key, latency=args.latency)
    print(f"fake africastalking on {fake.url}", flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
