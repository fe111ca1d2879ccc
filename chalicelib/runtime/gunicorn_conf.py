"""gunicorn settings shared by `make run` and the container (bind and workers come from the command)."""

import os

from chalicelib.runtime import gunicorn_errors

gunicorn_errors.install()  # gunicorn's own 4xx/5xx pages become the JSON error envelope

worker_class = "gthread"
threads = int(os.environ.get("API_THREADS", "8"))
timeout = 60
graceful_timeout = 10
keepalive = 5
# No request-line limit here: the WSGI adapter answers over-long URLs with an enveloped 414, as API Gateway would.
limit_request_line = 0
# Header limits: the WSGI adapter refuses more than MAX_HEADER_BYTES (32 KiB) of headers in total with an
# enveloped 431; gunicorn's per-field limit is above that so the adapter decides, and gunicorn's own refusals
# (a single field over 64 KiB, over 128 fields) are enveloped too (gunicorn_errors.py).
limit_request_field_size = 64 * 1024
limit_request_fields = 128
accesslog = None  # the app writes one JSON access line per request (chalicelib/observability.py)
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Loaded once in the master so workers fork with the app already imported.
preload_app = True
