"""Save and load the embedded emulator's state (moto backend objects, pickled).

What is kept: the moto backends of the services the project uses (DynamoDB tables with their
items, key schema, GSIs/LSIs, TTL and streams settings; SQS queues with their attributes,
RedrivePolicy and queued messages; SES/SESv2 identities and sent mail), for every account and
region. Messages that were in flight at save time are visible again after a load.

The file is one JSON header line followed by a pickle. The header names the moto version, and a
file written by another moto version is set aside rather than unpickled into objects that may not
match the code. Both ``dump_state`` and ``restore_state`` must run under the emulator's global
lock. ``write_atomic`` does not need it.
"""

from __future__ import annotations

import copyreg
import io
import json
import os
import pickle
import tempfile
import threading
import time
from typing import Any

import moto
from moto.backends import get_backend

SERVICES = ("dynamodb", "sqs", "ses", "sesv2")
STATE_FILE = "emulator-state.pickle"
_MAGIC = "ekiosk-emulator-state"
_FORMAT = 1

# Locks and conditions in backend objects (e.g. an SQS queue's message condition) cannot be
# pickled. They carry no state worth keeping, so each one is saved as "make a new one".
_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH[type(threading.Lock())] = lambda _obj: (threading.Lock, ())
_DISPATCH[type(threading.RLock())] = lambda _obj: (threading.RLock, ())
_DISPATCH[threading.Condition] = lambda _obj: (threading.Condition, ())
_DISPATCH[threading.Event] = lambda _obj: (threading.Event, ())


class StateError(Exception):
    """The state file cannot be used (corrupt, or written by another format or moto version)."""


def _pickle(obj: Any) -> bytes:
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(obj)
    return buf.getvalue()


def _snapshot() -> dict[str, dict[str, dict[str, Any]]]:
    services: dict[str, dict[str, dict[str, Any]]] = {}
    for name in SERVICES:
        backend_dict = get_backend(name)  # type: ignore[arg-type]
        # dict.items() on the account dict does not create backends for unused regions.
        services[name] = {account: dict(regions.items()) for account, regions in backend_dict.items() if regions}
    return services


def dump_state() -> tuple[bytes, list[str]]:
    """Serialize the persisted services. Returns (file bytes, warnings)."""
    services = _snapshot()
    warnings: list[str] = []
    try:
        body = _pickle(services)
    except Exception:  # noqa: BLE001 - find the service that cannot be pickled and leave it out
        for name in list(services):
            try:
                _pickle(services[name])
            except Exception as exc:  # noqa: BLE001
                warnings.append(f"{name} state not saved: {type(exc).__name__}: {exc}")
                del services[name]
        body = _pickle(services)
    header = {"magic": _MAGIC, "format": _FORMAT, "moto": moto.__version__, "saved_at": time.time()}
    return json.dumps(header).encode() + b"\n" + body, warnings


def write_atomic(path: str, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync it, and rename it over path."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".emulator-state-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def read_state(path: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Read and check a state file. Raises FileNotFoundError or StateError."""
    with open(path, "rb") as f:
        data = f.read()
    header_line, sep, body = data.partition(b"\n")
    try:
        header = json.loads(header_line) if sep else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("magic") != _MAGIC:
        raise StateError("not an emulator state file (corrupt or truncated)")
    if header.get("format") != _FORMAT:
        raise StateError(f"state format {header.get('format')!r}, expected {_FORMAT}")
    if header.get("moto") != moto.__version__:
        raise StateError(f"written by moto {header.get('moto')}, this is moto {moto.__version__}")
    try:
        services = pickle.loads(body)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise StateError(f"corrupt state: {type(exc).__name__}: {exc}") from exc
    if not isinstance(services, dict):
        raise StateError("corrupt state: unexpected content")
    return services


def reset_services() -> None:
    """Drop all state of the persisted services (other services are left alone)."""
    for name in SERVICES:
        for regions in get_backend(name).values():  # type: ignore[arg-type]
            regions.clear()


def restore_state(services: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Replace the persisted services' state with ``services``. Returns a summary."""
    reset_services()
    for name, accounts in services.items():
        if name not in SERVICES:
            continue
        backend_dict = get_backend(name)  # type: ignore[arg-type]
        for account, regions in accounts.items():
            backend_dict[account].update(regions)
    tables = items = queues = messages = 0
    for accounts in services.get("dynamodb", {}).values():
        for backend in accounts.values():
            for table in backend.tables.values():
                tables += 1
                items += len(table)
    for accounts in services.get("sqs", {}).values():
        for backend in accounts.values():
            for queue in backend.queues.values():
                queues += 1
                # In-flight messages come back visible: their receivers are gone.
                for message in queue._messages:
                    message.visible_at = 0.0
                    messages += 1
                queue._pending_messages.clear()
    return f"{tables} tables ({items} items), {queues} queues ({messages} messages)"
