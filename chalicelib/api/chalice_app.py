"""The Chalice application class, made safe for a server that handles many requests per process.

Chalice keeps the request being handled in `app.current_request` (and the Lambda context in
`app.lambda_context`), plain attributes of the one app object that `Blueprint.current_request` reads.
On Lambda a process handles one request at a time, so that is enough there. Under gunicorn's threaded
workers (`make run`, the container) every thread would share them: a view reading
`bp.current_request` after any I/O could see the request another thread stored in the meantime, and
answer one client with another client's body or identity. Here both attributes live per thread.
"""

from __future__ import annotations

import threading

from chalice import Chalice


class ThreadSafeChalice(Chalice):
    """A Chalice app whose `current_request` and `lambda_context` belong to the thread handling them."""

    def __init__(self, *args, **kwargs):
        self._per_thread = threading.local()
        super().__init__(*args, **kwargs)

    @property
    def current_request(self):
        return getattr(self._per_thread, "request", None)

    @current_request.setter
    def current_request(self, request) -> None:
        self._per_thread.request = request

    @property
    def lambda_context(self):
        return getattr(self._per_thread, "lambda_context", None)

    @lambda_context.setter
    def lambda_context(self, context) -> None:
        self._per_thread.lambda_context = context

    def __call__(self, event, context):
        try:
            return super().__call__(event, context)
        finally:
            # A pooled thread must not carry a finished request (and its token) into its next job.
            self.current_request = None
            self.lambda_context = None
