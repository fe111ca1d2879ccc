"""The embedded AWS emulator: moto's server, one request at a time, with state kept on disk.

    python -m chalicelib.runtime.emulator --host 127.0.0.1 --port 4566 \
        [--data-dir PATH] [--save-interval 5] [--no-transaction-patch]

This prints ``emulator ready on http://HOST:PORT`` once it accepts connections. On SIGTERM or
SIGINT it saves its state (with --data-dir) and exits 0.

From Python::

    with Emulator(port=0, data_dir=".local/emulator") as emu:
        boto3.client("dynamodb", endpoint_url=emu.url, ...)

How it works:

* moto's WSGI app serves every service (DynamoDB, SQS, SES, STS, ...) behind a threaded
  werkzeug server. Bodies are read and responses written outside the lock, but every call into
  moto runs under ONE global lock. moto's backends are not thread-safe: without the lock,
  concurrent clients see HTTP 500s, lost updates and conditional writes that are not atomic.
  With it, each request is atomic, as a DynamoDB item write or transaction is.
* SQS long polls (ReceiveMessage with WaitTimeSeconds > 0, given in the request or as the
  queue's ReceiveMessageWaitTimeSeconds) would hold that lock for up to 20 s. They are rewritten
  as short receives (WaitTimeSeconds=0), each one under the lock. Between receives the poller
  waits outside the lock, and wakes when another request changes state (at least every 0.25 s,
  for visibility timeouts and delays). It stops when a message arrives or the wait ends.
* moto's TransactWriteItems is patched to cost O(items touched); see emulator_patches.
* Faults (``--faults`` / EKIOSK_EMULATOR_FAULTS, SPEC §10) are decided per request in this middleware
  (errors before or after moto runs; see emulator_faults) plus three small moto patches (GSI lag, empty
  receives, duplicates). ``/_ekiosk/faults`` is answered here, never by moto. With ``--iam enforce``
  (EKIOSK_EMULATOR_IAM) each request signed by a function's access key is checked against that
  function's generated policy before it reaches moto (emulator_iam). Both cost O(request), not O(data).
* With a data dir, state is loaded on start and saved atomically every ``save_interval``
  seconds (only after a change) and on stop; see emulator_state. On Linux the periodic save
  runs in a forked child (a copy-on-write snapshot, as Redis does): requests wait for the
  fork, not for the pickling. After the final save on stop, requests get a 503. A data dir
  is locked (flock), so two emulators cannot use it at once.

moto's backends are global to the process: every Emulator in one process shares them. With a
data dir, start() replaces the state of the persisted services with the file's.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from moto.backends import get_backend
from werkzeug.serving import BaseWSGIServer, make_server

from chalicelib.runtime import emulator_faults, emulator_patches, emulator_state

try:  # fcntl is POSIX-only; without it two emulators could share a data dir.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

# Actions that change nothing: they do not make the state "dirty" (no save needed).
READ_ONLY_ACTIONS = frozenset(
    {
        # DynamoDB
        "BatchGetItem", "DescribeContinuousBackups", "DescribeEndpoints", "DescribeLimits",
        "DescribeTable", "DescribeTimeToLive", "GetItem", "ListTables", "ListTagsOfResource",
        "Query", "Scan", "TransactGetItems",
        # SQS
        "GetQueueAttributes", "GetQueueUrl", "ListDeadLetterSourceQueues", "ListQueueTags",
        "ListQueues",
        # SES / STS
        "GetIdentityVerificationAttributes", "GetSendQuota", "GetSendStatistics",
        "ListIdentities", "ListVerifiedEmailAddresses", "GetCallerIdentity",
    }
)  # fmt: skip
MAX_IDLE_WAIT = 0.25  # longest a long poll sleeps without looking at its queue again
_CREDENTIAL_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/")
_DEFAULT_ACCOUNT = "123456789012"


# Periodic saves run in a forked child (as Redis does), so requests do not wait while the state is
# pickled. Linux only: elsewhere fork() with threads is unsafe or missing, and saves run in-process.
FORK_SAVES = sys.platform.startswith("linux") and hasattr(os, "fork")
CHILD_SAVE_TIMEOUT = 120.0


def _log(message: str) -> None:
    print(f"emulator: {message}", file=sys.stderr, flush=True)


def _child_save(path: str, keep_fd: int) -> None:
    """In a forked child: write the state file and exit. Keeps only the data dir lock's fd."""
    code = 1
    try:
        # Sockets inherited from the server must not outlive the parent.
        if keep_fd >= 3:
            os.closerange(3, keep_fd)
            os.closerange(keep_fd + 1, 65536)
        else:
            os.closerange(3, 65536)
        data, problems = emulator_state.dump_state()
        emulator_state.write_atomic(path, data)
        for problem in problems:
            os.write(2, f"emulator: {problem}\n".encode())
        code = 0
    except BaseException as exc:  # noqa: BLE001 - report, then exit non-zero
        try:
            os.write(2, f"emulator: background save failed: {type(exc).__name__}: {exc}\n".encode())
        except OSError:
            pass
    finally:
        os._exit(code)


class _Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def ok(self) -> bool:
        return self.status.startswith("200")


class _Request:
    """The parts of a request the lock wrapper looks at; the body is read once, up front."""

    def __init__(self, environ: dict[str, Any]):
        self.environ = environ
        stream = environ["wsgi.input"]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > 0:
            self.body = stream.read(length)
        elif environ.get("wsgi.input_terminated"):
            self.body = stream.read()
        else:
            self.body = b""
        self.target = environ.get("HTTP_X_AMZ_TARGET", "")
        self.form = environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
        self.action = self.target.rpartition(".")[2] if self.target else self._query_action()

    def _query_action(self) -> str | None:
        source = self.body if self.form and self.body else self.environ.get("QUERY_STRING", "")
        if isinstance(source, bytes):
            source = source.decode("utf-8", "replace")
        for key, value in parse_qsl(source, keep_blank_values=True):
            if key == "Action":
                return value
        return None

    def fresh_environ(self, body: bytes | None = None, query: str | None = None) -> dict[str, Any]:
        """A copy of the environ to hand to moto, with the (possibly rewritten) body."""
        body = self.body if body is None else body
        environ = dict(self.environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        if query is not None:
            environ["QUERY_STRING"] = query
        return environ


class _LongPoll:
    """An SQS ReceiveMessage that may wait, and how to ask the same thing without waiting."""

    def __init__(self, request: _Request):
        self.request = request
        self.params: dict[str, Any] | list[tuple[str, str]]
        self.json = bool(request.target)
        if self.json:
            try:
                self.params = json.loads(request.body or b"{}")
            except ValueError:
                self.params = {}
            if not isinstance(self.params, dict):
                self.params = {}
            self.in_query = False
        else:
            self.in_query = not (request.form and request.body)
            source = request.environ.get("QUERY_STRING", "") if self.in_query else request.body
            if isinstance(source, bytes):
                source = source.decode("utf-8", "replace")
            self.params = parse_qsl(source, keep_blank_values=True)

    def requested_wait(self) -> Any:
        if isinstance(self.params, dict):
            return self.params.get("WaitTimeSeconds")
        return next((v for k, v in self.params if k == "WaitTimeSeconds"), None)

    def queue_default_wait(self) -> int:
        """The queue's ReceiveMessageWaitTimeSeconds (call under the lock); 0 if unknown."""
        try:
            if isinstance(self.params, dict):
                queue_url = self.params.get("QueueUrl") or ""
            else:
                queue_url = next((v for k, v in self.params if k == "QueueUrl"), "")
            path = urlsplit(queue_url).path if queue_url else self.request.environ["PATH_INFO"]
            parts = [p for p in path.split("/") if p]
            name = parts[-1]
            account = parts[-2] if len(parts) >= 2 else _DEFAULT_ACCOUNT
            auth = self.request.environ.get("HTTP_AUTHORIZATION", "")
            match = _CREDENTIAL_REGION.search(auth)
            region = match.group(1) if match else "us-east-1"
            backend = get_backend("sqs")[account][region]  # type: ignore[arg-type]
            queue = backend.queues.get(name)
            return int(queue.receive_message_wait_time_seconds) if queue else 0
        except Exception:  # noqa: BLE001 - let moto report a bad request itself
            return 0

    def short_environ(self) -> dict[str, Any]:
        """The same request with WaitTimeSeconds=0 (a fresh environ for every attempt)."""
        if isinstance(self.params, dict):
            body = json.dumps({**self.params, "WaitTimeSeconds": 0}).encode()
            return self.request.fresh_environ(body)
        params = [(k, v) for k, v in self.params if k != "WaitTimeSeconds"]
        params.append(("WaitTimeSeconds", "0"))
        encoded = urlencode(params)
        if self.in_query:
            return self.request.fresh_environ(query=encoded)
        return self.request.fresh_environ(encoded.encode())

    def has_messages(self, response: _Response) -> bool:
        if not response.ok:
            return False
        if self.json:
            try:
                return bool(json.loads(response.body).get("Messages"))
            except (ValueError, AttributeError):
                return True  # unexpected answer: hand it back rather than loop
        return b"<Message>" in response.body


class SerializingApp:
    """WSGI middleware: one request into moto at a time; SQS long polls wait outside."""

    def __init__(self, app: Callable[..., Iterable[bytes]], faults: emulator_faults.FaultState | None = None,
                 iam: Any = None):
        self.app = app
        self.faults = faults or emulator_faults.STATE
        self.iam = iam  # an emulator_iam.Enforcer, or None: every request is allowed
        self.lock = threading.Lock()
        self.dirty = False  # set under the lock; read and cleared by the saver under the lock
        self.closed = False  # set under the lock by the final save: later requests get a 503
        self._changed = threading.Condition()
        self._generation = 0
        self._stopping = False

    def stop_waiting(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()

    def _call(self, environ: dict[str, Any]) -> _Response:
        """Run moto on one request; the caller holds the lock."""
        if self.closed:
            body = b'{"__type": "ServiceUnavailable", "message": "the emulator is shutting down"}'
            return _Response("503 Service Unavailable", [("Content-Type", "application/x-amz-json-1.0")], body)
        captured: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            captured[:] = [status, headers]
            return chunks.append

        result = self.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return _Response(captured[0], captured[1], b"".join(chunks))

    def _changed_state(self) -> None:
        """Record a change (caller holds the lock) and wake the long polls."""
        self.dirty = True
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        request = _Request(environ)
        if environ.get("PATH_INFO", "").startswith("/_ekiosk/"):
            with self.lock:
                response = _Response(*emulator_faults.handle_control(
                    self.faults, environ.get("REQUEST_METHOD", "GET"), environ["PATH_INFO"], request.body))  # fmt: skip
            return self._finish(start_response, response)
        call, access_key, region = emulator_faults.call_of(
            request.target, request.action, request.body, request.form, environ
        )
        denied = self.iam.check(call, access_key, region) if self.iam is not None else None
        if denied is not None:
            with self.lock:
                self.faults.denied.append(denied[0])
                del self.faults.denied[:-1000]  # the most recent 1,000 are plenty
            return self._finish(start_response, _Response(*denied[1]))
        response = None
        # An observer (the test harness seeding or inspecting; never the app) must not perturb what it observes.
        observer_key = "HTTP_" + emulator_faults.OBSERVER_HEADER.upper().replace("-", "_")
        call.observer = environ.get(observer_key, "").lower() == "true"
        with self.lock:
            self.faults.current = call
            injection = self.faults.choose(call) if self.faults.active else None
        if injection is not None and not injection.after_effect:
            response = self._inject_before(request, call, injection)
        if response is None and request.action == "ReceiveMessage":
            response = self._receive(request, call)
        if response is None:
            with self.lock:
                try:
                    self.faults.current = call
                    response = self._call(request.fresh_environ())
                finally:
                    if request.action not in READ_ONLY_ACTIONS:
                        self._changed_state()
        if injection is not None and injection.after_effect and response.ok:
            with self.lock:
                self.faults.count(injection.fault)
                response = _Response(*self.faults.error(call, injection, environ))
        return self._finish(start_response, response)

    @staticmethod
    def _finish(start_response: Callable[..., Any], response: _Response) -> list[bytes]:
        headers = response.headers
        if not any(k.lower() == "content-length" for k, _ in headers):
            headers = [*headers, ("Content-Length", str(len(response.body)))]
        start_response(response.status, headers)
        return [response.body]

    def _inject_before(self, request: _Request, call: emulator_faults.Call,
                       injection: emulator_faults.Injection) -> _Response:
        """A fault that answers before the request takes effect (or, for a batch, before part of it)."""
        with self.lock:
            self.faults.count(injection.fault)
            split = self.faults.split_batch(call) if injection.partial else None
            if split is None:
                return _Response(*self.faults.error(call, injection, request.environ))
            run, rest = split
            body = json.dumps({**call.body, "RequestItems": run}).encode()
            try:
                self.faults.current = call
                response = self._call(request.fresh_environ(body))
            finally:
                self._changed_state()
        if not response.ok:
            return response
        document = json.loads(response.body)
        field = "UnprocessedKeys" if call.action == "BatchGetItem" else "UnprocessedItems"
        unprocessed = document.get(field) or {}
        for table, entries in rest.items():
            if call.action == "BatchGetItem":
                unprocessed.setdefault(table, {**entries, "Keys": []})["Keys"].extend(entries["Keys"])
            else:
                unprocessed.setdefault(table, []).extend(entries)
        document[field] = unprocessed
        headers = [(k, v) for k, v in response.headers if k.lower() not in ("content-length", "x-amz-crc32")]
        return _Response(response.status, headers, json.dumps(document).encode())

    def _receive(self, request: _Request, call: emulator_faults.Call) -> _Response | None:
        poll = _LongPoll(request)
        wait: Any = poll.requested_wait()
        with self.lock:
            self.faults.current = call
            if wait is None:
                wait = poll.queue_default_wait()
            try:
                wait = int(wait)
            except (TypeError, ValueError):
                return None  # moto answers with the validation error
            if not 0 < wait <= 20:
                return None  # a short poll, or out of range (moto answers with the error)
            deadline = time.monotonic() + wait
            emptied = self.faults.injected["sqs_empty_receive"]
            response = self._call(poll.short_environ())
            # An injected empty receive answers at once, as a short poll does, not after the whole wait.
            emptied = self.faults.injected["sqs_empty_receive"] != emptied
            generation = self._generation
            if poll.has_messages(response):
                self._changed_state()
        while response.ok and not poll.has_messages(response) and not emptied:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with self._changed:
                self._changed.wait_for(
                    lambda g=generation: self._generation != g or self._stopping,
                    timeout=min(remaining, MAX_IDLE_WAIT),
                )
                if self._stopping:
                    break
            with self.lock:
                self.faults.current = call
                emptied = self.faults.injected["sqs_empty_receive"]
                response = self._call(poll.short_environ())
                emptied = self.faults.injected["sqs_empty_receive"] != emptied
                generation = self._generation
                if poll.has_messages(response):
                    self._changed_state()
        return response


def _request_handler() -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietHandler(MotoRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses connections

        def setup(self) -> None:
            super().setup()
            try:  # headers and body go out as two writes; do not let Nagle hold the second
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    return QuietHandler


class Emulator:
    """The embedded emulator in a background thread. ``start()`` returns once it is ready."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        save_interval: float = 5.0,
        patch_transactions: bool = True,
        faults: str | None = None,
        iam: str | None = None,
    ):
        self.host = host
        self.port = port
        self.data_dir = os.fspath(data_dir) if data_dir is not None else None
        self.save_interval = save_interval
        self.patch_transactions = patch_transactions
        self.faults = emulator_faults.parse_faults(faults)  # ValueError on a bad setting
        self.iam_mode = (iam or "").strip().lower()
        if self.iam_mode not in ("", "off", "enforce"):
            raise ValueError(f"EKIOSK_EMULATOR_IAM: {iam!r} is not 'enforce' or 'off'")
        self.url = ""
        self._app: SerializingApp | None = None
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._save_lock = threading.Lock()
        self._dir_lock: Any = None
        self.lock_wait = 10.0  # seconds to wait for the data dir lock

    @property
    def state_path(self) -> str | None:
        if self.data_dir is None:
            return None
        return os.path.join(self.data_dir, emulator_state.STATE_FILE)

    def start(self) -> Emulator:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        if self.patch_transactions:
            emulator_patches.install()
        else:
            emulator_patches.uninstall()
        emulator_patches.install_faults()
        emulator_faults.STATE.configure(self.faults)
        emulator_faults.STATE.reset()
        enforcer = None
        if self.iam_mode == "enforce":
            from chalicelib.runtime import emulator_iam

            enforcer = emulator_iam.Enforcer.for_local_stack()
        emulator_faults.STATE.iam_enforced = enforcer is not None
        if emulator_faults.STATE.active or self.faults:
            _log(emulator_faults.STATE.describe())
        if enforcer is not None:
            _log(f"IAM enforced: {enforcer.describe()}")
        self._app = SerializingApp(DomainDispatcherApplication(create_backend_app), emulator_faults.STATE, enforcer)
        if self.data_dir is not None:
            self._lock_data_dir()
        try:
            if self.data_dir is not None:
                self._load()
            self._server = make_server(
                self.host, self.port, self._app, threaded=True, request_handler=_request_handler()
            )
        except BaseException:
            self._unlock_data_dir()
            raise
        self._stop.clear()
        self.port = self._server.server_port
        self.url = f"http://{self.host}:{self.port}"
        serve = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="emulator-server", daemon=True,
        )  # fmt: skip
        serve.start()
        self._threads = [serve]
        if self.data_dir is not None and self.save_interval > 0:
            saver = threading.Thread(target=self._save_loop, name="emulator-saver", daemon=True)
            saver.start()
            self._threads.append(saver)
        return self

    def stop(self) -> None:
        """Stop serving and, with a data dir, save. Safe to call twice."""
        if self._server is None or self._app is None:
            return
        self._stop.set()
        self._app.stop_waiting()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        if self.data_dir is not None:
            path = self.state_path
            self.save(force=path is not None and not os.path.exists(path), final=True)
            self._unlock_data_dir()
        self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def save(self, force: bool = False, final: bool = False) -> bool:
        """Write the state file if anything changed since the last save. Returns whether it did.

        ``final`` (used by stop) also refuses every later request, so nothing acknowledged is
        left out of the file.
        """
        path = self.state_path
        if path is None or self._app is None:
            return False
        with self._save_lock:
            if FORK_SAVES and not final:
                saved = self._save_forked(path, force)
                if saved is not None:
                    return saved
            with self._app.lock:
                if final:
                    self._app.closed = True
                if not (self._app.dirty or force):
                    return False
                try:
                    data, problems = emulator_state.dump_state()
                except Exception as exc:  # noqa: BLE001 - keep serving; try again next time
                    _log(f"could not serialize state: {type(exc).__name__}: {exc}")
                    return False
                self._app.dirty = False
            for problem in problems:
                _log(problem)
            try:
                emulator_state.write_atomic(path, data)
            except OSError as exc:
                _log(f"could not save state to {path}: {exc}")
                with self._app.lock:
                    self._app.dirty = True
                return False
        return True

    def _save_forked(self, path: str, force: bool) -> bool | None:
        """Save from a forked child: a consistent copy-on-write snapshot taken under the lock.

        Requests are held up only for as long as fork() takes, not for the pickling, which costs
        time in proportion to the data (about 0.6 s at 20,000 items). Returns None when the
        child failed; the caller then saves in-process.
        """
        assert self._app is not None
        with self._app.lock:
            if not (self._app.dirty or force):
                return False
            try:
                with warnings.catch_warnings():  # 3.12+ warns about fork() with threads
                    warnings.simplefilter("ignore", DeprecationWarning)
                    pid = os.fork()
            except OSError as exc:
                _log(f"fork for a background save failed ({exc}); saving in-process")
                return None
            if pid == 0:  # the child: only this thread exists here; never return
                _child_save(path, keep_fd=self._dir_lock.fileno() if self._dir_lock else -1)
            self._app.dirty = False
        deadline = time.monotonic() + CHILD_SAVE_TIMEOUT
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.02)
        if os.waitstatus_to_exitcode(status) == 0:
            return True
        _log(f"background save failed (exit status {os.waitstatus_to_exitcode(status)}); saving in-process")
        with self._app.lock:
            self._app.dirty = True
        return None

    def _save_loop(self) -> None:
        while not self._stop.wait(self.save_interval):
            self.save()

    def _load(self) -> None:
        path = self.state_path
        assert path is not None and self._app is not None
        with self._app.lock:
            try:
                services = emulator_state.read_state(path)
                summary = emulator_state.restore_state(services)
            except FileNotFoundError:
                emulator_state.reset_services()
                _log(f"no saved state at {path}; starting empty")
                return
            except Exception as exc:  # noqa: BLE001 - corrupt or unusable: start empty
                emulator_state.reset_services()
                aside = f"{path}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}"
                try:
                    os.replace(path, aside)
                    kept = f"; the file was moved to {aside}"
                except OSError:
                    kept = ""
                _log(f"could not load state from {path} ({exc}); starting empty{kept}")
                return
        _log(f"loaded state from {path}: {summary}")

    def _lock_data_dir(self) -> None:
        assert self.data_dir is not None
        os.makedirs(self.data_dir, exist_ok=True)
        if fcntl is None:  # pragma: no cover
            return
        handle = open(os.path.join(self.data_dir, "emulator.lock"), "a")  # noqa: SIM115
        # A background save of a killed emulator may still be finishing: wait for it a little.
        deadline = time.monotonic() + self.lock_wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    handle.close()
                    raise RuntimeError(f"another emulator is using the data dir {self.data_dir}") from None
                time.sleep(0.1)
        self._dir_lock = handle

    def _unlock_data_dir(self) -> None:
        if self._dir_lock is not None:
            self._dir_lock.close()  # closing releases the flock
            self._dir_lock = None


def _valid_settings(args: argparse.Namespace) -> bool:
    try:
        emulator_faults.parse_faults(args.faults)
    except ValueError as exc:
        _log(f"EKIOSK_EMULATOR_FAULTS: {exc}")
        return False
    if args.iam.strip().lower() not in ("", "off", "enforce"):
        _log(f"EKIOSK_EMULATOR_IAM: {args.iam!r} is not 'enforce' or 'off'")
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.runtime.emulator",
        description="Embedded AWS emulator (moto): one request at a time, state kept on disk.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--data-dir", default=None, help="keep state here (default: in memory)")
    parser.add_argument("--save-interval", type=float, default=5.0, help="seconds between saves (default 5)")
    parser.add_argument(
        "--no-transaction-patch", action="store_true",
        help="use moto's own TransactWriteItems (copies whole tables; for comparison)",
    )  # fmt: skip
    parser.add_argument(
        "--faults", default=os.environ.get("EKIOSK_EMULATOR_FAULTS", ""),
        help="fault injection, e.g. 'aws' or 'throttle=0.1,seed=3' (default: $EKIOSK_EMULATOR_FAULTS)",
    )  # fmt: skip
    parser.add_argument(
        "--iam", default=os.environ.get("EKIOSK_EMULATOR_IAM", ""),
        help="'enforce': check each request against its function's IAM policy (default: $EKIOSK_EMULATOR_IAM)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    emulator = Emulator(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        save_interval=args.save_interval,
        patch_transactions=not args.no_transaction_patch,
        faults=args.faults,
        iam=args.iam,
    ) if _valid_settings(args) else None
    if emulator is None:
        return 2
    try:
        emulator.start()
    except (OSError, RuntimeError, ValueError) as exc:
        _log(f"cannot start: {exc}")
        return 1
    os.environ.setdefault("MOTO_PORT", str(emulator.port))
    print(f"emulator ready on {emulator.url}", flush=True)
    while not stop.wait(1.0):
        pass
    emulator.stop()
    return 0


if __name__ == "__main__":
    exit_code = main()
    # Everything is saved; skip the interpreter's teardown, which frees every moto object one by
    # one and can take seconds with a large state.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
