"""`make redrive`: moves dead-lettered notification messages back to the queue for another try.

Their FAILED records become PENDING again (attempts and the last error are kept), so the worker (or
the Lambda) tries them once more with the usual backoff. Poison messages (unreadable, or for a
record that does not exist) stay on the dead-letter queue. Run it after fixing what made the
provider fail (credentials, balance, an outage); it is safe to run any number of times. It long-polls
and ends only after several empty replies in a row with the dead-letter queue reporting nothing left (an
empty reply alone proves nothing on SQS), or after five minutes.
Uses the same environment as the stack (STAGE, AWS_ENDPOINT_URL; `make run` defaults otherwise); with
EKIOSK_EMULATOR_IAM=enforce it signs as the `redrive` principal, whose policy the emulator checks.
"""

from __future__ import annotations

import json
import os
import sys

from chalicelib.runtime import principals
from chalicelib.runtime.stack import LOCAL_DEFAULTS


def main(argv: list[str] | None = None) -> int:
    for key, value in LOCAL_DEFAULTS.items():
        os.environ.setdefault(key, value)
    emulator = f"http://127.0.0.1:{os.environ.get('EKIOSK_EMULATOR_PORT', '4566')}"
    if os.environ.get("STAGE") == "local" and not os.environ.get("AWS_ENDPOINT_URL"):
        os.environ["AWS_ENDPOINT_URL"] = emulator
    if principals.enforced() and os.environ.get("AWS_ENDPOINT_URL") == emulator:
        os.environ.update(principals.credentials_env("redrive"))  # the embedded emulator checks its policy

    from chalicelib.bootstrap import services
    from chalicelib.services.notifications import redrive_dead_letters

    svc = services()
    before = svc.queue.depth(dead_letter=True)
    counts = redrive_dead_letters(svc)
    print(json.dumps({"dead_letter_queue": svc.queue.dead_letter_name, "before": before["visible"], **counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
