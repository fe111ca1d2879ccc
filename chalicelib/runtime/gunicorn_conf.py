"""gunicorn settings shared by `make run` and the container (bind and workers come from the command)."""

import os

worker_class = "gthread"
threads = int(os.environ.get("API_THREADS", "8"))
timeout = 60
graceful_timeout = 10
keepalive = 5
# No request-line limit here: the WSGI adapter answers over-long URLs with an enveloped 414, as API Gateway would.
limit_request_line = 0
accesslog = None  # the app writes one JSON access line per request (chalicelib/observability.py)
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Loaded once in the master so workers fork with the app already imported.
preload_app = True
